"""The plain-search primary of the segment language (`parse(..., search=True)`): the contact
list's box, the API's `q=` and the CLI take plain words as well as filters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from leadbridge.segments.language import (
    And,
    Bare,
    Compare,
    FilterSyntaxError,
    Not,
    Num,
    Or,
    Search,
    Tag,
    from_json,
    parse,
    to_json,
    to_text,
)


@pytest.mark.parametrize(
    ("text", "node"),
    [
        ("anna", Search("anna")),
        ("  anna  ", Search("anna")),
        ('"Anna Smith"', Search("Anna Smith", quoted=True)),
        ("anna smith", Search("anna smith")),
        ("anna and stage >= mql", And((Search("anna"), Compare("stage", ">=", Bare("mql"))))),
        ("tag:vip and not smith", And((Tag("vip"), Not(Search("smith"))))),
        ("anna or bob", Or((Search("anna"), Search("bob")))),
        ("79161234567", Search("79161234567")),
        ("anna@example.com", Search("anna@example.com")),
        ("+7 916 123-45-67", Search("+7 916 123-45-67")),
        ("O'Brien", Search("O'Brien")),
        ("Ёлкина", Search("Ёлкина")),
        ("score >= 40", Compare("score", ">=", Num(Decimal(40)))),
        ('"x\' OR 1=1 --"', Search("x' OR 1=1 --", quoted=True)),
    ],
)
def test_plain_search(text, node):
    assert parse(text, search=True) == node


@pytest.mark.parametrize("text", ["tag:a tag:b", "score >", "anna = ", "(anna", "' OR 1=1 --", "a\x00b"])
def test_filters_that_look_like_filters_stay_errors(text):
    with pytest.raises(FilterSyntaxError):
        parse(text, search=True)


def test_saved_filters_never_search():
    with pytest.raises(FilterSyntaxError) as caught:
        parse("anna")
    assert caught.value.position == 4


@pytest.mark.parametrize("text", ["anna", '"Anna Smith"', "anna smith and stage >= mql", '"a\\"b" or tag:x'])
def test_round_trips(text):
    node = parse(text, search=True)
    assert parse(to_text(node), search=True) == node
    assert from_json(to_json(node)) == node
    assert to_json(Search("x", quoted=True)) == {"op": "search", "text": "x", "quoted": True}
