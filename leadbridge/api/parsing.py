"""Request parsing rules of the API: strict JSON, no NUL characters, at most 1 MB of body."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, NoReturn, cast

from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, URLResolver
from django.utils.datastructures import MultiValueDict
from ninja.parser import Parser

from leadbridge.api.errors import json_error
from leadbridge.core.errors import FieldError, ValidationFailed

MAX_BODY_BYTES = 1024 * 1024
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _reject_constant(name: str) -> NoReturn:
    # json.loads accepts NaN and Infinity, which are not JSON and not storable.
    raise ValueError(f"{name} is not allowed in JSON")


def _nul_paths(value: Any, path: str, found: list[FieldError]) -> None:
    """Text with a NUL character cannot be stored (PostgreSQL refuses it): name where it is."""
    if isinstance(value, str):
        if "\x00" in value:
            found.append(FieldError(path, "Must not contain the NUL character (\\u0000)"))
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                found.append(FieldError(path, "Keys must not contain the NUL character (\\u0000)"))
            _nul_paths(item, f"{path}.{key}", found)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _nul_paths(item, f"{path}[{i}]", found)


class StrictJSONParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body, parse_constant=_reject_constant)
        found: list[FieldError] = []
        _nul_paths(data, "body", found)
        if found:
            raise ValidationFailed(found[:50])
        return cast(dict[str, Any], data)

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        found = [
            FieldError(f"query.{key}", "Must not contain the NUL character")
            for key, values in data.lists()
            if any("\x00" in str(v) for v in values)
        ]
        if found:
            raise ValidationFailed(found)
        return super().parse_querydict(data, list_fields, request)


def limit_body_size(run: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Refuse bodies over 1 MB before anything reads them (applied to every operation)."""

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method in BODY_METHODS:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > MAX_BODY_BYTES:
                return json_error(
                    413,
                    "Request body too large",
                    [FieldError("body", f"At most {MAX_BODY_BYTES} bytes (got {length})")],
                )
        return run(request, *args, **kwargs)

    return wrapper


def json_not_allowed(pattern: URLPattern | URLResolver) -> URLPattern | URLResolver:
    """Answer a wrong HTTP method with the JSON error shape (ninja answers it in plain text)."""
    if not isinstance(pattern, URLPattern):
        return pattern
    view = pattern.callback

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and "json" not in response.get("Content-Type", ""):
            allowed = response.get("Allow", "")
            replaced = json_error(405, f"Method {request.method} is not allowed here; use {allowed}")
            replaced["Allow"] = allowed
            return replaced
        return response

    return URLPattern(pattern.pattern, wrapper, pattern.default_args, pattern.name)
