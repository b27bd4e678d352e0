"""Shared pieces of the public endpoint tests (tests/capture/test_public_*.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

ORIGIN = "https://shop.example"  # the `site` fixture's only allowed origin
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
)


@pytest.fixture(autouse=True)
def public_settings(settings: Any) -> Iterator[None]:
    """Generous limits (a test that checks a limit lowers it) and empty rate counters."""
    settings.LEADBRIDGE = {
        **settings.LEADBRIDGE,
        "CAPTURE_RATE_IP": "100000/m",
        "CAPTURE_RATE_SITE": "100000/m",
    }
    cache.clear()
    yield
    cache.clear()


def post_json(
    client: Client,
    url: str,
    payload: Any,
    *,
    origin: str | None = ORIGIN,
    content_type: str = "application/json",
    **headers: str,
) -> Any:
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    if origin is not None:
        headers.setdefault("Origin", origin)
    headers.setdefault("User-Agent", BROWSER_UA)
    meta = {"REMOTE_ADDR": headers.pop("REMOTE_ADDR")} if "REMOTE_ADDR" in headers else {}
    return client.post(url, data=body, content_type=content_type, headers=headers, **meta)
