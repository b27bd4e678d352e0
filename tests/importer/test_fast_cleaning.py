"""The importer's fast cleaning gives exactly the answers of the one validation rule.

`cleaning.row_cleaner` (per-column rules chosen once) must return what
`clean_contact_input(partial=True)` returns for the same row, errors included, and the email
shortcut in `validation.normalize_email` may only accept what Django's EmailValidator accepts.
Both are compared here on thousands of generated rows and addresses, many of them broken.
"""

from __future__ import annotations

import random
import string
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from leadbridge.contacts.cleaning import clean_contact_input, row_cleaner
from leadbridge.contacts.models import CustomField
from leadbridge.contacts.validation import _PLAIN_EMAIL, Invalid, normalize_email

DEFS = {
    "vip": CustomField(key="vip", label="VIP", kind="bool"),
    "size": CustomField(key="size", label="Size", kind="choice", choices=["S", "M", "L"], required=True),
    "score": CustomField(key="score", label="Score", kind="number"),
}
KEYS = [
    "name", "first_name", "last_name", "email", "phone", "emails", "phones", "company", "job_title",
    "city", "country", "birthday", "stage", "external_id", "tags", "owner", "ip_address",
    "postal_code", "custom.vip", "custom.size", "custom.score", "custom.nope", "bogus",
]  # fmt: skip
ODD = ["", " ", "\x00", "\x07bell", "tab\there", "line\nbreak", "\u00a0nbsp\u00a0", "é", "Ж", "\x7f"]


def _value(key: str, rng: random.Random) -> Any:
    pick = rng.random()
    if pick < 0.15:  # something broken or odd for any field
        return rng.choice([*ODD, "x" * rng.choice([19, 20, 21, 120, 121, 254, 255, 256]), 42, 4.5, None])
    if key == "email":
        return rng.choice(_emails(rng, 1))
    if key in {"phone", "phones"}:
        return rng.choice(
            ["+7 916 123-45-67", "8 (916) 123-45-67", "79161234567", "+44 7700 900123", "+48 501 234 567",
             "+7 916", "12", "+1 (202) 555-0143", "9161234567", "+7 916 123-45-67; +48501234567", "abc"]
        )  # fmt: skip
    if key == "emails":
        return "; ".join(_emails(rng, 2))
    if key == "birthday":
        return rng.choice(["1980-02-29", "2999-01-01", "1801-01-01", "31.12.1990", "1990-13-01", "soon"])
    if key == "country":
        return rng.choice(["ru", "PL", "RUS", "1A", " de "])
    if key == "stage":
        return rng.choice(["lead", "Customer", "nope", "MQL"])
    if key == "tags":
        return rng.choice(["vip; VIP, b2b", "a;;b", "x" * 101, "webinar"])
    if key == "ip_address":
        return rng.choice(["10.0.0.1", "::1", "999.1.1.1"])
    if key.startswith("custom."):
        return rng.choice(["yes", "no", "M", "XL", "1,5", "abc", ""])
    return rng.choice(["Анна", "  Jan Kowalski ", "Ltd Acme 7", "Zoë", "O'Brien", "Łódź"])


def _emails(rng: random.Random, n: int) -> list[str]:
    return [_email(rng) for _ in range(n)]


def _email(rng: random.Random) -> str:
    atoms = string.ascii_letters + string.digits + "-!#$%&'*+/=?^_`{}|~"
    local = "".join(rng.choice(atoms) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.3:
        local += "." + "".join(rng.choice(string.ascii_lowercase) for _ in range(3))
    host = string.ascii_lowercase + string.digits + "-"
    labels = ["".join(rng.choice(host) for _ in range(rng.randint(1, 8))) for _ in range(rng.randint(1, 3))]
    domain = ".".join(labels)
    tld = rng.choice(["ru", "com", "pl", "c", "r-u", "-ru", "ru-", "xn--p1ai", "рф", "1com", "museum", "Com"])
    email = f"{local}@{domain}.{tld}"
    twist = rng.random()
    if twist < 0.05:
        email = email.replace("@", " at ")
    elif twist < 0.1:
        email = email.replace(".", "..", 1)
    elif twist < 0.13:
        email = '"quoted local"@example.com'
    elif twist < 0.16:
        email = f"{local}@[127.0.0.1]"
    elif twist < 0.19:
        email = f"{local}@{domain}.{tld}."
    elif twist < 0.22:
        email = f"{local}@пример.рф"
    elif twist < 0.25:
        email = f"{local}@{'a' * 64}.com"
    elif twist < 0.28:
        email = f"{local}@localhost"
    elif twist < 0.31:
        email = f"{local}@@{domain}.com"
    return email


def test_row_cleaner_matches_clean_contact_input_on_generated_rows() -> None:
    rng = random.Random(20261122)
    fast = row_cleaner(KEYS, defs=DEFS, region="RU")
    other_region = row_cleaner(KEYS[:6], defs=DEFS, region="PL")
    for _ in range(4000):
        keys = rng.sample(KEYS, rng.randint(1, len(KEYS)))
        row = {key: _value(key, rng) for key in keys}
        assert fast(row) == clean_contact_input(row, defs=DEFS, partial=True, region="RU"), row
        assert other_region(row) == clean_contact_input(row, defs=DEFS, partial=True, region="PL"), row


def test_row_cleaner_reports_the_same_errors_for_a_broken_row() -> None:
    row = {"email": "ivan at mail.ru", "phone": "+7 916", "first_name": "x" * 121, "bogus": "1"}
    got = row_cleaner(["email", "phone", "first_name"], defs={}, region="RU")(row)
    assert [e.field for e in got.errors] == ["email", "phone", "first_name", "bogus"]
    assert got == clean_contact_input(row, defs={}, partial=True, region="RU")


def test_email_shortcut_accepts_only_what_djangos_validator_accepts() -> None:
    validator = EmailValidator()
    rng = random.Random(7)
    shortcut = 0
    for _ in range(20000):
        email = _email(rng).lower()
        if _PLAIN_EMAIL.fullmatch(email):
            shortcut += 1
            validator(email)  # raises if the shortcut accepted something invalid
        try:
            validator(email)
            expected: str | None = email.strip()
        except ValidationError:
            expected = None
        try:
            got: str | None = normalize_email(email)
        except Invalid:
            got = None
        assert got == expected, email
    assert shortcut > 5000  # the common shape really takes the shortcut


def _strptime_date(text: str) -> Any:
    """parse_date before its regex shortcut: the three strptime formats in order."""
    import datetime as dt

    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text[:19] if "T" in text else text, fmt).date()
        except ValueError:
            continue
    return "invalid"


def test_date_shortcut_answers_like_strptime() -> None:
    from leadbridge.contacts.validation import parse_date

    rng = random.Random(11)
    samples = ["2020-02-29", "2021-02-29", "31.04.2020", "1.1.2020", "2020-1-5", "0001-01-01", "9999-12-31"]
    samples += [
        "0000-01-01",
        "2020-13-01",
        "00.12.2020",
        " 2020-01-05 ",
        "2020-01-05T10:11:12",
        "2020-01-05T25:00:00",
    ]
    samples += ["١٢.٠١.٢٠٢٠", "２０２０-０１-０５", "2020-01-05x", "", "2020/01/05"]
    for _ in range(3000):
        y, m, d = rng.randint(0, 10000), rng.randint(0, 13), rng.randint(0, 32)
        samples.append(rng.choice([f"{y:04d}-{m:02d}-{d:02d}", f"{d:02d}.{m:02d}.{y:04d}", f"{y}-{m}-{d}"]))
    for text in samples:
        try:
            got: Any = parse_date(text)
        except Invalid:
            got = "invalid"
        if text == "":
            assert got is None
            continue
        assert got == _strptime_date(text), text
