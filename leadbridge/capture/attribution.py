"""Where a hit or an inquiry came from: UTM parameters, click ids and the referrer, read from
what the browser or a provider sent. Pure functions: no database."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

UTM_KEYS = ("source", "medium", "campaign", "term", "content")
CLICK_ID_KEYS = ("gclid", "yclid", "fbclid", "msclkid")
UTM_MAX = 255
CLICK_ID_MAX = 512
URL_MAX = 2000

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def cap_text(value: Any, limit: int) -> str:
    """Text as received, minus control characters, cut at `limit`: tracking data is kept even
    when it is oversized, never rejected for it."""
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ""
        value = str(value)
    if not value.isprintable():
        value = _CONTROL.sub("", value)
    return value.strip()[:limit]


@dataclass(frozen=True, slots=True)
class Source:
    """What a hit or inquiry says about its origin (all optional)."""

    utm: dict[str, str] = field(default_factory=dict)
    click_ids: dict[str, str] = field(default_factory=dict)
    referrer: str = ""
    landing_page: str = ""
    # The site's own hosts: navigation between them is not a referral.
    internal_hosts: frozenset[str] = frozenset()

    @property
    def external_referrer(self) -> bool:
        ref = host_of(self.referrer)
        return bool(ref) and ref != host_of(self.landing_page) and ref not in self.internal_hosts

    @property
    def carries_source(self) -> bool:
        """A UTM parameter, a click id or a referrer from another site: worth a touch."""
        return bool(self.utm or self.click_ids or self.external_referrer)

    def same_origin_as(self, other: Source) -> bool:
        """Whether two sources name the same origin (a reload of a landing page is not a new touch)."""
        if self.utm or self.click_ids or other.utm or other.click_ids:
            return self.utm == other.utm and self.click_ids == other.click_ids
        return host_of(self.referrer) == host_of(other.referrer)


def host_of(url: str) -> str:
    if not url:
        return ""
    return _host_of(url) if len(url) <= 300 else _parse_host(url)


@lru_cache(maxsize=4096)
def _host_of(url: str) -> str:
    # Referrers and landing pages repeat a lot across hits; parsing each once per process is enough.
    return _parse_host(url)


def _parse_host(url: str) -> str:
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


def _query(url: str) -> list[tuple[str, str]]:
    if not url or "?" not in url:
        return []
    try:
        return parse_qsl(urlsplit(url).query, keep_blank_values=False)
    except ValueError:
        return []


def utm_from_url(url: str) -> dict[str, str]:
    """{"source": ..., "medium": ...} from `utm_*` query parameters (names in any case)."""
    out: dict[str, str] = {}
    for name, value in _query(url):
        key = name.lower()
        if key.startswith("utm_") and key[4:] in UTM_KEYS and key[4:] not in out:
            text = cap_text(value, UTM_MAX)
            if text:
                out[key[4:]] = text
    return out


def click_ids_from_url(url: str) -> dict[str, str]:
    """Click ids from the query string, values exactly as received (they are case-sensitive)."""
    out: dict[str, str] = {}
    for name, value in _query(url):
        key = name.lower()
        if key in CLICK_ID_KEYS and key not in out:
            text = cap_text(value, CLICK_ID_MAX)
            if text:
                out[key] = text
    return out


def clean_utm(raw: Any) -> dict[str, str]:
    """UTM values given explicitly: keys `source` or `utm_source` etc.; anything else is ignored."""
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, str] = {}
    for name, value in raw.items():
        key = str(name).lower().removeprefix("utm_")
        if key in UTM_KEYS:
            text = cap_text(value, UTM_MAX)
            if text:
                out[key] = text
    return out


def clean_click_ids(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, str] = {}
    for name, value in raw.items():
        key = str(name).lower()
        if key in CLICK_ID_KEYS:
            text = cap_text(value, CLICK_ID_MAX)
            if text:
                out[key] = text
    return out


def strip_tracking(url: str) -> str:
    """The URL without UTM parameters and click ids (they are kept apart on the touch), so that
    touches group by landing page; every other parameter stays."""
    if "?" not in url:
        return url
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return url
    kept = [(k, v) for k, v in pairs if not k.lower().startswith("utm_") and k.lower() not in CLICK_ID_KEYS]
    if len(kept) == len(pairs):
        return url
    return urlunsplit(parts._replace(query=urlencode(kept)))


def source_of(
    *,
    url: str,
    referrer: str = "",
    utm: Any = None,
    click_ids: Any = None,
    internal_hosts: frozenset[str] = frozenset(),
) -> Source:
    """The source of a hit or inquiry; UTM and click ids given explicitly win over the URL's."""
    url = cap_text(url, URL_MAX)
    given_utm = clean_utm(utm)
    given_clicks = clean_click_ids(click_ids)
    return Source(
        utm=given_utm or utm_from_url(url),
        click_ids=given_clicks or click_ids_from_url(url),
        referrer=cap_text(referrer, URL_MAX),
        landing_page=url,
        internal_hosts=internal_hosts,
    )
