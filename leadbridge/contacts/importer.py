"""CSV import of contacts and leads: the one implementation behind the CLI and the import page.

How a file becomes contacts
---------------------------
1. `csvio.CsvFile` detects the encoding and delimiter and streams records (row numbers are
   line numbers, the header is row 1). Columns map to fields by `mapping` (SRC → field; an
   empty field ignores the column), then by their own name or a known synonym ("E-mail",
   "Телефон", "Nazwisko", a custom field's key or label). Other columns are listed once in
   the summary under `ignored_columns`. `defaults` give a field the same value on every row.
2. Rows are cleaned by `cleaning.row_cleaner`: `clean_contact_input`, the rule every write path
   uses, with the rule of each column chosen once.
3. Each row finds its contact by `external_id`, then email, then normalised phone (primary
   values and the extra ones in ContactPoint), or creates one. When the keys point at
   different contacts (email → A, phone → B) the row is not guessed at: it goes to the
   data-quality queue as a likely duplicate.
4. Rows are written in batches (`IMPORT_BATCH_SIZE`, 2000), each batch in one transaction
   with bulk inserts/updates; a batch that hits a constraint (a concurrent writer) is retried
   row by row, so one bad row never takes its neighbours down.

Update rules
------------
- A blank cell never clears a stored value; tags, extra emails and phones are only added.
- A new email/phone for a matched contact becomes the primary one; the old one is kept as an
  extra ContactPoint (nothing is lost, and it still matches on the next import).
- `contacts` imports set the stage as given (a move writes StageChange + Activity with the
  reason "import"); `leads` imports only move a contact forward in the funnel, so a new
  inquiry from a customer does not make them a lead again, and fill the contact's owner from
  `manager` only when it has none (the manager handled that inquiry; the contact stays with
  whoever owns it now).
- The same key twice in one file: the later row updates the contact the earlier row created
  or matched (counted as updated, or unchanged when it repeats the same values), exactly as
  if the rows came from two files imported one after the other.
- Re-running a file changes nothing: equal values are not written (counted as `unchanged`),
  no activity is added, imported inquiries and data-quality items are recognised by fingerprint.

Leads
-----
A `leads` row is a contact (found or created exactly as above) plus one inquiry. Inquiries,
touches, channels, campaigns and inquiry classes belong to the capture app, which sits above
contacts (ARCHITECTURE.md: a lower layer never imports a higher one), so capture registers a
*lead sink* (`register_lead_sink`, from `CaptureConfig.ready`, like merge's relations and
refreshers) and this importer hands it the lead columns it does not understand:

- `LeadSink.clean` runs with the row's other cleaning (in the forked cleaning workers on big
  files; no database), so a bad `occurred_at` or an over-long class name is a row error before
  anything is written;
- `LeadSink.check` runs once per batch before any contact is written (lookups only: a class or
  channel name that can be neither found nor created is a row error);
- `LeadSink.write` runs inside the batch's transaction, after the contacts are inserted (their
  ids known), with every accepted row of the batch at once; it bulk-inserts the touches,
  inquiries and reviews and returns the timeline rows, which go into this batch's one Activity
  insert. A failing batch is rolled back and retried row by row like any other, the sink's
  per-run caches included (`state` / `restore`), so a failed row leaves nothing behind.

The other shape, a capture-level importer that calls this one for the contacts, would need the
contact ids of each batch back from inside its transaction (or a second pass over the file);
the sink keeps one pass, one transaction per batch and a constant number of statements per
batch, writing through this module's own bulk path (`bulk_insert`), so a leads row costs what
its extra rows cost: about half the rows per second of a contacts import (docs/import.md). The
summary adds `inquiries` ({"created", "updated", "unchanged"}); the sink's new channels,
campaigns and classes are listed in `created_refs` with the tags and companies.

The summary: `created + updated + unchanged + skipped == rows`; every skipped row has at
least one entry in `errors` (`{"row", "field", "message", "column"}`) and one open item in
the data-quality queue with the raw row. `dry_run` runs everything inside a transaction that
is rolled back, so it reports exactly what a real run would (on SQLite it holds the write
lock meanwhile). One audit entry per run records the counts.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any, Protocol

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import UploadedFile
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.db.models import Model
from django.db.models.fields.json import KT
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from leadbridge.contacts.cleaning import (
    CleanContact,
    check_complete,
    custom_field_defs,
    row_cleaner,
)
from leadbridge.contacts.csvio import CsvFile, CsvInfo, Record, suggest_mapping
from leadbridge.contacts.models import (
    STAGE_ORDER,
    Activity,
    Contact,
    ContactPoint,
    ContactTag,
    CustomField,
    DataQualityItem,
    ImportJob,
    StageChange,
    Tag,
)
from leadbridge.contacts.services import (
    companies_for_names,
    dq_items_record,
    resolve_owner,
    tags_for_names,
)
from leadbridge.contacts.tasks import run_import_job
from leadbridge.core import clock
from leadbridge.core.audit import audit_record
from leadbridge.core.errors import Conflict, FieldError, NotFound, ServiceError, ValidationFailed
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

CONTACT_FIELDS = [
    "external_id", "name", "first_name", "last_name", "email", "phone", "emails", "phones",
    "company", "job_title", "street", "city", "region", "postal_code", "country",
    "ip_address", "geo_city", "geo_country", "birthday", "stage", "owner", "tags",
]  # fmt: skip
LEAD_FIELDS = [
    "external_id", "email", "phone", "name", "company", "channel", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "landing_page", "referrer", "occurred_at",
    "stage", "class", "manager", "tags",
]  # fmt: skip
# Target fields per kind; every kind also takes `custom.<key>` for each custom field
# (`target_fields(kind)` lists them with the custom ones).
FIELDS: dict[str, list[str]] = {"contacts": CONTACT_FIELDS, "leads": LEAD_FIELDS}
# Lead columns that describe the inquiry, not the contact: the lead sink cleans and stores them.
LEAD_ONLY_FIELDS = (
    "channel", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "landing_page", "referrer", "occurred_at", "class",
)  # fmt: skip
IDENTITY_KEYS = ("external_id", "email", "phone")
# The contact key in an imported inquiry's fingerprint: the first of these the row gives.
_LEAD_IDENTITY = ("external_id", "email", "phone", "name")
MAX_REPORTED_ERRORS = 10_000
FUNNEL = ("subscriber", "lead", "mql", "sql", "opportunity", "customer")


# --- leads: what contacts hands to the app that stores inquiries ------------------------------


@dataclass(frozen=True, slots=True)
class LeadImport:
    """The run a lead sink writes for."""

    actor: Any
    source_name: str
    job_id: int | None


@dataclass(slots=True)
class LeadRow:
    """One accepted `leads` row, its contact written: what the sink turns into an inquiry."""

    row: int  # the file's row number
    contact_id: int
    contact_is_new: bool  # created by this row or an earlier row of this file
    # The contact key the row gave ("email:a@b.c"; external id first, then email, phone, name):
    # part of the inquiry's fingerprint, so a re-import finds the inquiry whatever contact the
    # row matches by then (a merge, a new email).
    identity: str
    lead: dict[str, Any]  # what LeadSink.clean made of the lead columns
    manager_id: int | None


@dataclass
class LeadWrite:
    """What LeadSink.write did: timeline rows to insert with the batch's own, and the rows that
    created or changed an inquiry (a matched contact's row then counts as updated)."""

    activities: list[tuple[int, str, dict[str, Any], dt.datetime]] = field(default_factory=list)
    changed_rows: set[int] = field(default_factory=set)


class LeadSink(Protocol):
    """Stores the inquiry part of `leads` rows (capture provides it; see the module docstring)."""

    def clean(self, data: dict[str, str]) -> tuple[dict[str, Any], list[FieldError]]:
        """The row's lead columns (LEAD_ONLY_FIELDS, blank ones absent), cleaned; no database."""
        ...

    def check(self, leads: list[tuple[int, dict[str, Any]]]) -> dict[int, list[FieldError]]:
        """Errors by row number for (row, clean lead) pairs; reads only."""
        ...

    def write(self, rows: list[LeadRow]) -> LeadWrite: ...

    def state(self) -> Any:
        """A snapshot of the sink's per-run state, taken before each batch."""
        ...

    def restore(self, state: Any) -> None:
        """Back to `state` after the batch's transaction was rolled back."""
        ...

    def created_refs(self) -> dict[str, list[str]]: ...

    def summary(self) -> dict[str, Any]: ...

    def finish(self, *, dry_run: bool) -> None:
        """The run is over (committed, or rolled back when `dry_run`)."""
        ...


_lead_sinks: list[Callable[[LeadImport], LeadSink]] = []


def register_lead_sink(factory: Callable[[LeadImport], LeadSink]) -> None:
    """Capture registers the factory of its lead sink here (CaptureConfig.ready); the latest
    registration wins."""
    if factory not in _lead_sinks:
        _lead_sinks.append(factory)


def _lead_sink(run: LeadImport) -> LeadSink:
    if not _lead_sinks:  # the capture app is not installed
        supported = ", ".join(k for k in FIELDS if k != "leads")
        raise ValidationFailed(
            [
                FieldError(
                    "kind",
                    _("cannot import %(kind)s yet; supported: %(supported)s")
                    % {"kind": repr("leads"), "supported": supported},
                )
            ],
            detail=_("Unsupported kind"),
        )
    return _lead_sinks[-1](run)


# --- parsing adapters' input ------------------------------------------------------------------


def parse_pairs(items: Iterable[str], *, option: str) -> dict[str, str]:
    """`["Email=email", "Тел=phone"]` → dict. A bad item is an error naming the option and it."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationFailed(
                [FieldError(option, _("expected NAME=VALUE, got %(item)s") % {"item": repr(item)})],
                detail=_("Invalid option"),
            )
        if key in out:
            raise ValidationFailed(
                [FieldError(option, _("%(name)s is given twice") % {"name": repr(key)})],
                detail=_("Invalid option"),
            )
        out[key] = value.strip()
    return out


def target_fields(kind: str, defs: Mapping[str, CustomField] | None = None) -> list[str]:
    """The fields a column of this kind of import can map to, custom fields included."""
    _check_kind(kind)
    defs = custom_field_defs() if defs is None else defs
    return [*FIELDS[kind], *(f"custom.{key}" for key in defs)]


def _check_kind(kind: str) -> None:
    if kind not in FIELDS:
        supported = ", ".join(FIELDS)
        raise ValidationFailed(
            [
                FieldError(
                    "kind",
                    _("cannot import %(kind)s yet; supported: %(supported)s")
                    % {"kind": repr(kind), "supported": supported},
                )
            ],
            detail=_("Unsupported kind"),
        )


def sniff(path: str | Path, *, kind: str = "contacts") -> CsvInfo:
    """Encoding, delimiter, header, the first rows and a suggested column → field mapping."""
    defs = custom_field_defs()
    targets = target_fields(kind, defs)
    with CsvFile(path) as csv_file:
        preview: list[list[str]] = []
        for record in csv_file.records():
            if record.values is not None:
                preview.append(record.values)
            if len(preview) >= 5:
                break
        labels = {d.label: f"custom.{key}" for key, d in defs.items()}
        return CsvInfo(
            encoding=csv_file.encoding,
            delimiter=csv_file.delimiter,
            header=csv_file.header,
            preview=preview,
            suggested_mapping=suggest_mapping(csv_file.header, targets, labels),
        )


# --- the column plan ------------------------------------------------------------------------


@dataclass
class Plan:
    columns: list[tuple[int, str, str]]  # (index in the row, column name, field)
    fixed: dict[str, str]  # field → value on every row
    mapping: dict[str, str]  # column → field, as used
    ignored: list[str]


def _target_name(name: str, targets: set[str]) -> str | None:
    name = name.strip()
    if name.lower().startswith("custom."):
        candidate = "custom." + name[len("custom.") :].strip().lower()
    else:
        candidate = name.lower()
        if candidate not in targets and f"custom.{candidate}" in targets:
            candidate = f"custom.{candidate}"
    return candidate if candidate in targets else None


def _names(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:40])
    if len(names) <= 40:
        return shown
    return _("%(names)s and %(count)s more") % {"names": shown, "count": len(names) - 40}


def build_plan(
    header: list[str],
    *,
    kind: str,
    mapping: Mapping[str, str],
    defaults: Mapping[str, str],
    defs: Mapping[str, CustomField],
) -> Plan:
    """Resolve which column feeds which field; every mistake is reported at once, by name."""
    targets_list = target_fields(kind, defs)
    targets = set(targets_list)
    errors: list[FieldError] = []
    by_name = {h: i for i, h in enumerate(header)}
    used: dict[str, str] = {}  # field → column
    chosen: dict[str, str] = {}  # column → field ("" = ignore)
    for src, dst in mapping.items():
        column = src if src in by_name else None
        if column is None:
            folded = [h for h in header if h.strip().lower() == src.strip().lower()]
            column = folded[0] if len(folded) == 1 else None
        if column is None:
            message = _("no column %(column)s in the file; columns: %(columns)s") % {
                "column": repr(src),
                "columns": _names(header),
            }
            errors.append(FieldError("mapping", message))
            continue
        if not dst.strip():
            chosen[column] = ""
            continue
        target = _target_name(dst, targets)
        if target is None:
            message = _("%(column)s: unknown field %(field)s; fields: %(fields)s") % {
                "column": repr(src),
                "field": repr(dst),
                "fields": ", ".join(targets_list),
            }
            errors.append(FieldError("mapping", message))
            continue
        if target in used:
            message = _("columns %(first)s and %(second)s both map to %(field)s") % {
                "first": repr(used[target]),
                "second": repr(column),
                "field": repr(target),
            }
            errors.append(FieldError("mapping", message))
            continue
        used[target] = column
        chosen[column] = target
    fixed: dict[str, str] = {}
    for name, value in defaults.items():
        target = _target_name(name, targets)
        if target is None:
            message = _("unknown field %(field)s; fields: %(fields)s") % {
                "field": repr(name),
                "fields": ", ".join(targets_list),
            }
            errors.append(FieldError("defaults", message))
            continue
        fixed[target] = value
    rest = [h for h in header if h not in chosen]
    labels = {d.label: f"custom.{key}" for key, d in defs.items()}
    free = [t for t in targets_list if t not in used and t not in fixed]
    for column, target in suggest_mapping(rest, free, labels).items():
        used[target] = column
        chosen[column] = target
    for target in fixed:
        if target in used:
            message = _("%(field)s comes from column %(column)s and is also set for every row") % {
                "field": repr(target),
                "column": repr(used[target]),
            }
            errors.append(FieldError("defaults", message))
    if errors:
        raise ValidationFailed(errors, detail=_("Cannot import this file"))
    columns = [(by_name[c], c, t) for c, t in chosen.items() if t]
    columns.sort()
    return Plan(
        columns=columns,
        fixed=fixed,
        mapping={c: t for _, c, t in columns},
        ignored=[h for h in header if h not in chosen or not chosen[h]],
    )


# --- rows -----------------------------------------------------------------------------------


@dataclass(slots=True)  # slots: cleaned rows travel back from the worker processes pickled
class _Row:
    row: int
    values: list[str]
    clean: CleanContact | None = None
    lead: dict[str, Any] | None = None  # a `leads` row's lead columns, cleaned by the lead sink
    errors: list[FieldError] = field(default_factory=list)
    reason: str = DataQualityItem.Reason.INVALID
    contact_id: int | None = None


class _Target:
    """A contact a batch writes: one loaded from the database or one about to be inserted."""

    __slots__ = ("company", "contact", "emails", "is_new", "phones", "tag_keys")

    def __init__(self, contact: _Record, *, is_new: bool, company: str = "") -> None:
        self.contact = contact
        self.is_new = is_new
        self.company = company  # the company's name ("" for none)
        self.emails: set[str] = {contact.email} if contact.email else set()
        self.phones: set[str] = {contact.phone} if contact.phone else set()
        self.tag_keys: set[str] = set()


def _fingerprint(*parts: Any) -> str:
    raw = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), default=str, sort_keys=True)
    return hashlib.sha1(raw.encode(), usedforsecurity=False).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


class _Run:
    """State of one import run: caches of names → ids, counters, the summary."""

    def __init__(
        self,
        *,
        kind: str,
        plan: Plan,
        header: list[str],
        defs: Mapping[str, CustomField],
        actor: Any,
        source_name: str,
        job_id: int | None,
    ) -> None:
        self.kind = kind
        self.plan = plan
        self.header = header
        self.width = len(header)
        self.defs = defs
        self.actor = actor
        self.actor_id: int | None = getattr(actor, "pk", None)
        self.source_name = source_name
        self.job_id = job_id
        self.region = str(settings.LEADBRIDGE["DEFAULT_PHONE_REGION"])
        # Row errors are written in the language active when the run starts; forked cleaning
        # processes switch to it themselves (`_prepare_chunk`).
        self.language = translation.get_language()
        self.columns_of = {t: c for _, c, t in plan.columns}
        # = clean_contact_input(data, defs=defs, partial=True, region=self.region), per-column rules
        keys = [t for _, _, t in plan.columns] + list(plan.fixed)
        self.clean_row = row_cleaner(
            ["owner" if k == "manager" else k for k in keys], defs=defs, region=self.region
        )
        self.counts = {"rows": 0, "created": 0, "updated": 0, "unchanged": 0, "skipped": 0}
        self.errors: list[dict[str, Any]] = []
        self.errors_omitted = 0
        self.owners: dict[str, int | None] = {}
        self.companies: dict[str, int] = {}
        self.tags: dict[str, int] = {}
        self.created_refs: dict[str, list[str]] = {"tags": [], "companies": []}
        self.lead_sink: LeadSink | None = None
        if kind == "leads":
            self.lead_sink = _lead_sink(LeadImport(actor=actor, source_name=source_name, job_id=job_id))
        self.dq_fingerprints: set[str] | None = None
        self.pending_dq: list[dict[str, Any]] = []
        self.created_payload: dict[str, Any] = {"source": "import", "file": source_name}
        if job_id:
            self.created_payload["import_job"] = job_id
        self.created_json = (
            json.dumps({**self.created_payload, "row": 0}, cls=DjangoJSONEncoder)
            .replace("{", "{{")
            .replace("}", "}}")
            .replace('"row": 0', '"row": {row}')
        )

    # -- reporting ------------------------------------------------------------------------

    def _report(self, row: int, errors: list[FieldError]) -> None:
        for err in errors:
            if len(self.errors) >= MAX_REPORTED_ERRORS:
                self.errors_omitted += 1
                continue
            entry: dict[str, Any] = {"row": row, "field": err.field, "message": err.message}
            column = self.columns_of.get(err.field.split("[", 1)[0])
            if column:
                entry["column"] = column
            self.errors.append(entry)

    def summary(self, *, encoding: str, delimiter: str, dry_run: bool) -> dict[str, Any]:
        refs = dict(self.created_refs)
        if self.lead_sink is not None:
            refs.update(self.lead_sink.created_refs())
        out: dict[str, Any] = {
            "created": self.counts["created"],
            "updated": self.counts["updated"],
            "skipped": self.counts["skipped"],
            "errors": self.errors,
            "created_refs": {k: v for k, v in refs.items() if v},
            "unchanged": self.counts["unchanged"],
            "rows": self.counts["rows"],
            "encoding": encoding,
            "delimiter": delimiter,
            "mapping": self.plan.mapping,
            "defaults": self.plan.fixed,
            "ignored_columns": self.plan.ignored,
            "dry_run": dry_run,
        }
        if self.errors_omitted:
            out["errors_omitted"] = self.errors_omitted
        if self.lead_sink is not None:
            out.update(self.lead_sink.summary())
        return out

    # -- preparing rows (no database writes; runs outside the batch transaction) ----------

    def _mapped(self, values: list[str]) -> dict[str, str]:
        """A row's values by field name (mapped columns that are not blank, then the --set values)."""
        data: dict[str, str] = {}
        n = len(values)
        for index, _column, target in self.plan.columns:
            if index < n:
                value = values[index]
                if value and not value.isspace():
                    data[target] = value
        return data

    def prepare(self, record: Record) -> _Row:
        values = record.values
        if values is None:
            row = _Row(row=record.row, values=[], reason=DataQualityItem.Reason.MALFORMED)
            row.errors.append(FieldError("row", record.error))
            return row
        data = self._mapped(values)
        n = len(values)
        row = _Row(row=record.row, values=values)
        if n != self.width and (n < self.width or any(v.strip() for v in values[self.width :])):
            numbers = {"expected": self.width, "got": n, "first": record.row, "last": record.last_line}
            if record.last_line > record.row:
                message = (
                    _(
                        "Expected %(expected)s columns, got %(got)s (lines %(first)s-%(last)s: an unclosed quote?)"
                    )
                    % numbers
                )
            else:
                message = _("Expected %(expected)s columns, got %(got)s") % numbers
            row.errors.append(FieldError("row", message))
            row.reason = DataQualityItem.Reason.MALFORMED
            return row
        if self.plan.fixed:
            data.update(self.plan.fixed)
        contact_data: dict[str, Any] = data
        if self.lead_sink is not None:
            contact_data = dict(data)
            lead_data = {k: contact_data.pop(k) for k in LEAD_ONLY_FIELDS if k in contact_data}
            row.lead, lead_errors = self.lead_sink.clean(lead_data)
            row.errors.extend(lead_errors)
            if "manager" in contact_data:
                contact_data["owner"] = contact_data.pop("manager")
        clean = self.clean_row(contact_data)
        if self.kind == "leads":
            for err in clean.errors:
                if err.field == "owner":
                    row.errors.append(FieldError("manager", err.message))
                else:
                    row.errors.append(err)
        else:
            row.errors.extend(clean.errors)
        row.clean = clean
        return row

    # -- one batch ----------------------------------------------------------------------------

    def run_batch(self, rows: list[_Row]) -> None:
        """Write a batch atomically; on a constraint error retry its rows one by one."""
        state = (dict(self.companies), dict(self.tags), {k: list(v) for k, v in self.created_refs.items()})
        counts, n_errors, omitted = dict(self.counts), len(self.errors), self.errors_omitted
        dq_fps = set(self.dq_fingerprints) if self.dq_fingerprints is not None else None
        lead_state = self.lead_sink.state() if self.lead_sink is not None else None
        try:
            with transaction.atomic():
                self._write_batch(rows)
        except IntegrityError as exc:
            self.companies, self.tags, self.created_refs = state
            self.counts, self.errors_omitted = counts, omitted
            del self.errors[n_errors:]
            self.dq_fingerprints = dq_fps
            if self.lead_sink is not None:
                self.lead_sink.restore(lead_state)
            if len(rows) > 1:
                for one in rows:
                    self.run_batch([one])
                return
            row = rows[0]
            row.errors.append(FieldError("row", _("Could not be saved: %(problem)s") % {"problem": exc}))
            with transaction.atomic():
                self._write_batch([row])

    def _write_batch(self, rows: list[_Row]) -> None:
        self._resolve_owners(rows)
        if self.lead_sink is not None:
            self._check_leads(rows)
        good = [r for r in rows if not r.errors]
        matches = self._lookup(good)
        plan = _BatchWriter(self, matches)
        self.pending_dq = []
        unchanged: list[int] = []
        for row in rows:
            self.counts["rows"] += 1
            if row.errors:
                self._reject(row)
                continue
            outcome = plan.apply(row)
            if row.errors:
                self._reject(row)
            else:
                self.counts[outcome] += 1
                if outcome == "unchanged":
                    unchanged.append(row.row)
        plan.flush()
        if plan.lead_changed:
            # A matched contact that did not change still got a new (or newly classified) inquiry.
            moved = sum(1 for n in unchanged if n in plan.lead_changed)
            self.counts["unchanged"] -= moved
            self.counts["updated"] += moved
        if self.pending_dq:
            dq_items_record(self.pending_dq)

    def _check_leads(self, rows: list[_Row]) -> None:
        assert self.lead_sink is not None
        leads = [(r.row, r.lead) for r in rows if not r.errors and r.lead is not None]
        if not leads:
            return
        found = self.lead_sink.check(leads)
        if found:
            for row in rows:
                if row.row in found and not row.errors:
                    row.errors.extend(found[row.row])

    def _reject(self, row: _Row) -> None:
        self.counts["skipped"] += 1
        self._report(row.row, row.errors)
        if row.values:
            columns: dict[str, Any] = dict(zip(self.header, row.values, strict=False))
            if len(row.values) > self.width:
                columns["(extra)"] = row.values[self.width :]
            fp = _fingerprint(self.kind, row.reason, row.values)
        else:
            columns = {}
            fp = _fingerprint(self.kind, row.reason, row.row, [e.message for e in row.errors])
        if self.dq_fingerprints is None:
            self.dq_fingerprints = set(
                DataQualityItem.objects.filter(source="import", status=DataQualityItem.Status.OPEN)
                .annotate(fp=KT("raw__fingerprint"))
                .values_list("fp", flat=True)
            )
        if fp in self.dq_fingerprints:
            return
        self.dq_fingerprints.add(fp)
        raw = {
            "kind": self.kind,
            "file": self.source_name,
            "row": row.row,
            "columns": columns,
            "fields": {**self._mapped(row.values), **self.plan.fixed},
            "fingerprint": fp,
        }
        if self.job_id:
            raw["import_job"] = self.job_id
        self.pending_dq.append(
            {
                "source": "import",
                "reason": row.reason,
                "raw": raw,
                "errors": row.errors,
                "contact_id": row.contact_id,
            }
        )

    def _resolve_owners(self, rows: list[_Row]) -> None:
        for row in rows:
            clean = row.clean
            if clean is None or row.errors or not clean.owner_username:
                continue
            key = clean.owner_username.lower()
            if key not in self.owners:
                try:
                    user = resolve_owner(clean.owner_username)
                except ServiceError:
                    user = None
                if user is None and self.kind == "leads" and "@" in key:
                    user = _user_by_email(key)  # exports name managers by their email as often
                self.owners[key] = user.pk if user is not None else None
            if self.owners[key] is None:
                name = "manager" if self.kind == "leads" else "owner"
                message = _("No active user %(username)s") % {"username": repr(clean.owner_username)}
                row.errors.append(FieldError(name, message))

    def _lookup(self, rows: list[_Row]) -> _Matches:
        exts: set[str] = set()
        emails: set[str] = set()
        phones: set[str] = set()
        for row in rows:
            values = row.clean.values if row.clean else {}
            if values.get("external_id"):
                exts.add(values["external_id"])
            if values.get("email"):
                emails.add(values["email"])
            if values.get("phone"):
                phones.add(values["phone"])
        return _Matches.load(exts=exts, emails=emails, phones=phones)

    # -- references -------------------------------------------------------------------------

    def company_ids(self, names: Iterable[str]) -> dict[str, int]:
        """Lower-cased name → id; companies a row names are found or created once per run."""
        missing = {n.lower(): n for n in names if n.lower() not in self.companies}
        if missing:
            found, created = companies_for_names(missing.values(), actor=self.actor)
            self.companies.update((key, company.pk) for key, company in found.items())
            self.created_refs["companies"].extend(created)
        return self.companies

    def tag_ids(self, names: Iterable[str]) -> dict[str, int]:
        """Tag key → id; tags are found or created once per run."""
        missing = {n.lower(): n for n in names if n.lower() not in self.tags}
        if missing:
            existing = set(Tag.objects.filter(key__in=list(missing)).values_list("key", flat=True))
            for tag in tags_for_names(missing.values()):
                self.tags[tag.key] = tag.pk
                if tag.key not in existing:
                    self.created_refs["tags"].append(tag.name)
        return self.tags


def _user_by_email(email: str) -> Any:
    """The one active user with this email; None when there is none, or several."""
    users = list(get_user_model().objects.filter(email__iexact=email, is_active=True)[:2])
    return users[0] if len(users) == 1 else None


@dataclass
class _Matches:
    """Existing contacts a batch's keys point at (alive ones; merged ones resolve to the winner)."""

    by_ext: dict[str, int]
    by_email: dict[str, int]
    by_phone: dict[str, int]
    contacts: dict[int, _Record]
    companies: dict[int, str]  # contact id -> its company's name
    emails: dict[int, set[str]]
    phones: dict[int, set[str]]
    tags: dict[int, set[str]]

    @classmethod
    def load(cls, *, exts: set[str], emails: set[str], phones: set[str]) -> _Matches:
        by_ext: dict[str, int] = {}
        by_email: dict[str, int] = {}
        by_phone: dict[str, int] = {}
        redirect: dict[int, int] = {}
        # Identifiers come from the models; every value is a parameter.
        contact_t, point_t = _sql_names(Contact), _sql_names(ContactPoint)
        for ext, pk, merged_into, erased in _select_in(
            f"SELECT external_id, id, merged_into_id, erased_at FROM {contact_t} WHERE external_id {{}}",  # noqa: S608
            exts,
        ):
            if erased is None:
                by_ext[ext] = pk
                if merged_into:
                    redirect[pk] = merged_into
        for column, found, values in (("email", by_email, emails), ("phone", by_phone, phones)):
            # Several contacts with one value: the oldest wins, primary values before extra ones.
            # Merged/erased contacts are dropped here, not in SQL: with `merged_into_id IS NULL`
            # in the WHERE, SQLite walked the whole merged_into_id index (every alive contact)
            # instead of probing the email/phone index, once per batch.
            primary = f"SELECT {column}, id, merged_into_id, erased_at FROM {contact_t} WHERE {column} {{}}"  # noqa: S608
            for value, pk, merged_into, erased in sorted(_select_in(primary, values), key=itemgetter(1)):
                if merged_into is None and erased is None:
                    found.setdefault(value, pk)
            extra = (
                f"SELECT p.value, p.contact_id, c.merged_into_id, c.erased_at FROM {point_t} p"  # noqa: S608
                f" JOIN {contact_t} c ON c.id = p.contact_id WHERE p.kind = '{column}' AND p.value {{}}"
            )
            for value, pk, merged_into, erased in sorted(_select_in(extra, values), key=itemgetter(1)):
                if merged_into is None and erased is None:
                    found.setdefault(value, pk)
        # Follow merges to the surviving contact (a winner may have been merged later too).
        checked: set[int] = set()
        while pending := [pk for pk in redirect.values() if pk not in redirect and pk not in checked]:
            checked.update(pending)
            for pk, merged_into in Contact.objects.filter(
                pk__in=pending, merged_into__isnull=False
            ).values_list("pk", "merged_into_id"):
                if merged_into is not None:
                    redirect[pk] = merged_into
        for ext, pk in list(by_ext.items()):
            seen = 0
            while pk in redirect and seen < 10:
                pk = redirect[pk]
                seen += 1
            by_ext[ext] = pk
        ids = set(by_ext.values()) | set(by_email.values()) | set(by_phone.values())
        contacts: dict[int, _Record] = {}
        companies: dict[int, str] = {}
        point_emails: dict[int, set[str]] = {}
        point_phones: dict[int, set[str]] = {}
        tag_links: dict[int, set[str]] = {}
        if ids:
            qs = Contact.objects.alive().filter(pk__in=ids)
            if transaction.get_connection().features.has_select_for_update:
                qs = qs.select_for_update(of=("self",))
            # Plain records, not model instances: building 2,000 Contacts per batch was most of
            # a re-import's time.
            names = _LOADED_FIELDS
            for values in qs.values_list(*names, "company__name"):
                record = _Record.__new__(_Record)
                record.__dict__ = dict(zip(names, values, strict=False))
                contacts[record.pk] = record
                if values[-1]:
                    companies[record.pk] = values[-1]
            for cid, kind, value in ContactPoint.objects.filter(contact_id__in=contacts).values_list(
                "contact_id", "kind", "value"
            ):
                (point_emails if kind == "email" else point_phones).setdefault(cid, set()).add(value)
            for cid, key in ContactTag.objects.filter(contact_id__in=contacts).values_list(
                "contact_id", "tag__key"
            ):
                tag_links.setdefault(cid, set()).add(key)
        return cls(
            by_ext={k: v for k, v in by_ext.items() if v in contacts},
            by_email={k: v for k, v in by_email.items() if v in contacts},
            by_phone={k: v for k, v in by_phone.items() if v in contacts},
            contacts=contacts,
            companies=companies,
            emails=point_emails,
            phones=point_phones,
            tags=tag_links,
        )


_SIMPLE_FIELDS = (
    "name", "first_name", "last_name", "job_title", "street", "city", "region", "postal_code",
    "country", "ip_address", "geo_city", "geo_country", "birthday",
)  # fmt: skip


class _Record:
    """A contact as plain attributes named like Contact's attnames (much cheaper than a model
    instance): an existing one loaded with `_LOADED_FIELDS`, or a new one (`_Record.new`)."""

    pk: int = 0  # a new contact's is set once inserted
    stage: str
    email: str
    phone: str
    external_id: str | None
    custom: dict[str, Any]
    owner_id: int | None
    company_id: int | None
    version: int
    updated_at: dt.datetime

    @classmethod
    def new(cls, values: Mapping[str, Any]) -> _Record:
        """A contact about to be inserted, starting from the model's defaults (a new column with
        a default needs nothing here); its `pk` is set once inserted."""
        record = cls()
        record.__dict__.update(_contact_defaults())
        record.__dict__.update(values)
        return record


# What matching and updating an existing contact reads (`pk` first).
_LOADED_FIELDS = (
    "pk", *_SIMPLE_FIELDS, "external_id", "email", "phone", "stage", "custom", "owner_id",
    "company_id", "version",
)  # fmt: skip


@lru_cache(maxsize=1)
def _contact_defaults() -> dict[str, Any]:
    """Column defaults of Contact (callables evaluated once: `custom` and the timestamps are
    always given by `_create`)."""
    out = {}
    for f in Contact._meta.concrete_fields:
        if f.primary_key:
            continue
        out[f.attname] = f.get_default() if f.has_default() or not f.null else None
    return out


class _BatchWriter:
    """Applies a batch's rows to contacts in memory, then writes everything in bulk."""

    def __init__(self, run: _Run, matches: _Matches) -> None:
        self.run = run
        self.matches = matches
        self.now = clock.now()
        self.targets: dict[int, _Target] = {}  # existing contacts, by id
        self.new: list[_Target] = []
        self.index: dict[str, dict[str, _Target]] = {"external_id": {}, "email": {}, "phone": {}}
        self.known = {"external_id": matches.by_ext, "email": matches.by_email, "phone": matches.by_phone}
        self.changed: dict[int, set[str]] = {}  # existing contact id → fields written
        self.points: list[tuple[_Target, str, str, str]] = []
        self.tag_links: list[tuple[_Target, str]] = []
        self.companies: list[tuple[_Target, str]] = []
        self.stage_changes: list[tuple[_Target, str, str, str]] = []
        self.activities: list[tuple[_Target, str, dict[str, Any], dt.datetime | None]] = []
        self.leads: list[tuple[_Target, _Row]] = []  # `leads` rows, for the lead sink
        self.lead_changed: set[int] = set()  # rows whose inquiry the sink created or changed

    # -- matching ---------------------------------------------------------------------------

    def _existing(self, pk: int) -> _Target:
        target = self.targets.get(pk)
        if target is None:
            matches = self.matches
            target = _Target(matches.contacts[pk], is_new=False, company=matches.companies.get(pk, ""))
            target.emails |= matches.emails.get(pk, set())
            target.phones |= matches.phones.get(pk, set())
            target.tag_keys = set(matches.tags.get(pk, set()))
            self.targets[pk] = target
        return target

    def _find(self, key: str, value: str | None) -> _Target | None:
        if not value:
            return None
        hit = self.index[key].get(value)
        if hit is not None:
            return hit
        pk = self.known[key].get(value)
        return self._existing(pk) if pk is not None else None

    def _register(self, target: _Target) -> None:
        c = target.contact
        if c.external_id:
            self.index["external_id"][c.external_id] = target
        emails, phones = self.index["email"], self.index["phone"]
        for email in target.emails:
            emails.setdefault(email, target)
        for phone in target.phones:
            phones.setdefault(phone, target)

    def apply(self, row: _Row) -> str:
        clean = row.clean
        assert clean is not None
        values = clean.values
        found: list[tuple[str, _Target]] = []
        for key in IDENTITY_KEYS:
            target = self._find(key, values.get(key))
            if target is not None and all(t is not target for _, t in found):
                found.append((key, target))
        ext = values.get("external_id")
        if len(found) > 1:
            parts = [
                _("%(key)s matches %(contact)s") % {"key": key, "contact": _label(t)} for key, t in found
            ]
            self._duplicate(
                row,
                found[0][1],
                _("%(matches)s: not imported, resolve in the data-quality queue")
                % {"matches": "; ".join(parts)},
            )
            return "skipped"
        if found:
            target = found[0][1]
            current_ext = target.contact.external_id
            # (found by its external id yet holding another: the row's id is a contact merged into it)
            if ext and current_ext and current_ext != ext and found[0][0] != "external_id":
                message = _(
                    "%(key)s matches %(contact)s, whose external id is %(current)s, not %(given)s"
                ) % {
                    "key": found[0][0],
                    "contact": _label(target),
                    "current": repr(current_ext),
                    "given": repr(ext),
                }
                self._duplicate(row, target, message)
                return "skipped"
            return self._update(row, target)
        check_complete(clean, self.run.defs)
        if clean.errors:
            row.errors.extend(clean.errors)
            return "skipped"
        return self._create(row)

    def _duplicate(self, row: _Row, target: _Target, message: str) -> None:
        row.reason = DataQualityItem.Reason.DUPLICATE
        row.contact_id = None if target.is_new else target.contact.pk
        row.errors.append(FieldError("row", message))

    # -- applying a row -----------------------------------------------------------------------

    def _create(self, row: _Row) -> str:
        clean = row.clean
        assert clean is not None
        values = {k: v for k, v in clean.values.items() if v is not None and v != ""}
        values["custom"] = {k: v for k, v in clean.custom.items() if v is not None}
        values["created_at"] = values["updated_at"] = self.now
        if clean.owner_username:
            values["owner_id"] = self.run.owners[clean.owner_username.lower()]
        contact = _Record.new(values)
        target = _Target(contact, is_new=True)
        self.new.append(target)
        if clean.company_name:
            target.company = clean.company_name
            self.companies.append((target, clean.company_name))
        self._add_points(target, clean, lambda _name, attr, value: setattr(contact, attr, value))
        tag_names = self._add_tags(target, clean.tags or [])
        self._register(target)
        payload: Any
        if tag_names:
            payload = {**self.run.created_payload, "row": row.row, "tags": tag_names}
        else:  # the common case, JSON-encoded here: one f-string instead of json.dumps per row
            payload = _Json(self.run.created_json.format(row=row.row))
        self.stage_changes.append((target, "", contact.stage, "created (import)"))
        self.activities.append((target, "contact_created", payload, None))
        self._lead(row, target)
        return "created"

    def _update(self, row: _Row, target: _Target) -> str:
        clean = row.clean
        assert clean is not None
        contact = target.contact
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}

        def change(name: str, attr: str, value: Any) -> None:
            old = getattr(contact, attr)
            if old == value:
                return
            if name not in before:
                before[name] = _jsonable(old)
            after[name] = _jsonable(value)
            setattr(contact, attr, value)

        values = clean.values
        for name in _SIMPLE_FIELDS:
            value = values.get(name)
            if value not in (None, ""):
                change(name, name, value)
        ext = values.get("external_id")
        if ext and not contact.external_id:
            change("external_id", "external_id", ext)
        for kind, known in (("email", target.emails), ("phone", target.phones)):
            value = values.get(kind)
            if not value or value == getattr(contact, kind):
                continue
            old = getattr(contact, kind)
            if value in known and old:
                continue  # already one of the contact's extra addresses
            change(kind, kind, value)
            if old:
                self.points.append((target, kind, old, "previous"))
            known.add(value)
        if clean.custom:
            merged = dict(contact.custom or {})
            for key, value in clean.custom.items():
                if value is not None:
                    merged[key] = value
            if merged != (contact.custom or {}):
                change("custom", "custom", merged)
        if clean.company_name and clean.company_name.lower() != target.company.lower():
            before["company"] = target.company or None
            after["company"] = clean.company_name
            target.company = clean.company_name
            self.companies.append((target, clean.company_name))  # its id is set in flush()
        if clean.owner_username and (self.run.kind != "leads" or contact.owner_id is None):
            change("owner_id", "owner_id", self.run.owners[clean.owner_username.lower()])
        points_before = len(self.points)
        self._add_points(target, clean, change)
        if len(self.points) > points_before:
            added = [p[2] for p in self.points[points_before:]]
            after["points_added"] = added
        tag_names = self._add_tags(target, clean.tags or [])
        stage = values.get("stage")
        stage_moved = False
        if stage and stage != contact.stage and self._may_move(contact.stage, stage):
            self.stage_changes.append((target, contact.stage, stage, "import"))
            self.activities.append(
                (
                    target,
                    "stage_changed",
                    {"from": contact.stage, "to": stage, "reason": "import", "row": row.row},
                    None,
                )
            )
            contact.stage = stage
            stage_moved = True
        self._lead(row, target)
        self._register(target)
        fields_changed = [k for k in before if k != "points_added"]
        if not target.is_new and (fields_changed or stage_moved):
            written = self.changed.setdefault(contact.pk, set())
            written.update("owner" if k == "owner_id" else k for k in fields_changed)
            if stage_moved:
                written.add("stage")
        if before or "points_added" in after:
            payload = {"before": before, "after": after, "source": "import", "row": row.row}
            self.activities.append((target, "contact_updated", payload, None))
        if tag_names:
            self.activities.append(
                (target, "tags_changed", {"added": tag_names, "removed": [], "source": "import"}, None)
            )
        if before or after or tag_names or stage_moved:
            return "updated"
        return "unchanged"  # a `leads` row's new inquiry makes it "updated" after flush()

    def _may_move(self, current: str, to: str) -> bool:
        if self.run.kind != "leads":
            return True
        if current in FUNNEL and to in FUNNEL:
            return STAGE_ORDER[to] > STAGE_ORDER[current]
        return True

    def _add_points(
        self, target: _Target, clean: CleanContact, set_primary: Callable[[str, str, Any], None]
    ) -> None:
        """Extra emails/phones: the first fills an empty primary, the rest become ContactPoints."""
        for kind, values, known in (
            ("email", clean.extra_emails, target.emails),
            ("phone", clean.extra_phones, target.phones),
        ):
            for value in values:
                if value not in known:
                    known.add(value)
                    if not getattr(target.contact, kind):
                        set_primary(kind, kind, value)
                    else:
                        self.points.append((target, kind, value, ""))

    def _add_tags(self, target: _Target, names: list[str]) -> list[str]:
        added: list[str] = []
        for name in names:
            key = name.lower()
            if key not in target.tag_keys:
                target.tag_keys.add(key)
                self.tag_links.append((target, name))  # the tag's id is found in flush()
                added.append(name)
        return added

    def _lead(self, row: _Row, target: _Target) -> None:
        if row.lead is not None:
            self.leads.append((target, row))

    def _write_leads(self) -> list[tuple[int, str, dict[str, Any], dt.datetime]]:
        """Hand the batch's accepted `leads` rows, their contacts written, to the lead sink."""
        sink = self.run.lead_sink
        if sink is None or not self.leads:
            return []
        owners = self.run.owners
        rows: list[LeadRow] = []
        for target, row in self.leads:
            clean = row.clean
            assert clean is not None and row.lead is not None
            values = clean.values
            identity = next((f"{k}:{values[k]}" for k in _LEAD_IDENTITY if values.get(k)), "")
            rows.append(
                LeadRow(
                    row=row.row,
                    contact_id=target.contact.pk,
                    contact_is_new=target.is_new,
                    identity=identity,
                    lead=row.lead,
                    manager_id=owners[clean.owner_username.lower()] if clean.owner_username else None,
                )
            )
        done = sink.write(rows)
        self.lead_changed = done.changed_rows
        return done.activities

    # -- writing --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Companies and tags named by the rows written are found or created here, in bulk, so a
        rejected row never leaves a company or tag behind."""
        now = self.now
        if self.companies:
            company_ids = self.run.company_ids(dict.fromkeys(name for _, name in self.companies))
            for target, name in self.companies:
                target.contact.company_id = company_ids[name.lower()]
        if self.new:
            contacts = _table(Contact, tuple(_contact_defaults()))
            ids = contacts.insert([t.contact.__dict__ for t in self.new], returning_ids=True)
            for target, pk in zip(self.new, ids, strict=True):
                target.contact.pk = pk
        if self.changed:
            by_fields: dict[tuple[str, ...], list[_Record]] = {}
            for pk, written in self.changed.items():
                contact = self.targets[pk].contact
                contact.version += 1
                contact.updated_at = now
                by_fields.setdefault(tuple(sorted(written)), []).append(contact)
            for fields, records in by_fields.items():
                _table(Contact, (*fields, "version", "updated_at")).update(records)
        if self.points:
            _table(ContactPoint, ("contact_id", "kind", "value", "label")).insert(
                [
                    {"contact_id": t.contact.pk, "kind": k, "value": v, "label": label}
                    for t, k, v, label in self.points
                ],
                ignore_conflicts=True,
            )
        if self.tag_links:
            tag_ids = self.run.tag_ids(dict.fromkeys(name for _, name in self.tag_links))
            _table(ContactTag, ("contact_id", "tag_id")).insert(
                [{"contact_id": t.contact.pk, "tag_id": tag_ids[name.lower()]} for t, name in self.tag_links],
                ignore_conflicts=True,
            )
        lead_activities = self._write_leads()
        actor_id = self.run.actor_id
        if self.stage_changes:
            _table(
                StageChange, ("contact_id", "from_stage", "to_stage", "actor_id", "reason", "occurred_at")
            ).insert(
                [
                    {
                        "contact_id": t.contact.pk,
                        "from_stage": f,
                        "to_stage": to,
                        "actor_id": actor_id,
                        "reason": reason,
                        "occurred_at": now,
                    }
                    for t, f, to, reason in self.stage_changes
                ]
            )
        if self.activities or lead_activities:
            _table(Activity, ("contact_id", "kind", "actor_id", "payload", "occurred_at")).insert(
                [
                    {
                        "contact_id": t.contact.pk,
                        "kind": kind,
                        "actor_id": actor_id,
                        "payload": payload,
                        "occurred_at": at or now,
                    }
                    for t, kind, payload, at in self.activities
                ]
                + [
                    {
                        "contact_id": contact_id,
                        "kind": kind,
                        "actor_id": actor_id,
                        "payload": payload,
                        "occurred_at": at,
                    }
                    for contact_id, kind, payload, at in lead_activities
                ]
            )


def bulk_insert(
    model: type[Model], fields: tuple[str, ...], rows: list[dict[str, Any]], *, returning_ids: bool = False
) -> list[int]:
    """Insert `rows` (dicts by attname; every field in `fields` given) the way this importer
    writes its own rows: COPY on PostgreSQL, executemany on SQLite, no model instances, no
    signals; with `returning_ids`, the new rows' ids in order. For rows written inside an import
    batch's transaction by an app that stores part of the import (the lead sink)."""
    if not rows:
        return []
    return _table(model, fields).insert(rows, returning_ids=returning_ids)


def _sql_names(model: type[Model]) -> str:
    return str(connections[DEFAULT_DB_ALIAS].ops.quote_name(model._meta.db_table))


def _select_in(sql: str, values: Iterable[str]) -> list[tuple[Any, ...]]:
    """Run `sql`, whose `{}` stands for "is one of `values`", in chunks under the parameter limit.

    Plain SQL: the ORM prepares every value of a 2,000-long IN list on its own, which costs more
    than the query; on PostgreSQL the list is one array parameter (`= ANY(%s)`)."""
    items = list(values)
    if not items:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(sql.format("= ANY(%s)"), [items])
            return list(cursor.fetchall())
        per = min(2000, (connection.features.max_query_params or 65535) - 10)
        for start in range(0, len(items), per):
            chunk = items[start : start + per]
            cursor.execute(sql.format("IN (" + ", ".join(["%s"] * len(chunk)) + ")"), chunk)
            rows.extend(cursor.fetchall())
    return rows


class _Json(str):
    """A value already encoded as JSON (for `_Table` inserts)."""


class _Table:
    """Raw bulk INSERTs into one model's table: `executemany` on SQLite, `COPY` on PostgreSQL.

    The ORM's bulk_create spends most of an import's time building SQL for each value; here
    each column gets the backend's adapter once (dates, JSON, IPs) and the rows go in as tuples.
    Contacts use a multi-row INSERT ... RETURNING id, in statements that stay under the
    backend's parameter limit.
    """

    def __init__(self, model: type[Model], fields: tuple[str, ...]) -> None:
        connection = connections[DEFAULT_DB_ALIAS]
        self.vendor = connection.vendor
        qn = connection.ops.quote_name
        meta = model._meta
        self.fields = [meta.get_field(name) for name in fields]
        self.names = [f.attname for f in self.fields]  # type: ignore[union-attr]
        self.model_table = meta.db_table
        self.table = qn(meta.db_table)
        self.columns = ", ".join(qn(str(f.column)) for f in self.fields)  # type: ignore[union-attr]
        self.adapters = [self._adapter(f) for f in self.fields]

    def _adapter(self, field: Any) -> Callable[[Any], Any] | None:
        ops = self.connection.ops
        kind = field.get_internal_type()
        if kind == "DateTimeField":
            return None if self.vendor == "postgresql" else ops.adapt_datetimefield_value
        if kind == "DateField":
            return None if self.vendor == "postgresql" else ops.adapt_datefield_value
        if kind == "JSONField":
            encoder = field.encoder
            return lambda v: v if isinstance(v, _Json) else "{}" if v == {} else json.dumps(v, cls=encoder)
        if kind == "GenericIPAddressField":
            return ops.adapt_ipaddressfield_value
        return None

    def _tuples(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        get = itemgetter(*self.names)
        adapted = [(i, a) for i, a in enumerate(self.adapters) if a is not None]
        if not adapted:
            return [get(row) for row in rows]
        out = []
        memo: dict[tuple[int, int], Any] = {}  # the batch's timestamp is one object on every row
        for row in rows:
            values = list(get(row))
            for i, adapt in adapted:
                value = values[i]
                if value is None:
                    continue
                if isinstance(value, dt.datetime):
                    key = (i, id(value))
                    if key not in memo:
                        memo[key] = (value, adapt(value))  # keep `value` alive so its id stays unique
                    values[i] = memo[key][1]
                else:
                    values[i] = adapt(value)
            out.append(tuple(values))
        return out

    @property
    def connection(self) -> Any:
        # Looked up on every use: this object is cached across threads (a threaded web server
        # runs imports too) and Django connections belong to the thread that opened them.
        return connections[DEFAULT_DB_ALIAS]

    def insert(
        self, rows: list[dict[str, Any]], *, returning_ids: bool = False, ignore_conflicts: bool = False
    ) -> list[int]:
        data = self._tuples(rows)
        width = len(self.names)
        with self.connection.cursor() as cursor:
            ids: list[int] = []
            columns = self.columns
            if returning_ids:
                ids = self._new_ids(cursor, len(data))
                data = [(pk, *row) for pk, row in zip(ids, data, strict=True)]
                columns = f"{self.connection.ops.quote_name('id')}, {columns}"
                width += 1
            if self.vendor == "postgresql" and not ignore_conflicts:
                # The raw cursor's COPY: its errors go through Django's wrapper, so a unique
                # violation is an IntegrityError like any other.
                with (
                    self.connection.wrap_database_errors,
                    cursor.cursor.copy(f"COPY {self.table} ({columns}) FROM STDIN") as copy,
                ):
                    for row in data:
                        copy.write_row(row)
                return ids
            marks = ", ".join(["%s"] * width)
            verb = "INSERT OR IGNORE" if ignore_conflicts and self.vendor == "sqlite" else "INSERT"
            tail = " ON CONFLICT DO NOTHING" if ignore_conflicts and self.vendor != "sqlite" else ""
            cursor.executemany(f"{verb} INTO {self.table} ({columns}) VALUES ({marks}){tail}", data)
        return ids

    def update(self, records: list[_Record]) -> None:
        """Write this table's fields of `records` (existing rows, by `pk`) with one executemany."""
        qn = self.connection.ops.quote_name
        sets = ", ".join(f"{qn(str(f.column))} = %s" for f in self.fields)  # type: ignore[union-attr]
        data = [
            (*values, r.pk)
            for values, r in zip(self._tuples([r.__dict__ for r in records]), records, strict=True)
        ]
        with self.connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {self.table} SET {sets} WHERE {qn('id')} = %s", data)  # noqa: S608

    def _new_ids(self, cursor: Any, count: int) -> list[int]:
        """Ids for `count` new rows, taken before the insert so the rows can go in by COPY or
        executemany. PostgreSQL: from the table's sequence. SQLite: after the highest id ever
        used (AUTOINCREMENT's sqlite_sequence); the batch's transaction holds SQLite's write lock
        (transaction_mode IMMEDIATE), so no one else takes them meanwhile, and a clash would be
        an IntegrityError that sends the batch to the row-by-row retry."""
        if self.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [self.model_table, count],
            )
            return sorted(r[0] for r in cursor.fetchall())
        if self.vendor == "sqlite":
            cursor.execute(
                f"SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0),"  # noqa: S608
                f" COALESCE((SELECT max(id) FROM {self.table}), 0))",
                [self.model_table],
            )
            start = int(cursor.fetchone()[0]) + 1
            return list(range(start, start + count))
        raise NotImplementedError(f"bulk import into {self.vendor} is not supported")


@lru_cache(maxsize=16)
def _table(model: type[Model], fields: tuple[str, ...]) -> _Table:
    return _Table(model, fields)


def _label(target: _Target) -> str:
    if target.is_new:
        # Translators: completes "<field> matches ..." (Russian: instrumental case).
        return pgettext("matches", "a contact created by an earlier row of this file")
    # Translators: completes "<field> matches ..." (Russian: instrumental case).
    return pgettext("matches", "contact #%(id)s") % {"id": target.contact.pk}


# --- preparing rows in parallel -------------------------------------------------------------
# Cleaning a row (phone and email rules above all) costs more than writing it. On a big file the
# rows are cleaned in forked worker processes, a few batches ahead, while this process writes;
# the workers never touch the database (they inherit the run's state and leave with os._exit).

_WORKER_RUN: _Run | None = None
PARALLEL_MIN_BYTES = 4 * 2**20


def _workers_for(size: int) -> int:
    """Worker processes for a file of `size` bytes: LEADBRIDGE["IMPORT_WORKERS"] (default: the
    CPUs, at most 4) from LEADBRIDGE["IMPORT_PARALLEL_MIN_BYTES"] (default 4 MB) up; 0 = none."""
    options = settings.LEADBRIDGE
    configured = options.get("IMPORT_WORKERS")
    # Default: one per CPU, at most 4. One fewer (the writer is the bottleneck) left the writer
    # waiting whenever anything else ran: 100,000 rows took 43 s with 1 worker, 31 s with 2.
    workers = int(str(configured)) if configured is not None else min(4, os.cpu_count() or 1)
    threshold = int(str(options.get("IMPORT_PARALLEL_MIN_BYTES", PARALLEL_MIN_BYTES)))
    if workers < 1 or size < threshold or not sys.platform.startswith("linux"):
        return 0
    return workers if "fork" in multiprocessing.get_all_start_methods() else 0


def _prepare_chunk(records: list[Record]) -> list[_Row]:
    run = _WORKER_RUN
    assert run is not None, "a worker process forked outside an import"
    with translation.override(run.language):
        rows = [run.prepare(record) for record in records]
    for row in rows:
        row.values = []  # the parent still has them (`_attach_values`): not pickled back
    return rows


def _attach_values(rows: list[_Row], records: list[Record]) -> list[_Row]:
    for row, record in zip(rows, records, strict=True):
        if record.values is not None:
            row.values = record.values
    return rows


def _prepared_batches(
    run: _Run, records: Iterable[Record], batch_size: int, workers: int
) -> Iterator[list[_Row]]:
    """The file's rows, cleaned, in batches; in `workers` processes when there are any."""
    source = iter(records)
    chunks = iter(lambda: list(islice(source, batch_size)), [])
    if not workers:
        for chunk in chunks:
            yield [run.prepare(record) for record in chunk]
        return
    global _WORKER_RUN
    _WORKER_RUN = run
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending: deque[tuple[Future[list[_Row]], list[Record]]] = deque()
            for chunk in chunks:
                pending.append((pool.submit(_prepare_chunk, chunk), chunk))
                if len(pending) > workers * 2:  # bounded read-ahead keeps memory flat
                    future, sent = pending.popleft()
                    yield _attach_values(future.result(), sent)
            while pending:
                future, sent = pending.popleft()
                yield _attach_values(future.result(), sent)
    finally:
        _WORKER_RUN = None


# --- entry points ---------------------------------------------------------------------------


Progress = Callable[[dict[str, Any]], None]


def import_file(
    *,
    kind: str,
    path: str | Path,
    mapping: Mapping[str, str],
    defaults: Mapping[str, str],
    dry_run: bool,
    actor: Any,
    encoding: str | None = None,
    delimiter: str | None = None,
    job_id: int | None = None,
    source_name: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Import a CSV file; returns the summary (see the module docstring). `actor=None` is the system.

    Raises ValidationFailed for problems with the file or the mapping as a whole (nothing is
    written then); problems with rows are reported in the summary and never stop the run.
    """
    if actor is not None:
        require(actor, Perm.CONTACT_IMPORT)
    _check_kind(kind)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    defs = custom_field_defs()
    batch_size = max(1, int(str(settings.LEADBRIDGE.get("IMPORT_BATCH_SIZE", 2000))))
    with CsvFile(path, encoding=encoding, delimiter=delimiter) as csv_file:
        plan = build_plan(csv_file.header, kind=kind, mapping=mapping, defaults=defaults, defs=defs)
        run = _Run(
            kind=kind,
            plan=plan,
            header=csv_file.header,
            defs=defs,
            actor=actor,
            source_name=source_name or path.name,
            job_id=job_id,
        )

        workers = _workers_for(csv_file.size)

        def go() -> None:
            for batch in _prepared_batches(run, csv_file.records(), batch_size, workers):
                run.run_batch(batch)
                if progress is not None:
                    progress({**run.counts, "bytes": csv_file.position, "total_bytes": csv_file.size})

        try:
            if dry_run:
                with transaction.atomic():
                    go()
                    transaction.set_rollback(True)
            else:
                go()
        finally:
            if run.lead_sink is not None:
                run.lead_sink.finish(dry_run=dry_run)
        summary = run.summary(encoding=csv_file.encoding, delimiter=csv_file.delimiter, dry_run=dry_run)
    if not dry_run:
        audit_record(
            actor=actor,
            action="contact.import",
            object_type="import_job" if job_id else "import",
            object_id=job_id or "",
            after={
                "kind": kind,
                "file": run.source_name,
                "rows": summary["rows"],
                "created": summary["created"],
                "updated": summary["updated"],
                "unchanged": summary["unchanged"],
                "skipped": summary["skipped"],
                "created_refs": summary["created_refs"],
            },
        )
    return summary


# --- import jobs (the import page) -------------------------------------------------------------


def import_job_create(*, actor: Any, kind: str, upload: UploadedFile) -> ImportJob:
    """Store an uploaded file as an import job and read its header (summary["sniff"])."""
    require(actor, Perm.CONTACT_IMPORT)
    _check_kind(kind)
    name = Path(upload.name or "import.csv").name[:255] or "import.csv"
    job = ImportJob(kind=kind, original_name=name, created_by=actor, created_at=clock.now())
    job.file.save(name, upload, save=False)
    try:
        info = sniff(job.file.path, kind=kind)
    except ServiceError:
        job.file.delete(save=False)
        raise
    job.summary = {"sniff": info.as_dict()}
    job.save()
    audit_record(
        actor=actor,
        action="import.upload",
        object_type="import_job",
        object_id=job.pk,
        after={"kind": kind, "file": name, "size": job.file.size},
    )
    return job


def import_job_get(*, actor: Any, job_id: int) -> ImportJob:
    require(actor, Perm.CONTACT_IMPORT)
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        raise NotFound(_("Import not found"))
    return job


@transaction.atomic
def import_job_start(
    *, actor: Any, job_id: int, mapping: Mapping[str, str], defaults: Mapping[str, str], dry_run: bool
) -> ImportJob:
    """Check the mapping against the file's header, then queue the run for the worker."""
    require(actor, Perm.CONTACT_IMPORT)
    job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
    if job is None:
        raise NotFound(_("Import not found"))
    if job.status == ImportJob.Status.RUNNING:
        raise Conflict(_("This import is already running"))
    if not job.file:
        raise Conflict(_("The import has no file"))
    info = job.summary.get("sniff") or sniff(job.file.path, kind=job.kind).as_dict()
    build_plan(info["header"], kind=job.kind, mapping=mapping, defaults=defaults, defs=custom_field_defs())
    job.mapping = dict(mapping)
    job.defaults = dict(defaults)
    job.dry_run = bool(dry_run)
    job.status = ImportJob.Status.RUNNING
    # The worker reports row errors in the starter's language: their preference, else the
    # language of this request (`import_job_run`).
    job.summary = {
        "sniff": info,
        "queued_at": clock.now().isoformat(),
        "language": translation.get_language(),
    }
    job.finished_at = None
    job.save()
    run_import_job.enqueue(job_id=job.pk)
    return job


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a queued import job (the worker calls this). Safe to call twice: a job that is not
    queued is left alone, and a re-run of an import changes nothing."""
    job = ImportJob.objects.select_related("created_by").filter(pk=job_id).first()
    if job is None or job.status != ImportJob.Status.RUNNING:
        return job
    with translation.override(_job_language(job)):
        return _run_job(job)


def _job_language(job: ImportJob) -> str:
    """The language of the person who started the job: the one they chose, else the one their
    request was in when they started it, else the site's."""
    chosen = getattr(job.created_by, "language", "") if job.created_by is not None else ""
    started_in = (job.summary or {}).get("language") or ""
    for code in (chosen, started_in):
        if code:
            try:
                return translation.get_supported_language_variant(code)
            except LookupError:
                continue
    return str(settings.LANGUAGE_CODE)


def _run_job(job: ImportJob) -> ImportJob:
    job_id = job.pk
    base = {"sniff": job.summary.get("sniff", {})}
    sniffed = base["sniff"]

    def progress(state: dict[str, Any]) -> None:
        ImportJob.objects.filter(pk=job_id).update(summary={**base, "progress": state})

    try:
        summary = import_file(
            kind=job.kind,
            path=job.file.path,
            mapping=job.mapping,
            defaults=job.defaults,
            dry_run=job.dry_run,
            actor=job.created_by,
            encoding=sniffed.get("encoding"),
            delimiter=sniffed.get("delimiter"),
            job_id=job.pk,
            source_name=job.original_name,
            progress=progress,
        )
    except (ServiceError, OSError) as exc:
        job.status = ImportJob.Status.FAILED
        errors = [e.as_dict() for e in exc.errors] if isinstance(exc, ServiceError) else []
        job.summary = {**base, "error": str(exc), "errors": errors}
    else:
        job.status = ImportJob.Status.DONE
        job.summary = {**base, **summary}
    job.finished_at = clock.now()
    job.save(update_fields=["status", "summary", "finished_at"])
    return job


def import_job_errors_csv(job: ImportJob) -> str:
    """The job's row errors as CSV: row, field, message, then the row's original columns."""
    summary = job.summary or {}
    errors: list[dict[str, Any]] = summary.get("errors", [])
    sniffed = summary.get("sniff", {})
    header: list[str] = list(sniffed.get("header", []))
    wanted = {e["row"] for e in errors if isinstance(e.get("row"), int)}
    raw: dict[int, list[str]] = {}
    if wanted and job.file:
        last = max(wanted)
        with CsvFile(
            job.file.path,
            encoding=summary.get("encoding") or sniffed.get("encoding"),
            delimiter=summary.get("delimiter") or sniffed.get("delimiter"),
        ) as csv_file:
            header = csv_file.header
            for record in csv_file.records():
                if record.row in wanted:
                    raw[record.row] = record.values or []
                if record.row >= last:
                    break
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("row"), _("field"), _("message"), *header])
    for err in errors:
        writer.writerow(
            [
                err.get("row", ""),
                err.get("field", ""),
                err.get("message", ""),
                *raw.get(err.get("row", 0), []),
            ]
        )
    return out.getvalue()


__all__ = [
    "FIELDS",
    "LEAD_ONLY_FIELDS",
    "CsvInfo",
    "LeadImport",
    "LeadRow",
    "LeadSink",
    "LeadWrite",
    "Plan",
    "build_plan",
    "bulk_insert",
    "import_file",
    "import_job_create",
    "import_job_errors_csv",
    "import_job_get",
    "import_job_run",
    "import_job_start",
    "parse_pairs",
    "register_lead_sink",
    "sniff",
    "target_fields",
]
