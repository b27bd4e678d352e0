"""Errors of filters with their position in the filter text, for every adapter.

`PositionedFieldError` is a `FieldError` that also carries the 0-based character offset of the
problem; the API adds it to the error as `errors[i].position` (see api/errors.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from leadbridge.core.errors import FieldError
from leadbridge.segments.language import FilterError, FilterSyntaxError


@dataclass(frozen=True)
class PositionedFieldError(FieldError):
    position: int = 0

    def as_dict(self) -> dict[str, object]:  # type: ignore[override]
        return {"field": self.field, "message": self.message, "position": self.position}


def with_position(exc: FilterError) -> FilterError:
    """`exc` with its field errors carrying the position (syntax errors know it; tree errors do not)."""
    position = getattr(exc, "position", None)
    if isinstance(position, int):
        exc.errors = [
            e if isinstance(e, PositionedFieldError) else PositionedFieldError(e.field, e.message, position)
            for e in exc.errors
        ]
    return exc


__all__ = ["FilterSyntaxError", "PositionedFieldError", "with_position"]
