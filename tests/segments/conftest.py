"""A small, varied data set for the compiler tests, and a plain-Python evaluation of a filter
over the same rows (the oracle the compiled SQL is checked against)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from leadbridge.accounts.models import Team
from leadbridge.capture.models import (
    ClassKind,
    ContactSource,
    Inquiry,
    InquiryClass,
    Touch,
    TouchKind,
)
from leadbridge.contacts.models import (
    Company,
    Consent,
    Contact,
    ContactTag,
    CustomField,
    Tag,
)
from leadbridge.marketing.models import Campaign, Channel
from leadbridge.segments import language as L
from tests.factories import user

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
FUNNEL = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
STAGES = [*FUNNEL, "disqualified", "recycled"]
BANDS = ["cold", "warm", "hot"]
NAMES = [
    "Анна Каренина",
    "анна",
    "Brian",
    "Jenny",
    "David",
    "O'Brien",
    "x' OR 1=1 --",
    "Łódź Person",
    "100% real",
    "under_score",
    "",
]
CITIES = ["Paris", "paris", "Москва", "", "Łódź"]
TAGS = ["a", "b", "c", "d"]


@dataclass
class Row:
    id: int
    name: str
    email: str
    city: str
    external_id: str | None
    score: int
    stage: str
    created_at: dt.datetime
    birthday: dt.date | None
    owner: str | None
    company: dict[str, Any] | None
    custom: dict[str, Any]
    tags: set[str]
    first_channel: str | None
    first_source: str | None
    classes: set[str]
    inquiries: int
    consent_email: str
    alive: bool
    owner_id: int | None = None
    band: str = ""  # the stored band, when contacts have one (else derived from the score)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DataSet:
    rows: list[Row]
    users: dict[str, Any]
    now: dt.datetime = NOW

    def alive(self) -> list[Row]:
        return [r for r in self.rows if r.alive]

    def ids(self, predicate: Any, viewer_owner_ids: set[int] | None = None) -> set[int]:
        return {
            r.id
            for r in self.alive()
            if (viewer_owner_ids is None or r.owner_id in viewer_owner_ids) and predicate(r)
        }


def build_dataset(seed: int = 7, size: int = 60) -> DataSet:
    rng = random.Random(seed)
    north = Team.objects.create(name="North")
    users = {
        "anna": user("sales", username="anna", team=north),
        "bob": user("sales", username="bob", team=north),
        "carl": user("marketing", username="carl"),
        "root": user("admin", username="root"),
    }
    tags = {name: Tag.objects.create(name=name.upper(), key=name) for name in TAGS}
    companies = [
        Company.objects.create(name="Acme", city="Paris"),
        Company.objects.create(name="Ромашка", city="Москва"),
        Company.objects.create(name="Blank", city=""),
    ]
    CustomField.objects.create(key="level", label="Level", kind="number")
    CustomField.objects.create(key="color", label="Color", kind="choice", choices=["red", "green", "blue"])
    CustomField.objects.create(key="vip", label="VIP", kind="bool")
    CustomField.objects.create(key="langs", label="Languages", kind="multi_choice", choices=["en", "ru"])
    CustomField.objects.create(key="since", label="Since", kind="date")
    channels = {key: Channel.objects.create(key=key, name=key) for key in ("paid_search", "social", "direct")}
    campaign = Campaign.objects.create(name="Spring Sale", utm_campaign="spring")
    classes = {
        "target_lead": InquiryClass.objects.create(key="target_lead", name="Target", kind=ClassKind.TARGET),
        "spam": InquiryClass.objects.create(key="spam", name="Spam", kind=ClassKind.JUNK),
    }
    rows: list[Row] = []
    contacts: list[Contact] = []
    for i in range(size):
        owner_name = rng.choice(["anna", "bob", "carl", None])
        company = rng.choice([*companies, None])
        custom: dict[str, Any] = {}
        if rng.random() < 0.6:
            custom["level"] = rng.choice([0, 1, 2, 5, 10, 2.5])
        if rng.random() < 0.5:
            custom["color"] = rng.choice(["red", "green", "blue"])
        if rng.random() < 0.5:
            custom["vip"] = rng.choice([True, False])
        if rng.random() < 0.4:
            custom["langs"] = rng.sample(["en", "ru"], rng.randint(1, 2))
        if rng.random() < 0.4:
            custom["since"] = rng.choice(["2025-01-01", "2026-03-15", "2026-06-01"])
        if rng.random() < 0.1:
            custom["level"] = "not a number"  # a value of the wrong type counts as absent
        name = rng.choice(NAMES)
        created = NOW - dt.timedelta(days=rng.randint(0, 200), hours=rng.randint(0, 23))
        contact = Contact.objects.create(
            name=name,
            email=f"person{i}@{rng.choice(['example.com', 'Mail.ru', 'corp.test'])}".lower(),
            city=rng.choice(CITIES),
            external_id=rng.choice([None, f"ext-{i}", f"EXT-{i}"]),
            score=rng.randint(0, 100),
            stage=rng.choice(STAGES),
            created_at=created,
            birthday=rng.choice([None, dt.date(1990, 1, 1), dt.date(2000, 6, 15), dt.date(1985, 12, 31)]),
            owner=users[owner_name] if owner_name else None,
            company=company,
            custom=custom,
        )
        if hasattr(contact, "band"):
            contact.band = rng.choice(BANDS)
            contact.save(update_fields=["band"])
        contacts.append(contact)
        chosen = {t for t in TAGS if rng.random() < {"a": 0.6, "b": 0.4, "c": 0.25, "d": 0.1}[t]}
        ContactTag.objects.bulk_create([ContactTag(contact=contact, tag=tags[t]) for t in chosen])
        first_channel = first_source = None
        if rng.random() < 0.7:
            first_channel = rng.choice(list(channels))
            first_source = rng.choice(["google", "yandex", "", "news.example"])
            first = Touch.objects.create(
                contact=contact,
                kind=TouchKind.VISIT,
                channel=channels[first_channel],
                source=first_source,
                campaign=campaign if rng.random() < 0.3 else None,
                occurred_at=created,
            )
            last = Touch.objects.create(
                contact=contact, kind=TouchKind.FORM, channel=channels["direct"], occurred_at=created
            )
            ContactSource.objects.create(contact=contact, first_touch=first, last_touch=last)
        chosen_classes: set[str] = set()
        n_inquiries = rng.choice([0, 0, 1, 2, 3])
        for _ in range(n_inquiries):
            cls_key = rng.choice([None, "target_lead", "spam"])
            Inquiry.objects.create(
                kind=rng.choice(["form", "call"]),
                contact=contact,
                cls=classes[cls_key] if cls_key else None,
                occurred_at=created,
            )
            if cls_key:
                chosen_classes.add(cls_key)
        consent = rng.choice(["granted", "revoked", "unknown", None])
        if consent:
            Consent.objects.create(contact=contact, channel="email", status=consent)
        rows.append(
            Row(
                id=contact.pk,
                name=name,
                email=contact.email,
                city=contact.city,
                external_id=contact.external_id,
                score=contact.score,
                stage=contact.stage,
                created_at=created,
                birthday=contact.birthday,
                owner=owner_name,
                owner_id=users[owner_name].pk if owner_name else None,
                company={"name": company.name, "city": company.city} if company else None,
                custom=custom,
                tags=chosen,
                first_channel=first_channel,
                first_source=first_source,
                classes=chosen_classes,
                inquiries=n_inquiries,
                consent_email=consent or "unknown",
                alive=True,
                band=str(getattr(contact, "band", "") or ""),
                extra={"campaign": None},
            )
        )
    # Dead contacts keep their tags and links: they must never match.
    for row, contact in zip(rows, contacts, strict=True):
        if row.id % 11 == 0:
            contact.merged_into = contacts[0] if contact is not contacts[0] else contacts[1]
            contact.save(update_fields=["merged_into"])
            row.alive = False
        elif row.id % 13 == 0:
            contact.erased_at = NOW
            contact.save(update_fields=["erased_at"])
            row.alive = False
    return DataSet(rows=rows, users=users)


@pytest.fixture
def dataset(db: None) -> DataSet:
    return build_dataset()


# --- the oracle --------------------------------------------------------------------------------------


def _local_date(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _cmp(op: str, left: Any, right: Any) -> bool:
    return {
        "=": left == right,
        "!=": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }[op]


def _text_of(value: L.Value) -> str:
    if isinstance(value, L.Str | L.Bare):
        return value.value
    return L.value_text(value)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return Decimal(str(value))


def field_value(row: Row, name: str) -> tuple[str, Any]:
    """(kind, value) of a field of a row, as the oracle sees it."""
    if name in ("name", "email", "city"):
        return "text", getattr(row, name)
    if name == "external_id":
        return "text", row.external_id
    if name == "score":
        return "number", Decimal(row.score)
    if name == "created_at":
        return "datetime", row.created_at
    if name == "birthday":
        return "date", row.birthday
    if name == "company.city":
        return "text", row.company["city"] if row.company else None
    if name == "company":
        return "text", row.company["name"] if row.company else None
    if name == "custom.level":
        return "number", _number(row.custom.get("level"))
    if name == "custom.color":
        return "text", row.custom.get("color")
    if name == "custom.since":
        return "date", dt.date.fromisoformat(row.custom["since"]) if "since" in row.custom else None
    if name == "first_touch.source":
        return "text", row.first_source
    raise KeyError(name)


def evaluate(node: L.Node, row: Row, data: DataSet, me: str | None = None) -> bool:
    """Whether `row` matches `node`, computed in Python from the rows the data set was built from."""
    match node:
        case L.And():
            return all(evaluate(c, row, data, me) for c in node.children)
        case L.Or():
            return any(evaluate(c, row, data, me) for c in node.children)
        case L.Not():
            return not evaluate(node.child, row, data, me)
        case L.Tag():
            return node.name.lower() in row.tags
    negated = (isinstance(node, L.Compare) and node.op == "!=") or bool(getattr(node, "negated", False))
    result = _positive(node, row, data, me)
    return not result if negated else result


def _positive(node: Any, row: Row, data: DataSet, me: str | None) -> bool:
    name = node.field
    op = "=" if isinstance(node, L.Compare) and node.op == "!=" else getattr(node, "op", None)
    if name == "stage":
        if isinstance(node, L.In):
            return row.stage in {v.value for v in node.values}
        value = node.value.value
        if op == "=":
            return row.stage == value
        return row.stage in FUNNEL and _cmp(op, FUNNEL.index(row.stage), FUNNEL.index(value))
    if name == "band":
        band = BANDS.index(row.band) if row.band else 0 if row.score < 30 else 1 if row.score < 60 else 2
        if isinstance(node, L.In):
            return band in {BANDS.index(v.value) for v in node.values}
        return _cmp(op, band, BANDS.index(node.value.value))
    if name == "owner":
        if isinstance(node, L.Exists):
            return row.owner is not None
        wanted = [me if isinstance(v, L.Bare) and v.value == "me" else v.value for v in _values(node)]
        return row.owner is not None and row.owner.lower() in {str(w).lower() for w in wanted}
    if name == "first_touch.channel" or name == "channel":
        if isinstance(node, L.Exists):
            return row.first_channel is not None
        return row.first_channel in {v.value for v in _values(node)}
    if name == "inquiry.class":
        if isinstance(node, L.Exists):
            return bool(row.classes)
        return bool(row.classes & {v.value for v in _values(node)})
    if name == "inquiries":
        if isinstance(node, L.Exists):
            return row.inquiries > 0
        if isinstance(node, L.Range):
            return node.low.value <= row.inquiries <= node.high.value
        return any(_cmp(op or "=", row.inquiries, v.value) for v in _values(node))
    if name == "consent.email":
        if isinstance(node, L.Exists):
            return row.consent_email != "unknown"
        return row.consent_email in {v.value for v in _values(node)}
    if name == "custom.vip":
        value = row.custom.get("vip")
        if isinstance(node, L.Exists):
            return isinstance(value, bool)
        return isinstance(value, bool) and value == node.value.value
    if name == "custom.langs":
        value = row.custom.get("langs") or []
        if isinstance(node, L.Exists):
            return bool(value)
        return any(v.value in value for v in _values(node))
    kind, value = field_value(row, name)
    if isinstance(node, L.Exists):
        return value not in (None, "")
    if value is None:
        return False
    if isinstance(node, L.Contains):
        return node.value.lower() in value.lower()
    if kind == "text":
        if name == "email":
            return value in {_text_of(v).lower() for v in _values(node)}
        return value in {_text_of(v) for v in _values(node)}
    if kind == "number":
        if isinstance(node, L.Range):
            return node.low.value <= value <= node.high.value
        return any(_cmp(op or "=", value, v.value) for v in _values(node))
    # dates and date-times
    day = _local_date(value) if kind == "datetime" else value
    if isinstance(node, L.DateWindow):
        when = node.when
        if isinstance(when, L.Within | L.OlderThan):
            local_now = timezone.localtime(data.now, timezone.get_default_timezone())
            cutoff = when.duration.subtract_from(local_now)
            if kind == "date":
                cutoff = cutoff.date()
            else:
                day = value
            return day >= cutoff if isinstance(when, L.Within) else day < cutoff
        moment = when.moment.value
        return day < moment if isinstance(when, L.Before) else day > moment
    if isinstance(node, L.Range):
        return node.low.value <= day <= node.high.value
    return any(_cmp(op or "=", day, v.value) for v in _values(node))


def _values(node: Any) -> list[Any]:
    if isinstance(node, L.In):
        return list(node.values)
    return [node.value]
