"""Errors that services raise and adapters (API, UI, CLI) turn into responses.

Services never return error codes; they raise one of these with field-level details, so
every adapter reports the same message for the same rule. Messages are translated when the
error is raised (`gettext`, not the lazy form), in the language active then: the request's, or
the user's for work done on their behalf (an import job). `FieldError.field` is an API key and
stays untranslated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass
class ServiceError(Exception):
    detail: str
    errors: list[FieldError] = field(default_factory=list)
    status: int = 400

    def __str__(self) -> str:
        if self.errors:
            parts = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
            return f"{self.detail} ({parts})"
        return self.detail

    def as_dict(self) -> dict[str, object]:
        return {"detail": self.detail, "errors": [e.as_dict() for e in self.errors]}


class ValidationFailed(ServiceError):
    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail=_("Invalid input") if detail is None else detail, errors=errors, status=422)


class Conflict(ServiceError):
    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail=detail, errors=errors or [], status=409)


class NotFound(ServiceError):
    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail=_("Not found") if detail is None else detail, status=404)


class Forbidden(ServiceError):
    def __init__(self, detail: str | None = None) -> None:
        default = _("You do not have permission to do this")
        super().__init__(detail=default if detail is None else detail, status=403)


def field_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(name, message)])
