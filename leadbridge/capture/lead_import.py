"""`leadbridge import leads`: capture's half. Each row of a leads file becomes an Inquiry with its
Touch, counted by attribution, junk share and the inquiry feed exactly like a live one.

Why a sink, not an importer of its own
--------------------------------------
The contacts importer (`leadbridge.contacts.importer`) already reads the file, cleans rows in
parallel worker processes, matches contacts (external id, email, phone) and writes them in
batches of IMPORT_BATCH_SIZE, one transaction each, with a handful of bulk statements. Contacts
may not import capture (the layers in ARCHITECTURE.md), so capture registers `LeadImportSink`
with it (`register_lead_sink`, in CaptureConfig.ready, like merge's relations and refreshers)
and the importer hands over the lead columns: `clean` runs with the row's other cleaning (no
database), `check` once per batch before any contact is written, `write` inside the batch's
transaction with all of the batch's accepted rows, their contact ids known. A capture-level
importer that drove the contacts importer would need each batch's contact ids back from inside
its transaction, or a second pass over the file; the sink keeps one pass and a constant number
of statements per batch, never a query per row: touches, inquiries, reviews and first/lead/last
touch rows go in through the importer's bulk path (`bulk_insert`: COPY on PostgreSQL,
executemany on SQLite; the ORM's bulk_create spent more time building SQL than the database
spent storing the rows), timeline rows join the batch's own Activity insert, and first/repeat
flags and first/lead/last touch are set-based queries (window functions) over the batch's
contacts with the id list as one parameter.

What a row becomes
------------------
- A Touch of kind `import` at `occurred_at` (blank: the time of the import) with the row's UTM
  values (or those in the landing page's query string, as live capture reads them), click ids
  from the landing page, landing page (tracking parameters stripped) and referrer.
- Its channel: the `channel` column (a channel's key, name or displayed name; an unknown one is
  created), else the channel rules on the UTM values / referrer / click ids, else `unknown`
  (a file row without a source is not evidence of direct traffic). Its campaign: the one with
  that `utm_campaign`, created with the row's channel when there is none (as live capture does).
- An Inquiry of kind `import` (how it arrived - call, form - is not in the file), with the
  `manager` the importer resolved (a username or a user's email) and the `class` (a key, name
  or displayed name; an unknown one is created with a kind guessed from its name, else
  `target`), with an InquiryReview "classified" entry and an `inquiry_classified` activity as
  `inquiry_classify` writes.
- An `inquiry_received` activity at `occurred_at`.
- The contact's first/lead/last touch (ContactSource) are recomputed from all its touches and
  inquiries, so an imported older touch becomes the first touch and an older inquiry the lead
  touch; first vs repeat (`is_repeat`) is recomputed over all the contact's inquiries by time,
  so importing an older inquiry makes a later live one a repeat.
- Recent classified inquiries (within JUNK_PERIOD_DAYS) queue the junk check of their campaigns.

Idempotency: an imported inquiry's `idempotency_key` is `import:` + a fingerprint of the contact
key the row gave (external id, else email, phone, name) and its lead columns except class and
manager (the unique index on keys of site-less inquiries makes it hold under concurrent runs
too). Re-running a file finds every inquiry and creates none; a row whose inquiry exists only
fills in what it lacks: a class on an unclassified inquiry, a manager on one without.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Model
from django.utils import timezone
from django.utils.translation import gettext as _

from leadbridge.accounts.models import User
from leadbridge.capture.attribution import (
    URL_MAX,
    UTM_KEYS,
    UTM_MAX,
    cap_text,
    click_ids_from_url,
    strip_tracking,
    utm_from_url,
)
from leadbridge.capture.models import (
    ClassKind,
    ContactSource,
    Inquiry,
    InquiryClass,
    InquiryKind,
    InquiryReview,
    ReviewAction,
    Touch,
    TouchKind,
)
from leadbridge.contacts.importer import LeadImport, LeadRow, LeadWrite, bulk_insert
from leadbridge.contacts.validation import Invalid, clean_text
from leadbridge.core import clock
from leadbridge.core.audit import audit_record
from leadbridge.core.errors import Conflict, FieldError
from leadbridge.marketing import rules as rule_cache
from leadbridge.marketing.models import Campaign, Channel
from leadbridge.marketing.services import campaign_for, normalise_utm_campaign
from leadbridge.marketing.values import key_from_name

KEY_PREFIX = "import:"
CHANNEL_NAME_MAX = 100
CLASS_NAME_MAX = 120
# An occurred_at this far ahead of the clock is still "now" (clocks differ a little).
FUTURE_SLACK = dt.timedelta(minutes=5)

# --- cleaning (no database: runs in the importer's worker processes) --------------------------

_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")


def parse_occurred_at(value: str) -> dt.datetime:
    """ISO 8601 (`2026-03-01`, `2026-03-01 10:30`, `2026-03-01T10:30:00+03:00`) or the
    day-first dotted form Russian and Polish CRMs export (`01.03.2026 10:30`). Naive values are
    in TIME_ZONE. Returns UTC."""
    text = value.strip()
    dotted = _DOTTED.fullmatch(text)
    try:
        if dotted:
            day, month, year, hour, minute, second = (int(g) if g else 0 for g in dotted.groups())
            parsed = dt.datetime(year, month, day, hour, minute, second)
        else:
            parsed = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if len(text) > 10 else text)
    except ValueError:
        raise Invalid(
            _("Not an ISO 8601 date or date-time: %(value)s") % {"value": repr(text[:40])}
        ) from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed.astimezone(dt.UTC)


# Words in a new class's name that say what kind of verdict it is (lower-case substrings;
# Russian stems cover the usual amoCRM / Bitrix24 loss reasons). Anything else is `target`.
_KIND_WORDS: list[tuple[str, tuple[str, ...]]] = [
    (
        ClassKind.JUNK,
        (
            "junk", "spam", "non-target", "non_target", "nontarget", "not target", "untargeted",
            "wrong number", "wrong_number", "job seeker", "job_seeker", "duplicate",
            "спам", "мусор", "нецелев", "не целев", "ошибочн", "неверный номер", "не туда",
            "соискател", "ваканси", "резюме", "дубл",
        ),
    ),
    (ClassKind.UPSELL, ("upsell", "up-sell", "cross-sell", "cross_sell", "допрод", "повторная продажа")),
    (
        ClassKind.SERVICE,
        (
            "service", "support", "complaint", "claim", "сервис", "поддержк", "обслуживан",
            "претензи", "жалоб", "гаранти", "вопрос по заказу",
        ),
    ),
]  # fmt: skip


def class_kind_for(name: str) -> str:
    """The kind of a class created by an import, guessed from its name; `target` by default."""
    low = name.lower()
    for kind, words in _KIND_WORDS:
        if any(word in low for word in words):
            return str(kind)
    return str(ClassKind.TARGET)


def class_key_for(name: str) -> str:
    """A class key for a name ("Нецелевой" -> "netselevoy"); "" when the name has no letters or
    digits to make one from."""
    key = key_from_name(name, max_length=64)
    if key and not key[0].isalpha():
        key = f"c_{key}"[:64].rstrip("_")
    return key


def _text(errors: list[FieldError], name: str, value: str | None, limit: int) -> str:
    if not value:
        return ""
    try:
        return clean_text(value, max_length=limit)
    except Invalid as exc:
        errors.append(FieldError(name, str(exc)))
        return ""


# --- set-based upkeep of a contact's derived capture data ------------------------------------
# Plain SQL with the ids as ONE array parameter on PostgreSQL: the ORM prepares each value of a
# 2,000-long IN list on its own, which cost more than running the query (the contacts
# importer's `_select_in` has the same reason). `IN (SELECT unnest(%s))`, not `= ANY(%s)`: the
# planner makes it a (hash) semi-join, where `= ANY` on a table whose statistics lag behind a
# big import (the rows this run inserted) became a sequential scan testing every row against
# the whole array: 120 ms per batch instead of 10. Window functions run on SQLite (3.25+) and
# PostgreSQL alike.


def _q(model: type[Model], *names: str) -> list[str]:
    """The quoted table of `model`, then its quoted columns `names` (attnames)."""
    qn = connection.ops.quote_name
    meta = model._meta
    columns = {f.attname: f.column for f in meta.concrete_fields}
    return [qn(meta.db_table), *(qn(str(columns[n])) for n in names)]


def _in(
    sql: str, values: Iterable[Any], *, fetch: bool = True, array: str = "bigint[]"
) -> list[tuple[Any, ...]]:
    """Run `sql`, whose `{}` stands for "is one of `values`" (of SQL type `array` on PostgreSQL);
    SQLite gets chunked IN lists."""
    items = sorted(set(values))
    if not items:
        return []
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            chunks = [(sql.format(f"IN (SELECT unnest(%s::{array}))"), [items])]
        else:
            per = 2000
            chunks = [
                (sql.format("IN (" + ", ".join(["%s"] * len(part)) + ")"), part)
                for part in (items[i : i + per] for i in range(0, len(items), per))
            ]
        for text, params in chunks:
            cursor.execute(text, params)
            if fetch:
                rows.extend(cursor.fetchall())
    return rows


def repeat_flags_refresh(contact_ids: Iterable[int]) -> set[int]:
    """Make `is_repeat` false for the earliest inquiry (by time, then id) of each of these
    contacts and true for the others, touching only the rows that are wrong; returns the ids
    that became repeats."""
    table, pk, contact, at, repeat = _q(Inquiry, "id", "contact_id", "occurred_at", "is_repeat")
    wrong = _in(
        f"SELECT {pk}, n FROM (SELECT {pk}, {repeat},"  # noqa: S608 - names from the model
        f" ROW_NUMBER() OVER (PARTITION BY {contact} ORDER BY {at}, {pk}) AS n"
        f" FROM {table} WHERE {contact} {{}}) t WHERE (n = 1 AND {repeat}) OR (n > 1 AND NOT {repeat})",
        contact_ids,
    )
    first = [row[0] for row in wrong if row[1] == 1]
    repeats = [row[0] for row in wrong if row[1] > 1]
    _in(f"UPDATE {table} SET {repeat} = FALSE WHERE {pk} {{}}", first, fetch=False)  # noqa: S608
    _in(f"UPDATE {table} SET {repeat} = TRUE WHERE {pk} {{}}", repeats, fetch=False)  # noqa: S608
    return set(repeats)


def contact_sources_refresh(contact_ids: Iterable[int]) -> None:
    """First and last touch of each of these contacts from all its touches, the lead touch from
    its earliest inquiry (the rule of `lifecycle.contact_sources_rebuild`), for a whole batch in
    a few statements. Existing rows are locked before the touches are read."""
    ids = sorted(set(contact_ids))
    src, s_contact, s_first, s_lead, s_last = _q(
        ContactSource, "contact_id", "first_touch_id", "lead_touch_id", "last_touch_id"
    )
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    current = {
        row[0]: (row[1], row[2], row[3])
        for row in _in(
            f"SELECT {s_contact}, {s_first}, {s_lead}, {s_last} FROM {src} WHERE {s_contact} {{}}{lock}",  # noqa: S608
            ids,
        )
    }
    touch, t_pk, t_contact, t_at = _q(Touch, "id", "contact_id", "occurred_at")
    firsts: dict[int, int] = {}
    lasts: dict[int, int] = {}
    for cid, pk, first, last in _in(
        f"SELECT {t_contact}, {t_pk}, f, l FROM (SELECT {t_contact}, {t_pk},"  # noqa: S608
        f" ROW_NUMBER() OVER (PARTITION BY {t_contact} ORDER BY {t_at}, {t_pk}) AS f,"
        f" ROW_NUMBER() OVER (PARTITION BY {t_contact} ORDER BY {t_at} DESC, {t_pk} DESC) AS l"
        f" FROM {touch} WHERE {t_contact} {{}}) t WHERE f = 1 OR l = 1",
        ids,
    ):
        if first == 1:
            firsts[cid] = pk
        if last == 1:
            lasts[cid] = pk
    inquiry, i_pk, i_contact, i_at, i_touch = _q(Inquiry, "id", "contact_id", "occurred_at", "touch_id")
    leads: dict[int, int] = {
        row[0]: row[1]
        for row in _in(
            f"SELECT {i_contact}, {i_touch} FROM (SELECT {i_contact}, {i_touch},"  # noqa: S608
            f" ROW_NUMBER() OVER (PARTITION BY {i_contact} ORDER BY {i_at}, {i_pk}) AS n"
            f" FROM {inquiry} WHERE {i_touch} IS NOT NULL AND {i_contact} {{}}) t WHERE n = 1",
            ids,
        )
    }
    rows: list[dict[str, Any]] = []
    stale: list[int] = []  # rows to replace (changed) or drop (no touches left)
    for cid in ids:
        wanted = (firsts.get(cid), leads.get(cid), lasts.get(cid))
        if cid in current and current[cid] != wanted:
            stale.append(cid)
        if wanted[0] is not None and wanted[2] is not None and current.get(cid) != wanted:
            rows.append(
                {
                    "contact_id": cid,
                    "first_touch_id": wanted[0],
                    "lead_touch_id": wanted[1],
                    "last_touch_id": wanted[2],
                }
            )
    # A changed row is replaced: one DELETE and one bulk insert cost less than an UPDATE per
    # row (the rows are locked above, so no one else writes them meanwhile).
    _in(f"DELETE FROM {src} WHERE {s_contact} {{}}", stale, fetch=False)  # noqa: S608
    bulk_insert(ContactSource, _SOURCE_FIELDS, rows)


# --- the sink ----------------------------------------------------------------------------------

_Activity = tuple[int, str, dict[str, Any], dt.datetime]
_SOURCE_FIELDS = ("contact_id", "first_touch_id", "lead_touch_id", "last_touch_id")
_REVIEW_FIELDS = ("inquiry_id", "action", "actor_id", "from_class_id", "to_class_id", "comment", "created_at")


@lru_cache(maxsize=4)
def _columns(model: type[Model]) -> tuple[tuple[str, ...], dict[str, Any]]:
    """Every column of `model` but the id, and the model's defaults for them (rows go in raw,
    so a column the import does not set still gets the value the ORM would give it)."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() if f.has_default() or not f.null else None for f in fields}
    return tuple(f.attname for f in fields), defaults


@dataclass(slots=True)
class _Written:
    """An inquiry this batch created or classified, and what its timeline rows and the junk
    check need to know about it."""

    pk: int
    row: LeadRow
    occurred_at: dt.datetime
    cls: InquiryClass | None
    campaign_id: int | None
    manager_id: int | None = None
    is_repeat: bool = False
    channel: Channel | None = None
    campaign: Campaign | None = None
    touch: dict[str, Any] | None = None
    contact_id: int | None = None  # the inquiry's, when not the row's (imported before, merged since)


class LeadImportSink:
    """Writes the inquiry part of a `leads` import (one instance per run; see the module docstring)."""

    def __init__(self, run: LeadImport) -> None:
        self.actor = run.actor
        self.actor_id: int | None = getattr(run.actor, "pk", None)
        self.provenance: dict[str, Any] = {"file": run.source_name}
        if run.job_id:
            self.provenance["job"] = run.job_id
        self.created: dict[str, list[str]] = {"channels": [], "campaigns": [], "classes": []}
        self.counts = {"created": 0, "updated": 0, "unchanged": 0}
        # Caches of references, by lower-cased key / name / displayed name. Dropped when a batch
        # is rolled back (what it created is gone; a concurrent run may have created it since).
        self._channels: dict[str, Channel] | None = None
        self._classes: dict[str, InquiryClass] | None = None
        self._campaigns: dict[str, Campaign | None] = {}
        self._usernames: dict[int, str] = {}
        # The channel rules' verdicts by source (files repeat a few sources many times).
        self._resolved: dict[tuple[Any, ...], Channel] = {}
        self._rules_touched = False

    # -- the importer's protocol ------------------------------------------------------------

    def clean(self, data: dict[str, str]) -> tuple[dict[str, Any], list[FieldError]]:
        errors: list[FieldError] = []
        lead: dict[str, Any] = {
            "channel": _text(errors, "channel", data.get("channel"), CHANNEL_NAME_MAX),
            "class": _text(errors, "class", data.get("class"), CLASS_NAME_MAX),
        }
        # Tracking values are kept even when oversized (cut, as live capture does), never rejected.
        # UTM columns win; without any, the landing page's own utm_* parameters count (what
        # `attribution.source_of` does for live inquiries), and click ids come from it too.
        utm: dict[str, str] = {}
        for key in UTM_KEYS:
            value = data.get(f"utm_{key}")
            if value:
                value = cap_text(value, UTM_MAX)
                if value:
                    utm[key] = value
        landing = cap_text(data.get("landing_page"), URL_MAX)
        click_ids: dict[str, str] = {}
        if "?" in landing:
            if not utm:
                utm = utm_from_url(landing)
            click_ids = click_ids_from_url(landing)
        lead["utm"] = utm
        lead["click_ids"] = click_ids
        lead["landing_page"] = landing
        lead["referrer"] = cap_text(data.get("referrer"), URL_MAX)
        lead["occurred_at"] = None
        raw = data.get("occurred_at")
        if raw:
            try:
                when = parse_occurred_at(raw)
            except Invalid as exc:
                errors.append(FieldError("occurred_at", str(exc)))
            else:
                if when > clock.now() + FUTURE_SLACK:
                    errors.append(FieldError("occurred_at", _("Is in the future")))
                lead["occurred_at"] = when
        return lead, errors

    def check(self, leads: list[tuple[int, dict[str, Any]]]) -> dict[int, list[FieldError]]:
        out: dict[int, list[FieldError]] = {}
        for row, lead in leads:
            name = lead.get("channel")
            if name and self._channel_named(name) is None and not key_from_name(name):
                message = _("Cannot make a channel key from %(name)s; use latin letters or digits") % {
                    "name": repr(name[:40])
                }
                out.setdefault(row, []).append(FieldError("channel", message))
            name = lead.get("class")
            if name and self._class_named(name) is None and not class_key_for(name):
                message = _("Cannot make a class key from %(name)s; use latin letters or digits") % {
                    "name": repr(name[:40])
                }
                out.setdefault(row, []).append(FieldError("class", message))
        return out

    def state(self) -> Any:
        return {k: list(v) for k, v in self.created.items()}, dict(self.counts)

    def restore(self, state: Any) -> None:
        created, counts = state
        self.created, self.counts = created, counts
        self._channels = self._classes = None
        self._campaigns = {}
        self._resolved = {}
        if self._rules_touched:
            rule_cache.clear_cache()

    def created_refs(self) -> dict[str, list[str]]:
        return self.created

    def summary(self) -> dict[str, Any]:
        return {"inquiries": dict(self.counts)}

    def finish(self, *, dry_run: bool) -> None:
        if dry_run and self._rules_touched:
            rule_cache.clear_cache()  # the cached rules may hold a channel the rollback removed

    def write(self, rows: list[LeadRow]) -> LeadWrite:
        now = clock.now()
        done = LeadWrite()
        keys = [self._key(r) for r in rows]
        # The conditions of the unique index uniq_inquiry_idempotency_nosite, so it is used.
        table, key_, pk, site, cls, manager = _q(
            Inquiry, "idempotency_key", "id", "site_id", "cls_id", "manager_id"
        )
        existing = {
            row[0]: (row[1], row[2], row[3])
            for row in _in(
                f"SELECT {key_}, {pk}, {cls}, {manager} FROM {table}"  # noqa: S608
                f" WHERE {site} IS NULL AND {key_} <> '' AND {key_} {{}}",
                keys,
                array="text[]",
            )
        }
        fresh: list[tuple[LeadRow, str]] = []
        again: list[tuple[LeadRow, tuple[int, int | None, int | None]]] = []
        seen: set[str] = set()
        for row, key in zip(rows, keys, strict=True):
            if key in seen:
                self.counts["unchanged"] += 1  # the same lead twice in the file
            elif key in existing:
                again.append((row, existing[key]))
            else:
                fresh.append((row, key))
            seen.add(key)
        created = self._create(fresh, now)
        filled, filled_rows = self._fill(again, now)
        classified = [c for c in created if c.cls is not None] + filled
        if created:
            contacts = {c.row.contact_id for c in created}
            repeats = repeat_flags_refresh(contacts)
            for c in created:
                c.is_repeat = c.pk in repeats
            contact_sources_refresh(contacts)
            self._campaign_backfill({c.row.contact_id for c in created if not c.row.contact_is_new})
            done.activities.extend(self._received(created))
        if classified:
            self._reviews(classified, now)
            done.activities.extend(self._classified_activities(classified))
        done.changed_rows.update(c.row.row for c in created)
        done.changed_rows.update(filled_rows)
        self._junk_checks(classified, now)
        return done

    # -- writing ---------------------------------------------------------------------------

    def _create(self, fresh: list[tuple[LeadRow, str]], now: dt.datetime) -> list[_Written]:
        if not fresh:
            return []
        touch_fields, touch_defaults = _columns(Touch)
        inquiry_fields, inquiry_defaults = _columns(Inquiry)
        touches: list[dict[str, Any]] = []
        written: list[_Written] = []
        for row, _key in fresh:
            lead = row.lead
            utm: dict[str, str] = lead["utm"]
            channel = self._channel_for(lead)
            campaign = self._campaign(utm.get("campaign", ""), channel)
            cls = self._class_for(lead["class"]) if lead["class"] else None
            at: dt.datetime = lead["occurred_at"] or now
            touch = {
                **touch_defaults,
                "contact_id": row.contact_id,
                "occurred_at": at,
                "kind": TouchKind.IMPORT.value,
                "channel_id": channel.pk,
                "source": utm.get("source", ""),
                "medium": utm.get("medium", ""),
                "campaign_name": utm.get("campaign", ""),
                "campaign_id": campaign.pk if campaign is not None else None,
                "term": utm.get("term", ""),
                "content": utm.get("content", ""),
                "landing_page": strip_tracking(lead["landing_page"])[:URL_MAX],
                "referrer": lead["referrer"][:URL_MAX],
                "click_ids": lead["click_ids"],
            }
            touches.append(touch)
            written.append(
                _Written(
                    pk=0,
                    row=row,
                    occurred_at=at,
                    cls=cls,
                    campaign_id=touch["campaign_id"],
                    manager_id=row.manager_id,
                    channel=channel,
                    campaign=campaign,
                    touch=touch,
                )
            )
        touch_ids = bulk_insert(Touch, touch_fields, touches, returning_ids=True)
        inquiries = [
            {
                **inquiry_defaults,
                "kind": InquiryKind.IMPORT.value,
                "contact_id": w.row.contact_id,
                "touch_id": touch_id,
                "occurred_at": w.occurred_at,
                "is_repeat": False,  # set by repeat_flags_refresh once all are in
                "manager_id": w.manager_id,
                "cls_id": w.cls.pk if w.cls is not None else None,
                "classified_at": now if w.cls is not None else None,
                "classified_by_id": self.actor_id if w.cls is not None else None,
                "idempotency_key": key,
                "created_at": now,
            }
            for w, touch_id, (_row, key) in zip(written, touch_ids, fresh, strict=True)
        ]
        for w, pk in zip(
            written, bulk_insert(Inquiry, inquiry_fields, inquiries, returning_ids=True), strict=True
        ):
            w.pk = pk
        self.counts["created"] += len(written)
        return written

    def _fill(
        self, again: list[tuple[LeadRow, tuple[int, int | None, int | None]]], now: dt.datetime
    ) -> tuple[list[_Written], set[int]]:
        """Inquiries imported before: a class where they have none, a manager where none.
        Returns the ones classified now and the rows that changed one; counts every row."""
        by_class: dict[int, list[int]] = {}
        by_manager: dict[int, list[int]] = {}
        classified: list[_Written] = []
        changed_rows: set[int] = set()
        for row, (pk, cls_id, manager_id) in again:
            changed = False
            if row.lead["class"] and cls_id is None:
                cls = self._class_for(row.lead["class"])
                by_class.setdefault(cls.pk, []).append(pk)
                classified.append(_Written(pk=pk, row=row, occurred_at=now, cls=cls, campaign_id=None))
                changed = True
            if row.manager_id and manager_id is None:
                by_manager.setdefault(row.manager_id, []).append(pk)
                changed = True
            if changed:
                self.counts["updated"] += 1
                changed_rows.add(row.row)
            else:
                self.counts["unchanged"] += 1
        for cls_id, ids in by_class.items():
            Inquiry.objects.filter(pk__in=ids, cls__isnull=True).update(
                cls_id=cls_id, classified_at=now, classified_by_id=self.actor_id, review_status=""
            )
        for manager_id, ids in by_manager.items():
            Inquiry.objects.filter(pk__in=ids, manager__isnull=True).update(manager_id=manager_id)
        if classified:
            # Timeline rows go at the inquiry's time; the junk check wants its campaign.
            facts = {
                pk: (at, campaign_id, contact_id)
                for pk, at, campaign_id, contact_id in Inquiry.objects.filter(
                    pk__in=[c.pk for c in classified]
                ).values_list("pk", "occurred_at", "touch__campaign_id", "contact_id")
            }
            for c in classified:
                c.occurred_at, c.campaign_id, c.contact_id = facts[c.pk]
        return classified, changed_rows

    def _reviews(self, items: list[_Written], now: dt.datetime) -> None:
        """The review-history entry `inquiry_classify` writes, per inquiry."""
        rows = []
        for c in items:
            assert c.cls is not None
            rows.append(
                {
                    "inquiry_id": c.pk,
                    "action": ReviewAction.CLASSIFIED.value,
                    "actor_id": self.actor_id,
                    "from_class_id": None,
                    "to_class_id": c.cls.pk,
                    "comment": f"import: {self.provenance['file']}, row {c.row.row}"[:5000],
                    "created_at": now,
                }
            )
        bulk_insert(InquiryReview, _REVIEW_FIELDS, rows)

    def _classified_activities(self, items: list[_Written]) -> list[_Activity]:
        out: list[_Activity] = []
        for c in items:
            assert c.cls is not None
            payload = {
                "inquiry_id": c.pk,
                "from": None,
                "to": c.cls.key,
                "class_kind": c.cls.kind,
                "import": {**self.provenance, "row": c.row.row},
            }
            out.append((c.contact_id or c.row.contact_id, "inquiry_classified", payload, c.occurred_at))
        return out

    def _received(self, created: list[_Written]) -> list[_Activity]:
        managers = self._manager_names({c.manager_id for c in created if c.manager_id})
        out: list[_Activity] = []
        for c in created:
            touch = c.touch
            assert touch is not None and c.channel is not None
            payload = {
                "inquiry_id": c.pk,
                "kind": InquiryKind.IMPORT.value,
                "channel": c.channel.key,
                "campaign": c.campaign.name if c.campaign is not None else touch["campaign_name"],
                "source": touch["source"],
                "medium": touch["medium"],
                "is_repeat": c.is_repeat,
                "manager": managers.get(c.manager_id) if c.manager_id else None,
                "excerpt": "",
                "import": {**self.provenance, "row": c.row.row},
            }
            out.append((c.row.contact_id, "inquiry_received", payload, c.occurred_at))
        return out

    def _campaign_backfill(self, contact_ids: set[int]) -> None:
        """Earlier touches of matched contacts that named a campaign before it existed (visits do
        not create campaigns) now point to it, as live capture does for each inquiry: one query
        per batch, and an UPDATE per campaign only where there is something to fill."""
        if not contact_ids:
            return
        table, pk, contact, campaign, name = _q(Touch, "id", "contact_id", "campaign_id", "campaign_name")
        named = _in(
            f"SELECT {pk}, {name} FROM {table}"  # noqa: S608
            f" WHERE {campaign} IS NULL AND {name} <> '' AND {contact} {{}}",
            contact_ids,
        )
        if not named:
            return
        wanted = {pk: normalise_utm_campaign(name) for pk, name in named}
        found = dict(
            Campaign.objects.filter(utm_campaign__in=sorted(set(wanted.values()) - {""})).values_list(
                "utm_campaign", "pk"
            )
        )
        by_campaign: dict[int, list[int]] = {}
        for pk, key in wanted.items():
            if key in found:
                by_campaign.setdefault(found[key], []).append(pk)
        for campaign_id, touch_ids in by_campaign.items():
            Touch.objects.filter(pk__in=touch_ids, campaign__isnull=True).update(campaign_id=campaign_id)

    def _junk_checks(self, classified: list[_Written], now: dt.datetime) -> None:
        """Classified inquiries recent enough to count in a junk window queue their campaigns'
        check after the batch commits (a dry run never commits, so it queues nothing)."""
        days = int(str(getattr(settings, "LEADBRIDGE", {}).get("JUNK_PERIOD_DAYS", 30)))
        since = now - dt.timedelta(days=days)
        ids = sorted({c.campaign_id for c in classified if c.campaign_id and c.occurred_at >= since})
        if not ids:
            return

        def enqueue() -> None:
            from leadbridge.capture.tasks import run_junk_check

            run_junk_check.enqueue(campaign_ids=ids)

        transaction.on_commit(enqueue)

    # -- references ----------------------------------------------------------------------------

    def _key(self, row: LeadRow) -> str:
        lead = row.lead
        when: dt.datetime | None = lead["occurred_at"]
        parts = [
            row.identity,
            when.isoformat() if when is not None else "",
            lead["channel"].lower(),
            sorted(lead["utm"].items()),
            lead["landing_page"],
            lead["referrer"],
        ]
        raw = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
        return KEY_PREFIX + hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()

    def _channel_index(self) -> dict[str, Channel]:
        if self._channels is None:
            index: dict[str, Channel] = {}
            channels = list(Channel.objects.order_by("position", "id"))
            for channel in channels:
                index.setdefault(channel.key.lower(), channel)
            for channel in channels:
                index.setdefault(channel.name.strip().lower(), channel)
                index.setdefault(channel.label.strip().lower(), channel)
            self._channels = index
        return self._channels

    def _channel_named(self, name: str) -> Channel | None:
        index = self._channel_index()
        found = index.get(name.strip().lower())
        if found is None:
            slug = key_from_name(name)
            found = index.get(slug) if slug else None
        return found

    def _channel_for(self, lead: dict[str, Any]) -> Channel:
        name: str = lead["channel"]
        if name:
            return self._channel_named(name) or self._channel_create(name)
        utm, referrer, click_ids = lead["utm"], lead["referrer"], lead["click_ids"]
        landing = lead["landing_page"]
        memo = (tuple(utm.items()), referrer, tuple(click_ids), landing)
        found = self._resolved.get(memo)
        if found is None:
            subject = rule_cache.subject_for(
                utm=utm, referrer=referrer, click_ids=click_ids, landing_page=landing
            )
            rules = rule_cache.rule_set()
            # What `resolve_channel` does, but a row that says nothing about its source is
            # `unknown`: a file row without one is no evidence of direct traffic.
            found = rules.resolve(subject) if subject.known else rules.unknown
            if len(self._resolved) >= 10_000:
                self._resolved.clear()
            self._resolved[memo] = found
        return found

    def _channel_create(self, name: str) -> Channel:
        key = key_from_name(name)
        position = (Channel.objects.aggregate(m=Max("position"))["m"] or 0) + 10
        channel = Channel.objects.create(key=key, name=name.strip()[:CHANNEL_NAME_MAX], position=position)
        audit_record(
            actor=self.actor,
            action="channel.create",
            object_type="channel",
            object_id=channel.pk,
            after={"key": key, "name": channel.name, "position": position, "auto": True},
        )
        rule_cache.rules_changed()
        self._rules_touched = True
        self.created["channels"].append(key)
        index = self._channel_index()
        for alias in (key, channel.name.lower(), name.strip().lower()):
            index.setdefault(alias, channel)
        return channel

    def _campaign(self, utm_campaign: str, channel: Channel) -> Campaign | None:
        if not utm_campaign:
            return None
        if utm_campaign in self._campaigns:  # as written in the file; then normalised
            return self._campaigns[utm_campaign]
        key = normalise_utm_campaign(utm_campaign)
        if not key:
            return None
        if key not in self._campaigns:
            campaign = campaign_for(utm_campaign=utm_campaign)
            if campaign is None:
                campaign = campaign_for(
                    utm_campaign=utm_campaign, channel=channel, create=True, actor=self.actor
                )
                if campaign is not None:
                    self.created["campaigns"].append(campaign.name)
            self._campaigns[key] = campaign
        self._campaigns[utm_campaign] = self._campaigns[key]
        return self._campaigns[key]

    def _class_index(self) -> dict[str, InquiryClass]:
        if self._classes is None:
            index: dict[str, InquiryClass] = {}
            classes = list(InquiryClass.objects.order_by("-is_active", "position", "id"))
            for cls in classes:
                index.setdefault(cls.key, cls)
            for cls in classes:
                index.setdefault(cls.name.strip().lower(), cls)
                index.setdefault(cls.label.strip().lower(), cls)
            self._classes = index
        return self._classes

    def _class_named(self, name: str) -> InquiryClass | None:
        index = self._class_index()
        found = index.get(name.strip().lower())
        if found is None:
            key = class_key_for(name)
            found = index.get(key) if key else None
        return found

    def _class_for(self, name: str) -> InquiryClass:
        found = self._class_named(name)
        if found is not None:
            return found
        from leadbridge.capture.services import inquiry_class_create

        key = class_key_for(name)
        data = {"key": key, "name": name.strip(), "kind": class_kind_for(name)}
        try:
            # actor=None: the import's permission covers references its file names (the run's
            # audit entry names the user and lists the class under created_refs).
            cls = inquiry_class_create(actor=None, data=data)
        except Conflict:
            cls = InquiryClass.objects.get(key=key)  # created by a concurrent run
        else:
            self.created["classes"].append(cls.name)
        index = self._class_index()
        for alias in (cls.key, cls.name.lower()):
            index.setdefault(alias, cls)
        return cls

    def _manager_names(self, ids: set[int]) -> dict[int, str]:
        missing = [pk for pk in ids if pk not in self._usernames]
        if missing:
            self._usernames.update(User.objects.filter(pk__in=missing).values_list("pk", "username"))
        return self._usernames
