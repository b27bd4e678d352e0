"""Bearer-token authentication: `Authorization: Bearer <token>`, tokens stored hashed."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from leadbridge.accounts.models import User
from leadbridge.accounts.services import token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return token_authenticate(token.strip())


def actor(request: HttpRequest) -> User:
    """The user the token belongs to (ninja puts it on `request.auth`)."""
    user: User = request.auth  # type: ignore[attr-defined]
    return user
