"""Reads of the scoring app: rules, settings, and a contact's score explained by its ledger."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Min, QuerySet, Sum
from django.utils.translation import gettext as _

from leadbridge.contacts.models import Contact
from leadbridge.contacts.selectors import contact_get
from leadbridge.core.errors import NotFound
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm
from leadbridge.scoring.engine import score_settings
from leadbridge.scoring.models import RuleKind, ScoreEntry, ScoreSettings, ScoringRule, SourceKind

RECENT_ENTRIES = 20


def rule_list(*, user: Any, active_only: bool = False) -> QuerySet[ScoringRule]:
    """Every rule in display order (a short list: no paging)."""
    require(user, Perm.CONTACT_VIEW)
    qs = ScoringRule.objects.order_by("position", "id")
    return qs.filter(is_active=True) if active_only else qs


def rule_get(*, user: Any, rule_id: int) -> ScoringRule:
    require(user, Perm.CONTACT_VIEW)
    rule = ScoringRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("Scoring rule not found"))
    return rule


def settings_read(*, user: Any) -> ScoreSettings:
    require(user, Perm.CONTACT_VIEW)
    return score_settings()


@dataclass
class RuleLine:
    """What one rule gave a contact: net points, how many entries, first and last."""

    rule: ScoringRule | None
    kind: str
    points: int
    entries: int
    first_at: dt.datetime
    last_at: dt.datetime


@dataclass
class Explanation:
    """A contact's score explained: per rule (behaviour, fit), decay, the newest entries.
    `ledger_total` equals `score` unless a write is on its way (they change together)."""

    contact: Contact
    score: int
    band: str
    settings: ScoreSettings
    behaviour: list[RuleLine] = field(default_factory=list)
    fit: list[RuleLine] = field(default_factory=list)
    decay: RuleLine | None = None
    recent: list[ScoreEntry] = field(default_factory=list)
    ledger_total: int = 0

    @property
    def empty(self) -> bool:
        return not (self.behaviour or self.fit or self.decay)


def score_explain(*, contact: Contact, recent: int = RECENT_ENTRIES) -> Explanation:
    """The explanation of a contact the caller has already been allowed to see."""
    rows = (
        ScoreEntry.objects.filter(contact=contact)
        .order_by()
        .values("rule_id", "source_kind")
        .annotate(
            points=Sum("points"), entries=Count("id"), first_at=Min("occurred_at"), last_at=Max("occurred_at")
        )
    )
    lines = list(rows)
    rules = ScoringRule.objects.in_bulk([r["rule_id"] for r in lines if r["rule_id"]])
    result = Explanation(contact=contact, score=contact.score, band=contact.band, settings=score_settings())
    merged: dict[int, RuleLine] = {}
    for row in lines:
        total = int(row["points"] or 0)
        result.ledger_total += total
        if row["source_kind"] == SourceKind.DECAY:
            line = RuleLine(None, "decay", total, row["entries"], row["first_at"], row["last_at"])
            result.decay = line if result.decay is None else _merge(result.decay, line)
            continue
        rule = rules.get(row["rule_id"])
        kind = RuleKind.FIT.value if row["source_kind"] == SourceKind.FIT else RuleKind.BEHAVIOUR.value
        line = RuleLine(rule, kind, total, row["entries"], row["first_at"], row["last_at"])
        key = row["rule_id"] or 0
        merged[key] = _merge(merged[key], line) if key in merged else line
    for line in merged.values():
        if line.kind == RuleKind.FIT:
            if line.points:
                result.fit.append(line)
        else:
            result.behaviour.append(line)
    result.behaviour.sort(key=lambda item: (-abs(item.points), item.rule.position if item.rule else 0))
    result.fit.sort(key=lambda item: -abs(item.points))
    result.recent = list(
        ScoreEntry.objects.filter(contact=contact)
        .select_related("rule")
        .order_by("-occurred_at", "-id")[:recent]
    )
    return result


def _merge(a: RuleLine, b: RuleLine) -> RuleLine:
    return RuleLine(
        a.rule or b.rule,
        a.kind,
        a.points + b.points,
        a.entries + b.entries,
        min(a.first_at, b.first_at),
        max(a.last_at, b.last_at),
    )


def contact_score(*, user: Any, contact_id: int) -> Explanation:
    """A contact's score explanation for `user` (NotFound when they may not see the contact)."""
    return score_explain(contact=contact_get(user=user, contact_id=contact_id))
