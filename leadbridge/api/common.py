"""Pieces every resource module shares: id and paging parameters, small reference schemas."""

from __future__ import annotations

from typing import Annotated

from ninja import Schema
from pydantic import Field

# The largest id a 64-bit primary key holds; larger numbers are a 422, not a database error.
MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class PageParams(Schema):
    cursor: str | None = Field(
        None, max_length=200, description="The `next` value of the previous page; omit for the first page"
    )
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page (1-200)")


class CompanyRef(Schema):
    id: int
    name: str


class ContactRef(Schema):
    id: int
    name: str
