"""`leadbridge demo`: a believable company a newcomer can log into, loaded once."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth import authenticate

from leadbridge.accounts.models import Team, User
from leadbridge.cli import main
from leadbridge.contacts.demo import (
    DEMO_PASSWORD,
    RU_FEMALE,
    RU_MALE,
    Generator,
    feminine_pl,
    feminine_ru,
    translit,
)
from leadbridge.contacts.models import (
    STAGE_ORDER,
    Activity,
    Company,
    Contact,
    ContactPoint,
    ContactTag,
    CustomField,
    DataQualityItem,
    Merge,
    Note,
    StageChange,
    Tag,
)
from leadbridge.contacts.selectors import dq_items, product_issues
from leadbridge.contacts.validation import normalize_email, normalize_phone
from leadbridge.core import clock
from leadbridge.core.models import AuditEntry
from leadbridge.core.roles import Role

FUNNEL = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]


def load(capsys, contacts: int = 200) -> dict:
    assert main(["demo", "--contacts", str(contacts), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def counts() -> dict[str, int]:
    models = [
        User,
        Team,
        Company,
        Contact,
        ContactPoint,
        Tag,
        ContactTag,
        CustomField,
        StageChange,
        Activity,
        Note,
        DataQualityItem,
        Merge,
        AuditEntry,
    ]
    from leadbridge.capture.models import TrackingEvent, Visitor
    from leadbridge.scoring.models import ScoringRule
    from leadbridge.segments.models import Segment

    models += [Visitor, TrackingEvent, ScoringRule, Segment]
    return {m.__name__: m.objects.count() for m in models}


# --- pure helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("male", "female"),
    [
        ("Иванов", "Иванова"),
        ("Соловьёв", "Соловьёва"),
        ("Ильин", "Ильина"),
        ("Троицкий", "Троицкая"),
        ("Толстой", "Толстая"),
        ("Черных", "Черных"),
        ("Кравченко", "Кравченко"),
    ],
)
def test_russian_surnames_take_the_feminine_form(male, female):
    assert feminine_ru(male) == female


@pytest.mark.parametrize(
    ("male", "female"),
    [("Kowalski", "Kowalska"), ("Zieliński", "Zielińska"), ("Zawadzki", "Zawadzka"), ("Nowak", "Nowak")],
)
def test_polish_surnames_take_the_feminine_form(male, female):
    assert feminine_pl(male) == female


def test_transliteration_for_email_addresses():
    assert translit("Соловьёв") == "solovev"
    assert translit("Юлия") == "yuliya"
    assert translit("Щукин") == "shchukin"
    assert translit("Wiśniewski") == "wisniewski"
    assert translit("Северный Терминал") == "severnyy-terminal"


def test_generator_is_deterministic():
    now = clock.now()
    first, second = Generator(contacts=50, now=now), Generator(contacts=50, now=now)
    first.companies(5)
    second.companies(5)
    assert first.company_rows == second.company_rows
    assert [first.person().data for _ in range(30)] == [second.person().data for _ in range(30)]


# --- loading ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_loads_a_believable_company(capsys):
    summary = load(capsys)
    assert summary["loaded"] is True
    assert summary["password"] == DEMO_PASSWORD
    assert any("http://127.0.0.1:8000/" in line for line in summary["lines"])
    assert any(DEMO_PASSWORD in line for line in summary["lines"])

    # One user per role, two sales teams, and the printed password works.
    assert {u.role for u in User.objects.all()} == {r.value for r in Role}
    assert {u["username"] for u in summary["users"]} >= {"admin", "sales1", "sales2", "dq", "guest"}
    assert Team.objects.count() == 2
    sales = User.objects.filter(role="sales")
    assert sales.count() == 2 and len({u.team_id for u in sales}) == 2
    assert authenticate(username="sales1", password=DEMO_PASSWORD) is not None

    # Contacts: valid, normalised emails and phones; realistic names.
    demo = Contact.objects.filter(external_id__startswith="demo-")
    assert demo.count() == 200
    emails = [c.email for c in demo if c.email]
    phones = [c.phone for c in demo if c.phone]
    assert len(emails) > 150 and len(phones) > 120
    assert all(normalize_email(e) == e and e.isascii() for e in emails)
    assert all(normalize_phone(p) == p and re.fullmatch(r"\+\d{10,15}", p) for p in phones)
    assert {p[:3] for p in phones} >= {"+79", "+48"}
    ru = [c for c in demo if c.country == "RU"]
    cyrillic = re.compile(r"[А-ЯЁа-яё-]+")
    assert ru and all(cyrillic.fullmatch(c.last_name) for c in ru)
    for c in ru:
        if c.first_name in RU_FEMALE:
            assert not c.last_name.endswith(("ов", "ев", "ёв", "ин", "ский", "цкий", "ой")), c.name
        elif c.first_name in RU_MALE:
            assert not c.last_name.endswith(("ова", "ева", "ёва", "ина", "ская", "цкая")), c.name
    assert any(c.country == "PL" for c in demo) and any(c.country in {"GB", "US"} for c in demo)
    assert Company.objects.count() >= 10 and all(c.domain for c in Company.objects.all())
    owners = set(demo.exclude(owner=None).values_list("owner__role", flat=True))
    assert owners <= {"sales", "sales_head", "presales"}

    # Custom fields of every kind, with values.
    assert set(CustomField.objects.values_list("kind", flat=True)) == {
        "text",
        "number",
        "date",
        "choice",
        "multi_choice",
        "bool",
    }
    assert demo.filter(custom__has_key="industry_segment").exists()
    assert demo.filter(custom__has_key="interests").exists()
    assert ContactTag.objects.filter(tag__key="newsletter").exists()

    # Stage history: from creation to the current stage, in order; backward moves say why.
    backward = 0
    for contact in demo.filter(merged_into=None).prefetch_related("stage_changes"):
        history = sorted(contact.stage_changes.all(), key=lambda s: (s.occurred_at, s.pk))
        assert history[0].from_stage == "" and history[-1].to_stage == contact.stage
        for change in history[1:]:
            if (
                change.from_stage in FUNNEL
                and change.to_stage in FUNNEL
                and (STAGE_ORDER[change.to_stage] < STAGE_ORDER[change.from_stage])
            ):
                backward += 1
                assert change.reason
            if change.to_stage in {"disqualified", "recycled"}:
                assert change.reason
    assert backward >= 1
    assert len(set(demo.values_list("stage", flat=True))) >= 6
    assert Activity.objects.filter(kind="contact_created").count() >= 200

    # Product issues a director can list, "out of stock" in both languages.
    director = User.objects.get(username="director")
    issues = list(product_issues(user=director, open_only=False).items)
    assert len(issues) >= 4
    texts = " ".join(n.body.lower() for n in issues)
    assert "нет на складе" in texts and "out of stock" in texts
    assert Note.objects.filter(is_product_issue=True, resolved_at__isnull=False).exists()

    # The data-quality queue: invalid phone, likely duplicate; a few already resolved.
    dq = User.objects.get(username="dq")
    open_items = list(dq_items(user=dq, status="open").items)
    reasons = {i.reason for i in open_items}
    assert {"invalid", "duplicate"} <= reasons
    assert any(e["field"] == "phone" for i in open_items for e in i.errors)
    assert all(i.contact_id for i in open_items if i.reason == "duplicate")
    assert DataQualityItem.objects.exclude(status="open").count() >= 2

    # Two merges: the loser is folded in and the winner kept its other email.
    merges = list(Merge.objects.select_related("winner", "loser"))
    assert len(merges) == 2
    for merge in merges:
        assert merge.loser.merged_into_id == merge.winner_id
        assert ContactPoint.objects.filter(contact=merge.winner, value=merge.loser.email).exists()

    # Team visibility is meaningful: the Polish manager does not see the Russian team's contacts.
    sales2 = User.objects.get(username="sales2")
    visible_owners = set(Contact.objects.visible_to(sales2).values_list("owner__username", flat=True))
    assert visible_owners == {"sales2"}


@pytest.mark.django_db
def test_demo_has_a_tracked_shop_scoring_and_segments_that_find_people(capsys, settings):
    from leadbridge.capture.models import Visitor
    from leadbridge.scoring.services import scoring_tick
    from leadbridge.segments.models import Segment
    from leadbridge.segments.selectors import segment_count

    summary = load(capsys)
    counts_ = summary["counts"]
    assert counts_["scoring_rules"] == 6 and counts_["segments"] == 4
    assert (
        counts_["linked_visitors"] >= 20 and counts_["tracking_hits"] > 20 * counts_["linked_visitors"] // 10
    )
    assert any("tracked shop" in line for line in summary["lines"])
    assert Visitor.objects.exclude(contact=None).count() == counts_["linked_visitors"]
    marketer = User.objects.get(username="marketing")
    found = {s.name: segment_count(user=marketer, segment_id=s.pk) for s in Segment.objects.all()}
    assert found["Looked at prices (30 days)"] > 0 and found["Abandoned carts (7 days)"] > 0
    assert found["Hot leads"] == 0  # nothing scored before the worker runs
    # As the worker does (PostgreSQL's 10 s wait for late commits is for live traffic).
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "SCORING_SAFE_LAG": 0}
    while scoring_tick(budget=None).get("backlog"):
        pass
    assert segment_count(user=marketer, segment_id=Segment.objects.get(name="Hot leads").pk) > 0
    assert Contact.objects.filter(score__gt=0).count() > 0


@pytest.mark.django_db
def test_second_run_changes_nothing(capsys):
    load(capsys, contacts=60)
    before = counts()
    assert main(["demo", "--contacts", "60"]) == 0
    out = capsys.readouterr().out
    assert "demo data already loaded" in out
    assert "sales1" in out  # the credentials are printed again
    assert counts() == before


@pytest.mark.django_db
def test_demo_keeps_an_existing_account_as_it_is(capsys):
    assert (
        main(["user", "create", "--username", "admin", "--role", "admin", "--password", "Own-secret-77"]) == 0
    )
    capsys.readouterr()
    summary = load(capsys, contacts=40)
    assert summary["loaded"] is True
    assert any("admin" in line and "its own password" in line for line in summary["lines"])
    assert User.objects.get(username="admin").check_password("Own-secret-77")


@pytest.mark.django_db
def test_a_contact_count_out_of_range_fails_and_writes_nothing(capsys):
    assert main(["demo", "--contacts", "5"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "contacts" in err
    assert not User.objects.exists()
    assert not Contact.objects.exists()
