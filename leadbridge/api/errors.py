"""Every API error has one JSON shape: `{"detail": "...", "errors": [{"field", "message"}]}`.

Field paths name where the value came from: `body.email`, `query.limit`, `path.contact_id`,
`header.If-Match`. Services name fields without a location ("email"); endpoints wrap their
service call in `located(...)` so the client sees the same path for a type error found by
the schema and a format error found by the service.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from pydantic import Field

from leadbridge.core.errors import FieldError, ServiceError


class FieldErrorOut(Schema):
    field: str
    message: str
    position: int | None = Field(
        None, description="For filter text (`q`, `filter`): the 0-based character offset of the problem"
    )


class ErrorOut(Schema):
    detail: str
    errors: list[FieldErrorOut]


# What each status means; the API description lists them.
MEANING = {
    400: "Malformed request: the body is not valid JSON, too many query parameters, or a filter (`q`, `filter`) that cannot be read or compiled (the error gives its `position`)",
    401: "Missing, invalid or revoked API token",
    403: "Your role may not do this",
    404: "Not found (or not visible to you)",
    409: "Conflict: a likely duplicate, a stale version or a state that forbids this",
    413: "Request body larger than 1 MB",
    422: "Invalid input; each error names its field",
}

# Every endpoint needs a token and takes some parameter.
BASE = (400, 401, 422)
# Endpoints that read a JSON body (any POST/PATCH may be refused as too large).
WITH_BODY = (*BASE, 413)


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """Response declarations for the error codes an endpoint can really answer with."""
    return dict.fromkeys(sorted(set(codes)), ErrorOut)


def error_body(detail: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": [e.as_dict() for e in errors or []]}


def json_error(status: int, detail: str, errors: list[FieldError] | None = None) -> JsonResponse:
    return JsonResponse(error_body(detail, errors), status=status)


def _join(location: str, name: str) -> str:
    if not location:
        return name
    return f"{location}.{name}" if not name.startswith("[") else f"{location}{name}"


def loc_to_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """("body", "payload", "tags", 0) -> "body.tags[0]"."""
    parts = list(loc)
    # Ninja nests a schema body under its parameter name; every body parameter is "payload".
    if len(parts) >= 2 and parts[0] == "body" and parts[1] == "payload":
        del parts[1]
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = _join(path, str(part))
    return path or "body"


_MESSAGES = {
    "extra_forbidden": "Unknown field",
    "missing": "This field is required",
}


@contextmanager
def located(location: str, rename: Mapping[str, str] | None = None) -> Iterator[None]:
    """Prefix the fields of a service error with where they came from (`body`, `query`).

    `rename` maps a service's field name to the full path the client used, when they differ
    (e.g. `{"stage": "body.to_stage"}`).
    """
    try:
        yield
    except ServiceError as exc:
        renamed = rename or {}
        # replace() keeps what a subclass adds (a filter error's `position`).
        exc.errors = [
            dataclasses.replace(e, field=renamed.get(e.field) or _join(location, e.field)) for e in exc.errors
        ]
        raise


def _service_error(request: HttpRequest, exc: ServiceError) -> HttpResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    found: list[FieldError] = []
    for item in exc.errors:
        path = loc_to_path(item.get("loc", ()))
        kind = item.get("type", "")
        message = _MESSAGES.get(kind, str(item.get("msg", "Invalid value")))
        if path == "body" and kind == "missing":
            message = "A JSON body is required"
        found.append(FieldError(path, message))
    return json_error(422, "Invalid input", found)


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    cause = exc.__cause__
    if isinstance(cause, ServiceError):
        # Raised by our JSON parser (e.g. a NUL character), wrapped by ninja.
        return _service_error(request, cause)
    if isinstance(cause, json.JSONDecodeError):
        return json_error(
            400,
            "The request body is not valid JSON",
            [FieldError("body", f"{cause.msg} at line {cause.lineno} column {cause.colno}")],
        )
    if isinstance(cause, (ValueError, RecursionError)):
        return json_error(400, "The request body is not valid JSON", [FieldError("body", str(cause)[:200])])
    if isinstance(exc, AuthenticationError):
        detail = (
            "Invalid or revoked API token"
            if request.headers.get("Authorization")
            else "Authentication required: send the header 'Authorization: Bearer <token>'"
        )
        response = json_error(401, detail)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return json_error(exc.status_code, str(exc) or MEANING.get(exc.status_code, "Error"))


def _suspicious(request: HttpRequest, exc: SuspiciousOperation) -> HttpResponse:
    if isinstance(exc, RequestDataTooBig):
        return json_error(413, "Request body too large", [FieldError("body", str(exc))])
    # Django's own limits, e.g. more than DATA_UPLOAD_MAX_NUMBER_FIELDS query parameters.
    return json_error(400, "Malformed request", [FieldError("query", str(exc))] if str(exc) else [])


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return json_error(404, "Not found")


def install(api: NinjaAPI) -> None:
    api.add_exception_handler(Http404, _not_found)  # type: ignore[arg-type]
    api.add_exception_handler(SuspiciousOperation, _suspicious)  # type: ignore[arg-type]
    api.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    api.add_exception_handler(ValidationError, _validation_error)  # type: ignore[arg-type]
    api.add_exception_handler(HttpError, _http_error)  # type: ignore[arg-type]
