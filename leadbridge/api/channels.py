"""/channels and /channel-rules: the channel list and the rules that assign a visit to a channel."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.core.errors import field_error
from leadbridge.core.pagination import decode_cursor, encode_cursor
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm
from leadbridge.marketing import selectors, services
from leadbridge.marketing.models import ChannelRule

router = Router(tags=["channels"])
rules_router = Router(tags=["channel rules"])


class ChannelOut(Schema):
    id: int
    key: str = Field(description="What reports, imports and the API use, e.g. paid_search")
    name: str
    position: int
    is_active: bool
    created_at: dt.datetime


class ChannelPage(Schema):
    items: list[ChannelOut]
    next: str | None


class ChannelIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, description="Lower-case letters, digits and _; at most 32")
    name: str | None = None
    position: int | None = Field(None, ge=-2_147_483_648, le=2_147_483_647)
    is_active: bool | None = None


def _offset_page(items: list[Any], page: PageParams) -> dict[str, Any]:
    """A page of a short list kept in display order (not id order): the cursor is an offset."""
    start = 0
    if page.cursor:
        with located("query"):
            (start,) = decode_cursor(page.cursor)[:1] or [None]
            if not isinstance(start, int) or start < 0:
                raise field_error("cursor", "Invalid cursor")
    end = start + page.limit
    return {"items": items[start:end], "next": encode_cursor([end]) if end < len(items) else None}


@router.get("", response={200: ChannelPage, **errors(*BASE, 403)})
def list_channels(request: HttpRequest, page: Query[PageParams]) -> Any:
    """All channels in display order."""
    require(actor(request), Perm.CAMPAIGN_VIEW)
    return _offset_page(list(selectors.channel_list()), page)


@router.post("", response={201: ChannelOut, **errors(*WITH_BODY, 403, 409)})
def create_channel(request: HttpRequest, payload: ChannelIn) -> Any:
    with located("body"):
        channel = services.channel_create(actor=actor(request), data=payload.model_dump(exclude_unset=True))
    return Status(201, channel)


@router.get("/{channel_id}", response={200: ChannelOut, **errors(*BASE, 403, 404)})
def get_channel(request: HttpRequest, channel_id: Id) -> Any:
    return selectors.channel_get(user=actor(request), channel_id=channel_id)


@router.patch("/{channel_id}", response={200: ChannelOut, **errors(*WITH_BODY, 403, 404, 409)})
def update_channel(request: HttpRequest, channel_id: Id, payload: ChannelIn) -> Any:
    """Rename, reorder or switch off a channel (direct and unknown cannot be switched off)."""
    with located("body"):
        return services.channel_update(
            actor=actor(request), channel_id=channel_id, data=payload.model_dump(exclude_unset=True)
        )


@router.delete("/{channel_id}", response={204: None, **errors(*BASE, 403, 404, 409)})
def delete_channel(request: HttpRequest, channel_id: Id) -> Any:
    """Delete an unused channel (409 when rules, campaigns or spend use it: switch it off instead)."""
    services.channel_delete(actor=actor(request), channel_id=channel_id)
    return Status(204, None)


# --- rules ------------------------------------------------------------------------------------

FieldName = Literal["click_id", "utm_source", "utm_medium", "utm_campaign", "referrer_domain", "landing_page"]
OpName = Literal["equals", "in", "contains", "regex", "exists"]


class RuleOut(Schema):
    id: int
    position: int = Field(description="Rules are tried in position order; the first match wins")
    channel: str = Field(description="The channel key")
    field: str
    op: str
    value: str
    field2: str = Field(description="Optional second condition (both must hold); '' = none")
    op2: str
    value2: str
    is_active: bool
    updated_at: dt.datetime

    @staticmethod
    def resolve_channel(obj: ChannelRule) -> str:
        return obj.channel.key


class RulePage(Schema):
    items: list[RuleOut]
    next: str | None


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    channel: str | None = Field(None, description="Channel key")
    field: FieldName | None = None
    op: OpName | None = None
    value: str | None = Field(
        None,
        description="For `in`: comma-separated; compared case-insensitively; for click_id: click id names",
    )
    field2: FieldName | Literal[""] | None = None
    op2: OpName | Literal[""] | None = None
    value2: str | None = None
    position: int | None = Field(None, ge=-2_147_483_648, le=2_147_483_647)
    is_active: bool | None = None


class MoveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["up", "down"]


@rules_router.get("", response={200: RulePage, **errors(*BASE, 403)})
def list_rules(request: HttpRequest, page: Query[PageParams]) -> Any:
    """The rules in evaluation order (first match wins)."""
    return _offset_page(list(selectors.rule_list(user=actor(request))), page)


@rules_router.post("", response={201: RuleOut, **errors(*WITH_BODY, 403)})
def create_rule(request: HttpRequest, payload: RuleIn) -> Any:
    """Add a rule (last unless a position is given)."""
    with located("body"):
        rule = services.channel_rule_create(actor=actor(request), data=payload.model_dump(exclude_unset=True))
    return Status(201, selectors.rule_get(user=actor(request), rule_id=rule.pk))


@rules_router.get("/{rule_id}", response={200: RuleOut, **errors(*BASE, 403, 404)})
def get_rule(request: HttpRequest, rule_id: Id) -> Any:
    return selectors.rule_get(user=actor(request), rule_id=rule_id)


@rules_router.patch("/{rule_id}", response={200: RuleOut, **errors(*WITH_BODY, 403, 404)})
def update_rule(request: HttpRequest, rule_id: Id, payload: RuleIn) -> Any:
    with located("body"):
        services.channel_rule_update(
            actor=actor(request), rule_id=rule_id, data=payload.model_dump(exclude_unset=True)
        )
    return selectors.rule_get(user=actor(request), rule_id=rule_id)


@rules_router.post("/{rule_id}/move", response={200: RuleOut, **errors(*WITH_BODY, 403, 404)})
def move_rule(request: HttpRequest, rule_id: Id, payload: MoveIn) -> Any:
    """Swap the rule with the one above (`up`) or below (`down`)."""
    with located("body"):
        services.channel_rule_move(actor=actor(request), rule_id=rule_id, direction=payload.direction)
    return selectors.rule_get(user=actor(request), rule_id=rule_id)


@rules_router.delete("/{rule_id}", response={204: None, **errors(*BASE, 403, 404)})
def delete_rule(request: HttpRequest, rule_id: Id) -> Any:
    services.channel_rule_delete(actor=actor(request), rule_id=rule_id)
    return Status(204, None)
