"""Capture tests run on the default channels, rules and inquiry classes, as `leadbridge init` installs them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from leadbridge.capture.models import Site
from leadbridge.capture.services import site_cache_forget, site_create
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.marketing import rules
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from tests.api.conftest import api, api_as  # noqa: F401 - the API tests' token clients


@pytest.fixture(autouse=True)
def defaults(db: None) -> Iterator[None]:
    # Rows are rolled back after each test: no cached channel or site may leak into the next.
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    yield
    rules.clear_cache()
    site_cache_forget()


@pytest.fixture
def site() -> Site:
    return site_create(actor=None, name="Shop", origins=["https://shop.example"])


@pytest.fixture
def capture(site: Site) -> Callable[..., Any]:
    """`capture(email=..., page_url=...)` -> a form inquiry from the shop."""
    from leadbridge.capture.services import inquiry_capture

    def make(kind: str = "form", page_url: str = "https://shop.example/contact", **kwargs: Any) -> Any:
        fields = kwargs.pop("fields", None)
        if fields is None:
            fields = {k: kwargs.pop(k) for k in ("name", "email", "phone", "message") if k in kwargs}
        kwargs.setdefault("site", site)
        inquiry, _created = inquiry_capture(kind=kind, fields=fields, page_url=page_url, **kwargs)
        return inquiry

    return make
