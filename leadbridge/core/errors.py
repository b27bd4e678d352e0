"""Errors that services raise and adapters (API, UI, CLI) turn into responses.

Services never return error codes; they raise one of these with field-level details, so
every adapter reports the same message for the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    def __init__(self, errors: list[FieldError], detail: str = "Invalid input") -> None:
        super().__init__(detail=detail, errors=errors, status=422)


class Conflict(ServiceError):
    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail=detail, errors=errors or [], status=409)


class NotFound(ServiceError):
    def __init__(self, detail: str = "Not found") -> None:
        super().__init__(detail=detail, status=404)


class Forbidden(ServiceError):
    def __init__(self, detail: str = "You do not have permission to do this") -> None:
        super().__init__(detail=detail, status=403)


def field_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed([FieldError(name, message)])
