"""API tests go through Django's test client with a real token, like any integration would."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from leadbridge.accounts.models import User
from leadbridge.accounts.services import token_create
from tests.factories import user

BASE = "/api/v1"


class Api:
    """A client that speaks JSON with a bearer token."""

    def __init__(self, token: str | None, who: User | None = None) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.client = Client(headers=headers)
        self.user = who

    def _url(self, path: str) -> str:
        return path if path.startswith(BASE) else f"{BASE}{path}"

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(self._url(path), params or {}, headers=headers)

    def _send(
        self, method: str, path: str, body: Any, params: dict[str, Any] | None, headers: dict[str, str]
    ) -> Any:
        url = self._url(path)
        if params:
            from urllib.parse import urlencode

            url += "?" + urlencode(params)
        data = body if isinstance(body, (str, bytes)) else json.dumps(body) if body is not None else ""
        return getattr(self.client, method)(url, data, content_type="application/json", headers=headers)

    def post(self, path: str, body: Any = None, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self._send("post", path, body, params, headers)

    def patch(self, path: str, body: Any = None, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self._send("patch", path, body, params, headers)

    def delete(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self._send("delete", path, None, params, headers)


@pytest.fixture
def api_as(db: None) -> Callable[..., Api]:
    """`api_as("sales", team=t)` -> a client authenticated as a new user with that role."""
    counter = iter(range(1, 10_000))

    def make(role: str = "admin", **kwargs: Any) -> Api:
        kwargs.setdefault("username", f"{role}{next(counter)}")
        who = user(role, **kwargs)
        return Api(token_create(user=who), who)

    return make


@pytest.fixture
def api(api_as: Callable[..., Api]) -> Api:
    """An admin client."""
    return api_as("admin")


def fields(response: Any) -> dict[str, str]:
    """{field: message} of a JSON error response (and checks the error shape on the way)."""
    body = response.json()
    assert set(body) == {"detail", "errors"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    return {e["field"]: e["message"] for e in body["errors"]}
