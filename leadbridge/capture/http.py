"""HTTP plumbing of the public capture endpoints: limits, CORS, bodies, bots, counters.

The views in `public.py` stay adapters; everything here is about the request, never about
inquiries or tracking (those rules live in `services.py`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from leadbridge.core import clock
from leadbridge.core.errors import FieldError

log = logging.getLogger("leadbridge.capture")

# Known crawlers, link previewers, uptime and SEO robots. Headless browsers are NOT here:
# real people's sessions are sometimes rendered headless (and our own browser tests are).
DEFAULT_BOT_UA = (
    r"bot\b|bot/|crawl|spider|slurp|archiver|facebookexternalhit|facebookcatalog|mediapartners"
    r"|adsbot|bingpreview|feedfetcher|lighthouse|pagespeed|pingdom|uptimerobot|statuscake"
    r"|site24x7|semrush|ahrefs|mj12|petalbot|bytespider|gptbot|ccbot|claudebot|perplexity"
    r"|baiduspider|yandex(?:bot|images|metrika|direct|accessibility|mobilebot)|duckduckbot|sogou"
    r"|exabot|phantomjs|scrapy|wget/|whatsapp|telegrambot|skypeuripreview|slackbot|discordbot"
)
SITE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# A site key is near the start of every payload the tracker or a form builds: it can still be
# found in a truncated body, so the raw payload reaches the right site's data-quality queue.
_KEY_IN_BODY = re.compile(rb'"site_key"\s*:\s*"([A-Za-z0-9_-]{8,64})"|(?:^|&)site_key=([A-Za-z0-9_-]{8,64})')
RAW_KEEP = 16 * 1024  # bytes of a rejected body kept in the data-quality queue
JSON_TYPES = frozenset({"application/json", "text/plain"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def conf(name: str) -> Any:
    return settings.LEADBRIDGE[name]


# --- errors -------------------------------------------------------------------------------------


class Reject(Exception):
    """A request the endpoint refuses: the status and the message the client gets."""

    def __init__(
        self, status: int, detail: str, errors: list[FieldError] | None = None, *, counter: str = ""
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.counter = counter


def json_error(status: int, detail: str, errors: Iterable[FieldError] = ()) -> JsonResponse:
    """The API's error shape, so clients parse one format everywhere."""
    return JsonResponse({"detail": detail, "errors": [e.as_dict() for e in errors]}, status=status)


# --- client address and rate limits -------------------------------------------------------------


def client_ip(request: HttpRequest) -> str:
    header = conf("CAPTURE_IP_HEADER")
    if header:
        meta = "HTTP_" + header.upper().replace("-", "_")
        value = request.META.get(meta, "")
        if value:
            # X-Forwarded-For: the last entry is the one our own proxy appended; earlier ones are
            # whatever the client claimed.
            return str(value).split(",")[-1].strip()[:64]
    return str(request.META.get("REMOTE_ADDR") or "0.0.0.0")[:64]  # noqa: S104 - a label, not a bind


_RATE_RE = re.compile(r"(\d+)/(\d*)([smhd])?", re.IGNORECASE)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=16)
def parse_rate(rate: str) -> tuple[int, int]:
    """django-ratelimit's syntax: "600/m" -> (600, 60), "5/10s" -> (5, 10); no unit is seconds."""
    match = _RATE_RE.match(rate.strip())
    if match is None:
        raise ImproperlyConfigured(f"Invalid capture rate {rate!r}: expected count/period like 600/m")
    count, multiple, unit = match.groups()
    return int(count), _PERIODS[(unit or "s").lower()] * int(multiple or 1)


def _count_in_window(key: str, period: int) -> int:
    """This request's number in the window: one cache operation once the window's counter exists
    (django-ratelimit spends an `add` and an `incr` on every request)."""
    try:
        return int(cache.incr(key))
    except ValueError:  # the first request of the window, or its counter was evicted
        pass
    if cache.add(key, 1, timeout=period + 1):
        return 1
    try:
        return int(cache.incr(key))  # another thread or process started the window first
    except ValueError:
        return 1


def rate_limited(*, scope: str, value: str) -> bool:
    """Count a request from `value` (an address or a site key) against the `scope` limit ("ip" or
    "site") and say if it is over it.

    Fixed windows aligned to the period (a "600/m" budget renews at every full minute) counted in
    Django's cache, so processes sharing a Redis cache share the budget."""
    rate = conf("CAPTURE_RATE_IP" if scope == "ip" else "CAPTURE_RATE_SITE")
    if not rate:
        return False
    limit, period = parse_rate(rate)
    window = int(time.time()) // period
    # Hashed: a client address from a proxy header is any text, and cache keys must be plain.
    who = hashlib.blake2b(value.encode("utf-8", "replace"), digest_size=12).hexdigest()
    return _count_in_window(f"lb:rate:{scope}:{period}:{window}:{who}", period) > limit


def too_many(scope: str) -> Reject:
    # Whole sentences per scope, so that a translation can agree with each.
    if scope == "ip":
        detail = _("Too many requests from this address; slow down and retry later")
    else:
        detail = _("Too many requests from this site key; slow down and retry later")
    return Reject(429, detail, counter="rate_limited")


# --- bots --------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _bot_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern or DEFAULT_BOT_UA, re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _matches(pattern: str, user_agent: str) -> bool:
    # The same few hundred user agents make nearly all hits; the regex costs ~80 us a search.
    return _bot_re(pattern).search(user_agent) is not None


def is_bot(user_agent: str) -> bool:
    return bool(user_agent) and _matches(conf("CAPTURE_BOT_UA"), user_agent[:512])


# --- origins and CORS --------------------------------------------------------------------------


def normalize_origin(value: str) -> str:
    """`scheme://host[:port]` in lower case, default ports dropped; "" when it is not a web origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return ""
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return ""
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def request_origin(request: HttpRequest) -> str | None:
    """The page's origin: the Origin header, else the Referer's; None for server-to-server calls."""
    origin = request.headers.get("Origin")
    if origin is not None:
        # "null" (sandboxed frames, file://) normalises to "" and is refused below.
        return normalize_origin(origin)
    referer = request.headers.get("Referer")
    if referer:
        return normalize_origin(referer)
    return None


def origin_allowed(origins: Iterable[str], origin: str | None) -> bool:
    if origin is None:
        return True
    allowed = list(origins)
    if "*" in allowed:
        return True
    return bool(origin) and origin in {normalize_origin(o) for o in allowed}


def with_cors(response: HttpResponse, request: HttpRequest, *, allowed: bool = True) -> HttpResponse:
    origin = request.headers.get("Origin")
    response.headers["Vary"] = "Origin"
    if origin and allowed:
        response.headers["Access-Control-Allow-Origin"] = origin
    return response


def preflight(request: HttpRequest, *, allowed: bool = True) -> HttpResponse:
    response = HttpResponse(status=204 if allowed else 403)
    with_cors(response, request, allowed=allowed)
    if allowed:
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-LeadBridge-Key, Idempotency-Key"
        response.headers["Access-Control-Max-Age"] = "86400"
    return response


# --- bodies ------------------------------------------------------------------------------------


def media_type(request: HttpRequest) -> str:
    return (request.content_type or "").split(";")[0].strip().lower()


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes before reading it when the length is declared."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Reject(400, _("Invalid Content-Length header")) from None
    if declared > limit:
        detail = _("Request body too large: %(size)s bytes (at most %(limit)s)") % {
            "size": declared,
            "limit": limit,
        }
        raise Reject(413, detail, counter="too_large")
    body = request.body
    if len(body) > limit:
        detail = _("Request body too large (at most %(limit)s bytes)") % {"limit": limit}
        raise Reject(413, detail, counter="too_large")
    return body


def parse_json(body: bytes) -> Any:
    if not body.strip():
        raise Reject(400, _("Empty request body: expected a JSON object"), counter="malformed")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = _("Body is not UTF-8 text (byte %(byte)s)") % {"byte": exc.start}
        raise Reject(400, detail, counter="malformed") from None
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        where = {"line": exc.lineno, "column": exc.colno, "problem": exc.msg}
        if exc.pos >= len(text.rstrip()):
            detail = _("Malformed JSON at line %(line)s column %(column)s: %(problem)s (truncated?)") % where
        else:
            detail = _("Malformed JSON at line %(line)s column %(column)s: %(problem)s") % where
        raise Reject(400, detail, counter="malformed") from None
    except (ValueError, RecursionError) as exc:
        # Numbers past the int digit limit, nesting deeper than the parser goes.
        problem = str(exc)[:120] or _("nested too deep")
        raise Reject(
            400, _("Malformed JSON: %(problem)s") % {"problem": problem}, counter="malformed"
        ) from None
    # Escapes can smuggle in what no database column takes (NUL, lone surrogates).
    return scrub(data) if "\\u" in text else data


def scrub(value: Any) -> Any:
    """`value` with no NUL character (PostgreSQL refuses it in text and jsonb) and no lone
    surrogate (not encodable as UTF-8) in any string, key or nested item."""
    if isinstance(value, str):
        value = value.replace("\x00", "")
        return value if value.isascii() else value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(_("%(name)s is not a JSON value") % {"name": name})


def _finite(raw: str) -> float:
    # Neither database's JSON takes an infinity (1e400 parses to one).
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(_("number out of range: %(value)s") % {"value": raw[:40]})
    return value


def site_key_in(body: bytes) -> str:
    match = _KEY_IN_BODY.search(body[:4096])
    if not match:
        return ""
    return (match.group(1) or match.group(2)).decode("ascii")


def raw_payload(request: HttpRequest, body: bytes, *, endpoint: str) -> dict[str, Any]:
    """What the data-quality queue keeps of a rejected request: enough to replay it by hand."""
    text = body[:RAW_KEEP].decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    return {
        "endpoint": endpoint,
        "content_type": request.content_type or "",
        "body": text,
        "truncated": len(body) > RAW_KEEP,
        "bytes": len(body),
        "ip": client_ip(request),
        "user_agent": request.headers.get("User-Agent", "")[:300],
    }


def text(value: Any, limit: int) -> str:
    """A scalar as capped text; objects and lists (wrong shapes) become ""."""
    if value is None or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return str(value).replace("\x00", "")[:limit].strip()


# --- counters ----------------------------------------------------------------------------------

COUNTERS = (
    "bot",
    "honeypot",
    "rate_limited",
    "too_large",
    "malformed",
    "unknown_key",
    "origin_denied",
    "invalid",
    "pixel_error",
)


def _counter_key(name: str, site_id: int | None, day: dt.date) -> str:
    return f"lb:capture:{name}:{site_id or 0}:{day:%Y%m%d}"


def count(name: str, site_id: int | None = None) -> None:
    """Count a refused or ignored request (per site and day, kept a week in the cache)."""
    key = _counter_key(name, site_id, clock.now().date())
    try:
        if not cache.add(key, 1, timeout=8 * 86400):
            cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=8 * 86400)
    log.info("capture: %s (site %s)", name, site_id)


def counters(site_id: int | None = None, day: dt.date | None = None) -> dict[str, int]:
    """Today's (or `day`'s) counts of refused/ignored requests for a site (None: no site known)."""
    day = day or clock.now().date()
    keys = {_counter_key(name, site_id, day): name for name in COUNTERS}
    found = cache.get_many(list(keys))
    return {name: int(found.get(key, 0)) for key, name in keys.items()}


# --- the lean path for the tracking endpoints ----------------------------------------------------

# What an anonymous tracking hit keeps of settings.MIDDLEWARE: host validation (CommonMiddleware),
# the security headers and HTTPS redirect (SecurityMiddleware) and X-Frame-Options. Sessions,
# auth, CSRF, locale, messages, user preferences and htmx have nothing to do with a hit and cost
# more than half of a pixel request (~0.5 of ~1.1 ms of CPU, measured in-process).
LEAN_MIDDLEWARE = frozenset(
    {
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    }
)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
View = Callable[[HttpRequest], HttpResponse]


class LeanHandler(WSGIHandler):
    """The WSGI application: requests for `views` (exact paths) go straight to their view through
    only the LEAN_MIDDLEWARE that settings.MIDDLEWARE has (in its order), everything else to `app`.

    Still Django's request cycle: request_started/request_finished (database connections are
    reused and closed by CONN_MAX_AGE as on any request), a 500 page and the error log for an
    exception, a warning for each 4xx/5xx response. No URL resolution: the path is the route.
    """

    def __init__(self, app: WSGIApp, views: Mapping[str, View]) -> None:
        self.app = app
        self.views = dict(views)
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        handler = convert_exception_to_response(self._call_view)
        for path in reversed([m for m in settings.MIDDLEWARE if m in LEAN_MIDDLEWARE]):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler

    def _call_view(self, request: HttpRequest) -> HttpResponse:
        return self.views[request.path_info](request)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") not in self.views:
            return self.app(environ, start_response)
        # No LocaleMiddleware here: the thread's language from an earlier page request must not
        # leak into this one.
        translation.deactivate()
        return super().__call__(environ, start_response)
