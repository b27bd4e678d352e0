"""The field table of the segment language: which names a filter may use, their kind, and where
they live in the database.

`resolve(name, pos)` turns a field name as written (`email`, `custom.partner_name`,
`company.city`, `first_touch.channel`) into a `FieldRef` the compiler builds SQL from, or raises
a `CompileError` at the field's position ("unknown field 'emial' — did you mean 'email'?").
Identifiers in the SQL come only from this table (columns of our own models); values always
travel as parameters.

Kinds (what values and operators a field takes):

    text      = != ~ !~ in, not in, exists             name, email, city, company.city, ...
    number    = != > >= < <= in between exists         score, id, custom numbers, inquiries
    date      all comparisons, between, within/older than/before/after, exists    birthday
    datetime  as date; a date value means that whole day in the configured timezone
    stage     = != in, and ordered comparisons along the funnel (subscriber < lead < mql <
              sql < opportunity < customer); disqualified and recycled only with = != in
    band      cold < warm < hot: the contact's stored band once scoring keeps one (a `band`
              column), until then derived from the score with
              settings.LEADBRIDGE["SCORE_BANDS"] (default {"warm": 30, "hot": 60})
    bool      = != exists                              custom yes/no fields
    multi     = (holds the value) != in exists         custom multiple-choice fields
    ref       = != ~ !~ in exists on a named thing     owner (username; `owner = me`), team,
              company (its name), channel, campaign, inquiry class / kind, consent

Terms of apps that sit above segments (deals: `has deal(...)`, `deal.amount`) are looked up in
a registry those apps fill with `register_term(...)`; with nothing registered they are a clear
error at their position.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from leadbridge.contacts.models import STAGE_ORDER, ConsentChannel, ConsentStatus, Stage
from leadbridge.segments.errors import PositionedFieldError
from leadbridge.segments.language import FilterError


class CompileError(FilterError):
    """A filter that parses but cannot run: unknown field, wrong value type, unknown stage, a
    segment cycle. 400 like a syntax error, with `.position` in the filter text."""

    def __init__(self, position: int, reason: str, *, field: str = "q") -> None:
        self.position = position
        self.reason = reason
        message = _("Position %(position)s: %(reason)s") % {"position": position, "reason": reason}
        super().__init__(message, field=field, status=400)
        self.errors = [PositionedFieldError(field, message, position)]


# --- kinds and the built-in table ------------------------------------------------------------------

TEXT = "text"
NUMBER = "number"
DATE = "date"
DATETIME = "datetime"
STAGE = "stage"
BAND = "band"
BOOL = "bool"
MULTI = "multi"
REF = "ref"

KIND_LABELS = {
    TEXT: gettext_noop("text"),
    NUMBER: gettext_noop("a number"),
    DATE: gettext_noop("a date"),
    DATETIME: gettext_noop("a date"),
    STAGE: gettext_noop("a stage"),
    BAND: gettext_noop("a band"),
    BOOL: gettext_noop("true or false"),
    MULTI: gettext_noop("a choice"),
    REF: gettext_noop("a name"),
}

# Contact columns: name as written -> (column, kind, nullable). Columns are our own model's.
CONTACT_COLUMNS: dict[str, tuple[str, str, bool]] = {
    "name": ("name", TEXT, False),
    "first_name": ("first_name", TEXT, False),
    "last_name": ("last_name", TEXT, False),
    "email": ("email", TEXT, False),
    "phone": ("phone", TEXT, False),
    "city": ("city", TEXT, False),
    "region": ("region", TEXT, False),
    "country": ("country", TEXT, False),
    "street": ("street", TEXT, False),
    "job_title": ("job_title", TEXT, False),
    "external_id": ("external_id", TEXT, True),
    "postal_code": ("postal_code", TEXT, False),
    "geo_city": ("geo_city", TEXT, False),
    "geo_country": ("geo_country", TEXT, False),
    "score": ("score", NUMBER, False),
    "id": ("id", NUMBER, False),
    "created_at": ("created_at", DATETIME, False),
    "updated_at": ("updated_at", DATETIME, False),
    "birthday": ("birthday", DATE, True),
}
COMPANY_COLUMNS: dict[str, tuple[str, str, bool]] = {
    "name": ("name", TEXT, False),
    "domain": ("domain", TEXT, False),
    "industry": ("industry", TEXT, False),
    "phone": ("phone", TEXT, False),
    "city": ("city", TEXT, False),
    "country": ("country", TEXT, False),
    "address": ("address", TEXT, False),
    "employees": ("employees", NUMBER, True),
    "created_at": ("created_at", DATETIME, False),
}
TOUCH_WHICH = ("first_touch", "lead_touch", "last_touch")
# Touch attributes: name -> (column, kind); channel and campaign are references.
TOUCH_COLUMNS: dict[str, tuple[str, str]] = {
    "channel": ("channel_id", REF),
    "campaign": ("campaign_id", REF),
    "source": ("source", TEXT),
    "medium": ("medium", TEXT),
    "term": ("term", TEXT),
    "content": ("content", TEXT),
    "landing_page": ("landing_page", TEXT),
    "referrer": ("referrer", TEXT),
}
# Fields that are one word and not a contact column.
SPECIAL = {
    "stage": STAGE,
    "band": BAND,
    "owner": REF,
    "team": REF,
    "company": REF,
    "channel": REF,  # = first_touch.channel
    "inquiries": NUMBER,
}
INQUIRY_FIELDS = {"inquiry.class": REF, "inquiry.kind": REF}

FUNNEL = [s.value for s in Stage if s.value not in ("disqualified", "recycled")]
BANDS = ("cold", "warm", "hot")
CONSENT_CHANNELS = tuple(ConsentChannel.values)
CONSENT_STATUSES = tuple(ConsentStatus.values)
assert set(FUNNEL) <= set(STAGE_ORDER)


def band_column() -> bool:
    """Whether contacts store their band (scoring writes it); else it is derived from the score."""
    from leadbridge.contacts.models import Contact

    return any(f.name == "band" for f in Contact._meta.concrete_fields)


def score_bands() -> tuple[int, int]:
    """(warm, hot) score thresholds: cold < warm <= warm-band < hot <= hot-band."""
    config: dict[str, Any] = settings.LEADBRIDGE
    bands: dict[str, Any] = config.get("SCORE_BANDS") or {}
    return int(bands.get("warm", 30)), int(bands.get("hot", 60))


@dataclass(frozen=True)
class FieldRef:
    """A resolved field. `family` tells the compiler how to reach it:

    contact   column on the contact row            (column, kind, nullable)
    company   column of the contact's company      (column, kind, nullable)
    custom    key in contacts' `custom` JSON        (key, kind, choices)
    company_custom   key in the company's `custom`
    stage, band, owner, team, company_name, consent (key = channel), inquiry (key = class|kind),
    inquiries (count), touch (which = first_touch|lead_touch|last_touch, column, kind),
    term      a registered term (key = the registry name)
    """

    family: str
    name: str
    kind: str
    column: str = ""
    key: str = ""
    which: str = ""
    nullable: bool = False
    choices: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


# --- registry for terms of higher layers ----------------------------------------------------------

# name -> compile function(node, context) -> part. Filled by apps above segments (pipeline).
_TERMS: dict[str, Callable[..., Any]] = {}


def register_term(name: str, compile_fn: Callable[..., Any]) -> None:
    """Let a higher app (pipeline: "deal") compile its terms: `has deal(...)` and `deal.<field>`.

    `compile_fn(node, ctx)` gets the AST node and the compiler context and returns a part
    (see compiler.Part); it is called only for the terms registered under `name`.
    """
    _TERMS[name] = compile_fn


def registered_term(name: str) -> Callable[..., Any] | None:
    return _TERMS.get(name)


def deals_unavailable(position: int) -> CompileError:
    return CompileError(position, _("deals are not available in this installation yet"))


# --- resolution ------------------------------------------------------------------------------------


def _custom_defs(entity: str) -> dict[str, Any]:
    from leadbridge.contacts.models import CustomField

    return {f.key: f for f in CustomField.objects.filter(entity=entity)}


_CUSTOM_KINDS = {
    "text": TEXT,
    "number": NUMBER,
    "date": DATE,
    "bool": BOOL,
    "choice": TEXT,
    "multi_choice": MULTI,
}


def known_names(custom: dict[str, Any], company_custom: dict[str, Any]) -> list[str]:
    names = [*CONTACT_COLUMNS, *SPECIAL, *INQUIRY_FIELDS]
    names += [f"company.{c}" for c in COMPANY_COLUMNS]
    names += [f"{w}.{a}" for w in TOUCH_WHICH for a in TOUCH_COLUMNS]
    names += [f"consent.{c}" for c in CONSENT_CHANNELS]
    names += [f"custom.{k}" for k in custom]
    names += [f"company.custom.{k}" for k in company_custom]
    return names


class FieldTable:
    """Resolves names for one compilation (custom field definitions are read once, lazily)."""

    def __init__(self, *, field: str = "q") -> None:
        self.field = field
        self._custom: dict[str, Any] | None = None
        self._company_custom: dict[str, Any] | None = None

    @property
    def custom(self) -> dict[str, Any]:
        if self._custom is None:
            self._custom = _custom_defs("contact")
        return self._custom

    @property
    def company_custom(self) -> dict[str, Any]:
        if self._company_custom is None:
            self._company_custom = _custom_defs("company")
        return self._company_custom

    def unknown(self, name: str, pos: int) -> CompileError:
        names = known_names(self.custom, self.company_custom)
        close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
        if close:
            reason = _("unknown field %(field)s — did you mean %(match)s?") % {
                "field": _quoted(name),
                "match": _quoted(close[0]),
            }
        else:
            reason = _("unknown field %(field)s") % {"field": _quoted(name)}
        return CompileError(pos, reason, field=self.field)

    def resolve(self, name: str, pos: int) -> FieldRef:
        low = name.lower()
        if low in CONTACT_COLUMNS:
            column, kind, nullable = CONTACT_COLUMNS[low]
            return FieldRef("contact", low, kind, column=column, nullable=nullable)
        if low == "channel":
            return FieldRef("touch", low, REF, column="channel_id", which="first_touch")
        if low in SPECIAL:
            return FieldRef(low if low != "company" else "company_name", low, SPECIAL[low])
        if low in INQUIRY_FIELDS:
            return FieldRef("inquiry", low, REF, key=low.split(".", 1)[1])
        head, _dot, rest = low.partition(".")
        if head == "deal" and rest:
            return FieldRef("term", low, REF, key="deal")
        if head == "custom" and rest:
            return self._custom_ref("custom", name, rest, self.custom, pos)
        if head == "company" and rest.startswith("custom.") and len(rest) > 7:
            return self._custom_ref("company_custom", name, rest[7:], self.company_custom, pos)
        if head == "company" and rest in COMPANY_COLUMNS:
            column, kind, nullable = COMPANY_COLUMNS[rest]
            return FieldRef("company", low, kind, column=column, nullable=nullable)
        if head in TOUCH_WHICH and rest in TOUCH_COLUMNS:
            column, kind = TOUCH_COLUMNS[rest]
            return FieldRef("touch", low, kind, column=column, which=head)
        if head == "consent" and rest in CONSENT_CHANNELS:
            return FieldRef("consent", low, REF, key=rest, choices=CONSENT_STATUSES)
        raise self.unknown(name, pos)

    def _custom_ref(self, family: str, name: str, key: str, defs: dict[str, Any], pos: int) -> FieldRef:
        # Custom field keys are stored lower-case (custom_field_create).
        fdef = defs.get(key) or defs.get(key.lower())
        if fdef is None:
            raise self.unknown(name, pos)
        kind = _CUSTOM_KINDS.get(fdef.kind, TEXT)
        return FieldRef(
            family,
            name.lower(),
            kind,
            key=fdef.key,
            nullable=True,
            choices=tuple(str(c) for c in fdef.choices or ()),
        )


def _quoted(text: str) -> str:
    return "'" + text[:60] + "'"
