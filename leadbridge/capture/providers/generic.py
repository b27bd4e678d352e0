"""The generic inbound format: any call-tracking or chat service that can post JSON.

Documented in docs/capture.md ("Inbound webhooks"). One JSON object per inquiry:

    {"kind": "call", "id": "c-1001", "occurred_at": "2026-03-01T10:15:00+03:00",
     "phone": "+7 999 123-45-67", "name": "...", "email": "...", "duration": 125,
     "tracking_number": "+7 495 000-00-00", "utm": {"source": "google", "medium": "cpc"},
     "click_ids": {"gclid": "..."}, "recording_url": "https://...",
     "transcript": "..." or "messages": [{"from": "client", "text": "...", "at": "..."}]}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from leadbridge.capture.providers import INQUIRY_KINDS, InquiryData, PayloadError
from leadbridge.core.errors import FieldError

UTM_KEYS = ("source", "medium", "campaign", "term", "content")
CLICK_IDS = ("gclid", "yclid", "fbclid", "msclkid")
CONTACT_KEYS = ("name", "email", "phone")
TEXT_KEYS = {"subject": 300, "message": 20_000}
MAX_MESSAGES = 1000


def _str(value: Any, limit: int) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(_("must be a string"))
    return str(value).replace("\x00", "").strip()[:limit]


def parse_time(value: Any) -> dt.datetime:
    """ISO 8601 (naive = the configured time zone) or a Unix time in seconds or milliseconds."""
    if isinstance(value, bool):
        raise ValueError(_("must be an ISO 8601 date-time or a Unix time"))
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 100_000_000_000 else value
        try:
            return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(_("Unix time out of range")) from None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(_("must be an ISO 8601 date-time or a Unix time"))
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(_("not an ISO 8601 date-time: %(value)s") % {"value": repr(value[:40])}) from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def _duration(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(_("must be a number of seconds"))
    try:
        seconds = round(float(value))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(_("must be a number of seconds")) from None
    if not 0 <= seconds <= 7 * 86400:
        raise ValueError(_("must be between 0 and 604800 seconds"))
    return seconds


def _bounded(value: Any, limit: int) -> str:
    """Identifiers are refused when too long: a cut id could match another inquiry's."""
    out = _str(value, limit + 1)
    if len(out) > limit:
        raise ValueError(
            ngettext("at most %(limit)d character", "at most %(limit)d characters", limit) % {"limit": limit}
        )
    return out


def _url(value: Any) -> str:
    url = _str(value, 2000)
    if url and not url.lower().startswith(("http://", "https://")):
        raise ValueError(_("must be an http(s) URL"))
    return url


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise ValueError(_("must be a list of {from, text, at} objects"))
    out: list[dict[str, str]] = []
    for i, item in enumerate(value[:MAX_MESSAGES]):
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, Mapping):
            raise ValueError(_("item %(index)s must be an object with from, text and at") % {"index": i})
        at = item.get("at")
        out.append(
            {
                "from": _str(item.get("from") or item.get("author") or "", 60),
                "text": _str(item.get("text") or "", 10_000),
                "at": parse_time(at).isoformat() if at not in (None, "") else "",
            }
        )
    return out


def parse(payload: Mapping[str, Any]) -> InquiryData:
    errors: list[FieldError] = []

    def take(key: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(payload.get(key), *args)
        except ValueError as exc:
            errors.append(FieldError(key, str(exc)))
            return None

    kind = str(payload.get("kind") or "").strip().lower()
    if kind not in INQUIRY_KINDS:
        message = _("Required; one of: %(choices)s") % {"choices": ", ".join(INQUIRY_KINDS)}
        errors.append(FieldError("kind", message))
    data = InquiryData(kind=kind)
    data.external_id = take("id", _bounded, 128) or ""
    for key in CONTACT_KEYS:
        value = take(key, _str, 300)
        if value:
            data.fields[key] = value
    for key, limit in TEXT_KEYS.items():
        value = take(key, _str, limit)
        if value:
            data.fields[key] = value
    if payload.get("occurred_at") not in (None, ""):
        data.occurred_at = take("occurred_at", parse_time)
    data.duration_seconds = take("duration", _duration)
    data.tracking_number = take("tracking_number", _bounded, 32) or ""
    data.recording_url = take("recording_url", _url) or ""
    data.page_url = take("page_url", _str, 2000) or take("landing_page", _str, 2000) or ""
    data.referrer = take("referrer", _str, 2000) or ""
    data.visitor_uid = take("visitor_id", _str, 64) or ""
    data.transcript = take("transcript", _str, 200_000) or ""
    if payload.get("messages") is not None:
        data.dialog = take("messages", _messages)

    # UTM: an object {"source": ...}, flat utm_* keys, or the bare names call trackers use.
    utm_obj = payload.get("utm")
    if utm_obj is not None and not isinstance(utm_obj, Mapping):
        errors.append(FieldError("utm", _('Must be an object like {"source": "google"}')))
        utm_obj = None
    for key in UTM_KEYS:
        for name, raw in (
            (f"utm.{key}", (utm_obj or {}).get(key) or (utm_obj or {}).get(f"utm_{key}")),
            (f"utm_{key}", payload.get(f"utm_{key}")),
            (key, payload.get(key)),
        ):
            if raw in (None, "") or key in data.utm:
                continue
            try:
                data.utm[key] = _str(raw, 500)
            except ValueError as exc:
                errors.append(FieldError(name, str(exc)))
    click_obj = payload.get("click_ids")
    if click_obj is not None and not isinstance(click_obj, Mapping):
        errors.append(FieldError("click_ids", _('Must be an object like {"gclid": "..."}')))
        click_obj = None
    for key in CLICK_IDS:
        raw = (click_obj or {}).get(key) or payload.get(key)
        if raw not in (None, ""):
            try:
                data.click_ids[key] = _str(raw, 500)
            except ValueError as exc:
                errors.append(FieldError(key, str(exc)))
    if errors:
        raise PayloadError(errors)
    return data
