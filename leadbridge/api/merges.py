"""/merges: merge two contacts (all history kept) and undo a merge."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict

from leadbridge.api.auth import actor
from leadbridge.api.common import Id
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.contacts.merge import contact_merge, merge_undo
from leadbridge.contacts.models import Merge

router = Router(tags=["merges"])


class MergeOut(Schema):
    id: int
    winner_id: int
    loser_id: int
    actor: str | None
    merged_at: dt.datetime
    undone_at: dt.datetime | None

    @staticmethod
    def resolve_actor(obj: Merge) -> str | None:
        return obj.actor.username if obj.actor_id and obj.actor else None


class MergeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    winner_id: Id
    loser_id: Id


@router.post("", response={201: MergeOut, **errors(*WITH_BODY, 403, 404)})
def create_merge(request: HttpRequest, payload: MergeIn) -> Any:
    """Merge `loser_id` into `winner_id`: the winner keeps its values, fills its blanks from
    the loser and takes over all history; the loser points at the winner."""
    with located("body"):
        merge = contact_merge(actor=actor(request), winner_id=payload.winner_id, loser_id=payload.loser_id)
    return Status(201, merge)


@router.post("/{merge_id}/undo", response={200: MergeOut, **errors(*BASE, 403, 404, 409, 413)})
def undo_merge(request: HttpRequest, merge_id: Id) -> Any:
    """Put both contacts back as they were. Undoing twice, or a merge whose winner was merged
    again later, is a 409."""
    return merge_undo(actor=actor(request), merge_id=merge_id)
