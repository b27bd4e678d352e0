"""Property tests of the segment filter language: random ASTs survive text and JSON round trips,
canonical text is a fixed point, and no input (random text, mutated filters, random JSON) makes
the language raise anything but its own errors.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadbridge.segments.language import (
    CMP_OPS,
    DURATION_UNITS,
    MAX_DEPTH,
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
    FilterSyntaxError,
    FilterTreeError,
    HasDeal,
    In,
    InSegment,
    Node,
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
    from_json,
    parse,
    to_json,
    to_text,
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keywords that cannot be fields or bare values (see _RESERVED_FIELDS / _RESERVED_VALUES).
RESERVED = {"and", "or", "not", "in", "true", "false", "null", "visits", "opened_email", "clicked_email"}


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


# --- strategies ------------------------------------------------------------------------------------

LETTERS = "abcxyzABZ_мжЖłé"
WORD_CHARS = LETTERS + "0129-."
words = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from(LETTERS),
    st.text(alphabet=WORD_CHARS, max_size=7),
).filter(lambda w: w.lower() not in RESERVED)
parts = st.builds(
    lambda first, rest: first + rest, st.sampled_from(LETTERS), st.text(alphabet=LETTERS + "019-", max_size=5)
)
field_names = (
    st.lists(parts, min_size=1, max_size=3).map(".".join).filter(lambda f: f.lower() not in RESERVED)
)
texts = st.text(alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12)
names = texts.filter(bool)
offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
datetimes = st.datetimes(
    min_value=dt.datetime(1900, 1, 1),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.none() | st.just(dt.UTC) | offsets,
).map(lambda d: d.replace(microsecond=0))
durations = st.builds(
    Duration,
    amount=st.integers(0, 1000),
    unit=st.sampled_from(DURATION_UNITS),
)
decimals = st.decimals(
    allow_nan=False, allow_infinity=False, places=2, min_value=-(10**9), max_value=10**9
) | (st.integers(-(10**12), 10**12).map(Decimal))
moments = st.builds(Date, st.dates()) | st.builds(DateTime, datetimes)
values = st.one_of(
    st.builds(Str, texts),
    st.builds(Num, decimals),
    moments,
    durations,
    st.builds(Bare, words),
    st.builds(Bool, st.booleans()),
    st.just(Null()),
)
cmp_ops = st.sampled_from(CMP_OPS)
windows = st.none() | st.one_of(
    st.builds(Within, durations),
    st.builds(Before, moments),
    st.builds(After, moments),
    st.builds(Between, moments, moments),
)
date_whens = st.one_of(
    st.builds(Within, durations),
    st.builds(OlderThan, durations),
    st.builds(Before, moments),
    st.builds(After, moments),
)
conditions = st.lists(st.builds(Condition, field_names, cmp_ops, values), max_size=3).map(tuple)
leaves = st.one_of(
    st.builds(Tag, names),
    st.builds(InSegment, names),
    st.builds(Compare, field_names, cmp_ops, values),
    st.builds(In, field_names, st.lists(values, min_size=1, max_size=4).map(tuple), st.booleans()),
    st.builds(Contains, field_names, texts, st.booleans()),
    st.builds(Range, field_names, values, values),
    st.builds(Exists, field_names, st.booleans()),
    st.builds(DateWindow, field_names, date_whens),
    st.builds(Visited, names, windows),
    st.builds(Visits, cmp_ops, st.integers(0, 10**9 - 1), windows),
    st.builds(Event, names, conditions, windows),
    st.builds(Email, st.sampled_from(["opened", "clicked"]), windows),
    st.builds(HasDeal, conditions),
)


def group(kind: type[And] | type[Or], children: list[Node]) -> Node:
    """The parser's normal form: n-ary, flattened."""
    flat: list[Node] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return kind(tuple(flat))


def depth(node: Node) -> int:
    """Nesting of the canonical text: each `not`, and each group in parentheses."""
    if isinstance(node, Not):
        inner = depth(node.child)
        return 1 + inner + (1 if isinstance(node.child, And | Or) else 0)
    if isinstance(node, And):
        return max(depth(c) + (1 if isinstance(c, Or) else 0) for c in node.children)
    if isinstance(node, Or):
        return max(depth(c) for c in node.children)
    return 0


filters = st.recursive(
    leaves,
    lambda children: st.one_of(
        st.builds(Not, children),
        st.lists(children, min_size=2, max_size=4).map(lambda c: group(And, c)),
        st.lists(children, min_size=2, max_size=4).map(lambda c: group(Or, c)),
    ),
    max_leaves=10,
).filter(lambda n: depth(n) <= MAX_DEPTH)


# --- round trips -----------------------------------------------------------------------------------


@FAST
@given(filters)
def test_round_trips(node: Node) -> None:
    """to_text -> parse and to_json -> from_json give the AST back; canonical text is a fixed point."""
    text = to_text(node)
    assert parse(text) == node
    assert to_text(parse(text)) == text
    data = to_json(node)
    assert from_json(json.loads(json.dumps(data))) == node
    assert to_json(from_json(data)) == data


# --- no input crashes ------------------------------------------------------------------------------


def parse_or_syntax_error(text: str) -> Node | None:
    try:
        node = parse(text)
    except FilterSyntaxError as error:
        assert 0 <= error.position <= max(len(text), 0)
        assert error.message.startswith(f"Position {error.position}: ")
        assert error.status == 400
        return None
    # Whatever parses is stable under the canonical form.
    canonical = to_text(node)
    assert parse(canonical) == node
    assert to_text(parse(canonical)) == canonical
    return node


# Any code point, lone surrogates included (a JSON body can carry them).
any_text = st.text(st.characters(exclude_categories=()), max_size=80)


@FAST
@given(any_text)
def test_arbitrary_text_raises_only_syntax_errors(text: str) -> None:
    parse_or_syntax_error(text)


SYNTAX = [
    *"()\"',=!<>~:.-_ \\\n0123456789dmowyTZ+*",
    " and ", " or ", "not ", "tag:", " in ", " between ", " within ", " older than ", " exists", " is empty",
    "visited(", "visits ", "event(", "has deal", "in segment(", "opened_email", "2026-01-01", "30d", "\x00", "ł",
]  # fmt: skip


@st.composite
def mutated_filters(draw: st.DrawFn) -> str:
    text = to_text(draw(filters))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.sampled_from(SYNTAX))
        end = min(len(text), at + draw(st.integers(1, 5)))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[end:]
        else:
            text = text[:at] + piece + text[end:]
    return text


@FAST
@given(mutated_filters())
def test_mutated_filters_raise_only_syntax_errors(text: str) -> None:
    parse_or_syntax_error(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def from_json_or_tree_error(data: Any) -> None:
    try:
        node = from_json(data)
    except FilterTreeError as error:
        assert error.path.startswith("$")
        assert error.status == 422
        return
    assert from_json(to_json(node)) == node


@FAST
@given(json_values)
def test_arbitrary_json_raises_only_tree_errors(data: Any) -> None:
    from_json_or_tree_error(data)


def _slots(data: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON document, to replace or delete one."""
    found: list[tuple[Any, Any]] = []
    if isinstance(data, dict):
        for key, item in data.items():
            found.append((data, key))
            found.extend(_slots(item))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found.append((data, index))
            found.extend(_slots(item))
    return found


@st.composite
def mutated_trees(draw: st.DrawFn) -> Any:
    data = to_json(draw(filters))
    for _ in range(draw(st.integers(1, 3))):
        slots = _slots(data)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        if draw(st.booleans()) and isinstance(container, dict):
            del container[key]
        else:
            container[key] = draw(
                json_values
                | st.sampled_from(
                    ["and", "or", "not", "==", "30q", "2026-02-30", "", "a.", "visits", "x" * 1001]
                )
            )
    return data


@FAST
@given(mutated_trees())
def test_mutated_trees_raise_only_tree_errors(data: Any) -> None:
    from_json_or_tree_error(data)
