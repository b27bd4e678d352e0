"""/scoring/rules, /scoring/settings and /contacts/{id}/score: lead scoring rules, band thresholds
and decay, and a contact's score explained by the rules that gave it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.scoring.models import ScoreEntry, SourceKind
from leadbridge.scoring.selectors import (
    Explanation,
    RuleLine,
    contact_score,
    rule_get,
    rule_list,
    settings_read,
)
from leadbridge.scoring.services import rule_create, rule_delete, rule_update, settings_update

router = Router(tags=["scoring"])
contact_router = Router(tags=["scoring"])

_CONDITION = (
    'Behaviour rules: an optional filter over the row\'s own fields, e.g. `path ~ "/pricing"`, '
    "`name = download and props.type = whitepaper` (hits: url, path, host, title, referrer, name, kind, "
    "props.<key>; inquiries: kind, subject, message, class, class_kind, fields.<key>; touches: kind, "
    "channel, source, medium, campaign, term, content, landing_page, referrer). Fit rules: a contact "
    "filter in the segment language, e.g. `job_title ~ director and company.employees >= 50`."
)


class RuleOut(Schema):
    id: int
    name: str
    kind: str = Field(description="behaviour or fit")
    source: str = Field(description="Behaviour rules: pageview, event, pixel, inquiry or touch")
    event_name: str = Field(description="source event: the event's name (empty: any event)")
    inquiry_kind: str = Field(description="source inquiry: form, call, chat, ... (empty: any)")
    class_kind: str = Field(
        description="source inquiry: the points are held while the inquiry's class is of this kind "
        "(target, upsell, service, junk), and given back when it is reclassified"
    )
    channel: str = Field(description="source touch: a channel key (empty: any)")
    condition: str = Field(description=_CONDITION)
    points: int
    frequency: str = Field(description="once (per contact) or repeatable")
    cap_points: int | None = Field(description="Repeatable rules: at most this many points ...")
    cap_days: int | None = Field(description="... within any this many days")
    is_active: bool
    position: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RuleList(Schema):
    items: list[RuleOut]
    next: str | None


class RuleIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = Field(description="behaviour or fit")
    source: str = ""
    event_name: str = ""
    inquiry_kind: str = ""
    class_kind: str = ""
    channel: str = ""
    condition: str = Field("", description=_CONDITION)
    points: int = Field(description="May be negative")
    frequency: str = Field("repeatable", description="once or repeatable")
    cap_points: int | None = None
    cap_days: int | None = None
    is_active: bool = True
    position: int | None = Field(None, ge=0)


class RulePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    source: str | None = None
    event_name: str | None = None
    inquiry_kind: str | None = None
    class_kind: str | None = None
    channel: str | None = None
    condition: str | None = Field(None, description=_CONDITION)
    points: int | None = None
    frequency: str | None = None
    cap_points: int | None = None
    cap_days: int | None = None
    is_active: bool | None = None
    position: int | None = Field(None, ge=0)


class SettingsOut(Schema):
    warm_threshold: int = Field(description="Warm from this score (cold below)")
    hot_threshold: int = Field(description="Hot from this score")
    decay_mode: str = Field(description="off, percent or points")
    decay_amount: int = Field(description="The percentage or points lost per step")
    decay_days: int = Field(description="Days without scored activity before a step (and between steps)")
    updated_at: dt.datetime


class SettingsPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    warm_threshold: int | None = None
    hot_threshold: int | None = None
    decay_mode: str | None = None
    decay_amount: int | None = None
    decay_days: int | None = None


@router.get("/rules", response={200: RuleList, **errors(*BASE, 403)})
def list_rules(request: HttpRequest, active: bool = False) -> Any:
    """Every rule in display order (a short list: one page)."""
    return {"items": list(rule_list(user=actor(request), active_only=active)), "next": None}


@router.post("/rules", response={201: RuleOut, **errors(*WITH_BODY, 403)})
def create_rule(request: HttpRequest, payload: RuleIn) -> Any:
    """A new rule (marketing, directors, administrators). Behaviour rules score what happens from
    now on; `leadbridge scoring recompute` applies them to the past."""
    data = payload.model_dump(exclude_none=True)
    with located("body"):
        rule = rule_create(actor=actor(request), data=data)
    return Status(201, rule)


@router.get("/rules/{rule_id}", response={200: RuleOut, **errors(*BASE, 403, 404)})
def get_rule(request: HttpRequest, rule_id: Id) -> Any:
    return rule_get(user=actor(request), rule_id=rule_id)


@router.patch("/rules/{rule_id}", response={200: RuleOut, **errors(*WITH_BODY, 403, 404)})
def update_rule(request: HttpRequest, rule_id: Id, payload: RulePatch) -> Any:
    """Change a rule; points already given stay until `scoring recompute`. `null` clears a cap."""
    with located("body"):
        return rule_update(actor=actor(request), rule_id=rule_id, data=payload.model_dump(exclude_unset=True))


@router.delete("/rules/{rule_id}", response={204: None, **errors(*BASE, 403, 404)})
def delete_rule(request: HttpRequest, rule_id: Id) -> Any:
    """Delete a rule and take back the points it gave (set `is_active` false to keep them)."""
    rule_delete(actor=actor(request), rule_id=rule_id)
    return Status(204, None)


@router.get("/settings", response={200: SettingsOut, **errors(*BASE, 403)})
def get_settings(request: HttpRequest) -> Any:
    return settings_read(user=actor(request))


@router.patch("/settings", response={200: SettingsOut, **errors(*WITH_BODY, 403)})
def update_settings(request: HttpRequest, payload: SettingsPatch) -> Any:
    """Thresholds and decay. New thresholds re-band every contact within seconds (the worker)."""
    with located("body"):
        return settings_update(actor=actor(request), data=payload.model_dump(exclude_unset=True))


# --- a contact's score ----------------------------------------------------------------------------


class RuleRef(Schema):
    id: int
    name: str


class ScoreLineOut(Schema):
    rule: RuleRef | None = Field(description="None: a rule deleted since, or decay")
    points: int = Field(description="Net points (fit: held now)")
    entries: int
    first_at: dt.datetime
    last_at: dt.datetime


class ScoreEntryOut(Schema):
    id: int
    rule: RuleRef | None
    source_kind: str = Field(description="event (a tracking hit), inquiry, touch, fit or decay")
    source_id: int | None
    points: int
    occurred_at: dt.datetime


class ScoreOut(Schema):
    contact_id: int
    score: int
    band: str = Field(description="cold, warm or hot")
    warm_threshold: int
    hot_threshold: int
    behaviour: list[ScoreLineOut]
    fit: list[ScoreLineOut]
    decay: ScoreLineOut | None
    recent: list[ScoreEntryOut] = Field(description="The newest ledger entries, newest first")


_KINDS = {k.value: k.name.lower() for k in SourceKind}


def _rule_ref(rule: Any) -> dict[str, Any] | None:
    return {"id": rule.pk, "name": rule.name} if rule is not None else None


def _line(line: RuleLine) -> dict[str, Any]:
    return {
        "rule": _rule_ref(line.rule),
        "points": line.points,
        "entries": line.entries,
        "first_at": line.first_at,
        "last_at": line.last_at,
    }


def _entry(entry: ScoreEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "rule": _rule_ref(entry.rule),
        "source_kind": _KINDS.get(entry.source_kind, str(entry.source_kind)),
        "source_id": entry.source_id,
        "points": entry.points,
        "occurred_at": entry.occurred_at,
    }


def score_json(explained: Explanation) -> dict[str, Any]:
    return {
        "contact_id": explained.contact.pk,
        "score": explained.score,
        "band": explained.band,
        "warm_threshold": explained.settings.warm_threshold,
        "hot_threshold": explained.settings.hot_threshold,
        "behaviour": [_line(line) for line in explained.behaviour],
        "fit": [_line(line) for line in explained.fit],
        "decay": _line(explained.decay) if explained.decay else None,
        "recent": [_entry(e) for e in explained.recent],
    }


@contact_router.get("/contacts/{contact_id}/score", response={200: ScoreOut, **errors(*BASE, 403, 404)})
def get_contact_score(request: HttpRequest, contact_id: Id) -> Any:
    """The contact's score and band, explained: what each rule gave (net points, how many times,
    first and last), fit points held now, decay, and the newest ledger entries."""
    return score_json(contact_score(user=actor(request), contact_id=contact_id))
