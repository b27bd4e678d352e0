"""Reading the CSV files people actually have: streamed, encoding and delimiter detected.

A file is read line by line with a cap on each physical line (`MAX_LINE_BYTES`) and on each
field (`MAX_FIELD_CHARS`), so memory stays flat whatever the file size and a 500 MB line costs
1 MB of memory and one row error. Each physical line is decoded on its own: bytes that are
not valid in the detected encoding spoil that row only (reported, never a crash).

Row numbers are line numbers in the file, the header being row 1; a record whose quoted
field spans several lines carries the number of the line it starts on.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leadbridge.core.errors import FieldError, ValidationFailed

MAX_LINE_BYTES = 1 << 20  # one physical line; longer ones are skipped with a row error
MAX_FIELD_CHARS = 1 << 20  # one field, also across quoted line breaks
SAMPLE_BYTES = 64 * 1024  # read from the start (and a few places further on) to detect encoding
DELIMITERS = (",", ";", "\t", "|")
PREVIEW_ROWS = 5


@dataclass
class CsvInfo:
    """What `sniff` found out about a file; `suggested_mapping` maps header names to fields."""

    encoding: str
    delimiter: str
    header: list[str]
    preview: list[list[str]] = field(default_factory=list)
    suggested_mapping: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Record:
    """One CSV record: its values, or why it could not be read (then `values` is None)."""

    row: int
    values: list[str] | None
    error: str = ""
    last_line: int = 0


# --- detection ------------------------------------------------------------------------------


def _grouped(number: int) -> str:
    """1,048,576 in English, 1 048 576 in Russian: the active language's digit grouping."""
    return number_format(number, force_grouping=True)


def _file_error(message: str) -> ValidationFailed:
    return ValidationFailed([FieldError("file", message)], detail=message)


def _samples(fh: IO[bytes], size: int) -> list[bytes]:
    """The head of the file plus three chunks from further on, each starting at a line start."""
    head = fh.read(SAMPLE_BYTES)
    chunks = [head]
    if size > 4 * SAMPLE_BYTES:
        for fraction in (0.33, 0.66, 0.99):
            fh.seek(max(0, int(size * fraction) - SAMPLE_BYTES))
            chunk = fh.read(SAMPLE_BYTES)
            newline = chunk.find(b"\n")
            if newline >= 0:
                chunks.append(chunk[newline + 1 :])
    fh.seek(0)
    return chunks


def _decodes(chunk: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(chunk, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _looks_cyrillic(data: bytes) -> bool:
    """cp1251 or cp1250? Russian words are runs of non-ASCII letters; Polish letters sit among
    Latin ones (Imię, Łódź), so most of their bytes touch an ASCII letter."""
    high = touching_latin = 0
    last = len(data) - 1
    for i, b in enumerate(data[:SAMPLE_BYTES]):
        if b >= 0x80:
            high += 1
            before = data[i - 1] if i else 0
            after = data[i + 1] if i < last else 0
            if (before | 32) in _LATIN or (after | 32) in _LATIN:
                touching_latin += 1
    return touching_latin * 3 < high


_LATIN = frozenset(range(97, 123))


def detect_encoding(fh: IO[bytes], size: int) -> str:
    """UTF-8 (with or without BOM) if the samples decode as UTF-8, else cp1251 or cp1250."""
    chunks = _samples(fh, size)
    head = chunks[0]
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise _file_error(_("The file is UTF-16 (Excel 'Unicode text'); save it as 'CSV UTF-8' instead"))
    if all(_decodes(c, "utf-8") for c in chunks):
        return "utf-8"
    sample = b"".join(chunks)
    return "cp1251" if _looks_cyrillic(sample) else "cp1250"


def _complete_lines(text: str) -> str:
    """Drop a last line cut in the middle by the sample size."""
    cut = text.rfind("\n")
    return text[: cut + 1] if cut >= 0 else text


def detect_delimiter(text: str) -> str:
    """The candidate giving the header more than one column and the most rows of that width."""
    best: tuple[float, int, int] | None = None
    best_delim = ","
    for order, delim in enumerate(DELIMITERS):
        try:
            reader = csv.reader(io.StringIO(text), delimiter=delim)
            rows = [r for r in islice(reader, 30) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        consistent = sum(1 for r in body if len(r) == width) / len(body) if body else 1.0
        score = (consistent, width, -order)
        if best is None or score > best:
            best, best_delim = score, delim
    return best_delim


def clean_header(names: list[str]) -> list[str]:
    """Trimmed names; blank ones become 'column N'; the same name twice is an error."""
    header = [n.strip().lstrip("\ufeff").strip() or f"column {i + 1}" for i, n in enumerate(names)]
    seen: dict[str, int] = {}
    dupes: list[str] = []
    for i, name in enumerate(header):
        if name in seen:
            dupes.append(
                _("%(name)s (columns %(first)s and %(second)s)")
                % {"name": repr(name), "first": seen[name] + 1, "second": i + 1}
            )
        else:
            seen[name] = i
    if dupes:
        raise _file_error(
            _("The header names a column twice: %(columns)s; rename one of them")
            % {"columns": ", ".join(dupes)}
        )
    return header


# --- reading ----------------------------------------------------------------------------------

# The csv module's messages (English) for the mistakes a file really has, translated; others
# pass as they are.
_CSV_EXPECTED = re.compile(r"('.') expected after ('.')")
_CSV_PROBLEMS = {"unexpected end of data": gettext_lazy("unexpected end of data")}


def _csv_problem(text: str) -> str:
    if match := _CSV_EXPECTED.fullmatch(text):
        return _("%(expected)s expected after %(after)s") % {"expected": match[1], "after": match[2]}
    known = _CSV_PROBLEMS.get(text)
    return str(known) if known is not None else text


class CsvFile:
    """An open CSV file: detected encoding and delimiter, the header, then records on demand."""

    def __init__(
        self, path: str | Path, *, encoding: str | None = None, delimiter: str | None = None
    ) -> None:
        self.path = Path(path)
        self._fh: IO[bytes] = self.path.open("rb")
        try:
            self.size = self.path.stat().st_size
            self.encoding = encoding or detect_encoding(self._fh, self.size)
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise _file_error(
                    _("Unknown encoding %(encoding)s") % {"encoding": repr(self.encoding)}
                ) from None
            head = self._fh.read(SAMPLE_BYTES)
            self._fh.seek(0)
            if b"\r" in head and b"\n" not in head and len(head) > 0:
                raise _file_error(_("Lines end with CR only (classic Mac); save the file as CSV UTF-8"))
            if delimiter is None:
                text = head.decode(self.encoding, "replace")
                delimiter = detect_delimiter(_complete_lines(text) if len(head) == SAMPLE_BYTES else text)
            self.delimiter = delimiter
            self._bad_lines: dict[int, str] = {}
            self.line = 0
            csv.field_size_limit(MAX_FIELD_CHARS)
            self._line_iter = self._lines()
            self._reader = csv.reader(self._line_iter, delimiter=self.delimiter, strict=True)
            first = self._next_nonblank()
            if first is None:
                raise _file_error(_("The file is empty: it needs a header row"))
            if first.values is None:
                raise _file_error(_("Cannot read the header row: %(problem)s") % {"problem": first.error})
            self.header = clean_header(first.values)
        except BaseException:
            self._fh.close()
            raise

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> CsvFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def position(self) -> int:
        """Bytes read so far (for progress)."""
        return self._fh.tell()

    def _lines(self) -> Iterator[str]:
        fh, encoding, bad = self._fh, self.encoding, self._bad_lines
        first = True
        while True:
            chunk = fh.readline(MAX_LINE_BYTES + 1)
            if not chunk:
                return
            self.line += 1
            if len(chunk) > MAX_LINE_BYTES and not chunk.endswith(b"\n"):
                skipped = len(chunk)
                while True:
                    more = fh.readline(MAX_LINE_BYTES)
                    skipped += len(more)
                    if not more or more.endswith(b"\n"):
                        break
                bad[self.line] = _(
                    "Line %(line)s is %(size)s bytes long (at most %(limit)s); it was skipped"
                ) % {"line": self.line, "size": _grouped(skipped), "limit": _grouped(MAX_LINE_BYTES)}
                yield "\n"
                continue
            try:
                text = chunk.decode(encoding)
            except UnicodeDecodeError as exc:
                bad[self.line] = _(
                    "Line %(line)s is not valid %(encoding)s (byte %(byte)s of the line); "
                    "save the file as CSV UTF-8"
                ) % {"line": self.line, "encoding": encoding, "byte": exc.start + 1}
                text = chunk.decode(encoding, "replace")
            if first:
                text = text.lstrip("\ufeff")
                first = False
            yield text

    def _next(self) -> Record | None:
        start = self.line + 1
        try:
            values: list[str] | None = next(self._reader)
            error = ""
        except StopIteration:
            return None
        except csv.Error as exc:
            values, error = None, _csv_problem(str(exc))
            if "field larger than field limit" in error:
                # Only a quoted field spanning lines gets here (a line is capped below the limit):
                # skip to the line that closes the quote, so the rest of the field is not read
                # as rows of its own.
                error = _("a field is longer than %(limit)s characters") % {
                    "limit": _grouped(MAX_FIELD_CHARS)
                }
                for text in self._line_iter:
                    if text.count('"') % 2:
                        break
            error = _("Cannot read the row: %(problem)s") % {"problem": error}
        if self._bad_lines:
            for line in range(start, self.line + 1):
                problem = self._bad_lines.pop(line, None)
                if problem and values is not None:
                    values, error = None, problem
        return Record(row=start, values=values, error=error, last_line=self.line)

    def _next_nonblank(self) -> Record | None:
        while True:
            record = self._next()
            if record is None:
                return None
            if record.values is None or any(v.strip() for v in record.values):
                return record

    def records(self) -> Iterator[Record]:
        """Data records after the header; blank lines are skipped."""
        while True:
            record = self._next_nonblank()
            if record is None:
                return
            yield record


# --- header suggestions ------------------------------------------------------------------------

_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "e-mail",
        "e mail",
        "mail",
        "email address",
        "e-mail address",
        "почта",
        "эл почта",
        "эл. почта",
        "электронная почта",
        "адрес электронной почты",
        "емейл",
        "имейл",
        "адрес e-mail",
        "e-mail адрес",
        "adres e-mail",
        "adres email",
        "poczta",
        "poczta e-mail",
    ),
    "phone": (
        "phone",
        "phone number",
        "telephone",
        "tel",
        "tel.",
        "mobile",
        "mobile phone",
        "cell",
        "телефон",
        "тел",
        "тел.",
        "номер телефона",
        "мобильный",
        "мобильный телефон",
        "моб. телефон",
        "telefon",
        "numer telefonu",
        "nr telefonu",
        "tel. komórkowy",
        "komórka",
    ),
    "name": (
        "name",
        "full name",
        "fullname",
        "contact",
        "contact name",
        "фио",
        "ф.и.о.",
        "ф. и. о.",
        "полное имя",
        "имя и фамилия",
        "контакт",
        "контактное лицо",
        "imię i nazwisko",
        "kontakt",
    ),
    "first_name": ("first name", "firstname", "given name", "имя", "imię", "imie"),
    "last_name": ("last name", "lastname", "surname", "family name", "фамилия", "nazwisko"),
    "company": (
        "company",
        "company name",
        "organization",
        "organisation",
        "account",
        "account name",
        "компания",
        "организация",
        "название компании",
        "фирма",
        "firma",
        "nazwa firmy",
        "company/account",
    ),
    "job_title": ("job title", "title", "position", "должность", "stanowisko"),
    "street": ("street", "address", "street address", "адрес", "улица", "adres", "ulica"),
    "city": ("city", "town", "город", "населённый пункт", "населенный пункт", "miasto", "miejscowość"),
    "region": ("region", "state", "province", "область", "регион", "województwo"),
    "postal_code": (
        "postal code",
        "zip",
        "zip code",
        "postcode",
        "индекс",
        "почтовый индекс",
        "kod pocztowy",
    ),
    "country": ("country", "country code", "страна", "kraj"),
    "birthday": (
        "birthday",
        "date of birth",
        "birth date",
        "dob",
        "день рождения",
        "дата рождения",
        "data urodzenia",
    ),
    "tags": ("tags", "tag", "labels", "теги", "тэги", "метки", "tagi", "etykiety"),
    "external_id": ("external id", "externalid", "ext id", "crm id", "внешний id", "внешний идентификатор"),
    "owner": ("owner", "responsible", "assigned to", "ответственный", "владелец", "właściciel", "opiekun"),
    "stage": ("stage", "lifecycle stage", "стадия", "этап", "etap"),
    "ip_address": ("ip", "ip address", "ip-адрес", "ip адрес"),
    "emails": ("other emails", "additional emails", "emails", "другие email", "доп. email"),
    "phones": ("other phones", "additional phones", "phones", "другие телефоны", "доп. телефоны"),
    # leads
    "manager": ("manager", "sales manager", "менеджер", "ответственный менеджер", "handlowiec"),
    "channel": ("channel", "source channel", "канал", "kanał"),
    "occurred_at": ("occurred at", "date", "created", "created at", "дата", "дата обращения", "data"),
    "landing_page": ("landing page", "landing", "page", "url", "посадочная страница", "страница"),
    "referrer": ("referrer", "referer", "реферер", "источник перехода"),
    "class": ("class", "lead class", "класс", "класс обращения", "klasa"),
}
_PUNCT = re.compile(r"[\s_\-.:/()]+")


def _norm(name: str) -> str:
    return _PUNCT.sub("", name.strip().lower()).replace("ё", "е")


_LOOKUP: dict[str, str] = {}
for _field, _names in _SYNONYMS.items():
    for _name in (_field, *_names):
        _LOOKUP.setdefault(_norm(_name), _field)


def suggest_mapping(
    header: list[str], targets: list[str], custom_labels: dict[str, str] | None = None
) -> dict[str, str]:
    """Header name → field for the columns we recognise; each field is suggested once.

    `targets` are the fields of the import kind (including `custom.<key>`); `custom_labels`
    maps custom field labels to their `custom.<key>` so "Partner name" finds its field.
    """
    allowed = set(targets)
    by_norm = {_norm(t): t for t in targets}
    for label, custom in (custom_labels or {}).items():
        by_norm.setdefault(_norm(label), custom)
    for name in targets:
        if name.startswith("custom."):
            by_norm.setdefault(_norm(name[len("custom.") :]), name)
    out: dict[str, str] = {}
    used: set[str] = set()
    for name in header:
        key = _norm(name)
        target: str | None = by_norm.get(key) or _LOOKUP.get(key)
        if target is None and key.startswith("utm") and f"utm_{key[3:]}" in allowed:
            target = f"utm_{key[3:]}"
        if target and target in allowed and target not in used:
            out[name] = target
            used.add(target)
    return out
