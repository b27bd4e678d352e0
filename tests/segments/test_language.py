"""The segment filter language (leadbridge/segments/language.py): every construct, precedence,
canonical text, the JSON tree, and every error with its exact position and expected list.

No database: the language is purely syntactic. Property tests live in test_language_properties.py.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import translation

from leadbridge.core.errors import ValidationFailed
from leadbridge.segments.language import (
    After,
    And,
    Bare,
    Before,
    Between,
    Bool,
    Compare,
    Condition,
    Contains,
    Date,
    DateTime,
    DateWindow,
    Duration,
    Email,
    Event,
    Exists,
    FieldUse,
    FilterError,
    FilterSyntaxError,
    FilterTreeError,
    HasDeal,
    In,
    InSegment,
    Not,
    Null,
    Num,
    OlderThan,
    Or,
    Range,
    Str,
    Tag,
    Visited,
    Visits,
    Within,
    fields,
    from_json,
    parse,
    to_json,
    to_text,
    walk,
)

SEGMENTS = Path(__file__).resolve().parents[2] / "leadbridge" / "segments"


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


def syntax_error(text: str) -> FilterSyntaxError:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    return info.value


def tree_error(data: Any) -> FilterTreeError:
    with pytest.raises(FilterTreeError) as info:
        from_json(data)
    return info.value


def cmp(field: str, op: str, value: Any) -> Compare:
    return Compare(field, op, value)


# --- the examples of CONTRACT.md and the issue -----------------------------------------------------


EXAMPLES = {
    "tag:beach and (tag:forest or tag:income) and not tag:investor": And(
        (Tag("beach"), Or((Tag("forest"), Tag("income"))), Not(Tag("investor")))
    ),
    "stage >= mql and score >= 40 and channel = paid_search": And(
        (
            cmp("stage", ">=", Bare("mql")),
            cmp("score", ">=", Num(Decimal(40))),
            cmp("channel", "=", Bare("paid_search")),
        )
    ),
    'visited("/pricing") within 30d and opened_email within 14d': And(
        (Visited("/pricing", Within(Duration(30, "d"))), Email("opened", Within(Duration(14, "d"))))
    ),
    'email ~ "@example.com" and created_at > 2026-01-01 and custom.partner_name exists': And(
        (
            Contains("email", "@example.com"),
            cmp("created_at", ">", Date(dt.date(2026, 1, 1))),
            Exists("custom.partner_name"),
        )
    ),
    "has deal(status=won)": HasDeal((Condition("status", "=", Bare("won")),)),
    "deal.amount > 1000": cmp("deal.amount", ">", Num(Decimal(1000))),
    "visits >= 5 within 7d": Visits(">=", 5, Within(Duration(7, "d"))),
    'event("cart_add") within 2h': Event("cart_add", (), Within(Duration(2, "h"))),
    'not event("purchase") within 2h': Not(Event("purchase", (), Within(Duration(2, "h")))),
    'in segment("VIP")': InSegment("VIP"),
    "created_at before 2026-01-01": DateWindow("created_at", Before(Date(dt.date(2026, 1, 1)))),
    "last_activity older than 90d": DateWindow("last_activity", OlderThan(Duration(90, "d"))),
}


@pytest.mark.parametrize("text", EXAMPLES)
def test_the_documented_examples_parse_to_their_ast(text: str) -> None:
    node = parse(text)
    assert node == EXAMPLES[text]
    assert parse(to_text(node)) == node
    assert from_json(to_json(node)) == node


def test_canonical_text_of_the_examples() -> None:
    assert [to_text(parse(t)) for t in EXAMPLES] == [
        "tag:beach and (tag:forest or tag:income) and not tag:investor",
        "stage >= mql and score >= 40 and channel = paid_search",
        'visited("/pricing") within 30d and opened_email within 14d',
        'email ~ "@example.com" and created_at > 2026-01-01 and custom.partner_name exists',
        "has deal(status = won)",
        "deal.amount > 1000",
        "visits >= 5 within 7d",
        'event("cart_add") within 2h',
        'not event("purchase") within 2h',
        'in segment("VIP")',
        "created_at before 2026-01-01",
        "last_activity older than 90d",
    ]


# --- every construct -------------------------------------------------------------------------------


CONSTRUCTS = {
    # comparisons, each operator
    "score = 1": cmp("score", "=", Num(Decimal(1))),
    "score != 1": cmp("score", "!=", Num(Decimal(1))),
    "score > -2.5": cmp("score", ">", Num(Decimal("-2.5"))),
    "score >= 0": cmp("score", ">=", Num(Decimal(0))),
    "score < 10": cmp("score", "<", Num(Decimal(10))),
    "score <= 10": cmp("score", "<=", Num(Decimal(10))),
    "score>=40": cmp("score", ">=", Num(Decimal(40))),
    # every value type
    'city = "Paris"': cmp("city", "=", Str("Paris")),
    "city = 'Paris'": cmp("city", "=", Str("Paris")),
    "born = 1990-05-17": cmp("born", "=", Date(dt.date(1990, 5, 17))),
    "seen > 2026-01-01T10:30": cmp("seen", ">", DateTime(dt.datetime(2026, 1, 1, 10, 30))),
    "seen > 2026-01-01T10:30:15Z": cmp(
        "seen", ">", DateTime(dt.datetime(2026, 1, 1, 10, 30, 15, tzinfo=dt.UTC))
    ),
    "seen > 2026-01-01T10:30+03:00": cmp(
        "seen", ">", DateTime(dt.datetime(2026, 1, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=3))))
    ),
    "seen > 2026-01-01T10:30-05:30": cmp(
        "seen",
        ">",
        DateTime(dt.datetime(2026, 1, 1, 10, 30, tzinfo=dt.timezone(-dt.timedelta(hours=5, minutes=30)))),
    ),
    "cycle = 6mo": cmp("cycle", "=", Duration(6, "mo")),
    "vip = true": cmp("vip", "=", Bool(True)),
    "vip = FALSE": cmp("vip", "=", Bool(False)),
    "phone = null": cmp("phone", "=", Null()),
    "channel = paid_search": cmp("channel", "=", Bare("paid_search")),
    # lists, contains, ranges, existence, dates
    'stage in (lead, mql, 3, "a b")': In(
        "stage", (Bare("lead"), Bare("mql"), Num(Decimal(3)), Str("a b")), negated=False
    ),
    "stage not in (customer)": In("stage", (Bare("customer"),), negated=True),
    'email ~ "@gmail"': Contains("email", "@gmail"),
    'email !~ "@gmail"': Contains("email", "@gmail", negated=True),
    "email ~ gmail": Contains("email", "gmail"),
    "score between 10 and 40": Range("score", Num(Decimal(10)), Num(Decimal(40))),
    "created_at between 2026-01-01 and 2026-02-01": Range(
        "created_at", Date(dt.date(2026, 1, 1)), Date(dt.date(2026, 2, 1))
    ),
    "phone exists": Exists("phone"),
    "phone not exists": Exists("phone", negated=True),
    "phone is empty": Exists("phone", negated=True),
    "created_at within 30d": DateWindow("created_at", Within(Duration(30, "d"))),
    "created_at after 2026-01-01T00:00Z": DateWindow(
        "created_at", After(DateTime(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    ),
    # tags and segments
    "tag:beach": Tag("beach"),
    'tag:"summer house"': Tag("summer house"),
    "tag:2026-promo.v2": Tag("2026-promo.v2"),
    "TAG:Beach": Tag("Beach"),
    "in segment('VIP clients')": InSegment("VIP clients"),
    "in segment(vip)": InSegment("vip"),
    # behaviour
    'visited("/pricing*")': Visited("/pricing*"),
    'visited("/pricing") before 2026-01-01': Visited("/pricing", Before(Date(dt.date(2026, 1, 1)))),
    'visited("/p") after 2026-01-01': Visited("/p", After(Date(dt.date(2026, 1, 1)))),
    'visited("/p") between 2026-01-01 and 2026-03-01': Visited(
        "/p", Between(Date(dt.date(2026, 1, 1)), Date(dt.date(2026, 3, 1)))
    ),
    "visits = 0": Visits("=", 0),
    "visits < 3 within 1w": Visits("<", 3, Within(Duration(1, "w"))),
    'event("cart_add", amount > 10, currency = "EUR") within 30m': Event(
        "cart_add",
        (Condition("amount", ">", Num(Decimal(10))), Condition("currency", "=", Str("EUR"))),
        Within(Duration(30, "m")),
    ),
    "opened_email": Email("opened"),
    "clicked_email within 1y": Email("clicked", Within(Duration(1, "y"))),
    "has deal": HasDeal(),
    "has deal(status = won, amount >= 1000, closed_at > 2026-01-01)": HasDeal(
        (
            Condition("status", "=", Bare("won")),
            Condition("amount", ">=", Num(Decimal(1000))),
            Condition("closed_at", ">", Date(dt.date(2026, 1, 1))),
        )
    ),
    # keywords are case-insensitive, whitespace is free
    "NOT Tag:a AND ( tag:b OR tag:c )": And((Not(Tag("a")), Or((Tag("b"), Tag("c"))))),
    "x\tIN\n(1,2)": In("x", (Num(Decimal(1)), Num(Decimal(2)))),
    "a\u00a0=\u00a01": cmp("a", "=", Num(Decimal(1))),
    # keywords are reserved only where the grammar expects them
    "status = won": cmp("status", "=", Bare("won")),
    "in = 1": cmp("in", "=", Num(Decimal(1))),
    "has exists": Exists("has"),
    "visited = yes": cmp("visited", "=", Bare("yes")),
    "within between 1 and 2": Range("within", Num(Decimal(1)), Num(Decimal(2))),
    'x = "and"': cmp("x", "=", Str("and")),
    # unicode
    "tag:москва": Tag("москва"),
    'city = "Łódź"': cmp("city", "=", Str("Łódź")),
    "city = Москва": cmp("city", "=", Bare("Москва")),
    "город = Łódź": cmp("город", "=", Bare("Łódź")),
    "city = Cafe\u0301": cmp("city", "=", Bare("Cafe\u0301")),
    # escapes
    r'note = "say \"hi\"\n\\ \'ok\'"': cmp("note", "=", Str("say \"hi\"\n\\ 'ok'")),
    "note = 'it\\'s'": cmp("note", "=", Str("it's")),
    'note = "DROP TABLE contacts; --"': cmp("note", "=", Str("DROP TABLE contacts; --")),
}


@pytest.mark.parametrize("text", CONSTRUCTS)
def test_every_construct_parses_and_round_trips(text: str) -> None:
    node = parse(text)
    assert node == CONSTRUCTS[text]
    canonical = to_text(node)
    assert parse(canonical) == node
    assert to_text(parse(canonical)) == canonical
    assert from_json(json.loads(json.dumps(to_json(node)))) == node


def test_canonical_text() -> None:
    cases = {
        "NOT Tag:a AND ( tag:b OR tag:c )": "not tag:a and (tag:b or tag:c)",
        "((tag:a))": "tag:a",
        "(tag:a and tag:b) and tag:c": "tag:a and tag:b and tag:c",
        "tag:a or (tag:b and tag:c)": "tag:a or tag:b and tag:c",
        "not (tag:a or tag:b)": "not (tag:a or tag:b)",
        "not not tag:a": "not not tag:a",
        "city = 'Paris'": 'city = "Paris"',
        "score>=40.50": "score >= 40.50",
        "tag:'summer house'": 'tag:"summer house"',
        "tag:'beach'": "tag:beach",
        "x is empty": "x not exists",
        "email ~ gmail": 'email ~ "gmail"',
        "seen > 2026-01-01t10:30:00z": "seen > 2026-01-01T10:30Z",
        "seen > 2026-01-01T10:30:00+00:00": "seen > 2026-01-01T10:30Z",
        "seen > 2026-01-01T10:30:05-01:00": "seen > 2026-01-01T10:30:05-01:00",
        "x = 6MO": "x = 6mo",
        "x in(a,b)": "x in (a, b)",
        "has deal(status=won,amount>1)": "has deal(status = won, amount > 1)",
        "event(cart_add,amount>1)": 'event("cart_add", amount > 1)',
        "VISITS>=5 WITHIN 7D": "visits >= 5 within 7d",
        "x = TRUE or y = Null": "x = true or y = null",
    }
    assert {text: to_text(parse(text)) for text in cases} == cases


def test_precedence() -> None:
    assert parse("a = 1 or b = 1 and c = 1") == parse("a = 1 or (b = 1 and c = 1)")
    assert parse("not a = 1 and b = 1") == parse("(not a = 1) and b = 1")
    assert parse("tag:a or tag:b and tag:c") == Or((Tag("a"), And((Tag("b"), Tag("c")))))
    assert parse("not tag:a and tag:b") == And((Not(Tag("a")), Tag("b")))
    assert parse("not tag:a or tag:b") == Or((Not(Tag("a")), Tag("b")))
    assert parse("(tag:a or tag:b) and tag:c") == And((Or((Tag("a"), Tag("b"))), Tag("c")))


def test_groups_are_flattened() -> None:
    flat = And((Tag("a"), Tag("b"), Tag("c"), Tag("d")))
    assert parse("tag:a and tag:b and tag:c and tag:d") == flat
    assert parse("(tag:a and tag:b) and (tag:c and tag:d)") == flat
    assert parse("tag:a and (tag:b and (tag:c and tag:d))") == flat
    assert parse("tag:a or (tag:b or tag:c)") == Or((Tag("a"), Tag("b"), Tag("c")))


def test_a_between_inside_a_conjunction() -> None:
    node = parse("score between 1 and 5 and tag:a or created_at between 2026-01-01 and 2026-02-01")
    assert node == Or(
        (
            And((Range("score", Num(Decimal(1)), Num(Decimal(5))), Tag("a"))),
            Range("created_at", Date(dt.date(2026, 1, 1)), Date(dt.date(2026, 2, 1))),
        )
    )


def test_positions_of_nodes_and_values() -> None:
    text = 'tag:a and (score >= 40 or not visited("/x") within 30d)'
    node = parse(text)
    assert isinstance(node, And)
    tag, group = node.children
    assert isinstance(group, Or)
    compare, negation = group.children
    assert isinstance(compare, Compare) and isinstance(negation, Not)
    visited = negation.child
    assert isinstance(visited, Visited) and isinstance(visited.when, Within)
    assert (node.pos, tag.pos, group.pos, compare.pos, compare.value.pos) == (0, 0, 11, 11, 20)
    assert (negation.pos, visited.pos, visited.when.pos, visited.when.duration.pos) == (26, 30, 44, 51)
    assert text[compare.value.pos : compare.value.pos + 2] == "40"


def test_fields_lists_every_field_with_its_position_and_scope() -> None:
    text = 'score > 1 and has deal(amount > 5, status = won) and event("x", sku = 1) or custom.a exists'
    assert fields(parse(text)) == [
        FieldUse("score", 0, "contact"),
        FieldUse("amount", 23, "deal"),
        FieldUse("status", 35, "deal"),
        FieldUse("sku", 64, "event"),
        FieldUse("custom.a", 76, "contact"),
    ]
    for use in fields(parse(text)):
        assert text[use.pos :].startswith(use.name)


def test_walk_yields_every_node_in_source_order() -> None:
    node = parse("x in (1, b) and not has deal(s = 2) or y within 1d")
    kinds = [type(n).__name__ for n in walk(node)]
    assert kinds == [
        "Or", "And", "In", "Num", "Bare", "Not", "HasDeal", "Condition", "Num",
        "DateWindow", "Within", "Duration",
    ]  # fmt: skip
    assert [n.pos for n in walk(node) if isinstance(n, Num | Bare)] == [6, 9, 33]


def test_ast_equality_ignores_positions_and_nodes_are_hashable() -> None:
    assert parse("a=1") == parse("  a   =   1  ")
    assert hash(parse("tag:a and x in (1, 2)")) == hash(parse("tag:a  and  x in (1,2)"))
    assert parse("a = 1") != parse('a = "1"')
    assert parse("a = x") != parse('a = "x"')
    assert parse("a = 1.0") == parse("a = 1")  # Decimal equality


def test_values_keep_their_types_for_the_compiler() -> None:
    node = parse('score > "abc"')
    assert isinstance(node, Compare) and isinstance(node.value, Str) and node.value.pos == 8
    number = parse("score > 40.25")
    assert isinstance(number, Compare) and number.value == Num(Decimal("40.25"))
    assert isinstance(number.value, Num) and isinstance(number.value.value, Decimal)


# --- durations -------------------------------------------------------------------------------------


def test_duration_accessors() -> None:
    assert Duration(30, "d").timedelta == dt.timedelta(days=30)
    assert Duration(2, "h").timedelta == dt.timedelta(hours=2)
    assert Duration(15, "m").timedelta == dt.timedelta(minutes=15)
    assert Duration(2, "w").timedelta == dt.timedelta(weeks=2)
    assert Duration(6, "mo").timedelta is None and Duration(6, "mo").months == 6
    assert Duration(2, "y").months == 24 and Duration(2, "d").months is None
    assert Duration(30, "d").text == "30d"


def test_duration_subtract_from_handles_calendar_months() -> None:
    moment = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert Duration(1, "mo").subtract_from(moment) == dt.datetime(2026, 2, 28, 12, 0, tzinfo=dt.UTC)
    assert Duration(13, "mo").subtract_from(moment) == dt.datetime(2025, 2, 28, 12, 0, tzinfo=dt.UTC)
    assert Duration(1, "y").subtract_from(dt.date(2024, 2, 29)) == dt.date(2023, 2, 28)
    assert Duration(3, "mo").subtract_from(dt.date(2026, 1, 15)) == dt.date(2025, 10, 15)
    assert Duration(2, "h").subtract_from(moment) == dt.datetime(2026, 3, 31, 10, 0, tzinfo=dt.UTC)
    # The longest durations stay within datetime's range from today.
    assert Duration(1000, "y").subtract_from(dt.date(2026, 1, 1)) == dt.date(1026, 1, 1)
    assert Duration(525_960_000, "m").subtract_from(dt.datetime(2026, 1, 1)).year > 1000


# --- errors: the cases of the spec, with exact positions and expected lists ------------------------


AFTER_FIELD = [
    "'='", "'!='", "'>'", "'>='", "'<'", "'<='", "'~'", "'!~'", "'in'", "'not in'", "'between'", "'within'",
    "'older than'", "'before'", "'after'", "'exists'", "'not exists'", "'is empty'",
]  # fmt: skip

ERRORS = [
    # text, position, expected, message
    ("(tag:a", 6, ["')'", "'and'", "'or'"], "expected ')' — the '(' at position 0 is not closed"),
    ("tag:a)", 5, ["'and'", "'or'", "end of filter"], "found ')' without a matching '('"),
    ("tag:a tag:b", 6, ["'and'", "'or'", "end of filter"], "expected 'and' or 'or', found 'tag:b'"),
    ("score >", 7, ["a value"], "expected a value, found end of filter"),
    ("score > ", 8, ["a value"], "expected a value, found end of filter"),
    ('"unterminated', 0, ["'\"'"], "unclosed string"),
    ("visits >= x", 10, ["a number"], "expected a number, found 'x'"),
    (
        "created_at within 30q",
        20,
        ["'m'", "'h'", "'d'", "'w'", "'mo'", "'y'"],
        "unknown duration unit 'q' (use m, h, d, w, mo, y)",
    ),
    ("", 0, ["a condition"], "empty filter"),
    ("  \n\t ", 0, ["a condition"], "empty filter"),
    ("(" * 33 + "tag:a" + ")" * 33, 32, [], "nested deeper than 32 levels"),
    ("not " * 33 + "tag:a", 128, [], "nested deeper than 32 levels"),
    ("not (" * 16 + "not tag:a" + ")" * 16, 80, [], "nested deeper than 32 levels"),
    (
        "x in (" + ", ".join(["1"] * 1001) + ")",
        6 + 3 * 1000,
        [],
        "too many values in the list (at most 1000)",
    ),
    ("tag:a or " * 1111 + "tag:a", 10000, [], "the filter is longer than 10000 characters"),
    ("tag:a or " * 500 + "tag:b", 4500, [], "too many conditions (at most 500)"),
    # more mistakes people make
    ("(tag:a tag:x)", 7, ["')'", "'and'", "'or'"], "expected ')' or 'and'/'or', found 'tag:x'"),
    ("tag:a and", 9, ["a condition"], "expected a condition, found end of filter"),
    ("tag:a and or tag:b", 10, ["a condition"], "expected a condition, found 'or'"),
    ("not", 3, ["a condition"], "expected a condition, found end of filter"),
    ("()", 1, ["a condition"], "expected a condition, found ')'"),
    ("42", 0, ["a condition"], "expected a condition, found '42'"),
    (
        "tag:",
        4,
        ["a tag name"],
        "expected a tag name right after 'tag:' (tag:beach, or tag:\"summer house\" with spaces)",
    ),
    (
        "tag: beach",
        4,
        ["a tag name"],
        "expected a tag name right after 'tag:' (tag:beach, or tag:\"summer house\" with spaces)",
    ),
    ('tag:""', 4, ["a tag name"], "the tag name is empty"),
    (
        "tag beach",
        4,
        AFTER_FIELD,
        "expected an operator after 'tag', found 'beach'; a tag is written tag:name",
    ),
    ("x = and", 4, ["a value"], "expected a value, found 'and' (to mean the word itself, quote it: \"and\")"),
    ("x = in", 4, ["a value"], "expected a value, found 'in' (to mean the word itself, quote it: \"in\")"),
    ("x = (1)", 4, ["a value"], "expected a value, found '('"),
    (
        "a == 1",
        2,
        ["'='", "'!='", "'>'", "'>='", "'<'", "'<='", "'~'", "'!~'"],
        "unknown operator '==' (use =, !=, >, >=, <, <=, ~ or !~)",
    ),
    (
        "a <> 1",
        2,
        ["'='", "'!='", "'>'", "'>='", "'<'", "'<='", "'~'", "'!~'"],
        "unknown operator '<>' (use =, !=, >, >=, <, <=, ~ or !~)",
    ),
    ("x in (1, 2", 10, ["','", "')'"], "expected ')' — the '(' at position 5 is not closed"),
    ("x in (1 2)", 8, ["','", "')'"], "expected ',' or ')', found '2'"),
    ("x in (1,)", 8, ["a value"], "expected a value, found ')'"),
    ("x in ()", 6, ["a value"], "expected a value, found ')'"),
    ("x in 1", 5, ["'('"], "expected '(', found '1'"),
    ("x not 1", 6, ["'in'", "'exists'"], "expected 'in' or 'exists', found '1'"),
    ("x is 1", 5, ["'empty'"], "expected 'empty', found '1'"),
    ("x older 3d", 8, ["'than'"], "expected 'than', found '3d'"),
    ("x between 1 2", 12, ["'and'"], "expected 'and', found '2'"),
    (
        "created_at within 30",
        18,
        ["a duration"],
        "expected a duration such as 30d, found '30': add a unit (m, h, d, w, mo, y)",
    ),
    ("created_at within x", 18, ["a duration"], "expected a duration, found 'x'"),
    ("created_at before 30d", 18, ["a date"], "expected a date, found '30d'"),
    ("x = 6M", 5, [], "the unit 'M' is ambiguous: use m for minutes or mo for months"),
    ("x = 2026-13-01", 4, [], "invalid date '2026-13-01' (use YYYY-MM-DD)"),
    ("x = 2026-02-30", 4, [], "invalid date '2026-02-30' (use YYYY-MM-DD)"),
    ("x = 2026-1-1", 4, [], "invalid date '2026-1-1' (use YYYY-MM-DD)"),
    (
        "x = 2026-01-01T25:00",
        4,
        [],
        "invalid date-time '2026-01-01T25:00' (use YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])",
    ),
    (
        "x = 2026-01-01T10:00+24:00",
        4,
        [],
        "invalid date-time '2026-01-01T10:00+24:00' (use YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])",
    ),
    ("x = 2026-01-01T", 4, [], "invalid date-time '2026-01-01T' (use YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])"),
    (
        "x = 1.2.3",
        4,
        [],
        "cannot read '1.2.3': expected a number, a date (YYYY-MM-DD) or a duration such as 30d",
    ),
    ("x > 99999999999d", 4, [], "duration longer than 1000 years"),
    ("x > 1001y", 4, [], "duration longer than 1000 years"),
    ("visits > 1.5", 9, ["a number"], "expected a whole number of visits, found '1.5'"),
    ("visits > -1", 9, ["a number"], "expected a whole number of visits, found '-1'"),
    ("visits > 1000000000", 9, [], "number too large (at most 999999999)"),
    (
        "visits ~ 1",
        7,
        ["'='", "'!='", "'>'", "'>='", "'<'", "'<='"],
        "expected '=', '!=', '>', '>=', '<' or '<=', found '~'",
    ),
    ('visited "/x"', 8, ["'('"], "expected '(' after 'visited', found '\"/x\"'"),
    ('visited("/x"', 12, ["')'"], "expected ')' — the '(' at position 7 is not closed"),
    ('visited("")', 8, [], "the page pattern is empty"),
    ("visited(1)", 8, ["a quoted string"], "expected a quoted string, found '1'"),
    ('event("x" within 1d', 10, ["','", "')'"], "expected ',' or ')', found 'within'"),
    ('event("x",)', 10, ["a field"], "expected a field, found ')'"),
    (
        'event("x", a ~ 1)',
        13,
        ["'='", "'!='", "'>'", "'>='", "'<'", "'<='"],
        "expected '=', '!=', '>', '>=', '<' or '<=', found '~'",
    ),
    ('event("")', 6, [], "the event name is empty"),
    ('in segment("")', 11, [], "the segment name is empty"),
    ("in segment", 10, ["'('"], "expected '(', found end of filter"),
    ('in segments("x")', 3, ["'segment'"], "expected 'segment' after 'in', found 'segments'"),
    ("has deals", 4, ["'deal'"], "expected 'deal' after 'has', found 'deals'"),
    ("has deal(", 9, ["a field"], "expected a field, found end of filter"),
    ("has deal(status = won", 21, ["','", "')'"], "expected ')' — the '(' at position 8 is not closed"),
    ("opened_email within", 19, ["a duration"], "expected a duration, found end of filter"),
    ("clicked_email between 2026-01-01 2026-02-01", 33, ["'and'"], "expected 'and', found '2026-02-01'"),
    ('x = "a\\qb"', 6, [], "unknown escape '\\q' in a string (use \\\", \\', \\\\ or \\n)"),
    ('x = "ab\\', 4, ["'\"'"], "unclosed string"),
    ("x = 'ab", 4, ['"\'"'], "unclosed string"),
    ('x = "a\x00b"', 6, [], "character U+0000 is not allowed in a string"),
    ("x = 'a\ud800b'", 6, [], "character U+D800 is not allowed in a string"),
    ("x = a\udfff", 5, [], "unexpected character U+DFFF"),
    ('x = "' + "a" * 1001 + '"', 4, [], "string longer than 1000 characters"),
    ("x = " + "a" * 1001, 4, [], "name longer than 1000 characters"),
    ("\x00", 0, [], "unexpected character U+0000"),
    ("x = 1 ; drop", 6, [], "unexpected character ';'"),
    ("x = @home", 4, [], "unexpected character '@'"),
    ("x = -a", 4, [], "unexpected character '-'"),
    ("tag:a & tag:b", 6, [], "unexpected character '&'"),
    ("a. = 1", 0, ["a field"], "invalid field name 'a.' (use letters, digits and _, parts joined by dots)"),
    (
        "a..b exists",
        0,
        ["a field"],
        "invalid field name 'a..b' (use letters, digits and _, parts joined by dots)",
    ),
    (
        "score",
        5,
        AFTER_FIELD,
        "expected an operator after 'score' (=, !=, >, >=, <, <=, ~, !~, in, not in, between, within, "
        "older than, before, after, exists, not exists, is empty), found end of filter",
    ),
]


@pytest.mark.parametrize(
    ("text", "position", "expected", "reason"), ERRORS, ids=[repr(e[0][:30]) for e in ERRORS]
)
def test_errors_name_the_exact_position_and_what_was_expected(
    text: str, position: int, expected: list[str], reason: str
) -> None:
    error = syntax_error(text)
    assert (error.position, error.reason, error.expected) == (position, reason, expected)
    assert error.message == f"Position {position}: {reason}"
    assert 0 <= error.position <= len(text)


def test_the_first_problem_is_reported_even_when_a_later_token_is_broken() -> None:
    # A syntax error before an unclosed string wins over the string.
    assert syntax_error('tag:a tag:b "open').position == 6
    assert syntax_error('tag:a and "open').reason == "unclosed string"


def test_limits_are_inclusive() -> None:
    parse("(" * 32 + "tag:a" + ")" * 32)
    parse("not " * 32 + "tag:a")
    parse("x in (" + ", ".join(["1"] * 1000) + ")")
    parse(" or ".join(["tag:a"] * 500))
    parse('x = "' + "a" * 1000 + '"')
    parse("x > 1000y and x > 525960000m")
    long = " or ".join(["tag:" + "x" * 900] * 11)
    assert len(parse(long + " " * (10_000 - len(long))).children) == 11  # type: ignore[union-attr]


def test_deeply_nested_input_is_refused_without_recursion() -> None:
    assert syntax_error("(" * 9999).position == 32
    assert syntax_error("not " * 2499).position == 128


def test_the_error_is_a_validation_error_the_api_answers_with_400() -> None:
    error = syntax_error("tag:a tag:b")
    assert isinstance(error, ValidationFailed) and isinstance(error, FilterError)
    assert error.status == 400
    assert error.as_dict() == {
        "detail": "Invalid filter",
        "errors": [{"field": "q", "message": "Position 6: expected 'and' or 'or', found 'tag:b'"}],
    }
    with pytest.raises(FilterSyntaxError) as info:
        parse("tag:", field="filter")
    assert info.value.errors[0].field == "filter"


def test_non_text_input_is_a_syntax_error() -> None:
    assert syntax_error(None).reason == "the filter must be text"  # type: ignore[arg-type]


def test_found_text_is_shortened_and_control_characters_are_escaped() -> None:
    error = syntax_error('tag:a "' + "x" * 100 + '"')
    assert error.reason == "expected 'and' or 'or', found '\"" + "x" * 39 + "…'"
    assert syntax_error('tag:a "a\nb"').reason == "expected 'and' or 'or', found '\"a\\nb\"'"


# --- JSON tree -------------------------------------------------------------------------------------


def test_json_shapes() -> None:
    text = (
        'tag:beach and not in segment("VIP") and score >= 40 and stage in (mql, sql) and email ~ "@x" '
        "and age between 18 and 30 and phone not exists and created_at within 30d "
        'and (visited("/pricing*") or visits >= 5 within 7d or event("cart_add", amount > 10) '
        "between 2026-01-01 and 2026-02-01 or opened_email or has deal(status = won))"
    )
    assert to_json(parse(text)) == {
        "op": "and",
        "children": [
            {"op": "tag", "name": "beach"},
            {"op": "not", "child": {"op": "segment", "name": "VIP"}},
            {"op": "cmp", "field": "score", "cmp": ">=", "value": {"type": "num", "value": "40"}},
            {
                "op": "in",
                "field": "stage",
                "values": [{"type": "bare", "value": "mql"}, {"type": "bare", "value": "sql"}],
                "negated": False,
            },
            {"op": "contains", "field": "email", "value": "@x", "negated": False},
            {
                "op": "between",
                "field": "age",
                "low": {"type": "num", "value": "18"},
                "high": {"type": "num", "value": "30"},
            },
            {"op": "exists", "field": "phone", "negated": True},
            {"op": "date", "field": "created_at", "when": {"within": "30d"}},
            {
                "op": "or",
                "children": [
                    {"op": "visited", "pattern": "/pricing*", "when": None},
                    {"op": "visits", "cmp": ">=", "count": 5, "when": {"within": "7d"}},
                    {
                        "op": "event",
                        "name": "cart_add",
                        "where": [{"field": "amount", "cmp": ">", "value": {"type": "num", "value": "10"}}],
                        "when": {"between": ["2026-01-01", "2026-02-01"]},
                    },
                    {"op": "email", "action": "opened", "when": None},
                    {
                        "op": "has_deal",
                        "where": [{"field": "status", "cmp": "=", "value": {"type": "bare", "value": "won"}}],
                    },
                ],
            },
        ],
    }


def test_json_values_of_every_type() -> None:
    node = parse('x in ("a\\"b", -1.50, 2026-01-01, 2026-01-01T10:00+03:00, 6mo, paid, true, false, null)')
    assert isinstance(node, In)
    assert to_json(node)["values"] == [
        {"type": "str", "value": 'a"b'},
        {"type": "num", "value": "-1.50"},
        {"type": "date", "value": "2026-01-01"},
        {"type": "datetime", "value": "2026-01-01T10:00+03:00"},
        {"type": "duration", "value": "6mo"},
        {"type": "bare", "value": "paid"},
        {"type": "bool", "value": "true"},
        {"type": "bool", "value": "false"},
        {"type": "null", "value": "null"},
    ]
    assert from_json(to_json(node)) == node


def test_from_json_accepts_the_builders_shorthands() -> None:
    assert from_json({"op": "exists", "field": "phone"}) == Exists("phone")
    assert from_json({"op": "visited", "pattern": "/x"}) == Visited("/x")
    assert from_json({"op": "has_deal"}) == HasDeal()
    assert from_json({"op": "event", "name": "x"}) == Event("x")
    value = {"op": "cmp", "field": "n", "cmp": "=", "value": {"type": "num", "value": 7}}
    assert from_json(value) == cmp("n", "=", Num(Decimal(7)))
    flag = {"op": "cmp", "field": "b", "cmp": "=", "value": {"type": "bool", "value": True}}
    assert from_json(flag) == cmp("b", "=", Bool(True))
    nothing = {"op": "cmp", "field": "b", "cmp": "=", "value": {"type": "null", "value": None}}
    assert from_json(nothing) == cmp("b", "=", Null())


def test_from_json_flattens_groups_like_the_parser() -> None:
    a, b, c = ({"op": "tag", "name": n} for n in "abc")
    assert from_json({"op": "and", "children": [a]}) == Tag("a")
    assert from_json({"op": "and", "children": [{"op": "and", "children": [a, b]}, c]}) == And(
        (Tag("a"), Tag("b"), Tag("c"))
    )
    assert from_json(
        {"op": "or", "children": [{"op": "and", "children": [a]}, {"op": "or", "children": [b, c]}]}
    ) == (Or((Tag("a"), Tag("b"), Tag("c"))))


def test_from_json_positions_point_into_the_canonical_text() -> None:
    node = from_json(
        {"op": "and", "children": [{"op": "tag", "name": "a"}, {"op": "exists", "field": "phone"}]}
    )
    assert to_text(node) == "tag:a and phone exists"
    assert [n.pos for n in walk(node)] == [0, 0, 10]


TREE_ERRORS = [
    ([], "$", "expected an object, found list"),
    ({}, "$", "missing key 'op'"),
    (
        {"op": "=="},
        "$.op",
        "unknown operator '==' (use and, or, not, tag, segment, cmp, in, contains, between, exists, date, visited, visits, event, email, has_deal)",
    ),
    (
        {"op": 5},
        "$.op",
        "unknown operator number (use and, or, not, tag, segment, cmp, in, contains, between, exists, date, visited, visits, event, email, has_deal)",
    ),
    (
        {"op": "and", "children": [{"op": "tag", "name": "a"}, {"op": "tag", "name": "b"}, {"op": "=="}]},
        "$.children[2].op",
        "unknown operator '==' (use and, or, not, tag, segment, cmp, in, contains, between, exists, date, visited, visits, event, email, has_deal)",
    ),
    ({"op": "and", "children": []}, "$.children", "a group needs at least one condition"),
    ({"op": "and", "children": {}}, "$.children", "expected a list, found object"),
    ({"op": "not"}, "$", "missing key 'child'"),
    ({"op": "tag", "name": "a", "colour": "red"}, "$", "unknown key 'colour'"),
    ({"op": "tag", "name": ""}, "$.name", "must not be empty"),
    ({"op": "tag", "name": 3}, "$.name", "expected a string, found number"),
    ({"op": "tag", "name": "a\x00"}, "$.name", "character U+0000 is not allowed in a string"),
    (
        {"op": "contains", "field": "a", "value": "\udc80"},
        "$.value",
        "character U+DC80 is not allowed in a string",
    ),
    ({"op": "tag", "name": "a" * 1001}, "$.name", "string longer than 1000 characters"),
    (
        {"op": "cmp", "field": "a.", "cmp": "=", "value": {"type": "num", "value": "1"}},
        "$.field",
        "invalid field name 'a.' (use letters, digits and _, parts joined by dots)",
    ),
    (
        {"op": "cmp", "field": "visits", "cmp": "=", "value": {"type": "num", "value": "1"}},
        "$.field",
        "'visits' is a keyword and cannot be a field here",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "==", "value": {"type": "num", "value": "1"}},
        "$.cmp",
        "unknown comparison '==' (use =, !=, >, >=, <, <=)",
    ),
    ({"op": "cmp", "field": "a", "cmp": "=", "value": 1}, "$.value", "expected an object, found number"),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "int", "value": "1"}},
        "$.value.type",
        "unknown value type 'int' (use str, num, date, datetime, duration, bare, bool, null)",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "num", "value": "1e3"}},
        "$.value.value",
        "cannot read '1e3': expected a number, a date (YYYY-MM-DD) or a duration such as 30d",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "num", "value": "30d"}},
        "$.value.value",
        "expected a number such as 40 or -2.5, found '30d'",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "date", "value": "2026-02-30"}},
        "$.value.value",
        "invalid date '2026-02-30' (use YYYY-MM-DD)",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "bare", "value": "two words"}},
        "$.value.value",
        "'two words' is not a bare word (letters, digits, _ - . after a first letter, and not a keyword such as and, in, true or null): give it the type str",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "bare", "value": "null"}},
        "$.value.value",
        "'null' is not a bare word (letters, digits, _ - . after a first letter, and not a keyword such as and, in, true or null): give it the type str",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "bool", "value": "yes"}},
        "$.value.value",
        "invalid value 'yes' (use true, false)",
    ),
    (
        {"op": "cmp", "field": "a", "cmp": "=", "value": {"type": "duration", "value": "30q"}},
        "$.value.value",
        "unknown duration unit 'q' (use m, h, d, w, mo, y)",
    ),
    ({"op": "in", "field": "a", "values": []}, "$.values", "the list needs at least one value"),
    (
        {"op": "in", "field": "a", "values": [{"type": "num", "value": "1"}] * 1001},
        "$.values",
        "too many values in the list (at most 1000)",
    ),
    (
        {"op": "in", "field": "a", "values": [{"type": "num", "value": "1"}, {"type": "str"}]},
        "$.values[1]",
        "missing key 'value'",
    ),
    (
        {"op": "in", "field": "a", "values": [{"type": "num", "value": "1"}], "negated": "no"},
        "$.negated",
        "expected true or false, found string",
    ),
    ({"op": "date", "field": "a", "when": None}, "$.when", "expected an object, found null"),
    (
        {"op": "date", "field": "a", "when": {"within": "30d", "before": "2026-01-01"}},
        "$.when",
        "expected an object with one key of within, older_than, before, after",
    ),
    (
        {"op": "date", "field": "a", "when": {"between": ["2026-01-01", "2026-02-01"]}},
        "$.when",
        "unknown time window 'between' (use within, older_than, before, after)",
    ),
    (
        {"op": "date", "field": "a", "when": {"before": "30d"}},
        "$.when.before",
        "expected a date (YYYY-MM-DD) or date-time, found '30d'",
    ),
    (
        {"op": "visited", "pattern": "/x", "when": {"older_than": "3d"}},
        "$.when",
        "unknown time window 'older_than' (use within, before, after, between)",
    ),
    (
        {"op": "visited", "pattern": "/x", "when": {"between": ["2026-01-01"]}},
        "$.when.between",
        "expected a list of two dates",
    ),
    (
        {"op": "visited", "pattern": "/x", "when": {"between": ["2026-01-01", "x"]}},
        "$.when.between[1]",
        "cannot read 'x': expected a number, a date (YYYY-MM-DD) or a duration such as 30d",
    ),
    ({"op": "visits", "cmp": ">=", "count": 1.5}, "$.count", "expected a whole number from 0 to 999999999"),
    ({"op": "visits", "cmp": ">=", "count": True}, "$.count", "expected a whole number from 0 to 999999999"),
    ({"op": "visits", "cmp": ">=", "count": -1}, "$.count", "expected a whole number from 0 to 999999999"),
    ({"op": "email", "action": "replied"}, "$.action", "unknown action 'replied' (use opened, clicked)"),
    (
        {
            "op": "has_deal",
            "where": [{"field": "status", "cmp": "=", "value": {"type": "bare", "value": "won"}, "x": 1}],
        },
        "$.where[0]",
        "unknown key 'x'",
    ),
    (
        {
            "op": "event",
            "name": "x",
            "where": [{"field": "", "cmp": "=", "value": {"type": "num", "value": "1"}}],
        },
        "$.where[0].field",
        "invalid field name '' (use letters, digits and _, parts joined by dots)",
    ),
    (
        {"op": "or", "children": [{"op": "tag", "name": "a"}] * 501},
        "$.children[500]",
        "too many conditions (at most 500)",
    ),
]


@pytest.mark.parametrize(
    ("data", "path", "reason"), TREE_ERRORS, ids=[e[1] + ":" + e[2][:30] for e in TREE_ERRORS]
)
def test_tree_errors_name_the_json_path(data: Any, path: str, reason: str) -> None:
    error = tree_error(data)
    assert (error.path, error.reason) == (path, reason)
    assert error.message == f"{path}: {reason}"
    assert error.status == 422 and error.errors[0].field == "filter"


def test_tree_depth_is_limited_before_recursing() -> None:
    deep: dict[str, Any] = {"op": "tag", "name": "a"}
    for _ in range(5000):
        deep = {"op": "not", "child": deep}
    error = tree_error(deep)
    assert error.reason == "nested deeper than 32 levels"
    assert error.path == "$" + ".child" * 33


def test_a_tree_whose_text_would_be_too_deep_or_too_long_is_refused() -> None:
    # 32 nested `not` of an `or`: 33 levels of the text once the group's parentheses are counted.
    node: dict[str, Any] = {"op": "or", "children": [{"op": "tag", "name": "a"}, {"op": "tag", "name": "b"}]}
    for _ in range(32):
        node = {"op": "not", "child": node}
    assert (tree_error(node).path, tree_error(node).reason) == ("$", "nested deeper than 32 levels")
    long = {"op": "or", "children": [{"op": "tag", "name": "x" * 900}] * 12}
    assert tree_error(long).reason == "the filter is longer than 10000 characters"


# --- translations ----------------------------------------------------------------------------------


def test_errors_are_translated_to_russian() -> None:
    with translation.override("ru"):
        error = syntax_error("(tag:a tag:x)")
        assert error.message == "Позиция 7: ожидается ')' или 'and'/'or', найдено: 'tag:x'"
        assert error.detail == "Некорректный фильтр"
        assert (
            syntax_error("(tag:a").message == "Позиция 6: ожидается ')' — скобка '(' в позиции 0 не закрыта"
        )
        assert syntax_error("").message == "Позиция 0: пустой фильтр"
        assert tree_error({"op": "=="}).message.startswith("$.op: неизвестный оператор '=='")
        # The expected list stays untranslated for programs.
        assert syntax_error("score >").expected == ["a value"]


_MARKERS = {"_", "gettext", "gettext_noop", "gettext_lazy"}


def _marked_strings(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _MARKERS):
            continue
        if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            yield node.args[0].value


def test_every_message_has_a_russian_translation() -> None:
    messages = set(_marked_strings(SEGMENTS / "language.py"))
    assert len(messages) > 60
    with translation.override("ru"):
        untranslated = sorted(m for m in messages if translation.gettext(m) == m)
    assert not untranslated


def test_compiled_catalogue_matches_its_po_file() -> None:
    po = SEGMENTS / "locale" / "ru" / "LC_MESSAGES" / "django.po"
    entries = re.findall(r'^msgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', po.read_text(encoding="utf-8"), re.M)

    def text(lines: str) -> str:
        return "".join(ast.literal_eval(part) for part in re.findall(r'^".*"$', lines, re.M))

    pairs = [(text(msgid), text(msgstr)) for msgid, msgstr in entries if text(msgid)]
    assert pairs and all(russian for _english, russian in pairs)
    with translation.override("ru"):
        assert [translation.gettext(english) for english, _russian in pairs] == [r for _e, r in pairs]
