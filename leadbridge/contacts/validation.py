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
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from phonenumbers import phonenumberutil as pnu
from phonenumbers.phonemetadata import PhoneMetadata

from leadbridge.core.errors import FieldError

_email_validator = EmailValidator()
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Invalid(ValueError):
    """A value that cannot be normalised; the message is shown to the user (translated by the
    raiser, in the language active then)."""


def clean_text(value: Any, *, max_length: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            value = str(value)
        else:
            raise Invalid(_("Must be text"))
    # isprintable() is False for every character _CONTROL removes; most cells have none.
    value = value.strip() if value.isprintable() else _CONTROL.sub("", value).strip()
    if len(value) > max_length:
        raise Invalid(
            ngettext(
                "At most %(limit)d character (got %(length)d)",
                "At most %(limit)d characters (got %(length)d)",
                max_length,
            )
            % {"limit": max_length, "length": len(value)}
        )
    return value


def normalize_email(value: Any) -> str:
    """Lower-cased, trimmed, validated; '' for blank."""
    text = clean_text(value, max_length=254)
    if not text:
        return ""
    text = text.lower()
    if _PLAIN_EMAIL.fullmatch(text):
        return text
    try:
        _email_validator(text)
    except DjangoValidationError as exc:
        raise Invalid(_("Not a valid email address: %(value)s") % {"value": repr(text[:80])}) from exc
    return text


# The everyday shape of an address (ASCII dot-atom @ ASCII host names), a strict subset of what
# Django's EmailValidator accepts: its user part is the validator's dot-atom, its domain the
# validator's host/domain/TLD patterns without the non-ASCII ranges and the xn-- TLD form. A
# match is valid without running the validator (~10x cheaper); anything else (quoted local
# parts, IDN, IP literals, typos) goes to the validator, so answers and errors stay the same
# (tests/importer/test_fast_cleaning.py compares both).
_ATOM = r"[-!#$%&'*+/=?^_`{}|~0-9a-z]+"
_PLAIN_EMAIL = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@"
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    r"(?:\.(?!-)[a-z0-9-]{1,63}(?<!-))*"
    r"\.(?!-)[a-z-]{2,63}(?<!-)"
)


_NON_DIGITS = re.compile(r"\D")
_COUNTRY = re.compile(r"[A-Z]{2}")


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def default_region() -> str:
    return str(settings.LEADBRIDGE["DEFAULT_PHONE_REGION"])


_PLUS_FORM = re.compile(r"\+[0-9 ()\-.]*")
_SEPARATORS = str.maketrans("", "", " ()-.")
# The private helpers `_parse_plus_form` uses; should a phonenumbers release rename one, every
# number simply takes the slow path.
_FAST_PARSE = all(
    hasattr(pnu, name)
    for name in (
        "_MIN_LENGTH_FOR_NSN", "_MAX_LENGTH_FOR_NSN", "_extract_country_code",
        "_maybe_strip_national_prefix_carrier_code", "_test_number_length",
        "_set_italian_leading_zeros_for_phone_number", "ValidationResult",
    )
)  # fmt: skip
_SHORT_LENGTHS = (
    (
        pnu.ValidationResult.TOO_SHORT,
        pnu.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
        pnu.ValidationResult.INVALID_LENGTH,
    )
    if _FAST_PARSE
    else ()
)


def _parse_plus_form(text: str) -> phonenumbers.PhoneNumber | None:
    """`phonenumbers.parse` for the common shape "+<digits and spaces, ()-.>", or None.

    For such text parse() finds no extension, letters or prefix to strip and only runs the
    steps below (country code, national prefix, lengths), which call the library's own
    helpers and metadata; skipping its free-text handling makes a number ~3x cheaper, which
    matters for imports of 100,000 rows. Anything it would reject is left to parse() itself,
    so errors read the same. tests/importer/test_phone_fast_path.py compares both on many numbers.
    """
    if not _FAST_PARSE or not _PLUS_FORM.fullmatch(text):
        return None
    digits = text[1:].translate(_SEPARATORS)
    if len(digits) <= pnu._MIN_LENGTH_FOR_NSN:
        return None
    country_code, national = pnu._extract_country_code(digits)
    if country_code == 0 or len(national) < pnu._MIN_LENGTH_FOR_NSN:
        return None
    region = pnu.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if metadata is not None:
        _prefix, stripped, _carrier = pnu._maybe_strip_national_prefix_carrier_code(national, metadata)
        if pnu._test_number_length(stripped, metadata) not in _SHORT_LENGTHS:
            national = stripped
    if not pnu._MIN_LENGTH_FOR_NSN <= len(national) <= pnu._MAX_LENGTH_FOR_NSN:
        return None
    number = phonenumbers.PhoneNumber(country_code=country_code)
    pnu._set_italian_leading_zeros_for_phone_number(national, number)
    number.national_number = int(national)
    return number


_DescCheck = tuple[frozenset[int] | None, re.Pattern[str] | None]
_TypeChecks = tuple[Any, "_DescCheck | None", "list[_DescCheck | None]", "_DescCheck | None"]
_TYPE_CHECKS: dict[int, _TypeChecks] = {}


def _desc_check(desc: Any) -> _DescCheck | None:
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    lengths = frozenset(desc.possible_length) if desc.possible_length else None
    return (lengths, re.compile(pattern) if pattern else None)


def _matches(check: _DescCheck | None, nsn: str) -> bool:
    # = pnu._is_number_matching_desc: lengths first, then the whole number against the pattern
    if check is None:
        return False
    lengths, pattern = check
    if lengths is not None and len(nsn) not in lengths:
        return False
    return pattern is not None and pattern.fullmatch(nsn) is not None


def _type_checks(metadata: Any) -> _TypeChecks:
    """The descriptions `pnu._number_type_helper` tries, in its order, compiled once per region
    (metadata objects live as long as the process; each entry keeps its own alive)."""
    cached = _TYPE_CHECKS.get(id(metadata))
    if cached is not None:
        return cached
    typed = [
        metadata.premium_rate, metadata.toll_free, metadata.shared_cost, metadata.voip,
        metadata.personal_number, metadata.pager, metadata.uan, metadata.voicemail, metadata.fixed_line,
    ]  # fmt: skip
    mobile = None if metadata.same_mobile_and_fixed_line_pattern else _desc_check(metadata.mobile)
    entry = (metadata, _desc_check(metadata.general_desc), [_desc_check(d) for d in typed], mobile)
    _TYPE_CHECKS[id(metadata)] = entry
    return entry


def _has_type(nsn: str, metadata: Any) -> bool:
    """`pnu._number_type_helper(nsn, metadata) != UNKNOWN`, with the patterns compiled once."""
    _, general, typed, mobile = _type_checks(metadata)
    if not _matches(general, nsn):
        return False
    # Any type will do, so the common ones (fixed line, mobile) go first.
    return _matches(typed[-1], nsn) or _matches(mobile, nsn) or any(_matches(c, nsn) for c in typed[:-1])


def _is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """`phonenumbers.is_valid_number`, step by step, with `_has_type` for its type lookups."""
    country_code = number.country_code
    if country_code is None:
        return False
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions:
        return False
    nsn = phonenumbers.national_significant_number(number)
    region: str | None = regions[0]
    typed_in: Any = None  # metadata in which the region lookup already found a type
    if len(regions) > 1:  # pnu._region_code_for_number_from_list
        region = None
        for code in regions:
            candidate = PhoneMetadata.metadata_for_region(code.upper(), None)
            if candidate is None:
                continue
            if candidate.leading_digits is not None:
                if _compiled(candidate.leading_digits).match(nsn):
                    region = code
                    break
            elif _has_type(nsn, candidate):
                region, typed_in = code, candidate
                break
    if region is None:
        return False
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    if metadata is None or (
        region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
        and country_code != phonenumbers.country_code_for_valid_region(region)
    ):
        return False
    return metadata is typed_in or _has_type(nsn, metadata)


@lru_cache(maxsize=65536)
def _normalize_phone_cached(text: str, region: str) -> str:
    number = _parse_plus_form(text)
    if number is None:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException as exc:
            raise Invalid(_("Not a phone number: %(value)s") % {"value": repr(text[:40])}) from exc
    if not phonenumbers.is_possible_number(number) or not _is_valid_number(number):
        raise Invalid(_("Not a valid phone number: %(value)s") % {"value": repr(text[:40])})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(value: Any, region: str | None = None) -> str:
    """E.164 (+79161234567); '' for blank. National numbers use the configured region."""
    text = clean_text(value, max_length=40)
    if not text:
        return ""
    # Russian habit: 8 (916) ... means +7 (916) ...
    region = region or default_region()
    digits = _NON_DIGITS.sub("", text)
    if region == "RU" and not text.startswith("+") and len(digits) == 11 and digits[0] == "8":
        text = "+7" + digits[1:]
    return _normalize_phone_cached(text, region)


def normalize_country(value: Any) -> str:
    text = clean_text(value, max_length=2).upper()
    if text and not _COUNTRY.fullmatch(text):
        raise Invalid(_("Use a two-letter ISO country code, e.g. RU, PL, DE"))
    return text


_ISO_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DOT_DATE = re.compile(r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})")


def parse_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise Invalid(_("Must be a date (YYYY-MM-DD)"))
    text = value.strip()
    # The two everyday shapes without strptime (~15 µs a call, most of a birthday column's cost
    # in an import); anything else, or an impossible day, takes the general path below.
    if match := _ISO_DATE.fullmatch(text):
        year, month, day = match.groups()
    elif match := _DOT_DATE.fullmatch(text):
        day, month, year = match.groups()
    if match:
        try:
            return dt.date(int(year), int(month), int(day))
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%Y-%m-%dT%H:%M:%S"):
        try:
            return dt.datetime.strptime(text[:19] if "T" in text else text, fmt).date()
        except ValueError:
            continue
    raise Invalid(_("Not a date: %(value)s (use YYYY-MM-DD)") % {"value": repr(text[:40])})


def parse_birthday(value: Any, *, today: dt.date) -> dt.date | None:
    date = parse_date(value)
    if date is None:
        return None
    if date > today:
        raise Invalid(_("A birthday cannot be in the future"))
    if date.year < today.year - 130:
        raise Invalid(_("A birthday more than 130 years ago is impossible"))
    return date


def normalize_ip(value: Any) -> str | None:
    text = clean_text(value, max_length=64)
    if not text:
        return None
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise Invalid(_("Not an IP address: %(value)s") % {"value": repr(text)}) from exc


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
    raise Invalid(_("Must be yes or no (true/false)"))


def parse_number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise Invalid(_("Must be a number"))
    if isinstance(value, (int, float)):
        number: int | float = value
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
        try:
            dec = Decimal(text)
        except InvalidOperation as exc:
            raise Invalid(_("Not a number: %(value)s") % {"value": repr(value[:40])}) from exc
        if not dec.is_finite():
            raise Invalid(_("Must be a finite number"))
        number = int(dec) if dec == dec.to_integral_value() and abs(dec) < 2**53 else float(dec)
    else:
        raise Invalid(_("Must be a number"))
    if isinstance(number, float) and (number != number or number in (float("inf"), float("-inf"))):
        raise Invalid(_("Must be a finite number"))
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
            raise Invalid(
                _("%(value)s is not one of: %(choices)s")
                % {"value": repr(text), "choices": ", ".join(choices)}
            )
        return text
    if kind == "multi_choice":
        items = value.split(";") if isinstance(value, str) else value
        if not isinstance(items, list):
            raise Invalid(_("Must be a list of choices"))
        out: list[str] = []
        for item in items:
            text = clean_text(item, max_length=200)
            if not text:
                continue
            if text not in choices:
                raise Invalid(
                    _("%(value)s is not one of: %(choices)s")
                    % {"value": repr(text), "choices": ", ".join(choices)}
                )
            if text not in out:
                out.append(text)
        return out or None
    raise Invalid(_("Unknown field type %(kind)s") % {"kind": repr(kind)})


def collect(errors: list[FieldError], field: str, func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a normaliser; on Invalid, record the error under `field` and return None."""
    try:
        return func(*args, **kwargs)
    except Invalid as exc:
        errors.append(FieldError(field, str(exc)))
        return None
