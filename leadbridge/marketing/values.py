"""Turning raw input (form strings, JSON values, CSV cells) into clean marketing values.

Each parser raises `Invalid` with a message for people; the services collect them into
`FieldError`s, so the UI, the API and the importer report the same words for the same rule.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CURRENCY = re.compile(r"[A-Z]{3}")
_DMY = re.compile(r"(\d{1,2})[./](\d{1,2})[./](\d{4})")
MAX_AMOUNT = Decimal("999999999999.99")  # Decimal(14, 2)
TRUE = {"1", "true", "yes", "on", "y", "да"}
FALSE = {"0", "false", "no", "off", "n", "нет", ""}


class Invalid(ValueError):
    """A value that cannot be used; the message is shown to the user."""


def text(value: Any, *, max_length: int, multiline: bool = False) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise Invalid(_("Must be text"))
    value = _CONTROL.sub("", value).replace("\r\n", "\n")
    if not multiline:
        value = " ".join(value.split())
    value = value.strip()
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


def date(value: Any) -> dt.date | None:
    """ISO date (or date-time: its date in the configured timezone), or DD.MM.YYYY; None for blank."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise Invalid(_("Must be a date (YYYY-MM-DD)"))
    raw = value.strip()
    if not raw:
        return None
    try:
        if len(raw) == 10 and raw[4] == "-":
            return dt.date.fromisoformat(raw)
        m = _DMY.fullmatch(raw)
        if m:
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        parsed = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(_("Not a date: %(value)s (use YYYY-MM-DD)") % {"value": repr(raw[:40])}) from None
    return timezone.localtime(parsed).date() if timezone.is_aware(parsed) else parsed.date()


def amount(value: Any, *, allow_blank: bool = False) -> Decimal | None:
    """A non-negative money amount with at most 2 decimals; "1 234,50" is read as 1234.50."""
    if value is None or value == "":
        if allow_blank:
            return None
        raise Invalid(_("An amount is required"))
    if isinstance(value, bool):
        raise Invalid(_("Must be a number"))
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, str):
        raw = value.strip().replace("\u00a0", "").replace("\u202f", "").replace(" ", "")
        if not raw:
            if allow_blank:
                return None
            raise Invalid(_("An amount is required"))
        if "," in raw and "." not in raw:
            raw = raw.replace(",", ".")
        elif "," in raw:
            raw = raw.replace(",", "")  # 1,234.50
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise Invalid(_("Not a number: %(value)s") % {"value": repr(value.strip()[:40])}) from None
    else:
        raise Invalid(_("Must be a number"))
    if not number.is_finite():
        raise Invalid(_("Must be a number"))
    if number < 0:
        raise Invalid(_("Must not be negative"))
    if number != number.quantize(Decimal("0.01")):
        raise Invalid(_("At most 2 decimal places"))
    if number > MAX_AMOUNT:
        raise Invalid(_("At most %(limit)s") % {"limit": MAX_AMOUNT})
    return number.quantize(Decimal("0.01"))


def currency(value: Any, *, default: str = "") -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default or default_currency()
    if not isinstance(value, str):
        raise Invalid(_("Must be a three-letter currency code"))
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code):
        message = _("Not a currency code: %(value)s (three letters, e.g. RUB, EUR)")
        raise Invalid(message % {"value": repr(value.strip()[:10])})
    return code


def default_currency() -> str:
    return str(getattr(settings, "LEADBRIDGE", {}).get("DEFAULT_CURRENCY", "RUB")).upper()


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    if value is None:
        return False
    raise Invalid(_("Must be true or false"))


_TRANSLIT = str.maketrans(
    {
        "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
        "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
        "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh",
        "щ": "sch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
    }
)  # fmt: skip


def key_from_name(name: str, *, max_length: int = 32) -> str:
    """A channel key for a name: "Яндекс Директ" -> "yandeks_direkt"."""
    slug = slugify(name.lower().translate(_TRANSLIT)).replace("-", "_")
    return slug[:max_length].strip("_")
