"""Scoring: the one write path for rules and settings, and the runs the worker and the CLI make
(the streams, fit, decay, re-banding, recompute). Contact.score and Contact.band change here only.

Invariant: a contact's score is the sum of its ledger (`ScoreEntry`), and its band follows from
the score and the thresholds. Every write below keeps both in one transaction, under the
scoring lock (engine.scoring_lock), and every band change writes one `score_band_changed`
activity ({"from", "to", "score"}) that automation reacts to.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from leadbridge.capture.models import ClassKind, InquiryKind
from leadbridge.contacts.models import Contact
from leadbridge.core import clock
from leadbridge.core.audit import audit_record, diff
from leadbridge.core.errors import FieldError, Forbidden, NotFound, ServiceError, ValidationFailed
from leadbridge.core.roles import Perm, has_perm
from leadbridge.marketing.models import Channel
from leadbridge.scoring import engine
from leadbridge.scoring.conditions import compile_condition, parse_condition
from leadbridge.scoring.engine import (
    CONTACTS,
    ENTRIES,
    LedgerState,
    Match,
    NewEntry,
    RuleBook,
    award,
    chunked,
    db_dt,
    fetch,
    ints,
    ledger_totals,
    ledger_write,
    rows_by,
    score_settings,
    scores_apply,
    scores_set,
    scoring_lock,
)
from leadbridge.scoring.models import (
    DecayMode,
    Frequency,
    RuleKind,
    RuleSource,
    ScoreSettings,
    ScoringCursor,
    ScoringRule,
    SourceKind,
)
from leadbridge.scoring.streams import (
    EVENTS,
    INQUIRIES,
    TOUCH_COLUMNS,
    TOUCHES,
    VISITORS,
    StreamResult,
    cursor_get,
    hit_columns,
    hit_matches,
    inquiry_matches,
    inquiry_select,
    setting,
    streams_run,
    touch_matches,
)
from leadbridge.segments.errors import PositionedFieldError, with_position
from leadbridge.segments.language import FilterError, fields, to_text

log = logging.getLogger(__name__)

# Who may change rules and settings (everyone who sees a contact may read its score).
MAX_POINTS = 10_000
MAX_CAP_POINTS = 1_000_000
MAX_DAYS = 3650
RULE_FIELDS = (
    "name",
    "kind",
    "source",
    "event_name",
    "inquiry_kind",
    "class_kind",
    "channel",
    "condition",
    "points",
    "frequency",
    "cap_points",
    "cap_days",
    "is_active",
    "position",
)
SETTINGS_FIELDS = ("warm_threshold", "hot_threshold", "decay_mode", "decay_amount", "decay_days")
# Fit conditions may not depend on the score they feed.
FIT_FORBIDDEN_FIELDS = frozenset({"score", "band"})


def can_manage(user: Any) -> bool:
    return has_perm(user, Perm.SCORING_MANAGE)


def _require_manager(actor: Any) -> None:
    # None is the system itself (CLI, tests, the worker).
    if actor is not None and not can_manage(actor):
        raise Forbidden(_("Only marketing, directors and administrators may change scoring"))


# --- rules ------------------------------------------------------------------------------------


def rule_snapshot(rule: ScoringRule) -> dict[str, Any]:
    return {f: getattr(rule, f) for f in RULE_FIELDS}


def _int(
    errors: list[FieldError], name: str, value: Any, *, low: int, high: int, allow_none: bool = False
) -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        else:
            errors.append(FieldError(name, _("Must be a whole number")))
            return None
    if not low <= value <= high:
        errors.append(
            FieldError(name, _("Must be between %(low)s and %(high)s") % {"low": low, "high": high})
        )
        return None
    return value


def _text(errors: list[FieldError], name: str, value: Any, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        errors.append(FieldError(name, _("Must be text")))
        return ""
    value = value.strip()
    if len(value) > limit:
        errors.append(FieldError(name, _("At most %(limit)s characters") % {"limit": limit}))
    return value


def _choice(errors: list[FieldError], name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        errors.append(FieldError(name, _("Choose one of: %(choices)s") % {"choices": ", ".join(choices)}))
        return ""
    return str(value)


def _condition_errors(exc: FilterError) -> list[FieldError]:
    """The filter's errors, each with its position in the text (the API shows `position`)."""
    return list(with_position(exc).errors) or [FieldError("condition", exc.message)]


def _behaviour_condition(errors: list[FieldError], text: str, source: str) -> str:
    if not text:
        return ""
    try:
        node = parse_condition(text)
        compile_condition(text, source=source)
    except FilterError as exc:
        errors.extend(_condition_errors(exc))
        return text
    return to_text(node) if node is not None else ""


def _fit_condition(errors: list[FieldError], text: str) -> str:
    if not text:
        errors.append(
            FieldError("condition", _("A fit rule needs a contact filter, e.g. job_title ~ director"))
        )
        return ""
    from leadbridge.segments.compiler import compile_filter
    from leadbridge.segments.services import segment_resolver

    try:
        node = parse_condition(text)
        assert node is not None
        for use in fields(node):
            if use.name.lower() in FIT_FORBIDDEN_FIELDS:
                message = _("Position %(position)s: a fit rule cannot depend on the score or band it gives")
                errors.append(PositionedFieldError("condition", message % {"position": use.pos}, use.pos))
                return text
        compile_filter(node, resolve_segment=segment_resolver(), field="condition")
    except FilterError as exc:
        errors.extend(_condition_errors(exc))
        return text
    return to_text(node)


def _clean_rule(data: Mapping[str, Any], *, current: ScoringRule | None) -> dict[str, Any]:
    errors: list[FieldError] = []
    unknown = sorted(set(data) - set(RULE_FIELDS))
    for name in unknown:
        errors.append(FieldError(name, _("Unknown field")))
    values: dict[str, Any] = rule_snapshot(current) if current is not None else {}
    if current is None:
        values.update(
            source="",
            event_name="",
            inquiry_kind="",
            class_kind="",
            channel="",
            condition="",
            frequency=Frequency.REPEATABLE.value,
            cap_points=None,
            cap_days=None,
            is_active=True,
        )
        for required in ("name", "kind", "points"):
            if data.get(required) in (None, ""):
                errors.append(FieldError(required, _("Required")))
    given = {k: v for k, v in data.items() if k in RULE_FIELDS}
    if "name" in given:
        values["name"] = _text(errors, "name", given["name"], 120)
        if not values["name"] and not any(e.field == "name" for e in errors):
            errors.append(FieldError("name", _("Required")))
    if "kind" in given:
        values["kind"] = _choice(errors, "kind", given["kind"], RuleKind.values)
    if "points" in given and given["points"] is not None:
        points = _int(errors, "points", given["points"], low=-MAX_POINTS, high=MAX_POINTS)
        if points == 0:
            errors.append(FieldError("points", _("A rule must give or take at least one point")))
        values["points"] = points
    for name in ("source", "frequency"):
        if name in given:
            values[name] = given[name] if given[name] is not None else ""
    for name, limit in (("event_name", 100), ("inquiry_kind", 12), ("class_kind", 10), ("channel", 64)):
        if name in given:
            values[name] = _text(errors, name, given[name], limit)
    if "condition" in given:
        values["condition"] = _text(errors, "condition", given["condition"], 10_000)
    for name in ("cap_points", "cap_days"):
        if name in given:
            high = MAX_CAP_POINTS if name == "cap_points" else MAX_DAYS
            values[name] = _int(errors, name, given[name], low=1, high=high, allow_none=True)
    if "is_active" in given:
        if not isinstance(given["is_active"], bool):
            errors.append(FieldError("is_active", _("Must be true or false")))
        values["is_active"] = bool(given["is_active"])
    if "position" in given and given["position"] is not None:
        values["position"] = _int(errors, "position", given["position"], low=0, high=1_000_000)
    if errors:
        raise ValidationFailed(errors)

    if values["kind"] == RuleKind.FIT:
        for name in ("source", "event_name", "inquiry_kind", "class_kind", "channel"):
            if given.get(name):
                errors.append(FieldError(name, _("A fit rule reacts to no event: leave this empty")))
            values[name] = ""
        if given.get("cap_points") is not None or given.get("cap_days") is not None:
            errors.append(FieldError("cap_points", _("A fit rule gives its points once: it has no cap")))
        values.update(frequency=Frequency.ONCE.value, cap_points=None, cap_days=None)
        values["condition"] = _fit_condition(errors, values["condition"])
    else:
        source = _choice(errors, "source", values["source"], RuleSource.values)
        _choice(errors, "frequency", values["frequency"], Frequency.values)
        only = {
            "event_name": RuleSource.EVENT,
            "inquiry_kind": RuleSource.INQUIRY,
            "class_kind": RuleSource.INQUIRY,
        }
        only["channel"] = RuleSource.TOUCH
        for name, owner in only.items():
            if values[name] and source and source != owner:
                if name in given:
                    errors.append(
                        FieldError(
                            name, _("Only for rules on %(source)s") % {"source": RuleSource(owner).label}
                        )
                    )
                values[name] = ""
        if values["inquiry_kind"]:
            _choice(errors, "inquiry_kind", values["inquiry_kind"], InquiryKind.values)
        if values["class_kind"]:
            _choice(errors, "class_kind", values["class_kind"], ClassKind.values)
        if values["channel"] and not Channel.objects.filter(key=values["channel"]).exists():
            errors.append(FieldError("channel", _("No channel %(key)s") % {"key": values["channel"]}))
        if values["frequency"] == Frequency.ONCE and (values["cap_points"] or values["cap_days"]):
            if "cap_points" in given or "cap_days" in given:
                errors.append(FieldError("cap_points", _("A rule that scores once needs no cap")))
            values.update(cap_points=None, cap_days=None)
        if (values["cap_points"] is None) != (values["cap_days"] is None):
            missing = "cap_days" if values["cap_days"] is None else "cap_points"
            errors.append(FieldError(missing, _("A cap needs both the points and the period in days")))
        if source:
            values["condition"] = _behaviour_condition(errors, values["condition"], source)
    if errors:
        raise ValidationFailed(errors)
    return values


def _rule_for_update(rule_id: int) -> ScoringRule:
    rule = ScoringRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("Scoring rule not found"))
    return rule


def _after_rules_changed(*, fit: bool) -> None:
    if fit:
        # The next tick reconciles fit points (scoring/tasks.py runs it at once).
        ScoringCursor.objects.filter(stream="fit").update(run_at=None)
    from leadbridge.scoring.tasks import ensure_scheduled

    transaction.on_commit(ensure_scheduled)


@transaction.atomic
def rule_create(*, actor: Any, data: Mapping[str, Any]) -> ScoringRule:
    """A new rule. Behaviour rules score what happens from now on; `scoring recompute` applies
    them to the past. Fit rules reach every matching contact on the worker's next run."""
    _require_manager(actor)
    values = _clean_rule(data, current=None)
    if values.get("position") is None:
        last = ScoringRule.objects.order_by("-position").values_list("position", flat=True).first()
        values["position"] = (last or 0) + 1
    now = clock.now()
    rule = ScoringRule.objects.create(
        **values, created_by=actor if getattr(actor, "pk", None) else None, created_at=now, updated_at=now
    )
    audit_record(
        actor=actor, action="scoring_rule.create", object_type="scoring_rule", object_id=rule.pk, after=values
    )
    _after_rules_changed(fit=rule.kind == RuleKind.FIT)
    return rule


@transaction.atomic
def rule_update(*, actor: Any, rule_id: int, data: Mapping[str, Any]) -> ScoringRule:
    """Change a rule. Points already in the ledger stay (they were earned under the old rule);
    new rows score by the new one. `scoring recompute` re-scores the past with the rules as they
    are now. The kind of a rule cannot change (make a new rule)."""
    _require_manager(actor)
    rule = _rule_for_update(rule_id)
    if "kind" in data and data["kind"] != rule.kind:
        raise ValidationFailed([FieldError("kind", _("The kind of a rule cannot change: create a new rule"))])
    before = rule_snapshot(rule)
    values = _clean_rule(data, current=rule)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.updated_at = clock.now()
    rule.save()
    old, new = diff(before, rule_snapshot(rule))
    if new:
        audit_record(
            actor=actor,
            action="scoring_rule.update",
            object_type="scoring_rule",
            object_id=rule.pk,
            before=old,
            after=new,
        )
    _after_rules_changed(fit=rule.kind == RuleKind.FIT)
    return rule


@transaction.atomic
def rule_delete(*, actor: Any, rule_id: int) -> None:
    """Delete a rule with the points it gave: every contact loses them now (bands follow).

    The ledger has no index by rule (the worker's writes are what must be fast), so this reads
    the whole ledger once; deactivating (`is_active`) keeps the points and costs nothing.
    """
    _require_manager(actor)
    scoring_lock()
    rule = _rule_for_update(rule_id)
    before = rule_snapshot(rule)
    totals = fetch(
        f"SELECT contact_id, SUM(points) FROM {ENTRIES} WHERE rule_id = %s GROUP BY contact_id",  # noqa: S608
        [rule.pk],
    )
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ENTRIES} WHERE rule_id = %s", [rule.pk])  # noqa: S608
    scores_apply({contact_id: -int(total) for contact_id, total in totals}, settings=score_settings())
    rule.delete()
    audit_record(
        actor=actor,
        action="scoring_rule.delete",
        object_type="scoring_rule",
        object_id=rule_id,
        before=before,
    )


# --- settings ---------------------------------------------------------------------------------


@transaction.atomic
def settings_update(*, actor: Any, data: Mapping[str, Any]) -> ScoreSettings:
    """Thresholds and decay. New thresholds re-band every contact on the worker's next run (each
    band that changes writes its activity)."""
    _require_manager(actor)
    current, _created = ScoreSettings.objects.select_for_update().get_or_create(pk=1)
    errors: list[FieldError] = [
        FieldError(k, _("Unknown field")) for k in sorted(set(data) - set(SETTINGS_FIELDS))
    ]
    values = {f: getattr(current, f) for f in SETTINGS_FIELDS}
    for name in ("warm_threshold", "hot_threshold"):
        if name in data:
            values[name] = _int(errors, name, data[name], low=-MAX_CAP_POINTS, high=MAX_CAP_POINTS)
    if "decay_mode" in data:
        values["decay_mode"] = _choice(errors, "decay_mode", data["decay_mode"], DecayMode.values)
    if "decay_days" in data:
        values["decay_days"] = _int(errors, "decay_days", data["decay_days"], low=1, high=MAX_DAYS)
    if "decay_amount" in data:
        values["decay_amount"] = _int(
            errors, "decay_amount", data["decay_amount"], low=1, high=MAX_CAP_POINTS
        )
    if not errors:
        if values["warm_threshold"] >= values["hot_threshold"]:
            errors.append(FieldError("hot_threshold", _("Hot must start above warm")))
        if values["decay_mode"] == DecayMode.PERCENT and values["decay_amount"] > 100:
            errors.append(FieldError("decay_amount", _("A percentage is at most 100")))
    if errors:
        raise ValidationFailed(errors)
    before = {f: getattr(current, f) for f in SETTINGS_FIELDS}
    rebanding = (values["warm_threshold"], values["hot_threshold"]) != (
        current.warm_threshold,
        current.hot_threshold,
    )
    for name, value in values.items():
        setattr(current, name, value)
    current.updated_at = clock.now()
    current.save()
    old, new = diff(before, values)
    if new:
        audit_record(
            actor=actor,
            action="scoring_settings.update",
            object_type="scoring_settings",
            before=old,
            after=new,
        )
    if rebanding:
        ScoringCursor.objects.update_or_create(stream="reband", defaults={"run_at": None, "position": 0})
        from leadbridge.scoring.tasks import ensure_scheduled

        transaction.on_commit(ensure_scheduled)
    return current


# --- the worker's runs ------------------------------------------------------------------------


def _due(stream: str, every: float, now: dt.datetime) -> bool:
    run_at = cursor_get(stream).run_at
    return run_at is None or run_at <= now - dt.timedelta(seconds=every)


def _mark(stream: str, now: dt.datetime) -> None:
    ScoringCursor.objects.update_or_create(stream=stream, defaults={"run_at": now})


def scoring_tick(*, budget: float | None = None) -> dict[str, Any]:
    """One run of the worker: the streams (for at most `budget` seconds), then whatever is due:
    re-banding after new thresholds, fit rules (every SCORING_FIT_SECONDS, at once after a fit
    rule changed), decay (every SCORING_DECAY_SECONDS). `backlog`: rows were left for the next run."""
    started = time.monotonic()
    if budget is None:
        budget = float(setting("SCORING_TICK_BUDGET", 5))
    book = RuleBook.load()
    results = streams_run(budget=budget, book=book)
    summary: dict[str, Any] = {s: _result_json(r) for s, r in results.items()}
    now = clock.now()
    if ScoringCursor.objects.filter(stream="reband", run_at__isnull=True).exists():
        summary["reband"] = reband_all(now=now)
    if _due("fit", float(setting("SCORING_FIT_SECONDS", 300)), now):
        summary["fit"] = fit_refresh(book=book)
        _mark("fit", now)
    if _due("decay", float(setting("SCORING_DECAY_SECONDS", 86400)), now):
        summary["decay"] = decay_apply(now=now)
        _mark("decay", now)
    summary["backlog"] = not all(r.caught_up for r in results.values())
    summary["seconds"] = round(time.monotonic() - started, 3)
    return summary


def _result_json(result: StreamResult) -> dict[str, Any]:
    return {
        "ids": result.ids,
        "matches": result.matches,
        "entries": result.entries,
        "crossings": result.crossings,
        "caught_up": result.caught_up,
    }


def _max_contact_id() -> int:
    return int(fetch(f"SELECT MAX(id) FROM {CONTACTS}", [])[0][0] or 0)  # noqa: S608


def reband_all(*, now: dt.datetime | None = None, batch: int = 5000) -> dict[str, int]:
    """Every contact whose band no longer matches its score under the thresholds gets its band
    (and the activity), in batches of `batch` ids, each its own transaction."""
    settings = score_settings()
    crossings = 0
    top = _max_contact_id()
    for start in range(0, top, batch):
        with transaction.atomic():
            scoring_lock()
            settings = score_settings()
            case = "CASE WHEN score >= %s THEN 'hot' WHEN score >= %s THEN 'warm' ELSE 'cold' END"
            ids = [
                row[0]
                for row in fetch(
                    f"SELECT id FROM {CONTACTS} WHERE id > %s AND id <= %s AND band <> {case}",  # noqa: S608
                    [start, start + batch, settings.hot_threshold, settings.warm_threshold],
                )
            ]
            crossings += len(scores_apply({}, settings=settings, rebands=ids, at=now))
    ScoringCursor.objects.update_or_create(stream="reband", defaults={"run_at": now or clock.now()})
    return {"crossings": crossings}


def scores_refresh(contact_ids: list[int]) -> None:
    """Score and band of these contacts from their ledgers (after a merge moved entries).

    Runs inside the merge's transaction, which holds both contacts' rows: a worker batch touching
    them waits on those rows (engine.scores_apply locks its contacts in id order), so the scoring
    lock is not taken here; taken after the row locks it could deadlock with a batch."""
    scores_set(ledger_totals(sorted(set(contact_ids))), settings=score_settings())


# --- decay ------------------------------------------------------------------------------------


def decay_loss(balance: int, settings: ScoreSettings) -> int:
    """What a contact with `balance` behaviour points loses in one decay step (never below 0)."""
    if balance <= 0 or settings.decay_mode == DecayMode.OFF:
        return 0
    if settings.decay_mode == DecayMode.PERCENT:
        loss = max(1, round(balance * settings.decay_amount / 100))
    else:
        loss = settings.decay_amount
    return min(loss, balance)


def decay_apply(*, now: dt.datetime | None = None, batch: int = 5000) -> dict[str, int]:
    """Decay for every contact with a positive score and nothing in its ledger (fit aside) for
    `decay_days`: one decay entry each (no rule), set-based per batch of contact ids. The decay
    entry itself restarts the period, so an idle contact decays again `decay_days` later."""
    settings = score_settings()
    if settings.decay_mode == DecayMode.OFF:
        return {"contacts": 0, "points": 0}
    now = now or clock.now()
    cutoff = now - dt.timedelta(days=settings.decay_days)
    fit = SourceKind.FIT.value
    fit_rules = list(ScoringRule.objects.filter(kind=RuleKind.FIT).values_list("pk", flat=True))
    contacts = points = 0
    top = _max_contact_id()
    for start in range(0, top, batch):
        with transaction.atomic():
            scoring_lock()
            # The last entry (fit aside) of each contact with points: one probe of score_entry_contact
            # (contact, -occurred_at) per contact, a subquery both databases run per row.
            idle = dict(
                fetch(
                    f"SELECT c.id, c.score FROM {CONTACTS} c WHERE c.id > %s AND c.id <= %s AND c.score > 0 AND ("  # noqa: S608
                    f"SELECT r.occurred_at FROM {ENTRIES} r WHERE r.contact_id = c.id AND r.source_kind <> {fit} "
                    "ORDER BY r.occurred_at DESC LIMIT 1) <= %s",
                    [start, start + batch, db_dt(cutoff)],
                )
            )
            if not idle:
                continue
            # Behaviour points = the score (the ledger's sum) less the fit points held, which the
            # (contact, rule) index finds without reading the contact's behaviour history.
            balances = dict(idle)
            if fit_rules:
                frm, params = rows_by(
                    ENTRIES,
                    "contact_id",
                    sorted(idle),
                    alias="x",
                    columns="contact_id, points",
                    where=f"rule_id IN ({ints(fit_rules)}) AND source_kind = {fit}",
                )
                for contact_id, held in fetch(
                    f"SELECT x.contact_id, SUM(x.points) FROM {frm} GROUP BY x.contact_id",  # noqa: S608
                    params,
                ):
                    balances[contact_id] -= int(held)
            rows = sorted(balances.items())
            entries = []
            for contact_id, balance in rows:
                loss = decay_loss(int(balance), settings)
                if loss:
                    entries.append(NewEntry(contact_id, None, SourceKind.DECAY.value, None, -loss, now))
            ledger_write(entries)
            scores_apply(engine.deltas_of(entries), settings=settings, at=now)
            contacts += len(entries)
            points += sum(-e.points for e in entries)
    return {"contacts": contacts, "points": points}


def decay_replay(entries: list[NewEntry], settings: ScoreSettings, now: dt.datetime) -> list[NewEntry]:
    """The decay entries the worker would have written over this history of one contact's
    behaviour entries (for `recompute`): a step `decay_days` after the last entry or step,
    while the balance is positive and nothing happens."""
    if settings.decay_mode == DecayMode.OFF or not entries:
        return []
    period = dt.timedelta(days=settings.decay_days)
    out: list[NewEntry] = []
    balance = 0
    last: dt.datetime | None = None
    contact_id = entries[0].contact_id
    for at, points in [
        *((e.occurred_at, e.points) for e in sorted(entries, key=lambda e: e.occurred_at)),
        (now, 0),
    ]:
        while last is not None and balance > 0 and at - last >= period:
            last = last + period
            loss = decay_loss(balance, settings)
            out.append(NewEntry(contact_id, None, SourceKind.DECAY.value, None, -loss, last))
            balance -= loss
        balance += points
        last = at if last is None or at > last else last
    return out


# --- fit rules --------------------------------------------------------------------------------


def fit_refresh(*, book: RuleBook | None = None, batch: int = 5000) -> dict[str, int]:
    """Fit points follow the contacts: +points to each contact that matches an active fit rule and
    does not hold them, the points back from each that no longer matches (or whose rule was
    deactivated), the difference where a rule's points changed. Set-based: the compiled filter
    (segments.compiler) is joined with what each rule holds (the score_entry_fit index)."""
    from leadbridge.segments.compiler import compile_filter
    from leadbridge.segments.services import segment_resolver

    book = book or RuleBook.load()
    active = {r.pk: r for r in book.fit}
    held_rules = [
        row[0]
        for row in fetch(
            f"SELECT DISTINCT rule_id FROM {ENTRIES} WHERE source_kind = %s",  # noqa: S608
            [SourceKind.FIT.value],
        )
    ]
    fit = SourceKind.FIT.value
    changed = 0
    for rule_id in sorted(set(active) | set(held_rules)):
        rule = active.get(rule_id)
        held = (
            f"SELECT contact_id, SUM(points) AS total FROM {ENTRIES} WHERE source_kind = {fit} "  # noqa: S608
            f"AND rule_id = %s GROUP BY contact_id"
        )
        changes: list[tuple[int, int]] = []
        if rule is None:
            rows = fetch(f"SELECT contact_id, total FROM ({held}) h WHERE total <> 0", [rule_id])  # noqa: S608
            changes = [(c, -int(t)) for c, t in rows]
        else:
            try:
                node = parse_condition(rule.condition)
                compiled = compile_filter(node, resolve_segment=segment_resolver(), field="condition")
            except ServiceError as exc:
                log.warning("fit rule %s skipped: %s", rule_id, exc)
                continue
            ids_sql, ids_params = compiled.ids_sql()
            gained = fetch(
                f"SELECT m.id, COALESCE(h.total, 0) FROM ({ids_sql}) m LEFT JOIN ({held}) h "  # noqa: S608
                "ON h.contact_id = m.id WHERE COALESCE(h.total, 0) <> %s",
                [*ids_params, rule_id, rule.points],
            )
            lost = fetch(
                f"SELECT h.contact_id, h.total FROM ({held}) h WHERE h.total <> 0 "  # noqa: S608
                f"AND h.contact_id NOT IN ({ids_sql})",
                [rule_id, *ids_params],
            )
            changes = [(c, rule.points - int(t)) for c, t in gained] + [(c, -int(t)) for c, t in lost]
        for chunk in chunked(sorted(changes), batch):
            with transaction.atomic():
                scoring_lock()
                now = clock.now()
                entries = [NewEntry(c, rule_id, fit, None, points, now) for c, points in chunk]
                ledger_write(entries)
                scores_apply(engine.deltas_of(entries), settings=score_settings(), at=now)
        changed += len(changes)
    return {"changes": changed}


# --- recompute --------------------------------------------------------------------------------


def _recompute_matches(ids: Sequence[int], book: RuleBook, positions: dict[str, int]) -> list[Match]:
    """What the streams saw of these contacts (rows up to each stream's cursor), stream by
    stream in id order, as the worker met them. Every table is reached through the index that
    leads with the contact (or visitor) column (engine.rows_by)."""
    matches: list[Match] = []
    if book.hits:
        frm, params = rows_by(VISITORS, "contact_id", ids, alias="v", columns="id, contact_id")
        visitors = dict(fetch(f"SELECT v.id, v.contact_id FROM {frm}", params))  # noqa: S608
        if visitors:
            frm, params = rows_by(
                EVENTS,
                "visitor_id",
                sorted(visitors),
                alias="e",
                where=f"id <= %s AND kind IN ({ints(sorted(book.hits))})",
                params=[positions["events"]],
            )
            rows = fetch(
                f"SELECT e.id, e.visitor_id, e.kind, e.occurred_at, {hit_columns(book)} FROM {frm} ORDER BY e.id",  # noqa: S608
                params,
            )
            hit_matches(book, [(r[0], visitors[r[1]], *r[2:]) for r in rows], matches)
    if book.touches:
        frm, params = rows_by(
            TOUCHES, "contact_id", ids, alias="t", where="id <= %s", params=[positions["touches"]]
        )
        rows = fetch(f"SELECT {TOUCH_COLUMNS} FROM {frm} ORDER BY t.id", params)  # noqa: S608
        touch_matches(book, rows, matches)
    if book.inquiries:
        frm, params = rows_by(
            INQUIRIES, "contact_id", ids, alias="i", where="id <= %s", params=[positions["inquiries"]]
        )
        rows = fetch(inquiry_select(frm) + " ORDER BY i.id", params)
        inquiry_matches(book, rows, matches)
    return matches


def scores_recompute(
    *, actor: Any = None, batch: int = 1000, progress: Callable[[int, int], None] | None = None
) -> dict[str, int]:
    """Rebuild every contact's ledger from the sources with the rules as they are now, then set
    scores and bands (band changes write their activities).

    Batches of `batch` contact ids, one transaction each, so the worker keeps running between
    them: a batch takes each source up to where the worker's cursor is, and the worker scores
    what comes after. Behaviour entries and decay (replayed over the rebuilt history) are
    rewritten; fit entries are reconciled at the end (`fit_refresh`). Running it twice changes
    nothing the second time.
    """
    _require_manager(actor)
    book = RuleBook.load()
    top = _max_contact_id()
    totals = {"contacts": 0, "entries": 0, "crossings": 0}
    done = 0
    fit = SourceKind.FIT.value
    for start in range(0, top, batch):
        with transaction.atomic():
            scoring_lock()
            settings = score_settings()
            now = clock.now()
            ids = list(
                Contact.objects.filter(pk__gt=start, pk__lte=start + batch)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            if ids:
                positions = {s: cursor_get(s).position for s in ("events", "touches", "inquiries")}
                entries = award(_recompute_matches(ids, book, positions), state=LedgerState())
                by_contact: dict[int, list[NewEntry]] = defaultdict(list)
                for e in entries:
                    by_contact[e.contact_id].append(e)
                for history in by_contact.values():
                    entries.extend(decay_replay(history, settings, now))
                frm, params = rows_by(
                    ENTRIES, "contact_id", ids, alias="x", columns="id", where=f"source_kind <> {fit}"
                )
                with connection.cursor() as cursor:
                    cursor.execute(f"DELETE FROM {ENTRIES} WHERE id IN (SELECT x.id FROM {frm})", params)  # noqa: S608
                ledger_write(entries)
                crossings = scores_set(ledger_totals(ids), settings=settings)
                totals["contacts"] += len(ids)
                totals["entries"] += len(entries)
                totals["crossings"] += len(crossings)
        done = min(start + batch, top)
        if progress is not None:
            progress(done, top)
    totals["fit_changes"] = fit_refresh(book=book)["changes"]
    return totals
