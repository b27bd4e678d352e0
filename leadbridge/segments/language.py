"""The segment filter language: text <-> AST <-> JSON tree.

Marketers type filters such as

    tag:beach and (tag:forest or tag:income) and not tag:investor
    stage >= mql and score >= 40 and channel = paid_search
    visited("/pricing") within 30d and opened_email within 14d
    email ~ "@example.com" and created_at > 2026-01-01 and custom.partner_name exists

into the segment builder, the API's `q=` parameter and `leadbridge segment count`. This module
is purely syntactic: it does not know which fields exist or what type they have, and it touches
no database. `segments/compiler.py` (a later module) walks the AST and builds the query; it
reports unknown fields and type mismatches with the positions kept here (`fields()` lists every
field with its position, and every value node keeps its own).

Entry points: `parse(text)`, `to_text(node)` (canonical text), `to_json(node)` /
`from_json(data)` (the tree of the UI builder and the API), `walk(node)`, `fields(node)`.
Errors: `FilterSyntaxError` (text: `.position`, `.expected`) and `FilterTreeError` (JSON:
`.path`), both `FilterError`, a `ValidationFailed`.

Grammar (keywords case-insensitive, whitespace between tokens free)::

    expr      := or_expr
    or_expr   := and_expr ("or" and_expr)*          `and` binds tighter than `or`,
    and_expr  := not_expr ("and" not_expr)*         `not` tighter than `and`
    not_expr  := "not" not_expr | primary
    primary   := "(" expr ")" | "tag:" NAME-or-STRING | "in" "segment" "(" STRING ")"
               | "has" "deal" ["(" condlist ")"]
               | "visited" "(" STRING ")" [window] | "visits" cmpop NUMBER [window]
               | "event" "(" STRING ["," condlist] ")" [window]
               | ("opened_email" | "clicked_email") [window]
               | FIELD cmpop value | FIELD ["not"] "in" "(" value ("," value)* ")"
               | FIELD ("~" | "!~") STRING | FIELD "between" value "and" value
               | FIELD "within" DURATION | FIELD "older" "than" DURATION
               | FIELD ("before" | "after") DATE
               | FIELD "exists" | FIELD "not" "exists" | FIELD "is" "empty"
    condlist  := FIELD cmpop value ("," FIELD cmpop value)*
    window    := "within" DURATION | "before" DATE | "after" DATE | "between" DATE "and" DATE

Where the grammar takes a name in parentheses or after `~` (segment, event, page pattern,
contains), a bare word is accepted as well as a quoted string. Where it takes DATE, a
date-time is accepted too.

Plain search (`parse(text, search=True)`: the contact list's box, the API's `q=`, the CLI) adds
one primary, `Search(text, quoted)`: a quoted string, or a run of bare words (or numbers) none of
which is followed by an operator — `anna`, `"Anna Smith"`, `anna and stage >= mql`. Text the
grammar cannot read at all and that holds none of `= < > ~ ( ) "` nor `tag:` (an email, a phone
number, O'Brien) is one Search of the whole text. Saved segments never use this mode: there a
misspelt field is an error, not a search.

AST (frozen dataclasses; `pos` is the 0-based offset in the source text of the node's first
character, excluded from equality, so `parse("a=1") == parse("a = 1")`)::

    logic       And(children)  Or(children)      n-ary, at least 2 children, flattened: the
                                                  children of an And are never And
                Not(child)
    contact     Tag(name)  InSegment(name)
                Compare(field, op, value)         op: = != > >= < <=
                In(field, values, negated)        values: tuple of Value
                Contains(field, value, negated)   value: str; ~ is case-insensitive contains
                Range(field, low, high)           `between`, inclusive; low/high: Value
                Exists(field, negated)            `is empty` is Exists(negated=True)
                DateWindow(field, when)           when: Within | OlderThan | Before | After
    behaviour   Visited(pattern, when)            pattern: str, `*` is a wildcard
                Visits(op, count, when)           count: int >= 0
                Event(name, where, when)          where: tuple of Condition (event properties)
                Email(action, when)               action: "opened" | "clicked"
                HasDeal(where)                    where: tuple of Condition (deal fields)
    search      Search(text, quoted)              plain words / a phrase (search=True only)
                Condition(field, op, value)       op: = != > >= < <=
    windows     Within(duration)  OlderThan(duration)  Before(moment)  After(moment)
                Between(low, high)                moment: Date | DateTime; behaviour `when`
                                                  is Within | Before | After | Between | None
    values      Str(value: str)  Num(value: Decimal)  Date(value: datetime.date)
                DateTime(value: datetime.datetime; naive = in the configured timezone)
                Duration(amount: int, unit: m|h|d|w|mo|y)  Bare(value: str)
                Bool(value: bool)  Null()

`Duration` is also the value type of time spans: `.timedelta` (fixed units), `.months`
(calendar units) and `.subtract_from(moment)` (either kind) give the compiler its cut-off.

Limits (bad input never crashes or hangs, and never reaches Python's recursion limit: depth is
checked before the parser descends): 10,000 characters of text, nesting depth 32 (each `(` and
each `not` counts), 500 conditions, 1,000 values in one `in (...)`, 1,000 characters in a string
or name, durations up to 1,000 years.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from leadbridge.core.errors import FieldError, ValidationFailed

MAX_LENGTH = 10_000
MAX_DEPTH = 32
MAX_TERMS = 500
MAX_IN_VALUES = 1_000
MAX_STRING = 1_000
MAX_VISITS = 999_999_999

CMP_OPS = ("=", "!=", ">", ">=", "<", "<=")
OPERATORS = (*CMP_OPS, "~", "!~")
DURATION_UNITS = ("m", "h", "d", "w", "mo", "y")
EMAIL_ACTIONS = ("opened", "clicked")
# The longest duration per unit: about 1,000 years, so `now - duration` never overflows.
_DURATION_MAX = {"m": 525_960_000, "h": 8_766_000, "d": 365_250, "w": 52_178, "mo": 12_000, "y": 1_000}
_FIXED_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Words a bare value cannot be (`stage = and` is a typo, not the word "and"); quote them.
_RESERVED_VALUES = frozenset({"and", "or", "not", "in", "true", "false", "null"})
# Words that start another construct where a comparison's field would stand.
_RESERVED_FIELDS = frozenset({"and", "or", "not", "visits", "opened_email", "clicked_email"})

# What `.expected` lists: quoted literals ("')'") or these descriptions (translated in messages).
END = "end of filter"
A_CONDITION = "a condition"
A_VALUE = "a value"
A_NUMBER = "a number"
A_STRING = "a quoted string"
A_DATE = "a date"
A_DURATION = "a duration"
A_FIELD = "a field"
A_TAG_NAME = "a tag name"
_DESCRIPTIONS = {
    END: gettext_noop("end of filter"),
    A_CONDITION: gettext_noop("a condition"),
    A_VALUE: gettext_noop("a value"),
    A_NUMBER: gettext_noop("a number"),
    A_STRING: gettext_noop("a quoted string"),
    A_DATE: gettext_noop("a date"),
    A_DURATION: gettext_noop("a duration"),
    A_FIELD: gettext_noop("a field"),
    A_TAG_NAME: gettext_noop("a tag name"),
}
_CMP_EXPECTED = [f"'{op}'" for op in CMP_OPS]
_AFTER_FIELD = [
    *CMP_OPS,
    "~",
    "!~",
    "in",
    "not in",
    "between",
    "within",
    "older than",
    "before",
    "after",
    "exists",
    "not exists",
    "is empty",
]


# --- errors ----------------------------------------------------------------------------------------


class FilterError(ValidationFailed):
    """A filter the language cannot accept; one `FieldError` naming where the filter came from."""

    def __init__(self, message: str, *, field: str, status: int) -> None:
        super().__init__([FieldError(field, message)], detail=_("Invalid filter"))
        self.message = message
        self.status = status


class FilterSyntaxError(FilterError):
    """Text that is not a filter. The API answers 400 (malformed, like a body that is not JSON).

    `.position` is the 0-based character offset of the problem (`len(text)` for "found end of
    filter"), `.expected` what would have been valid there ("')'", "'and'", "a value", ...:
    untranslated, for programs), `.reason` the message without the position.
    """

    def __init__(self, position: int, reason: str, expected: Sequence[str] = (), *, field: str = "q") -> None:
        self.position = position
        self.reason = reason
        self.expected = list(expected)
        message = _("Position %(position)s: %(reason)s") % {"position": position, "reason": reason}
        super().__init__(message, field=field, status=400)


class FilterTreeError(FilterError):
    """A JSON tree that is not a filter (422, like any invalid body); `.path` is e.g. `$.children[2].op`."""

    def __init__(self, path: str, reason: str, *, field: str = "filter") -> None:
        self.path = path
        self.reason = reason
        # "$.children[2].op: unknown operator '=='": the path needs no translation.
        super().__init__(f"{path}: {reason}", field=field, status=422)


class _Problem(Exception):
    """Raised inside the tokenizer and parser; `pos` is an offset in the text (or in a literal)."""

    def __init__(self, pos: int, reason: str, expected: Sequence[str] = ()) -> None:
        super().__init__(reason)
        self.pos = pos
        self.reason = reason
        self.expected = list(expected)


# --- AST -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Node:
    pos: int = field(default=0, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Str(_Node):
    value: str


@dataclass(frozen=True, slots=True)
class Num(_Node):
    value: Decimal


@dataclass(frozen=True, slots=True)
class Date(_Node):
    value: dt.date


@dataclass(frozen=True, slots=True)
class DateTime(_Node):
    value: dt.datetime


@dataclass(frozen=True, slots=True)
class Bare(_Node):
    """An unquoted word value: `stage >= mql`, `channel = paid_search`, `city = Москва`."""

    value: str


@dataclass(frozen=True, slots=True)
class Bool(_Node):
    value: bool


@dataclass(frozen=True, slots=True)
class Null(_Node):
    pass


_Moment = TypeVar("_Moment", dt.date, dt.datetime)


@dataclass(frozen=True, slots=True)
class Duration(_Node):
    """A span such as 30d: minutes, hours, days, weeks (fixed) or months, years (calendar)."""

    amount: int
    unit: str

    @property
    def text(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def timedelta(self) -> dt.timedelta | None:
        """The span of a fixed unit (m, h, d, w); None for months and years."""
        name = _FIXED_UNITS.get(self.unit)
        return None if name is None else dt.timedelta(**{name: self.amount})

    @property
    def months(self) -> int | None:
        """The number of calendar months (mo, y); None for fixed units."""
        return {"mo": 1, "y": 12}[self.unit] * self.amount if self.unit in ("mo", "y") else None

    def subtract_from(self, moment: _Moment) -> _Moment:
        """`moment` minus this span; months keep the day of month, clamped (Mar 31 - 1mo = Feb 28)."""
        delta = self.timedelta
        if delta is not None:
            return moment - delta
        total = moment.year * 12 + moment.month - 1 - (self.months or 0)
        year, month = divmod(total, 12)
        day = min(moment.day, calendar.monthrange(year, month + 1)[1])
        return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True, slots=True)
class Within(_Node):
    duration: Duration


@dataclass(frozen=True, slots=True)
class OlderThan(_Node):
    duration: Duration


@dataclass(frozen=True, slots=True)
class Before(_Node):
    moment: Date | DateTime


@dataclass(frozen=True, slots=True)
class After(_Node):
    moment: Date | DateTime


@dataclass(frozen=True, slots=True)
class Between(_Node):
    low: Date | DateTime
    high: Date | DateTime


@dataclass(frozen=True, slots=True)
class Condition(_Node):
    """`field op value` inside `has deal(...)` and `event(...)`."""

    field: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class And(_Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(_Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not(_Node):
    child: Node


@dataclass(frozen=True, slots=True)
class Tag(_Node):
    name: str


@dataclass(frozen=True, slots=True)
class InSegment(_Node):
    name: str


@dataclass(frozen=True, slots=True)
class Compare(_Node):
    field: str
    op: str
    value: Value


@dataclass(frozen=True, slots=True)
class In(_Node):
    field: str
    values: tuple[Value, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Contains(_Node):
    field: str
    value: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Range(_Node):
    field: str
    low: Value
    high: Value


@dataclass(frozen=True, slots=True)
class Exists(_Node):
    field: str
    negated: bool = False


@dataclass(frozen=True, slots=True)
class DateWindow(_Node):
    field: str
    when: DateWhen


@dataclass(frozen=True, slots=True)
class Visited(_Node):
    pattern: str
    when: TimeWindow | None = None


@dataclass(frozen=True, slots=True)
class Visits(_Node):
    op: str
    count: int
    when: TimeWindow | None = None


@dataclass(frozen=True, slots=True)
class Event(_Node):
    name: str
    where: tuple[Condition, ...] = ()
    when: TimeWindow | None = None


@dataclass(frozen=True, slots=True)
class Email(_Node):
    action: str
    when: TimeWindow | None = None


@dataclass(frozen=True, slots=True)
class HasDeal(_Node):
    where: tuple[Condition, ...] = ()


@dataclass(frozen=True, slots=True)
class Search(_Node):
    """A plain search of the contact list and the API's `q=`: bare words (each must match) or a
    quoted phrase, looked for in name, email and phone. Only `parse(..., search=True)` makes it."""

    text: str
    quoted: bool = False


Value = Str | Num | Date | DateTime | Duration | Bare | Bool | Null
DateWhen = Within | OlderThan | Before | After
TimeWindow = Within | Before | After | Between
Node = (
    And
    | Or
    | Not
    | Tag
    | InSegment
    | Compare
    | In
    | Contains
    | Range
    | Exists
    | DateWindow
    | Visited
    | Visits
    | Event
    | Email
    | HasDeal
    | Search
)
# Anything walk() yields.
AnyNode = Node | Condition | DateWhen | Between | Value


class FieldUse(NamedTuple):
    """A field named in a filter: `scope` is "contact", "deal" (has deal) or "event" (event properties)."""

    name: str
    pos: int
    scope: str


# --- tokens ----------------------------------------------------------------------------------------


class Token(NamedTuple):
    """One token: `kind` is word, tag, string, number, date, datetime, duration, op, "(", ")", ",",
    end, or error (the tokenizer's first problem, raised when the parser reaches it, so an
    earlier syntax error is reported first). `value` is the parsed literal (str for string
    and tag, Decimal, date, datetime, Duration) or the `_Problem` of an error token."""

    kind: str
    pos: int
    end: int
    text: str
    value: Any = None
    # The lower-cased text of an ASCII word (a possible keyword), else "".
    keyword: str = ""


_DATETIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d)(?::(\d\d))?(?:([Zz])|([+-])(\d\d):(\d\d))?", re.ASCII
)
_DATETIME_START = re.compile(r"\d{4}-\d\d-\d\d[Tt]", re.ASCII)
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)", re.ASCII)
_DATE_START = re.compile(r"\d{4}-", re.ASCII)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_DIGITS = re.compile(r"\d+", re.ASCII)
# What ends a run of plain string characters: the quote, a backslash, or a character a string may
# not hold (NUL, and lone surrogates, which no database or JSON encoder accepts).
_FORBIDDEN = r"\x00\ud800-\udfff"
_STRING_STOP = {'"': re.compile(rf'["\\{_FORBIDDEN}]'), "'": re.compile(rf"['\\{_FORBIDDEN}]")}
_FORBIDDEN_CHAR = re.compile(f"[{_FORBIDDEN}]")
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n"}
_OP_CHARS = frozenset("=!<>~")
_SPACE = re.compile(r"\s*")
_ASCII_WORD = re.compile(r"[A-Za-z0-9_.\-]+")
# A number, date, date-time or duration is read as one run, then classified: 2026-01-01T10:00+03:00.
_ASCII_LITERAL = re.compile(r"[A-Za-z0-9_.:+\-]+")


def _is_word_start(ch: str) -> bool:
    return ch.isalpha() or ch == "_"


def _is_word_char(ch: str) -> bool:
    """Letters (any script), ASCII digits, _ - . and combining marks (decomposed accents)."""
    if ch.isascii():
        return ch.isalnum() or ch in "_-."
    return ch.isalpha() or unicodedata.category(ch).startswith("M")


def _word_end(text: str, i: int, ascii_run: re.Pattern[str] = _ASCII_WORD) -> int:
    """The end of the run of word characters at `i` (ASCII ones by regex, others one by one)."""
    n = len(text)
    while True:
        found = ascii_run.match(text, i)
        i = found.end() if found else i
        if i < n and not text[i].isascii() and _is_word_char(text[i]):
            i += 1
        else:
            return i


def _show(text: str, limit: int = 40) -> str:
    """A piece of the user's text, quoted for a message: short, control characters escaped."""
    short = text[:limit] + ("…" if len(text) > limit else "")
    return "'" + "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in short) + "'"


def _show_char(ch: str) -> str:
    return f"'{ch}'" if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The value of the quoted string at `start` and the offset after its closing quote."""
    quote = text[start]
    stop = _STRING_STOP[quote]
    closing = [f"'{quote}'" if quote == '"' else f'"{quote}"']
    parts: list[str] = []
    i = start + 1
    while True:
        found = stop.search(text, i)
        if found is None:
            raise _Problem(start, _("unclosed string"), closing)
        k = found.start()
        parts.append(text[i:k])
        char = text[k]
        if char == quote:
            i = k + 1
            break
        if char != "\\":
            raise _Problem(k, _("character %(char)s is not allowed in a string") % {"char": _show_char(char)})
        if k + 1 >= len(text):
            raise _Problem(start, _("unclosed string"), closing)
        replacement = _ESCAPES.get(text[k + 1])
        if replacement is None:
            raise _Problem(
                k,
                _("unknown escape %(escape)s in a string (use \\\", \\', \\\\ or \\n)")
                % {"escape": _show(text[k : k + 2])},
            )
        parts.append(replacement)
        i = k + 2
    value = "".join(parts)
    if len(value) > MAX_STRING:
        raise _Problem(start, _("string longer than %(limit)s characters") % {"limit": MAX_STRING})
    return value, i


def _classify(lexeme: str) -> tuple[str, object]:
    """(kind, value) of a number, date, date-time or duration; `_Problem.pos` is an offset in `lexeme`."""
    if match := _DATETIME.fullmatch(lexeme):
        return "datetime", _make_datetime(match, lexeme)
    if _DATETIME_START.match(lexeme):
        raise _Problem(0, _invalid_datetime(lexeme))
    if match := _DATE.fullmatch(lexeme):
        try:
            return "date", dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            raise _Problem(0, _invalid_date(lexeme)) from None
    if _DATE_START.match(lexeme):
        raise _Problem(0, _invalid_date(lexeme))
    if _NUMBER.fullmatch(lexeme):
        return "number", Decimal(lexeme)
    digits = _DIGITS.match(lexeme)
    if digits and lexeme[digits.end() :].isalpha():
        return "duration", _make_duration(lexeme[: digits.end()], lexeme[digits.end() :], digits.end())
    raise _Problem(
        0,
        _("cannot read %(text)s: expected a number, a date (YYYY-MM-DD) or a duration such as 30d")
        % {"text": _show(lexeme)},
    )


def _invalid_date(text: str) -> str:
    return _("invalid date %(text)s (use YYYY-MM-DD)") % {"text": _show(text)}


def _invalid_datetime(text: str) -> str:
    return _("invalid date-time %(text)s (use YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM])") % {"text": _show(text)}


def _make_datetime(match: re.Match[str], lexeme: str) -> dt.datetime:
    tz: dt.tzinfo | None = None
    if match[7]:
        tz = dt.UTC
    elif match[8]:
        hours, minutes = int(match[9]), int(match[10])
        if hours > 23 or minutes > 59:
            raise _Problem(0, _invalid_datetime(lexeme))
        offset = dt.timedelta(hours=hours, minutes=minutes)
        tz = dt.timezone(-offset if match[8] == "-" else offset)
    year, month, day, hour, minute = (int(p) for p in match.group(1, 2, 3, 4, 5))
    try:
        # Without an offset the value stays naive: the compiler reads it in the configured timezone.
        return dt.datetime(year, month, day, hour, minute, int(match[6] or 0), tzinfo=tz)
    except ValueError:
        raise _Problem(0, _invalid_datetime(lexeme)) from None


def _make_duration(digits: str, unit_text: str, unit_offset: int) -> Duration:
    if unit_text == "M":
        # 6M reads as six months to a marketer and as six minutes to a programmer.
        raise _Problem(unit_offset, _("the unit 'M' is ambiguous: use m for minutes or mo for months"))
    unit = unit_text.lower()
    if unit not in DURATION_UNITS:
        raise _Problem(
            unit_offset,
            _("unknown duration unit %(unit)s (use m, h, d, w, mo, y)") % {"unit": _show(unit_text)},
            [f"'{u}'" for u in DURATION_UNITS],
        )
    if len(digits) > 10 or int(digits) > _DURATION_MAX[unit]:
        raise _Problem(0, _("duration longer than 1000 years"))
    return Duration(int(digits), unit)


def tokenize(text: str) -> list[Token]:
    """Tokens of `text`, ending with an `end` token, or with an `error` token at the first problem."""
    tokens: list[Token] = []
    n = len(text)
    i = 0
    try:
        while True:
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]  # \s* always matches
            if i >= n:
                tokens.append(Token("end", n, n, ""))
                return tokens
            ch = text[i]
            if ch in "(),":
                tokens.append(Token(ch, i, i + 1, ch))
                i += 1
            elif ch in _OP_CHARS:
                j = i
                while j < n and text[j] in _OP_CHARS:
                    j += 1
                if text[i:j] not in OPERATORS:
                    raise _Problem(
                        i,
                        _("unknown operator %(op)s (use =, !=, >, >=, <, <=, ~ or !~)")
                        % {"op": _show(text[i:j])},
                        [f"'{op}'" for op in OPERATORS],
                    )
                tokens.append(Token("op", i, j, text[i:j]))
                i = j
            elif ch in "\"'":
                value, j = _read_string(text, i)
                tokens.append(Token("string", i, j, text[i:j], value))
                i = j
            elif "0" <= ch <= "9" or (ch == "-" and i + 1 < n and "0" <= text[i + 1] <= "9"):
                j = _word_end(text, i + 1, _ASCII_LITERAL)
                try:
                    kind, literal = _classify(text[i:j])
                except _Problem as problem:
                    raise _Problem(i + problem.pos, problem.reason, problem.expected) from None
                tokens.append(Token(kind, i, j, text[i:j], literal))
                i = j
            elif _is_word_start(ch):
                j = _word_end(text, i)
                if j - i == 3 and text[i:j].lower() == "tag" and j < n and text[j] == ":":
                    token = _read_tag(text, i, j + 1)
                else:
                    word = text[i:j]
                    token = Token("word", i, j, word, keyword=word.lower() if word.isascii() else "")
                    if j - i > MAX_STRING:
                        raise _Problem(i, _("name longer than %(limit)s characters") % {"limit": MAX_STRING})
                tokens.append(token)
                i = token.end
            else:
                raise _Problem(i, _("unexpected character %(char)s") % {"char": _show_char(ch)})
    except _Problem as problem:
        tokens.append(Token("error", problem.pos, problem.pos, "", problem))
        return tokens


def _read_tag(text: str, start: int, name_at: int) -> Token:
    """`tag:NAME` or `tag:"any name"` starting at `start`; the name starts at `name_at`."""
    if name_at < len(text) and text[name_at] in "\"'":
        name, end = _read_string(text, name_at)
        if not name:
            raise _Problem(name_at, _("the tag name is empty"), [A_TAG_NAME])
    elif name_at < len(text) and _is_word_char(text[name_at]):
        end = _word_end(text, name_at)
        name = text[name_at:end]
        if len(name) > MAX_STRING:
            raise _Problem(name_at, _("name longer than %(limit)s characters") % {"limit": MAX_STRING})
    else:
        raise _Problem(
            name_at,
            _("expected a tag name right after 'tag:' (tag:beach, or tag:\"summer house\" with spaces)"),
            [A_TAG_NAME],
        )
    return Token("tag", start, end, text[start:end], name)


# --- parser ----------------------------------------------------------------------------------------


def _describe(item: str) -> str:
    return _(_DESCRIPTIONS[item]) if item in _DESCRIPTIONS else item


def _render_expected(expected: Sequence[str]) -> str:
    """`expected` for a message, e.g. `')' or 'and'/'or'`; end of filter is left out unless alone."""
    items = [e for e in expected if e != END] or list(expected)
    both = "'and'" in items and "'or'" in items and len(items) > 2
    parts = [_describe(e) for e in items if not (both and e == "'or'")]
    if both:
        parts[parts.index("'and'")] = "'and'/'or'"
    if len(parts) == 1:
        return parts[0]
    return _("%(items)s or %(last)s") % {"items": ", ".join(parts[:-1]), "last": parts[-1]}


def _field_problem(name: str, *, top_level: bool) -> str | None:
    """Why `name` cannot be a field (None if it can)."""
    if (
        not name
        or not _is_word_start(name[0])
        or _word_end(name, 0) != len(name)
        or "" in name.split(".")
        or len(name) > MAX_STRING
    ):
        return _("invalid field name %(field)s (use letters, digits and _, parts joined by dots)") % {
            "field": _show(name)
        }
    if top_level and name.isascii() and name.lower() in _RESERVED_FIELDS:
        return _("%(field)s is a keyword and cannot be a field here") % {"field": _show(name)}
    return None


def _is_bare(text: str) -> bool:
    """Whether `text` reads back as one bare word value."""
    return (
        bool(text)
        and _is_word_start(text[0])
        and _word_end(text, 0) == len(text)
        and len(text) <= MAX_STRING
        and not (text.isascii() and text.lower() in _RESERVED_VALUES)
    )


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, text: str, *, search: bool = False) -> None:
        self.search = search
        self.tokens = tokenize(text)
        self.tokens.append(self.tokens[-1])  # so peek(1) at the last token needs no bounds check
        self.i = 0
        self.depth = 0
        self.terms = 0

    # -- token access

    def peek(self, ahead: int = 0) -> Token:
        token = self.tokens[self.i + ahead]
        if token.kind == "error":
            raise token.value
        return token

    def advance(self) -> Token:
        token = self.peek()
        self.i += 1
        return token

    def found(self, token: Token) -> str:
        return _("end of filter") if token.kind == "end" else _show(token.text)

    def fail(self, token: Token, expected: Sequence[str], reason: str | None = None) -> _Problem:
        if reason is None:
            reason = _("expected %(expected)s, found %(found)s") % {
                "expected": _render_expected(expected),
                "found": self.found(token),
            }
        return _Problem(token.pos, reason, expected)

    def fail_unclosed(self, token: Token, expected: Sequence[str], opening: Token) -> _Problem:
        """`expected` (which includes ')') at `token`; at the end, name the '(' left open."""
        if token.kind != "end":
            return self.fail(token, expected)
        reason = _("expected ')' — the '(' at position %(open)s is not closed") % {"open": opening.pos}
        return _Problem(token.pos, reason, expected)

    def expect(self, kind: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.fail(token, [f"'{kind}'"])
        return self.advance()

    def expect_keyword(self, word: str) -> Token:
        token = self.peek()
        if token.keyword != word:
            raise self.fail(token, [f"'{word}'"])
        return self.advance()

    def close(self, opening: Token, expected: Sequence[str] = ("')'",)) -> None:
        token = self.peek()
        if token.kind != ")":
            raise self.fail_unclosed(token, expected, opening)
        self.advance()

    def enter(self, token: Token) -> None:
        """One level deeper (a '(' or a 'not'); checked before descending, so never a RecursionError."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Problem(token.pos, _("nested deeper than %(limit)s levels") % {"limit": MAX_DEPTH})

    def count_term(self, token: Token) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _Problem(token.pos, _("too many conditions (at most %(limit)s)") % {"limit": MAX_TERMS})

    # -- logic

    def filter(self) -> Node:
        if self.peek().kind == "end":
            raise _Problem(0, _("empty filter"), [A_CONDITION])
        node = self.or_expr()
        token = self.peek()
        if token.kind != "end":
            expected = ["'and'", "'or'", END]
            if token.kind == ")":
                raise _Problem(token.pos, _("found ')' without a matching '('"), expected)
            raise self.fail(token, expected)
        return node

    def or_expr(self) -> Node:
        first = self.and_expr()
        children = [first]
        while self.peek().keyword == "or":
            self.advance()
            child = self.and_expr()
            children.extend(child.children if isinstance(child, Or) else (child,))
        if len(children) == 1:
            return first
        if isinstance(first, Or):  # (a or b) or c
            children[:1] = first.children
        return Or(tuple(children), pos=first.pos)

    def and_expr(self) -> Node:
        first = self.not_expr()
        children = [first]
        while self.peek().keyword == "and":
            self.advance()
            child = self.not_expr()
            children.extend(child.children if isinstance(child, And) else (child,))
        if len(children) == 1:
            return first
        if isinstance(first, And):
            children[:1] = first.children
        return And(tuple(children), pos=first.pos)

    def not_expr(self) -> Node:
        token = self.peek()
        if token.keyword != "not":
            return self.primary()
        self.advance()
        self.enter(token)
        child = self.not_expr()
        self.depth -= 1
        return Not(child, pos=token.pos)

    def primary(self) -> Node:
        token = self.peek()
        if token.kind == "(":
            self.advance()
            self.enter(token)
            node = self.or_expr()
            self.close(token, ["')'", "'and'", "'or'"])
            self.depth -= 1
            return node
        if token.kind == "tag":
            self.count_term(token)
            self.advance()
            return Tag(token.value, pos=token.pos)
        if self.search and token.kind == "string":
            self.count_term(token)
            self.advance()
            return Search(token.value, quoted=True, pos=token.pos)
        if token.kind != "word" or token.keyword in ("and", "or"):
            raise self.fail(token, [A_CONDITION])
        word, following = token.keyword, self.peek(1)
        if word == "in" and following.keyword == "segment":
            return self.segment_ref()
        if word == "has" and following.keyword == "deal":
            return self.has_deal()
        if word == "visited" and following.kind == "(":
            return self.visited()
        if word == "event" and following.kind == "(":
            return self.event()
        if word == "visits":
            return self.visits()
        if word in ("opened_email", "clicked_email"):
            self.count_term(token)
            self.advance()
            return Email(word.removesuffix("_email"), self.window(), pos=token.pos)
        if self.search and self.is_search_word(token):
            return self.search_words()
        return self.comparison()

    # -- plain search (search=True)

    def is_search_word(self, token: Token) -> bool:
        """A word (or number, date) that starts no construct and is not followed by an operator."""
        if token.kind in ("number", "date", "datetime", "duration"):
            return True
        if token.kind != "word" or token.keyword in _SEARCH_STOP:
            return False
        following = self.peek(1)
        return following.kind != "op" and following.keyword not in _FIELD_FOLLOWERS and following.kind != "("

    def search_words(self) -> Search:
        first = self.peek()
        self.count_term(first)
        words = []
        while self.is_search_word(self.peek()):
            words.append(self.advance().text)
        return Search(" ".join(words), pos=first.pos)

    # -- contact conditions

    def field_name(self, *, top_level: bool) -> Token:
        token = self.peek()
        if token.kind != "word":
            raise self.fail(token, [A_FIELD])
        problem = _field_problem(token.text, top_level=top_level)
        if problem:
            raise _Problem(token.pos, problem, [A_FIELD])
        self.count_term(token)
        return self.advance()

    def comparison(self) -> Node:
        field_token = self.field_name(top_level=True)
        name, pos = field_token.text, field_token.pos
        token = self.peek()
        word = token.keyword
        if token.kind == "op" and token.text in ("~", "!~"):
            self.advance()
            return Contains(name, self.text_argument(), negated=token.text == "!~", pos=pos)
        if token.kind == "op":
            self.advance()
            return Compare(name, token.text, self.value(), pos=pos)
        if word == "in":
            self.advance()
            return In(name, self.value_list(), pos=pos)
        if word == "not":
            self.advance()
            after = self.peek()
            if after.keyword == "in":
                self.advance()
                return In(name, self.value_list(), negated=True, pos=pos)
            if after.keyword == "exists":
                self.advance()
                return Exists(name, negated=True, pos=pos)
            raise self.fail(after, ["'in'", "'exists'"])
        if word == "between":
            self.advance()
            low = self.value()
            self.expect_keyword("and")
            return Range(name, low, self.value(), pos=pos)
        if word == "within":
            self.advance()
            return DateWindow(name, Within(self.duration(), pos=token.pos), pos=pos)
        if word == "older":
            self.advance()
            self.expect_keyword("than")
            return DateWindow(name, OlderThan(self.duration(), pos=token.pos), pos=pos)
        if word in ("before", "after"):
            self.advance()
            moment = self.moment()
            when = Before(moment, pos=token.pos) if word == "before" else After(moment, pos=token.pos)
            return DateWindow(name, when, pos=pos)
        if word == "exists":
            self.advance()
            return Exists(name, pos=pos)
        if word == "is":
            self.advance()
            self.expect_keyword("empty")
            return Exists(name, negated=True, pos=pos)
        raise self.fail_after_field(field_token, token)

    def fail_after_field(self, field_token: Token, token: Token) -> _Problem:
        word = field_token.keyword
        follows = {"in": "segment", "has": "deal", "visited": "(", "event": "("}.get(word)
        if follows:  # `visited "/x"`, `has deals`: the keyword, not a field
            return self.fail(
                token,
                [f"'{follows}'"],
                _("expected '%(next)s' after '%(word)s', found %(found)s")
                % {"next": follows, "word": word, "found": self.found(token)},
            )
        expected = [f"'{op}'" for op in _AFTER_FIELD]
        if word == "tag":
            reason = _("expected an operator after 'tag', found %(found)s; a tag is written tag:name") % {
                "found": self.found(token)
            }
        else:
            reason = _("expected an operator after %(field)s (%(operators)s), found %(found)s") % {
                "field": _show(field_token.text),
                "operators": ", ".join(_AFTER_FIELD),
                "found": self.found(token),
            }
        return self.fail(token, expected, reason)

    def value_list(self) -> tuple[Value, ...]:
        opening = self.expect("(")
        values = [self.value()]
        while True:
            token = self.peek()
            if token.kind == ")":
                self.advance()
                return tuple(values)
            if token.kind != ",":
                raise self.fail_unclosed(token, ["','", "')'"], opening)
            self.advance()
            if len(values) >= MAX_IN_VALUES:
                raise _Problem(
                    self.peek().pos,
                    _("too many values in the list (at most %(limit)s)") % {"limit": MAX_IN_VALUES},
                )
            values.append(self.value())

    def value(self) -> Value:
        token = self.peek()
        pos, kind = token.pos, token.kind
        value: Value
        if kind == "string":
            value = Str(token.value, pos=pos)
        elif kind == "number":
            value = Num(token.value, pos=pos)
        elif kind == "date":
            value = Date(token.value, pos=pos)
        elif kind == "datetime":
            value = DateTime(token.value, pos=pos)
        elif kind == "duration":
            value = Duration(token.value.amount, token.value.unit, pos=pos)
        elif kind == "word" and token.keyword in ("true", "false"):
            value = Bool(token.keyword == "true", pos=pos)
        elif kind == "word" and token.keyword == "null":
            value = Null(pos=pos)
        elif kind == "word" and token.keyword not in _RESERVED_VALUES:
            value = Bare(token.text, pos=pos)
        elif kind == "word":
            raise self.fail(
                token,
                [A_VALUE],
                _('expected a value, found %(found)s (to mean the word itself, quote it: "%(word)s")')
                % {"found": _show(token.text), "word": token.text},
            )
        else:
            raise self.fail(token, [A_VALUE])
        self.advance()
        return value

    def text_argument(self, if_empty: str = "") -> str:
        """A quoted string or a bare word (segment and event names, page patterns, `~` text)."""
        token = self.peek()
        if token.kind == "string" or (token.kind == "word" and token.keyword not in _RESERVED_VALUES):
            self.advance()
            text = token.value if token.kind == "string" else token.text
            if if_empty and not text:
                raise _Problem(token.pos, if_empty)
            return str(text)
        raise self.fail(token, [A_STRING])

    def duration(self) -> Duration:
        token = self.peek()
        if token.kind == "duration":
            self.advance()
            return Duration(token.value.amount, token.value.unit, pos=token.pos)
        if token.kind == "number":
            raise self.fail(
                token,
                [A_DURATION],
                _("expected a duration such as 30d, found %(found)s: add a unit (m, h, d, w, mo, y)")
                % {"found": _show(token.text)},
            )
        raise self.fail(token, [A_DURATION])

    def moment(self) -> Date | DateTime:
        token = self.peek()
        if token.kind == "date":
            self.advance()
            return Date(token.value, pos=token.pos)
        if token.kind == "datetime":
            self.advance()
            return DateTime(token.value, pos=token.pos)
        raise self.fail(token, [A_DATE])

    # -- segments and behaviour

    def segment_ref(self) -> InSegment:
        first = self.advance()
        self.count_term(first)
        self.advance()
        opening = self.expect("(")
        name = self.text_argument(_("the segment name is empty"))
        self.close(opening)
        return InSegment(name, pos=first.pos)

    def has_deal(self) -> HasDeal:
        first = self.advance()
        self.count_term(first)
        self.advance()
        where: tuple[Condition, ...] = ()
        if self.peek().kind == "(":
            where = self.condition_list(self.advance())
        return HasDeal(where, pos=first.pos)

    def condition_list(self, opening: Token) -> tuple[Condition, ...]:
        """`field op value, ...` up to and including the closing ')'."""
        conditions = [self.condition()]
        while self.peek().kind == ",":
            self.advance()
            conditions.append(self.condition())
        self.close(opening, ["','", "')'"])
        return tuple(conditions)

    def condition(self) -> Condition:
        field_token = self.field_name(top_level=False)
        self.comparison_operator()
        op = self.advance().text
        return Condition(field_token.text, op, self.value(), pos=field_token.pos)

    def comparison_operator(self) -> None:
        token = self.peek()
        if token.kind != "op" or token.text not in CMP_OPS:
            raise self.fail(token, _CMP_EXPECTED)

    def visited(self) -> Visited:
        first = self.advance()
        self.count_term(first)
        opening = self.advance()
        pattern = self.text_argument(_("the page pattern is empty"))
        self.close(opening)
        return Visited(pattern, self.window(), pos=first.pos)

    def visits(self) -> Visits:
        first = self.advance()
        self.count_term(first)
        self.comparison_operator()
        op = self.advance().text
        token = self.peek()
        if token.kind != "number":
            raise self.fail(token, [A_NUMBER])
        number: Decimal = token.value
        if number != number.to_integral_value() or number < 0:
            raise _Problem(
                token.pos,
                _("expected a whole number of visits, found %(found)s") % {"found": _show(token.text)},
                [A_NUMBER],
            )
        if number > MAX_VISITS:
            raise _Problem(token.pos, _("number too large (at most %(limit)s)") % {"limit": MAX_VISITS})
        self.advance()
        return Visits(op, int(number), self.window(), pos=first.pos)

    def event(self) -> Event:
        first = self.advance()
        self.count_term(first)
        opening = self.advance()
        name = self.text_argument(_("the event name is empty"))
        where: tuple[Condition, ...] = ()
        if self.peek().kind == ",":
            self.advance()
            where = self.condition_list(opening)
        else:
            self.close(opening, ["','", "')'"])
        return Event(name, where, self.window(), pos=first.pos)

    def window(self) -> TimeWindow | None:
        token = self.peek()
        word = token.keyword
        if word not in ("within", "before", "after", "between"):
            return None
        self.advance()
        if word == "within":
            return Within(self.duration(), pos=token.pos)
        if word == "before":
            return Before(self.moment(), pos=token.pos)
        if word == "after":
            return After(self.moment(), pos=token.pos)
        low = self.moment()
        self.expect_keyword("and")
        return Between(low, self.moment(), pos=token.pos)


# Keywords after a field (`x in`, `x not in`, `x between`, ...): a word before them is a field.
_FIELD_FOLLOWERS = frozenset({"in", "not", "between", "within", "older", "before", "after", "exists", "is"})
# Words that are never plain search words.
_SEARCH_STOP = frozenset({"and", "or", "not", "visits", "opened_email", "clicked_email"})
# Characters that make text a filter rather than plain search words.
_FILTER_CHARS = re.compile(r'[=<>~()"]')
_WHITESPACE = re.compile(r"\s+")


def parse(text: str, *, field: str = "q", search: bool = False) -> Node:
    """The AST of `text`; raises FilterSyntaxError (its FieldError names `field`)."""
    if not isinstance(text, str):
        raise FilterSyntaxError(0, _("the filter must be text"), field=field)
    if len(text) > MAX_LENGTH:
        reason = _("the filter is longer than %(limit)s characters") % {"limit": MAX_LENGTH}
        raise FilterSyntaxError(MAX_LENGTH, reason, field=field)
    try:
        return _Parser(text, search=search).filter()
    except _Problem as problem:
        if search and not _FILTER_CHARS.search(text) and "tag:" not in text.lower():
            # Plain words the grammar cannot read (an email, a phone, O'Brien): search for them.
            words = _WHITESPACE.sub(" ", text).strip()
            if words and len(words) <= MAX_STRING and not _FORBIDDEN_CHAR.search(words):
                return Search(words, pos=len(text) - len(text.lstrip()))
        raise FilterSyntaxError(problem.pos, problem.reason, problem.expected, field=field) from None


# --- canonical text --------------------------------------------------------------------------------


def quote(text: str) -> str:
    """`text` as a double-quoted string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _is_name(text: str) -> bool:
    return bool(text) and _word_end(text, 0) == len(text)


def _datetime_text(value: dt.datetime) -> str:
    text = f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}"
    if value.second:
        text += f":{value.second:02d}"
    offset = value.utcoffset()
    if offset is None:
        return text
    if not offset:
        return text + "Z"
    minutes = int(abs(offset).total_seconds()) // 60
    return text + f"{'-' if offset < dt.timedelta(0) else '+'}{minutes // 60:02d}:{minutes % 60:02d}"


def value_text(value: Value) -> str:
    """The literal as it is written in a filter (strings quoted, bare words not)."""
    match value:
        case Str():
            return quote(value.value)
        case Num():
            return format(value.value, "f")
        case Date():
            return value.value.isoformat()
        case DateTime():
            return _datetime_text(value.value)
        case Duration():
            return value.text
        case Bare():
            return value.value
        case Bool():
            return "true" if value.value else "false"
        case Null():
            return "null"
    raise TypeError(f"not a value: {value!r}")


def _window_text(when: DateWhen | TimeWindow | None) -> str:
    match when:
        case None:
            return ""
        case Within():
            return f"within {when.duration.text}"
        case OlderThan():
            return f"older than {when.duration.text}"
        case Before():
            return f"before {value_text(when.moment)}"
        case After():
            return f"after {value_text(when.moment)}"
        case Between():
            return f"between {value_text(when.low)} and {value_text(when.high)}"
    raise TypeError(f"not a time window: {when!r}")


def _with_window(text: str, when: TimeWindow | None) -> str:
    return f"{text} {_window_text(when)}" if when is not None else text


def _conditions_text(conditions: Sequence[Condition]) -> str:
    return ", ".join(f"{c.field} {c.op} {value_text(c.value)}" for c in conditions)


def to_text(node: Node) -> str:
    """Canonical text: lower-case keywords, single spaces, parentheses only where precedence needs
    them, strings double-quoted, tag names bare when they are words. parse(to_text(n)) == n."""
    match node:
        case And():
            return " and ".join(f"({to_text(c)})" if isinstance(c, Or) else to_text(c) for c in node.children)
        case Or():
            return " or ".join(to_text(c) for c in node.children)
        case Not():
            inner = to_text(node.child)
            return f"not ({inner})" if isinstance(node.child, And | Or) else f"not {inner}"
        case Tag():
            return f"tag:{node.name}" if _is_name(node.name) else f"tag:{quote(node.name)}"
        case InSegment():
            return f"in segment({quote(node.name)})"
        case Compare():
            return f"{node.field} {node.op} {value_text(node.value)}"
        case In():
            values = ", ".join(value_text(v) for v in node.values)
            return f"{node.field} {'not in' if node.negated else 'in'} ({values})"
        case Contains():
            return f"{node.field} {'!~' if node.negated else '~'} {quote(node.value)}"
        case Range():
            return f"{node.field} between {value_text(node.low)} and {value_text(node.high)}"
        case Exists():
            return f"{node.field} {'not exists' if node.negated else 'exists'}"
        case DateWindow():
            return f"{node.field} {_window_text(node.when)}"
        case Visited():
            return _with_window(f"visited({quote(node.pattern)})", node.when)
        case Visits():
            return _with_window(f"visits {node.op} {node.count}", node.when)
        case Event():
            where = f", {_conditions_text(node.where)}" if node.where else ""
            return _with_window(f"event({quote(node.name)}{where})", node.when)
        case Email():
            return _with_window(f"{node.action}_email", node.when)
        case HasDeal():
            return f"has deal({_conditions_text(node.where)})" if node.where else "has deal"
        case Search():
            return quote(node.text) if node.quoted else node.text
    raise TypeError(f"not a filter node: {node!r}")


# --- walking ---------------------------------------------------------------------------------------


def _children(node: _Node) -> list[_Node]:
    found: list[_Node] = []
    for spec in dataclass_fields(node):
        item = getattr(node, spec.name)
        if isinstance(item, _Node):
            found.append(item)
        elif isinstance(item, tuple):
            found.extend(x for x in item if isinstance(x, _Node))
    return found


def walk(node: AnyNode) -> Iterator[AnyNode]:
    """Every node under `node` (itself included) in source order: logic, conditions, windows, values."""
    stack: list[_Node] = [node]
    while stack:
        current = stack.pop()
        yield current  # type: ignore[misc]  # every _Node subclass is in AnyNode
        stack.extend(reversed(_children(current)))


def fields(node: Node) -> list[FieldUse]:
    """Every field the filter names, in source order, for the compiler to check."""
    found: list[FieldUse] = []
    for item in walk(node):
        if isinstance(item, Compare | In | Contains | Range | Exists | DateWindow):
            found.append(FieldUse(item.field, item.pos, "contact"))
        elif isinstance(item, HasDeal | Event):
            scope = "deal" if isinstance(item, HasDeal) else "event"
            found.extend(FieldUse(c.field, c.pos, scope) for c in item.where)
    return found


# --- JSON tree -------------------------------------------------------------------------------------


_VALUE_TYPES: dict[type, str] = {
    Str: "str",
    Num: "num",
    Date: "date",
    DateTime: "datetime",
    Duration: "duration",
    Bare: "bare",
    Bool: "bool",
    Null: "null",
}


def value_json(value: Value) -> dict[str, str]:
    kind = _VALUE_TYPES[type(value)]
    text = value.value if isinstance(value, Str) else value_text(value)
    return {"type": kind, "value": text}


def _when_json(when: DateWhen | TimeWindow | None) -> dict[str, Any] | None:
    match when:
        case None:
            return None
        case Within():
            return {"within": when.duration.text}
        case OlderThan():
            return {"older_than": when.duration.text}
        case Before():
            return {"before": value_text(when.moment)}
        case After():
            return {"after": value_text(when.moment)}
        case Between():
            return {"between": [value_text(when.low), value_text(when.high)]}
    raise TypeError(f"not a time window: {when!r}")


def _conditions_json(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    return [{"field": c.field, "cmp": c.op, "value": value_json(c.value)} for c in conditions]


def to_json(node: Node) -> dict[str, Any]:
    """The JSON tree of the UI builder and the API (see the module docstring of the shapes)."""
    match node:
        case And() | Or():
            return {
                "op": "and" if isinstance(node, And) else "or",
                "children": [to_json(c) for c in node.children],
            }
        case Not():
            return {"op": "not", "child": to_json(node.child)}
        case Tag():
            return {"op": "tag", "name": node.name}
        case InSegment():
            return {"op": "segment", "name": node.name}
        case Compare():
            return {"op": "cmp", "field": node.field, "cmp": node.op, "value": value_json(node.value)}
        case In():
            values = [value_json(v) for v in node.values]
            return {"op": "in", "field": node.field, "values": values, "negated": node.negated}
        case Contains():
            return {"op": "contains", "field": node.field, "value": node.value, "negated": node.negated}
        case Range():
            return {
                "op": "between",
                "field": node.field,
                "low": value_json(node.low),
                "high": value_json(node.high),
            }
        case Exists():
            return {"op": "exists", "field": node.field, "negated": node.negated}
        case DateWindow():
            return {"op": "date", "field": node.field, "when": _when_json(node.when)}
        case Visited():
            return {"op": "visited", "pattern": node.pattern, "when": _when_json(node.when)}
        case Visits():
            return {"op": "visits", "cmp": node.op, "count": node.count, "when": _when_json(node.when)}
        case Event():
            where = _conditions_json(node.where)
            return {"op": "event", "name": node.name, "where": where, "when": _when_json(node.when)}
        case Email():
            return {"op": "email", "action": node.action, "when": _when_json(node.when)}
        case HasDeal():
            return {"op": "has_deal", "where": _conditions_json(node.where)}
        case Search():
            return {"op": "search", "text": node.text, "quoted": node.quoted}
    raise TypeError(f"not a filter node: {node!r}")


# The keys of each op: required, then optional (with their defaults when absent).
_SHAPES: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "and": (("children",), {}),
    "or": (("children",), {}),
    "not": (("child",), {}),
    "tag": (("name",), {}),
    "segment": (("name",), {}),
    "cmp": (("field", "cmp", "value"), {}),
    "in": (("field", "values"), {"negated": False}),
    "contains": (("field", "value"), {"negated": False}),
    "between": (("field", "low", "high"), {}),
    "exists": (("field",), {"negated": False}),
    "date": (("field", "when"), {}),
    "visited": (("pattern",), {"when": None}),
    "visits": (("cmp", "count"), {"when": None}),
    "event": (("name",), {"where": [], "when": None}),
    "email": (("action",), {"when": None}),
    "has_deal": ((), {"where": []}),
    "search": (("text",), {"quoted": False}),
}


_UNKNOWN_OP = gettext_noop("unknown operator %(found)s (use %(choices)s)")
_UNKNOWN_CMP = gettext_noop("unknown comparison %(found)s (use %(choices)s)")
_UNKNOWN_VALUE_TYPE = gettext_noop("unknown value type %(found)s (use %(choices)s)")
_UNKNOWN_VALUE = gettext_noop("invalid value %(found)s (use %(choices)s)")
_UNKNOWN_WINDOW = gettext_noop("unknown time window %(found)s (use %(choices)s)")
_UNKNOWN_ACTION = gettext_noop("unknown action %(found)s (use %(choices)s)")


class _TreeProblem(Exception):
    """Raised inside the tree reader; from_json() turns it into FilterTreeError."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def _type_name(data: object) -> str:
    if data is None:
        return "null"
    if isinstance(data, bool):
        return "true" if data else "false"
    return {dict: "object", list: "list", str: "string", int: "number", float: "number"}.get(
        type(data), type(data).__name__
    )


class _TreeReader:
    """Validates a JSON tree and builds the AST; every error names its JSON path."""

    def __init__(self) -> None:
        self.terms = 0

    def mapping(
        self, data: object, path: str, required: Sequence[str], optional: dict[str, Any]
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise _TreeProblem(path, _("expected an object, found %(found)s") % {"found": _type_name(data)})
        for key in data:
            if key not in required and key not in optional and key != "op":
                raise _TreeProblem(path, _("unknown key %(key)s") % {"key": _show(str(key))})
        for key in required:
            if key not in data:
                raise _TreeProblem(path, _("missing key %(key)s") % {"key": _show(key)})
        return {**optional, **data}

    def string(self, data: object, path: str, *, empty: bool = True) -> str:
        if not isinstance(data, str):
            raise _TreeProblem(path, _("expected a string, found %(found)s") % {"found": _type_name(data)})
        if len(data) > MAX_STRING:
            raise _TreeProblem(path, _("string longer than %(limit)s characters") % {"limit": MAX_STRING})
        if bad := _FORBIDDEN_CHAR.search(data):
            raise _TreeProblem(
                path, _("character %(char)s is not allowed in a string") % {"char": _show_char(bad[0])}
            )
        if not empty and not data:
            raise _TreeProblem(path, _("must not be empty"))
        return data

    def flag(self, data: object, path: str) -> bool:
        if not isinstance(data, bool):
            raise _TreeProblem(
                path, _("expected true or false, found %(found)s") % {"found": _type_name(data)}
            )
        return data

    def items(self, data: object, path: str) -> list[Any]:
        if not isinstance(data, list):
            raise _TreeProblem(path, _("expected a list, found %(found)s") % {"found": _type_name(data)})
        return data

    def choice(self, data: object, path: str, choices: Sequence[str], unknown: str) -> str:
        """`data` if it is one of `choices`; else the error `unknown` (a gettext_noop message)."""
        if not isinstance(data, str) or data not in choices:
            shown = _show(data) if isinstance(data, str) else _type_name(data)
            raise _TreeProblem(path, _(unknown) % {"found": shown, "choices": ", ".join(choices)})
        return data

    def field(self, data: object, path: str, *, top_level: bool = True) -> str:
        name = self.string(data, path)
        problem = _field_problem(name, top_level=top_level)
        if problem:
            raise _TreeProblem(path, problem)
        return name

    def count_term(self, path: str) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise _TreeProblem(path, _("too many conditions (at most %(limit)s)") % {"limit": MAX_TERMS})

    def literal(self, text: object, path: str, kind: str, what: str) -> Any:
        # `what` is a gettext_noop description, translated only for the message.
        """A number, date, date-time or duration written as text, read as the tokenizer reads it."""
        raw = self.string(text, path)
        try:
            found, value = _classify(raw)
        except _Problem as problem:
            raise _TreeProblem(path, problem.reason) from None
        if found != kind and not (kind == "moment" and found in ("date", "datetime")):
            raise _TreeProblem(
                path, _("expected %(expected)s, found %(found)s") % {"expected": _(what), "found": _show(raw)}
            )
        return value

    def duration(self, data: object, path: str) -> Duration:
        value: Duration = self.literal(data, path, "duration", gettext_noop("a duration such as 30d"))
        return value

    def moment(self, data: object, path: str) -> Date | DateTime:
        value = self.literal(data, path, "moment", gettext_noop("a date (YYYY-MM-DD) or date-time"))
        return DateTime(value) if isinstance(value, dt.datetime) else Date(value)

    def value(self, data: object, path: str) -> Value:
        obj = self.mapping(data, path, ("type", "value"), {})
        names = ("str", "num", "date", "datetime", "duration", "bare", "bool", "null")
        kind = self.choice(obj["type"], f"{path}.type", names, _UNKNOWN_VALUE_TYPE)
        raw, at = obj["value"], f"{path}.value"
        if kind == "str":
            return Str(self.string(raw, at))
        if kind == "num":
            if isinstance(raw, int) and not isinstance(raw, bool):
                return Num(Decimal(raw))
            return Num(self.literal(raw, at, "number", gettext_noop("a number such as 40 or -2.5")))
        if kind == "date":
            return Date(self.literal(raw, at, "date", gettext_noop("a date (YYYY-MM-DD)")))
        if kind == "datetime":
            return DateTime(self.literal(raw, at, "datetime", gettext_noop("a date-time (YYYY-MM-DDTHH:MM)")))
        if kind == "duration":
            return self.duration(raw, at)
        if kind == "bare":
            word = self.string(raw, at)
            if not _is_bare(word):
                raise _TreeProblem(
                    at,
                    _(
                        "%(found)s is not a bare word (letters, digits, _ - . after a first letter, and not a "
                        "keyword such as and, in, true or null): give it the type str"
                    )
                    % {"found": _show(word)},
                )
            return Bare(word)
        if kind == "bool":
            if isinstance(raw, bool):
                return Bool(raw)
            return Bool(self.choice(raw, at, ("true", "false"), _UNKNOWN_VALUE) == "true")
        if raw is not None:
            self.choice(raw, at, ("null",), _UNKNOWN_VALUE)
        return Null()

    def when(self, data: object, path: str, choices: Sequence[str]) -> Any:
        if data is None:
            return None
        if not isinstance(data, dict) or len(data) != 1:
            raise _TreeProblem(
                path,
                _("expected an object with one key of %(choices)s") % {"choices": ", ".join(choices)},
            )
        [(key, raw)] = data.items()
        key = self.choice(key, path, choices, _UNKNOWN_WINDOW)
        at = f"{path}.{key}"
        if key == "within":
            return Within(self.duration(raw, at))
        if key == "older_than":
            return OlderThan(self.duration(raw, at))
        if key == "before":
            return Before(self.moment(raw, at))
        if key == "after":
            return After(self.moment(raw, at))
        pair = self.items(raw, at)
        if len(pair) != 2:
            raise _TreeProblem(at, _("expected a list of two dates"))
        return Between(self.moment(pair[0], f"{at}[0]"), self.moment(pair[1], f"{at}[1]"))

    def conditions(self, data: object, path: str) -> tuple[Condition, ...]:
        found = []
        for index, item in enumerate(self.items(data, path)):
            at = f"{path}[{index}]"
            obj = self.mapping(item, at, ("field", "cmp", "value"), {})
            self.count_term(at)
            found.append(
                Condition(
                    self.field(obj["field"], f"{at}.field", top_level=False),
                    self.choice(obj["cmp"], f"{at}.cmp", CMP_OPS, _UNKNOWN_CMP),
                    self.value(obj["value"], f"{at}.value"),
                )
            )
        return tuple(found)

    def node(self, data: object, path: str, depth: int) -> Node:
        if not isinstance(data, dict):
            raise _TreeProblem(path, _("expected an object, found %(found)s") % {"found": _type_name(data)})
        if "op" not in data:
            raise _TreeProblem(path, _("missing key %(key)s") % {"key": "'op'"})
        # "search" (a plain search of the contact list) is accepted but not offered to builders.
        listed = tuple(k for k in _SHAPES if k != "search")
        op = (
            "search" if data["op"] == "search" else self.choice(data["op"], f"{path}.op", listed, _UNKNOWN_OP)
        )
        required, optional = _SHAPES[op]
        obj = self.mapping(data, path, required, optional)
        if op in ("and", "or", "not"):
            if depth >= MAX_DEPTH + 1:
                raise _TreeProblem(path, _("nested deeper than %(limit)s levels") % {"limit": MAX_DEPTH})
            if op == "not":
                return Not(self.node(obj["child"], f"{path}.child", depth + 1))
            return self.group(op, obj["children"], f"{path}.children", depth)
        self.count_term(path)
        return self.leaf(op, obj, path)

    def group(self, op: str, data: object, path: str, depth: int) -> Node:
        kind = And if op == "and" else Or
        children: list[Node] = []
        for index, item in enumerate(self.items(data, path)):
            child = self.node(item, f"{path}[{index}]", depth + 1)
            # The parser flattens `a and (b and c)`; so does the reader, and a group of one is its child.
            children.extend(child.children if isinstance(child, kind) else (child,))
        if not children:
            raise _TreeProblem(path, _("a group needs at least one condition"))
        return children[0] if len(children) == 1 else kind(tuple(children))

    def leaf(self, op: str, obj: dict[str, Any], path: str) -> Node:

        def at(key: str) -> str:
            return f"{path}.{key}"

        if op in ("tag", "segment"):
            name = self.string(obj["name"], at("name"), empty=False)
            return Tag(name) if op == "tag" else InSegment(name)
        if op == "visited":
            pattern = self.string(obj["pattern"], at("pattern"), empty=False)
            return Visited(
                pattern, self.when(obj["when"], at("when"), ("within", "before", "after", "between"))
            )
        if op == "visits":
            count = obj["count"]
            if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_VISITS:
                raise _TreeProblem(
                    at("count"), _("expected a whole number from 0 to %(limit)s") % {"limit": MAX_VISITS}
                )
            cmp = self.choice(obj["cmp"], at("cmp"), CMP_OPS, _UNKNOWN_CMP)
            return Visits(
                cmp, count, self.when(obj["when"], at("when"), ("within", "before", "after", "between"))
            )
        if op == "event":
            name = self.string(obj["name"], at("name"), empty=False)
            where = self.conditions(obj["where"], at("where"))
            return Event(
                name, where, self.when(obj["when"], at("when"), ("within", "before", "after", "between"))
            )
        if op == "email":
            action = self.choice(obj["action"], at("action"), EMAIL_ACTIONS, _UNKNOWN_ACTION)
            return Email(action, self.when(obj["when"], at("when"), ("within", "before", "after", "between")))
        if op == "has_deal":
            return HasDeal(self.conditions(obj["where"], at("where")))
        if op == "search":
            text = self.string(obj["text"], at("text"), empty=False)
            return Search(text, quoted=self.flag(obj["quoted"], at("quoted")))
        name = self.field(obj["field"], at("field"))
        if op == "cmp":
            cmp = self.choice(obj["cmp"], at("cmp"), CMP_OPS, _UNKNOWN_CMP)
            return Compare(name, cmp, self.value(obj["value"], at("value")))
        if op == "in":
            raw = self.items(obj["values"], at("values"))
            if not raw:
                raise _TreeProblem(at("values"), _("the list needs at least one value"))
            if len(raw) > MAX_IN_VALUES:
                raise _TreeProblem(
                    at("values"),
                    _("too many values in the list (at most %(limit)s)") % {"limit": MAX_IN_VALUES},
                )
            values = tuple(self.value(v, f"{at('values')}[{i}]") for i, v in enumerate(raw))
            return In(name, values, negated=self.flag(obj["negated"], at("negated")))
        if op == "contains":
            text = self.string(obj["value"], at("value"))
            return Contains(name, text, negated=self.flag(obj["negated"], at("negated")))
        if op == "between":
            return Range(name, self.value(obj["low"], at("low")), self.value(obj["high"], at("high")))
        if op == "exists":
            return Exists(name, negated=self.flag(obj["negated"], at("negated")))
        if obj["when"] is None:
            raise _TreeProblem(at("when"), _("expected an object, found %(found)s") % {"found": "null"})
        return DateWindow(
            name, self.when(obj["when"], at("when"), ("within", "older_than", "before", "after"))
        )


def from_json(data: Any, *, field: str = "filter") -> Node:
    """The AST of a JSON tree; raises FilterTreeError naming the JSON path of the first problem.

    Groups are flattened as the parser does (`and` inside `and`) and a group of one condition
    is that condition. The result is parsed back from its canonical text, so its `pos` values
    are offsets in `to_text(result)`, and a tree passes exactly when its text would (limits).
    """
    try:
        node = _TreeReader().node(data, "$", 0)
    except _TreeProblem as problem:
        raise FilterTreeError(problem.path, problem.reason, field=field) from None
    try:
        return parse(to_text(node), field=field, search=any(isinstance(n, Search) for n in walk(node)))
    except FilterSyntaxError as exc:
        raise FilterTreeError("$", exc.reason, field=field) from None
