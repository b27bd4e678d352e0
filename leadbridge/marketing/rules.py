"""Channel rules compiled to plain Python predicates, cached per process.

`resolve_channel` runs for every tracking hit that carries a source, so it must not touch the
database: the active rules are compiled once into closures and kept in a module-level cache.
The cache is dropped at once in the process that changes a rule (and again after its
commit), and every `CHANNEL_RULES_TTL` seconds (setting, default 2) any process compares a
cheap stamp of the rule and channel tables (row counts, id sums, newest `updated_at`) with
the one it loaded, so an edit made in another process or on another machine takes effect
within that time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Sum
from django.utils.translation import gettext as _

from leadbridge.core.errors import FieldError
from leadbridge.marketing.models import Channel, ChannelRule, RuleField, RuleOp

# Values are cut to this length before matching so that a hostile 1 MB utm value cannot make
# a regex rule slow.
MAX_SUBJECT = 2000
DIRECT, UNKNOWN = "direct", "unknown"
UTM_KEYS = ("source", "medium", "campaign", "term", "content")


@dataclass(frozen=True, slots=True)
class Subject:
    """What the rules look at, normalised once per resolution (lower-case, trimmed)."""

    click_ids: frozenset[str]
    utm_source: str
    utm_medium: str
    utm_campaign: str
    referrer_domain: str
    landing_page: str

    def get(self, field: str) -> str:
        value: str = getattr(self, field)
        return value

    @property
    def known(self) -> bool:
        """Anything at all that could say where the visit came from."""
        return bool(
            self.click_ids or self.utm_source or self.utm_medium or self.utm_campaign or self.referrer_domain
        )


def _clip(value: object) -> str:
    return str(value or "")[:MAX_SUBJECT].strip().lower()


def host_of(url: str) -> str:
    """The host of a URL (or of a bare `host/path`), lower-case, without `www.`; "" if none."""
    url = (url or "").strip()[:MAX_SUBJECT]
    if not url:
        return ""
    if "//" not in url.split("?", 1)[0]:
        url = "//" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    host = host.rstrip(".")
    return host[4:] if host.startswith("www.") else host


def subject_for(
    *, utm: Mapping[str, str], referrer: str, click_ids: Mapping[str, str], landing_page: str = ""
) -> Subject:
    ref_host = host_of(referrer)
    # A referrer on the landing page's own site is navigation inside it, not a source.
    if ref_host and landing_page and ref_host == host_of(landing_page):
        ref_host = ""
    utm = utm or {}

    def u(key: str) -> str:
        return _clip(utm.get(key) or utm.get(f"utm_{key}") or "")

    return Subject(
        click_ids=frozenset(_clip(k) for k, v in (click_ids or {}).items() if k and str(v or "").strip()),
        utm_source=u("source"),
        utm_medium=u("medium"),
        utm_campaign=u("campaign"),
        referrer_domain=ref_host,
        landing_page=_clip(landing_page),
    )


# --- compiling one condition -------------------------------------------------------------------

Test = Callable[[Subject], bool]


def split_values(value: str) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()]


def _domain(value: str) -> str:
    value = value.strip().lower().rstrip(".")
    return value[4:] if value.startswith("www.") else value


def _suffixes(host: str) -> list[str]:
    """ "a.b.ru" -> ["a.b.ru", "b.ru", "ru"]: `equals`/`in` on a domain also match subdomains."""
    parts = host.split(".")
    return [".".join(parts[i:]) for i in range(len(parts))]


def condition_errors(field: str, op: str, value: str, *, suffix: str = "") -> list[FieldError]:
    """Why a condition cannot be compiled (empty when it can)."""
    errors: list[FieldError] = []
    if field not in RuleField.values:
        message = _("Unknown field; one of: %(choices)s") % {"choices": ", ".join(RuleField.values)}
        errors.append(FieldError(f"field{suffix}", message))
    if op not in RuleOp.values:
        message = _("Unknown operator; one of: %(choices)s") % {"choices": ", ".join(RuleOp.values)}
        errors.append(FieldError(f"op{suffix}", message))
    if op != RuleOp.EXISTS and op in RuleOp.values and not value.strip():
        errors.append(FieldError(f"value{suffix}", _("A value is required for this operator")))
    if op == RuleOp.REGEX and value.strip():
        try:
            re.compile(value)
        except re.error as exc:
            message = _("Invalid regular expression: %(problem)s") % {"problem": exc}
            errors.append(FieldError(f"value{suffix}", message))
    return errors


def compile_condition(field: str, op: str, value: str) -> Test:
    raw = value.strip()
    if field == RuleField.CLICK_ID:
        names = frozenset(split_values(raw))
        if op == RuleOp.EXISTS:
            return (lambda s: bool(s.click_ids & names)) if names else (lambda s: bool(s.click_ids))
        if op in (RuleOp.EQUALS, RuleOp.IN):
            return lambda s: bool(s.click_ids & names)
        if op == RuleOp.CONTAINS:
            needle = raw.lower()
            return lambda s: any(needle in n for n in s.click_ids)
        pattern = re.compile(raw, re.IGNORECASE)
        return lambda s: any(pattern.search(n) for n in s.click_ids)

    attr = field
    if op == RuleOp.EXISTS:
        return lambda s: bool(s.get(attr))
    if field == RuleField.REFERRER_DOMAIN and op in (RuleOp.EQUALS, RuleOp.IN):
        domains = frozenset(_domain(v) for v in (split_values(raw) if op == RuleOp.IN else [raw]))
        return lambda s: bool(s.referrer_domain) and any(x in domains for x in _suffixes(s.referrer_domain))
    if op == RuleOp.EQUALS:
        target = raw.lower()
        return lambda s: s.get(attr) == target
    if op == RuleOp.IN:
        options = frozenset(split_values(raw))
        return lambda s: s.get(attr) in options
    if op == RuleOp.CONTAINS:
        needle = raw.lower()
        return lambda s: needle in s.get(attr)
    pattern = re.compile(raw, re.IGNORECASE)

    def regex(s: Subject) -> bool:
        subject = s.get(attr)
        return bool(subject) and pattern.search(subject) is not None

    return regex


def compile_rule(rule: ChannelRule) -> Test:
    first = compile_condition(rule.field, rule.op, rule.value)
    if not rule.field2:
        return first
    second = compile_condition(rule.field2, rule.op2 or RuleOp.EXISTS, rule.value2)
    return lambda s: first(s) and second(s)


# --- the per-process cache ----------------------------------------------------------------------


@dataclass
class RuleSet:
    rules: list[tuple[Test, Channel]]
    direct: Channel
    unknown: Channel
    stamp: tuple[Any, ...]
    checked_at: float

    def resolve(self, subject: Subject) -> Channel:
        for test, channel in self.rules:
            if test(subject):
                return channel
        return self.unknown if subject.known else self.direct


_cache: RuleSet | None = None
_lock = threading.Lock()


def _ttl() -> float:
    return float(str(getattr(settings, "LEADBRIDGE", {}).get("CHANNEL_RULES_TTL", 2.0)))


def _stamp() -> tuple[Any, ...]:
    rules = ChannelRule.objects.aggregate(n=Count("id"), s=Sum("id"), m=Max("updated_at"))
    channels = Channel.objects.aggregate(n=Count("id"), s=Sum("id"), m=Max("updated_at"))
    return (rules["n"], rules["s"], rules["m"], channels["n"], channels["s"], channels["m"])


def _fallback(key: str, name: str, channels: dict[str, Channel]) -> Channel:
    channel = channels.get(key)
    if channel is None:
        # Defaults not installed (a bare database): create the one channel we must return.
        channel, _ = Channel.objects.get_or_create(key=key, defaults={"name": name, "position": 1000})
    return channel


def _load() -> RuleSet:
    stamp = _stamp()
    channels = {c.key: c for c in Channel.objects.all()}
    rules: list[tuple[Test, Channel]] = []
    for rule in ChannelRule.objects.filter(is_active=True, channel__is_active=True).select_related("channel"):
        try:
            rules.append((compile_rule(rule), rule.channel))
        except re.error:
            # Services refuse bad regexes; one written by hand into the table is skipped.
            continue
    return RuleSet(
        rules=rules,
        direct=_fallback(DIRECT, "Direct", channels),
        unknown=_fallback(UNKNOWN, "Unknown", channels),
        stamp=stamp,
        checked_at=time.monotonic(),
    )


def rule_set() -> RuleSet:
    """The compiled rules, reloaded when dropped or when the tables changed (checked every TTL)."""
    global _cache
    current = _cache
    if current is not None:
        now = time.monotonic()
        if now - current.checked_at < _ttl():
            return current
        stamp = _stamp()
        if stamp == current.stamp:
            current.checked_at = now
            return current
    with _lock:
        if _cache is current or _cache is None:
            _cache = _load()
        return _cache


def rules_changed() -> None:
    """Drop the cache now (this process sees its own edit at once) and again after commit (so a
    resolution that ran inside the transaction does not keep the uncommitted rules)."""
    clear_cache()
    transaction.on_commit(clear_cache)


def clear_cache() -> None:
    global _cache
    _cache = None
