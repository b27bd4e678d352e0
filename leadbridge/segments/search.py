"""Plain search of the contact list and the API's `q=`: `anna`, `anna@example.com`, `+7 916 123
45 67`, `"Anna Smith"`.

Bare words must each match; a quoted phrase matches as a whole. A word matches a contact by the
rules the list has always used, each on an index where one exists:

- a whole email address: the email, exactly (lower-cased);
- part of an address (has "@"): emails starting with it;
- mostly digits (6 or more): the phone, normalised like on input; failing that, phones
  containing the digits;
- anything else: the name contains it (case-insensitive), or the email or the last name starts
  with it.
"""

from __future__ import annotations

import re
from typing import Any

from leadbridge.contacts.validation import Invalid, normalize_phone
from leadbridge.segments.compiler import Part, Sql, _escape_like, _paren, and_parts, join, like, sql
from leadbridge.segments.language import Search

_WHOLE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")


def _prefix(expr: str, text: str, *, fold: bool) -> Sql:
    """`expr` starts with `text`; `fold`: case-insensitive (SQLite's LIKE always folds ASCII)."""
    from django.db import connection

    if fold and connection.vendor == "postgresql":
        return sql(f"UPPER({expr}) LIKE UPPER(%s) ESCAPE '\\'", _escape_like(text) + "%")
    return sql(f"{expr} LIKE %s ESCAPE '\\'", _escape_like(text) + "%")


def word_condition(word: str) -> Sql:
    if "@" in word:
        lowered = word.lower()
        if _WHOLE_EMAIL.fullmatch(lowered):
            return sql("c.email = %s", lowered)
        return _prefix("c.email", lowered, fold=False)
    digits = re.sub(r"\D", "", word)
    if len(digits) >= 6 and len(digits) >= len(word) - 4:
        try:
            return sql("c.phone = %s", normalize_phone(word))
        except Invalid:
            return like("c.phone", digits)
    return join(
        " OR ",
        [
            _paren(like("c.name", word)),
            _paren(_prefix("c.email", word.lower(), fold=False)),  # emails are stored lower-cased
            _paren(_prefix("c.last_name", word, fold=True)),
        ],
    )


_PHONE_LIKE = re.compile(r"\+?[\d\s().-]+")


def compile_search(node: Search, compiler: Any) -> Part:
    text = node.text.strip()
    whole = node.quoted or (_PHONE_LIKE.fullmatch(text) is not None and len(re.sub(r"\D", "", text)) >= 6)
    words = [text] if whole else text.split()
    return and_parts([Part("pred", word_condition(w)) for w in words if w] or [Part("all")])
