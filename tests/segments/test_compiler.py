"""The segment compiler (leadbridge/segments/compiler.py) on the real database: every field
family, errors with positions, dead contacts, visibility, and a hypothesis cross-check of the
compiled SQL against a plain-Python evaluation of the same filter over the same rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadbridge.contacts.models import Contact
from leadbridge.contacts.services import contact_create
from leadbridge.segments import language as L
from leadbridge.segments.compiler import (
    compile_filter,
    compile_text,
    count,
    member_ids,
    member_page,
    queryset,
)
from leadbridge.segments.fields import CompileError
from leadbridge.segments.language import FilterSyntaxError, parse
from tests.factories import user
from tests.segments.conftest import BANDS, FUNNEL, NOW, STAGES, TAGS, DataSet, evaluate

pytestmark = pytest.mark.django_db


def ids(text: str, **kwargs: Any) -> set[int]:
    compiled = compile_text(text, now=kwargs.pop("now", NOW), **kwargs)
    found = set(member_ids(compiled, limit=100_000))
    assert count(compiled) == len(found), text
    return found


def expect(data: DataSet, text: str, **kwargs: Any) -> None:
    """The compiled filter selects exactly the alive rows the oracle picks."""
    node = parse(text)
    me = kwargs.get("user").username if kwargs.get("user") is not None else None
    wanted = {r.id for r in data.alive() if evaluate(node, r, data, me)}
    assert ids(text, **kwargs) == wanted, text


# --- the example -----------------------------------------------------------------------


def test_realtor_example(admin):
    brian = contact_create(actor=admin, data={"name": "Brian", "tags": ["summer_house", "beach"]})
    jenny = contact_create(actor=admin, data={"name": "Jenny", "tags": ["homeowner", "beach", "forest"]})
    david = contact_create(actor=admin, data={"name": "David", "tags": ["investor", "income"]})
    assert ids("tag:beach") == {brian.pk, jenny.pk}
    assert ids("tag:forest and tag:income") == set()
    assert ids("tag:forest or tag:income") == {jenny.pk, david.pk}
    assert ids("tag:investor") == {david.pk}
    assert ids("tag:beach and (tag:forest or tag:income) and not tag:investor") == {jenny.pk}
    assert ids("not tag:beach") == {david.pk}
    assert ids("tag:BEACH and not tag:summer_house") == {jenny.pk}


def test_unknown_tag_is_empty_without_a_query(admin):
    contact_create(actor=admin, data={"name": "Brian", "tags": ["beach"]})
    with CaptureQueriesContext(connection) as queries:
        compiled = compile_text("tag:nosuch and name ~ x")
        assert count(compiled) == 0
    assert len(queries) == 1  # the tag lookup; no count query
    assert ids("not tag:nosuch") == set(Contact.objects.values_list("pk", flat=True))


# --- fields ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        'name = "Brian"',
        'name != "Brian"',
        'name ~ "анна"',
        'name ~ "АННА"',
        'name !~ "an"',
        'name ~ "100%"',
        'name ~ "_"',
        'name ~ "\'"',
        'name = "x\' OR 1=1 --"',
        'name ~ "x\' OR 1=1 --"',
        'name in ("Brian", "Jenny", "анна")',
        "name not in (Brian, Jenny)",
        "name exists",
        "name is empty",
        'city = "Москва"',
        "city = Москва",
        'city ~ "мос"',
        'city ~ "łó"',
        "city = paris",
        'email = "PERSON3@MAIL.RU"',
        'email ~ "@mail.ru"',
        "external_id exists",
        "external_id not exists",
        'external_id != "ext-3"',
        "score > 50",
        "score >= 50 and score <= 60",
        "score between 10 and 20",
        "score in (1, 2, 3, 50)",
        "score != 7",
        "score < 30.5",
        "stage = mql",
        "stage >= mql",
        "stage < lead",
        "stage != customer",
        "stage in (disqualified, recycled)",
        "stage > customer",
        "band = warm",
        "band >= warm",
        "band < hot",
        "band != cold",
        "band in (cold, hot)",
        "created_at > 2026-05-01",
        "created_at >= 2026-05-01",
        "created_at < 2026-05-01",
        "created_at <= 2026-05-01",
        "created_at = 2026-06-01",
        "created_at != 2026-06-01",
        "created_at within 30d",
        "created_at within 1mo",
        "created_at older than 90d",
        "created_at before 2026-03-01",
        "created_at after 2026-03-01",
        "created_at between 2026-03-01 and 2026-03-31",
        "birthday exists",
        "birthday < 1995-01-01",
        "birthday = 2000-06-15",
        "birthday != 2000-06-15",
        "owner = anna",
        "owner = ANNA",
        "owner != anna",
        "owner in (anna, carl)",
        "owner exists",
        "owner not exists",
        "owner = nobody_here",
        "company = Acme",
        "company exists",
        'company ~ "ром"',
        "company.city = Paris",
        "company.city != Paris",
        "company.city exists",
        "company.city is empty",
        "custom.level > 1",
        "custom.level = 2.5",
        "custom.level != 2",
        "custom.level exists",
        "custom.level not exists",
        "custom.level between 1 and 5",
        "custom.color = red",
        "custom.color in (red, blue)",
        "custom.color ~ RE",
        "custom.color != red",
        "custom.color exists",
        "custom.vip = true",
        "custom.vip = false",
        "custom.vip != true",
        "custom.vip exists",
        "custom.langs = ru",
        "custom.langs in (en, ru)",
        "custom.langs != en",
        "custom.langs exists",
        "custom.since > 2026-01-01",
        "custom.since within 30d",
        "custom.since exists",
        "first_touch.channel = paid_search",
        "channel = paid_search",
        "first_touch.channel != paid_search",
        "first_touch.channel in (social, direct)",
        "first_touch.channel exists",
        "first_touch.source = google",
        'first_touch.source ~ "OO"',
        "first_touch.source != google",
        "inquiry.class = target_lead",
        "inquiry.class != spam",
        "inquiry.class in (spam, target_lead)",
        "inquiry.class exists",
        "inquiries >= 2",
        "inquiries = 0",
        "inquiries < 2",
        "inquiries != 1",
        "inquiries between 1 and 2",
        "inquiries exists",
        "consent.email = granted",
        "consent.email = unknown",
        "consent.email != revoked",
        "consent.email in (unknown, revoked)",
        "consent.email exists",
    ],
)
def test_fields_match_the_python_evaluation(dataset, text):
    expect(dataset, text)


def test_owner_me_and_team(dataset):
    anna = dataset.users["anna"]
    expect(dataset, "owner = me", user=anna)
    # Anna (sales) sees her team's contacts only: carl's stay hidden from her.
    assert ids("owner = me or owner = carl", user=anna) == {
        r.id for r in dataset.alive() if r.owner == "anna"
    }
    assert ids("owner = me or owner = bob", user=anna) == {
        r.id for r in dataset.alive() if r.owner in ("anna", "bob")
    }
    team = ids("team = North")
    assert team == {r.id for r in dataset.alive() if r.owner in ("anna", "bob")}
    assert ids("team exists") == team
    assert ids('team ~ "nor"') == team
    with pytest.raises(CompileError, match="signed-in"):
        compile_text("owner = me")


def test_inquiry_kind_and_campaign(dataset):
    assert ids("inquiry.kind = call") == set(
        Contact.objects.alive().filter(inquiries__kind="call").values_list("pk", flat=True)
    )
    spring = set(
        Contact.objects.alive()
        .filter(source__first_touch__campaign__utm_campaign="spring")
        .values_list("pk", flat=True)
    )
    assert spring
    assert ids("first_touch.campaign = spring") == spring
    assert ids('first_touch.campaign = "Spring Sale"') == spring
    assert ids('first_touch.campaign ~ "sale"') == spring
    assert ids("first_touch.campaign = nosuch") == set()


def test_phone_values_are_normalised_like_input(admin):
    anna = contact_create(actor=admin, data={"name": "A", "phone": "+7 916 123-45-67"})
    assert ids('phone = "8 (916) 123 45 67"') == {anna.pk}
    assert ids('phone ~ "1234567"') == {anna.pk}


def test_cyrillic_contains_is_case_insensitive_on_both_databases(admin):
    anna = contact_create(actor=admin, data={"name": "Анна Каренина"})
    contact_create(actor=admin, data={"name": "Ivan"})
    assert ids('name ~ "анна"') == {anna.pk}
    assert ids('name ~ "КАРЕН"') == {anna.pk}
    assert ids('name !~ "анна"') != set() and anna.pk not in ids('name !~ "анна"')


def test_injection_attempts_match_literally(admin):
    nasty = contact_create(actor=admin, data={"name": "x' OR 1=1 --"})
    other = contact_create(actor=admin, data={"name": "Robert'); DROP TABLE contacts_contact;--"})
    assert ids('name = "x\' OR 1=1 --"') == {nasty.pk}
    assert ids('name ~ "\'); DROP"') == {other.pk}
    assert ids('name = "\\" OR \\"1\\"=\\"1"') == set()
    assert ids('tag:"a\' OR 1=1 --"') == set()
    assert ids('email ~ "%"') == set()
    assert Contact.objects.count() == 2


def test_relative_windows_use_the_configured_timezone(admin, settings):
    settings.TIME_ZONE = "Europe/Moscow"  # UTC+3
    late = contact_create(actor=admin, data={"name": "Late"})
    # 22:30 UTC on May 31 is June 1 in Moscow.
    Contact.objects.filter(pk=late.pk).update(created_at=dt.datetime(2026, 5, 31, 22, 30, tzinfo=dt.UTC))
    assert ids("created_at = 2026-06-01") == {late.pk}
    assert ids("created_at = 2026-05-31") == set()
    assert ids("created_at >= 2026-06-01T01:30") == {late.pk}  # naive: Moscow time
    assert ids("created_at >= 2026-06-01T01:31") == set()
    assert ids("created_at > 2026-05-31T22:29Z") == {late.pk}


# --- dead contacts and visibility --------------------------------------------------------------


def test_merged_and_erased_contacts_never_match(dataset):
    dead = {r.id for r in dataset.rows if not r.alive}
    assert dead
    for text in (
        "tag:a",
        "tag:a or tag:b",
        "not tag:d",
        "score >= 0",
        "stage exists",
        "not tag:a and not tag:b",
    ):
        assert not ids(text) & dead, text
    assert not set(queryset(compile_text("tag:a")).values_list("pk", flat=True)) & dead


def test_sales_see_only_their_visible_contacts(dataset):
    anna = dataset.users["anna"]
    team_ids = {dataset.users["anna"].pk, dataset.users["bob"].pk}
    for text in ("tag:a", "not tag:a", "score > 40 or tag:b", "stage >= lead"):
        node = parse(text)
        wanted = dataset.ids(lambda r, n=node: evaluate(n, r, dataset), team_ids)
        assert ids(text, user=anna) == wanted, text
    carl = dataset.users["carl"]  # marketing sees everyone
    assert ids("tag:a", user=carl) == ids("tag:a")
    inactive = user("sales", username="gone", is_active=False)
    assert count(compile_text("tag:a", user=inactive)) == 0


def test_member_page_walks_every_member_once(dataset):
    compiled = compile_text("tag:a or score > 50", now=NOW)
    seen: list[int] = []
    cursor = None
    while True:
        page = member_page(compiled, cursor, 7)
        seen += [c.pk for c in page.items]
        cursor = page.next
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert set(seen) == set(member_ids(compiled, limit=10_000)) and len(seen) == count(compiled)


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("tag:a and emial = x", 10, "unknown field 'emial' — did you mean 'email'?"),
        ('score > "abc"', 8, "score takes a number"),
        ("stage >= nirvana", 9, "unknown stage 'nirvana' (use subscriber, lead, mql"),
        ("stage >= disqualified", 9, "outside the funnel order"),
        ("band = tepid", 7, "unknown band 'tepid' (use cold, warm, hot)"),
        ("name > x", 0, "'>' does not apply to name"),
        ("created_at > 30d", 13, "created_at takes a date"),
        ("birthday > 2026-01-01T10:00", 11, "birthday takes a date"),
        ("has deal(status = won)", 0, "deals are not available in this installation yet"),
        ("tag:a or deal.amount > 1000", 9, "deals are not available"),
        ("opened_email within 14d", 0, "not available"),
        ('in segment("VIP")', 0, "no segment named 'VIP'"),
        ("custom.nosuch = 1", 0, "unknown field 'custom.nosuch'"),
        ("first_touch.channel = tv", 22, "unknown channel 'tv' (use direct, paid_search, social)"),
        ("inquiry.class = maybe", 16, "unknown inquiry class 'maybe'"),
        ("inquiries > 1.5", 12, "whole number"),
        ("consent.email = yes", 16, "unknown consent status 'yes'"),
        ("custom.vip = 1", 13, "custom.vip takes true or false"),
        ("score = null and name ~ x", 0, ""),
        ("score > null", 8, "null only compares"),
    ],
)
def test_errors_name_the_position(dataset, text, position, fragment):
    if not fragment:
        compile_text(text)  # null in = works
        return
    with pytest.raises(CompileError) as caught:
        compile_text(text)
    error = caught.value
    assert error.position == position, error.message
    assert error.status == 400
    assert fragment in error.message
    assert error.message.startswith(f"Position {position}: ")
    assert error.errors[0].as_dict()["position"] == position


def test_syntax_errors_carry_their_position_too(db):
    with pytest.raises(FilterSyntaxError) as caught:
        compile_text("tag:a tag:b")
    assert caught.value.errors[0].as_dict() == {
        "field": "q",
        "message": caught.value.message,
        "position": 6,
    }


def test_segments_compile_inline_and_cycles_are_refused(dataset):
    saved = {
        "vip": parse("score > 50"),
        "loop_a": parse('in segment("loop_b")'),
        "loop_b": parse('tag:a and in segment("LOOP_A")'),
    }

    def resolve(name: str) -> L.Node | None:
        return saved.get(name.lower())

    assert ids('in segment("VIP") and tag:a', resolve_segment=resolve) == ids("score > 50 and tag:a")
    with pytest.raises(CompileError) as caught:
        compile_text('tag:b or in segment("loop_a")', resolve_segment=resolve)
    assert caught.value.position == 9
    assert "loop_a → loop_b → loop_a" in caught.value.message


def test_errors_are_translated(db):
    with translation.override("ru"), pytest.raises(CompileError) as caught:
        compile_text("emial = x")
    assert caught.value.message == "Позиция 0: неизвестное поле 'emial' — может быть, 'email'?"
    with translation.override("ru"), pytest.raises(CompileError) as stage:
        compile_text("stage >= nirvana")
    assert stage.value.message.startswith(
        "Позиция 9: неизвестный этап 'nirvana' (допустимы: subscriber, lead"
    )


def test_no_node_means_every_alive_contact(dataset):
    compiled = compile_filter(None)
    assert count(compiled) == len(dataset.alive())


# --- cross-check against Python ----------------------------------------------------------------


def _leaf() -> st.SearchStrategy[L.Node]:
    def cmp(field: str, values: st.SearchStrategy[Any], ops: tuple[str, ...] = L.CMP_OPS) -> Any:
        return st.builds(L.Compare, st.just(field), st.sampled_from(ops), values)

    def contains(field: str, needles: list[str]) -> Any:
        return st.builds(L.Contains, st.just(field), st.sampled_from(needles), st.booleans())

    def exists(field: str) -> Any:
        return st.builds(L.Exists, st.just(field), st.booleans())

    def in_(field: str, values: st.SearchStrategy[Any]) -> Any:
        return st.builds(
            L.In, st.just(field), st.lists(values, min_size=1, max_size=3).map(tuple), st.booleans()
        )

    num = st.integers(-1, 101).map(lambda n: L.Num(Decimal(n)))
    small = st.sampled_from(["0", "1", "2", "2.5", "5", "10"]).map(lambda n: L.Num(Decimal(n)))
    stage_eq = st.sampled_from(STAGES).map(L.Bare)
    funnel = st.sampled_from(FUNNEL).map(L.Bare)
    day = st.dates(dt.date(2025, 11, 1), dt.date(2026, 6, 20)).map(L.Date)
    birthday = st.sampled_from([dt.date(1990, 1, 1), dt.date(2000, 6, 15), dt.date(1995, 5, 5)]).map(L.Date)
    duration = st.builds(L.Duration, st.integers(1, 200), st.sampled_from(["d", "w", "mo", "h"]))
    texts = st.sampled_from(
        ["Brian", "анна", "Анна Каренина", "x' OR 1=1 --", "100% real", "", "Nobody"]
    ).map(L.Str)
    cities = st.sampled_from(["Paris", "paris", "Москва", "", "Łódź"]).map(L.Str)
    return st.one_of(
        st.sampled_from([*TAGS, "nosuch"]).map(L.Tag),
        cmp("score", num),
        st.builds(L.Range, st.just("score"), num, num),
        cmp("stage", stage_eq, ("=", "!=")),
        cmp("stage", funnel, (">", ">=", "<", "<=")),
        in_("stage", stage_eq),
        cmp("band", st.sampled_from(BANDS).map(L.Bare)),
        cmp("name", texts, ("=", "!=")),
        in_("name", texts),
        contains("name", ["анна", "АН", "an", "%", "_", "'", "O'B", "łó", ""]),
        cmp("city", cities, ("=", "!=")),
        contains("city", ["мос", "PAR", "łÓ"]),
        exists("city"),
        exists("external_id"),
        contains("email", ["@mail.ru", "EXAMPLE", "person1"]),
        cmp("created_at", day),
        st.builds(L.DateWindow, st.just("created_at"), st.builds(L.Within, duration)),
        st.builds(L.DateWindow, st.just("created_at"), st.builds(L.OlderThan, duration)),
        st.builds(L.DateWindow, st.just("created_at"), st.builds(L.Before, day)),
        st.builds(L.DateWindow, st.just("created_at"), st.builds(L.After, day)),
        cmp("birthday", birthday),
        exists("birthday"),
        cmp("owner", st.sampled_from(["anna", "bob", "carl"]).map(L.Bare), ("=", "!=")),
        exists("owner"),
        cmp("company.city", cities, ("=", "!=")),
        exists("company"),
        cmp("custom.level", small),
        exists("custom.level"),
        cmp("custom.color", st.sampled_from(["red", "green"]).map(L.Bare), ("=", "!=")),
        exists("custom.color"),
        cmp("custom.vip", st.booleans().map(L.Bool), ("=", "!=")),
        cmp("custom.langs", st.sampled_from(["en", "ru"]).map(L.Bare), ("=", "!=")),
        cmp(
            "custom.since",
            st.sampled_from(["2025-06-01", "2026-03-15"]).map(lambda d: L.Date(dt.date.fromisoformat(d))),
        ),
        cmp(
            "first_touch.channel",
            st.sampled_from(["paid_search", "social", "direct"]).map(L.Bare),
            ("=", "!="),
        ),
        cmp("first_touch.source", st.sampled_from(["google", ""]).map(L.Str), ("=", "!=")),
        cmp("inquiry.class", st.sampled_from(["spam", "target_lead"]).map(L.Bare), ("=", "!=")),
        cmp("inquiries", st.integers(0, 3).map(lambda n: L.Num(Decimal(n)))),
        cmp("consent.email", st.sampled_from(["granted", "revoked", "unknown"]).map(L.Bare), ("=", "!=")),
    )


def _tree() -> st.SearchStrategy[L.Node]:
    return st.recursive(
        _leaf(),
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=3).map(lambda c: L.And(tuple(c))),
            st.lists(inner, min_size=2, max_size=3).map(lambda c: L.Or(tuple(c))),
            inner.map(L.Not),
        ),
        max_leaves=6,
    )


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(node=_tree())
def test_compiled_sql_equals_python_evaluation(dataset, node):
    compiled = compile_filter(node, now=NOW)
    wanted = {r.id for r in dataset.alive() if evaluate(node, r, dataset)}
    found = member_ids(compiled, limit=100_000)
    assert set(found) == wanted, (L.to_text(node), compiled.ids_sql())
    assert len(found) == len(set(found)) == count(compiled)


def test_visibility_is_the_contact_lists_rule(dataset):
    """The compiler's owner list gives exactly Contact.objects.visible_to(user)."""
    lone = user("presales", username="lone")
    for viewer in [*dataset.users.values(), lone, user("guest", username="gus")]:
        expected = set(Contact.objects.alive().visible_to(viewer).values_list("pk", flat=True))
        assert set(member_ids(compile_filter(None, user=viewer), limit=100_000)) == expected, viewer
