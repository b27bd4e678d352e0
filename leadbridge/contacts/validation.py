"""Normalisation and validation of contact data: one rule, used by every write path."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator

from leadbridge.core.errors import FieldError

_email_validator = EmailValidator()
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Invalid(ValueError):
    """A value that cannot be normalised; the message is shown to the user."""


def clean_text(value: Any, *, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise Invalid("Must be text")
    value = _CONTROL.sub("", value).strip()
    if len(value) > max_length:
        raise Invalid(f"At most {max_length} characters (got {len(value)})")
    return value


def normalize_email(value: Any) -> str:
    """Lower-cased, trimmed, validated; '' for blank."""
    text = clean_text(value, max_length=254)
    if not text:
        return ""
    text = text.lower()
    try:
        _email_validator(text)
    except DjangoValidationError as exc:
        raise Invalid(f"Not a valid email address: {text[:80]!r}") from exc
    return text


def default_region() -> str:
    return str(settings.LEADBRIDGE["DEFAULT_PHONE_REGION"])


@lru_cache(maxsize=65536)
def _normalize_phone_cached(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(f"Not a phone number: {text[:40]!r}") from exc
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        raise Invalid(f"Not a valid phone number: {text[:40]!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(value: Any, region: str | None = None) -> str:
    """E.164 (+79161234567); '' for blank. National numbers use the configured region."""
    text = clean_text(value, max_length=40)
    if not text:
        return ""
    # Russian habit: 8 (916) ... means +7 (916) ...
    region = region or default_region()
    digits = re.sub(r"\D", "", text)
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] == "8":
        text = "+7" + digits[1:]
    return _normalize_phone_cached(text, region)


def normalize_country(value: Any) -> str:
    text = clean_text(value, max_length=2).upper()
    if text and not re.fullmatch(r"[A-Z]{2}", text):
        raise Invalid("Use a two-letter ISO country code, e.g. RU, PL, DE")
    return text


def parse_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise Invalid("Must be a date (YYYY-MM-DD)")
    text = value.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text[:19] if "T" in text else text, fmt).date()
        except ValueError:
            continue
    raise Invalid(f"Not a date: {text[:40]!r} (use YYYY-MM-DD)")


def parse_birthday(value: Any, *, today: dt.date) -> dt.date | None:
    date = parse_date(value)
    if date is None:
        return None
    if date > today:
        raise Invalid("A birthday cannot be in the future")
    if date.year < today.year - 130:
        raise Invalid("A birthday more than 130 years ago is impossible")
    return date


def normalize_ip(value: Any) -> str | None:
    text = clean_text(value, max_length=64)
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise Invalid(f"Not an IP address: {text!r}") from exc


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int,)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "y", "on", "да", "tak"}:
            return True
        if lowered in {"0", "false", "no", "n", "off", "нет", "nie", ""}:
            return False
    raise Invalid("Must be yes or no (true/false)")


def parse_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise Invalid("Must be a number")
    if isinstance(value, (int, float)):
        number: int | float = value
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            dec = Decimal(text)
        except InvalidOperation as exc:
            raise Invalid(f"Not a number: {value[:40]!r}") from exc
        if not dec.is_finite():
            raise Invalid("Must be a finite number")
        number = int(dec) if dec == dec.to_integral_value() and abs(dec) < 2**53 else float(dec)
    else:
        raise Invalid("Must be a number")
    if isinstance(number, float) and (number != number or number in (float("inf"), float("-inf"))):
        raise Invalid("Must be a finite number")
    return number


def validate_custom_value(kind: str, choices: list[str], value: Any) -> Any:
    """Return the stored (JSON) form of a custom field value, or raise Invalid."""
    if value is None or value == "" or value == []:
        return None
    if kind == "text":
        return clean_text(value, max_length=2000)
    if kind == "number":
        return parse_number(value)
    if kind == "date":
        parsed = parse_date(value)
        return parsed.isoformat() if parsed else None
    if kind == "bool":
        return parse_bool(value)
    if kind == "choice":
        text = clean_text(value, max_length=200)
        if text not in choices:
            raise Invalid(f"{text!r} is not one of: {', '.join(choices)}")
        return text
    if kind == "multi_choice":
        items = value.split(";") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise Invalid("Must be a list of choices")
        out: list[str] = []
        for item in items:
            text = clean_text(item, max_length=200)
            if not text:
                continue
            if text not in choices:
                raise Invalid(f"{text!r} is not one of: {', '.join(choices)}")
            if text not in out:
                out.append(text)
        return out or None
    raise Invalid(f"Unknown field type {kind!r}")


def collect(errors: list[FieldError], field: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a normaliser; on Invalid, record the error under `field` and return None."""
    try:
        return func(*args, **kwargs)
    except Invalid as exc:
        errors.append(FieldError(field, str(exc)))
        return None
