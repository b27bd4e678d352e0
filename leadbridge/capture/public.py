"""Public capture endpoints (no login): form posts, tracking hits, the pixel, the tracker, webhooks.

Adapters only: each view checks the request (rate limits, size, type, site key, origin), parses
it and calls one capture service. A site key is public (it sits in the page's HTML); what it
grants is writing inquiries and hits for its site from its own origins. Bad input gets a 4xx
JSON answer (`{"detail", "errors"}` like the API), never a 500; a malformed payload with a
valid site key is also kept in the data-quality queue so nothing is lost.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, QueryDict
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from leadbridge.capture import services
from leadbridge.capture.http import (
    FORM_TYPES,
    JSON_TYPES,
    SITE_KEY_RE,
    Reject,
    client_ip,
    conf,
    count,
    is_bot,
    json_error,
    media_type,
    normalize_origin,
    origin_allowed,
    parse_json,
    preflight,
    rate_limited,
    raw_payload,
    read_body,
    request_origin,
    scrub,
    site_key_in,
    text,
    too_many,
    with_cors,
)
from leadbridge.capture.models import Site
from leadbridge.capture.providers import PayloadError
from leadbridge.capture.providers import load as load_provider
from leadbridge.contacts.services import dq_item_record
from leadbridge.core import clock
from leadbridge.core.errors import FieldError, ServiceError

log = logging.getLogger("leadbridge.capture")

# Form inputs that steer the capture instead of describing the person.
FORM_META = ("site_key", "page_url", "referrer", "visitor_id", "idempotency_key", "redirect", "lb_hp")
CLICK_ID_INPUTS = ("gclid", "yclid", "fbclid", "msclkid")
# Inputs form builders and frameworks add that are not the visitor's data.
FORM_NOISE = frozenset(
    {"csrfmiddlewaretoken", "submit", "g-recaptcha-response", "h-captcha-response", "action"}
)
HONEYPOT = "lb_hp"
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
TRACKER = Path(__file__).resolve().parent / "static" / "capture" / "lb.js"


# --- shared steps -------------------------------------------------------------------------------


def _site(key: Any) -> Site:
    if not isinstance(key, str) or not key:
        raise Reject(400, _("A site key is required"), [FieldError("site_key", _("Required"))])
    site = services.site_by_key(key) if SITE_KEY_RE.match(key) else None
    if site is None or not site.is_active:
        raise Reject(404, _("Unknown or inactive site key"), counter="unknown_key")
    return site


def _check_site(request: HttpRequest, site: Site) -> None:
    if not origin_allowed(site.origins, request_origin(request)):
        raise Reject(403, _("This origin may not use this site key"), counter="origin_denied")
    if rate_limited(scope="site", value=site.key):
        raise too_many("site")


def _key_from_request(request: HttpRequest) -> str:
    return str(
        request.headers.get("X-LeadBridge-Key") or request.GET.get("site_key") or request.GET.get("k") or ""
    )


def _keep_malformed(request: HttpRequest, body: bytes, exc: Reject, *, endpoint: str, key: str = "") -> None:
    """Put a payload we could not read into the site's data-quality queue (valid key only)."""
    key = key or _key_from_request(request) or site_key_in(body)
    site = services.site_by_key(key) if SITE_KEY_RE.match(key) else None
    if site is None or not site.is_active:
        return
    raw = raw_payload(request, body, endpoint=endpoint)
    raw["site_key"] = site.key
    errors = exc.errors or [FieldError("body", exc.detail)]
    dq_item_record(source=f"capture:{endpoint}", reason="malformed", raw=raw, errors=errors)


def _answer(
    request: HttpRequest, exc: Reject, *, site: Site | None = None, cors: bool = True
) -> HttpResponse:
    if exc.counter:
        count(exc.counter, site.pk if site else None)
    response = json_error(exc.status, exc.detail, exc.errors)
    # The caller's page may read why it was refused, except when its origin is the problem.
    return with_cors(response, request, allowed=cors and exc.status != 403)


def _guard_ip(request: HttpRequest) -> None:
    if rate_limited(scope="ip", value=client_ip(request)):
        raise too_many("ip")


def _preflight_for(request: HttpRequest) -> HttpResponse:
    """Preflights carry no body: a site key in the query (?site_key=) is checked, else any
    origin may proceed to the real request, which is checked against the site's origins."""
    key = _key_from_request(request)
    if key:
        site = services.site_by_key(key) if SITE_KEY_RE.match(key) else None
        if site is not None and not origin_allowed(site.origins, request_origin(request)):
            return preflight(request, allowed=False)
    return preflight(request)


def _post_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method == "OPTIONS":
            return _preflight_for(request)
        if request.method != "POST":
            detail = _("Method %(method)s not allowed; use POST") % {"method": request.method}
            response = json_error(405, detail)
            response.headers["Allow"] = "POST, OPTIONS"
            return with_cors(response, request)
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


# --- POST /capture/form ---------------------------------------------------------------------------


def _form_input(request: HttpRequest, body: bytes) -> tuple[dict[str, Any], bool]:
    """(the CONTRACT's JSON shape, whether to answer with a page rather than JSON)."""
    kind = media_type(request)
    if kind in JSON_TYPES:
        parsed = parse_json(body)
        if not isinstance(parsed, dict):
            raise Reject(
                400, _('Expected a JSON object like {"site_key": ..., "fields": {...}}'), counter="malformed"
            )
        return parsed, False
    if kind not in FORM_TYPES:
        detail = _("Unsupported content type %(type)s: send JSON or an HTML form post")
        raise Reject(415, detail % {"type": repr(kind or "(none)")})
    post: QueryDict = request.POST
    data: dict[str, Any] = {"fields": {}, "utm": {}, "click_ids": {}}
    for raw_name in post:
        name = raw_name.replace("\x00", "")
        values = [v.replace("\x00", "") for v in post.getlist(raw_name) if v != ""]
        value: Any = values[0] if len(values) == 1 else values
        first = values[0] if values else ""
        if name in FORM_META:
            data[name] = first
        elif name.startswith("utm_"):
            data["utm"][name[4:]] = first
        elif name in CLICK_ID_INPUTS:
            data["click_ids"][name] = first
        elif name not in FORM_NOISE and values:
            data["fields"][name] = value
    # A page's own script posting FormData with `Accept: application/json` wants JSON back.
    return data, "application/json" not in request.headers.get("Accept", "")


def _thanks_page(
    request: HttpRequest, status: int = 200, errors: list[FieldError] | None = None
) -> HttpResponse:
    if errors is None:
        title, lead = _("Thank you!"), _("We have received your request and will get back to you soon.")
        items = mark_safe("")
    else:
        title, lead = _("The form could not be sent"), _("Please go back and correct:")
        items = format_html(
            "<ul>{}</ul>", format_html_join("", "<li>{}: {}</li>", ((e.field, e.message) for e in errors))
        )
    back = request.headers.get("Referer", "")
    link = (
        format_html('<p><a href="{}">{}</a></p>', back, _("Back"))
        if back.startswith(("http://", "https://"))
        else ""
    )
    html = format_html(
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1"><title>{}</title></head>'
        '<body style="font-family:sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem">'
        "<h1>{}</h1><p>{}</p>{}{}</body></html>",
        title,
        title,
        lead,
        items,
        link,
    )
    return HttpResponse(html, status=status, content_type="text/html; charset=utf-8")


def _done(
    request: HttpRequest, site: Site, data: Mapping[str, Any], html: bool, created: bool
) -> HttpResponse:
    if html:
        target = text(data.get("redirect"), 2000)
        if target and normalize_origin(target) and origin_allowed(site.origins, normalize_origin(target)):
            return HttpResponseRedirect(target, status=303)
        return _thanks_page(request)
    return with_cors(JsonResponse({"ok": True, "created": created}, status=201 if created else 200), request)


def _strings(value: Any, name: str, limit: int) -> str:
    if value is not None and not isinstance(value, (str, int, float)):
        raise Reject(
            400,
            _("%(name)s must be a string") % {"name": name},
            [FieldError(name, _("Must be a string"))],
            counter="malformed",
        )
    return text(value, limit)


@_post_only
def capture_form(request: HttpRequest) -> HttpResponse:
    site: Site | None = None
    body = b""
    html = media_type(request) in FORM_TYPES and "application/json" not in request.headers.get("Accept", "")
    try:
        _guard_ip(request)
        body = read_body(request, conf("CAPTURE_MAX_BODY"))
        try:
            data, html = _form_input(request, body)
        except Reject as exc:
            if exc.status == 400:
                _keep_malformed(request, body, exc, endpoint="form")
            raise
        site = _site(data.get("site_key") or _key_from_request(request))
        _check_site(request, site)
        fields = data.get("fields")
        if isinstance(fields, dict):
            fields = {str(k): v for k, v in fields.items() if k != HONEYPOT}
        if data.get(HONEYPOT) or (isinstance(data.get("fields"), dict) and data["fields"].get(HONEYPOT)):
            # Looks accepted to the robot that filled the hidden field; nothing is stored.
            count("honeypot", site.pk)
            return _done(request, site, data, html, created=True)
        if is_bot(request.headers.get("User-Agent", "")):
            count("bot", site.pk)
            return _done(request, site, data, html, created=True)
        if not isinstance(fields, dict) or not fields:
            missing = Reject(
                400,
                _('Expected "fields": an object of submitted values (name, email, phone, message, ...)'),
                [FieldError("fields", _("Required: an object"))],
                counter="malformed",
            )
            _keep_malformed(request, body, missing, endpoint="form", key=site.key)
            raise missing
        try:
            page_url = (
                _strings(data.get("page_url"), "page_url", 2000) or request.headers.get("Referer", "")[:2000]
            )
            _inquiry, created = services.inquiry_capture(
                kind="form",
                site=site,
                fields=fields,
                page_url=page_url,
                referrer=_strings(data.get("referrer"), "referrer", 2000),
                # Ids are passed whole: the service refuses (or, for a visitor id, ignores) an id
                # that is too long rather than let a cut one match another.
                visitor_uid=_strings(data.get("visitor_id"), "visitor_id", 1000),
                utm=data.get("utm") if isinstance(data.get("utm"), dict) else None,
                click_ids=data.get("click_ids") if isinstance(data.get("click_ids"), dict) else None,
                idempotency_key=_strings(
                    data.get("idempotency_key") or request.headers.get("Idempotency-Key"),
                    "idempotency_key",
                    1000,
                ),
            )
        except Reject as exc:
            _keep_malformed(request, body, exc, endpoint="form", key=site.key)
            raise
    except Reject as exc:
        return _answer(request, exc, site=site)
    except ServiceError as exc:
        # The service has already kept invalid contact data in the data-quality queue.
        count("invalid", site.pk if site else None)
        if html:
            return _thanks_page(request, status=exc.status, errors=exc.errors)
        return with_cors(JsonResponse(exc.as_dict(), status=exc.status), request)
    return _done(request, site, data, html, created)


# --- POST /t/events -------------------------------------------------------------------------------


def _is_hit(raw: Any) -> bool:
    """Whether an item of "hits" is a hit at all. Its values are capped and typed by `track_hits`
    (text that is not text becomes "", a bad `ts` becomes now), so nothing is copied here."""
    if not isinstance(raw, dict):
        return False
    kind = raw.get("type")
    if kind == "pageview":
        return True
    if kind == "event":
        name = raw.get("name")
        return isinstance(name, str) and name.strip() != ""
    if kind == "identify":
        return isinstance(raw.get("traits"), dict)
    return False


def _visitor_uid(value: Any) -> str:
    uid = value if isinstance(value, str) else ""
    if not 8 <= len(uid) <= 64 or not SITE_KEY_RE.match(uid.replace(".", "-")):
        raise Reject(
            400,
            _("visitor_id must be 8-64 letters, digits, '.', '_' or '-'"),
            [FieldError("visitor_id", _("Invalid"))],
        )
    return uid


@_post_only
def track_events(request: HttpRequest) -> HttpResponse:
    site: Site | None = None
    body = b""
    try:
        _guard_ip(request)
        if media_type(request) not in JSON_TYPES | {""}:
            detail = _("Unsupported content type %(type)s: send JSON (or text/plain from sendBeacon)")
            raise Reject(415, detail % {"type": repr(media_type(request))})
        body = read_body(request, conf("CAPTURE_MAX_BODY"))
        try:
            data = parse_json(body)
            if not isinstance(data, dict):
                raise Reject(
                    400,
                    _('Expected a JSON object {"site_key", "visitor_id", "hits": [...]}'),
                    counter="malformed",
                )
        except Reject as exc:
            _keep_malformed(request, body, exc, endpoint="events")
            raise
        site = _site(data.get("site_key"))
        _check_site(request, site)
        hits = data.get("hits")
        if not isinstance(hits, list):
            raise Reject(
                400,
                _('"hits" must be a list of hits'),
                [FieldError("hits", _("Must be a list"))],
                counter="malformed",
            )
        limit = conf("CAPTURE_MAX_HITS")
        if len(hits) > limit:
            detail = _("Too many hits in one batch: %(count)s (at most %(limit)s)") % {
                "count": len(hits),
                "limit": limit,
            }
            raise Reject(413, detail, counter="too_large")
        uid = _visitor_uid(data.get("visitor_id"))
        user_agent = request.headers.get("User-Agent", "")
        if is_bot(user_agent):
            count("bot", site.pk)
            return with_cors(JsonResponse({"ok": True, "stored": 0, "ignored": "bot"}, status=202), request)
        clean = [hit for hit in hits if _is_hit(hit)]
        stored = (
            services.track_hits(
                site=site, visitor_uid=uid, hits=clean, ip=client_ip(request), user_agent=user_agent[:300]
            )
            if clean
            else 0
        )
    except Reject as exc:
        return _answer(request, exc, site=site)
    except ServiceError as exc:
        count("invalid", site.pk if site else None)
        return with_cors(JsonResponse(exc.as_dict(), status=exc.status), request)
    return with_cors(
        JsonResponse({"ok": True, "stored": stored, "rejected": len(hits) - len(clean)}), request
    )


# --- GET /t/p.gif ---------------------------------------------------------------------------------


def _gif(result: str) -> HttpResponse:
    response = HttpResponse(GIF, content_type="image/gif")
    response.headers["Cache-Control"] = "no-store, no-cache, must-revalidate, private"
    response.headers["Expires"] = "0"
    # For people debugging an integration: what happened to the hit.
    response.headers["X-LeadBridge-Result"] = result
    return response


def _pixel_visitor(request: HttpRequest, site: Site, given: str) -> str:
    if given and 8 <= len(given) <= 64 and SITE_KEY_RE.match(given.replace(".", "-")):
        return given
    # No cookie here (no JS, an email client): one pseudonymous visitor per address, browser and day.
    seed = (
        f"{site.pk}|{client_ip(request)}|{request.headers.get('User-Agent', '')}|{clock.today().isoformat()}"
    )
    return "px-" + hashlib.sha256(seed.encode()).hexdigest()[:40]


@csrf_exempt
def pixel(request: HttpRequest) -> HttpResponse:
    """Always a 1x1 GIF: an <img> tag has no use for an error, so errors are only counted."""
    site: Site | None = None
    try:
        if rate_limited(scope="ip", value=client_ip(request)):
            count("rate_limited")
            return _gif("rate_limited")
        q = request.GET
        key = q.get("k", "")
        site = services.site_by_key(key) if SITE_KEY_RE.match(key) else None
        if site is None or not site.is_active:
            count("unknown_key")
            return _gif("unknown_key")
        if rate_limited(scope="site", value=site.key):
            count("rate_limited", site.pk)
            return _gif("rate_limited")
        user_agent = request.headers.get("User-Agent", "")
        if is_bot(user_agent):
            count("bot", site.pk)
            return _gif("bot")
        url = text(q.get("u"), 2000) or request.headers.get("Referer", "")[:2000]
        event = text(q.get("e"), 100)
        hit: dict[str, Any] = {
            "type": "pixel",
            "url": url,
            "referrer": text(q.get("r"), 2000),
            "title": text(q.get("t"), 300),
        }
        if event:
            hit.update(type="event", name=event)
        uid = _pixel_visitor(request, site, q.get("v", ""))
        services.track_hits(
            site=site,
            visitor_uid=uid,
            hits=[hit],
            ip=client_ip(request),
            user_agent=user_agent[:300],
            defer=True,
        )
    except Exception:
        # Whatever went wrong, the page still gets its image; the failure is logged and counted.
        log.exception("capture: pixel hit failed")
        count("pixel_error", site.pk if site else None)
        return _gif("error")
    return _gif("stored")


# --- GET /t/lb.js ---------------------------------------------------------------------------------


@functools.cache
def _tracker() -> tuple[bytes, str]:
    source = TRACKER.read_bytes()
    return source, '"' + hashlib.sha256(source).hexdigest()[:20] + '"'


def tracker(request: HttpRequest) -> HttpResponse:
    source, etag = _tracker()
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(source, content_type="application/javascript; charset=utf-8")
    response.headers["ETag"] = etag
    # An hour in browsers and proxies: a fixed tracker reaches every site within the hour.
    response.headers["Cache-Control"] = "public, max-age=3600"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- POST /capture/inquiry/<provider> -------------------------------------------------------------


@_post_only
def inquiry_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    site: Site | None = None
    body = b""
    try:
        plugin = load_provider(provider)
        if plugin is None:
            raise Reject(404, _("Unknown provider %(provider)s") % {"provider": repr(provider[:40])})
        _guard_ip(request)
        kind = media_type(request)
        if kind not in JSON_TYPES | FORM_TYPES:
            detail = _("Unsupported content type %(type)s: send JSON") % {"type": repr(kind or "(none)")}
            raise Reject(415, detail)
        body = read_body(request, conf("CAPTURE_WEBHOOK_MAX_BODY"))
        try:
            if kind in JSON_TYPES:
                payload = parse_json(body)
            else:
                payload = scrub({k: request.POST.get(k) for k in request.POST})
            if not isinstance(payload, dict):
                raise Reject(400, _("Expected a JSON object (one inquiry)"), counter="malformed")
        except Reject as exc:
            _keep_malformed(request, body, exc, endpoint=f"inquiry/{provider}")
            raise
        site = _site(
            request.headers.get("X-LeadBridge-Key") or payload.get("site_key") or request.GET.get("site_key")
        )
        _check_site(request, site)
        try:
            data = plugin.parse(payload)
        except PayloadError as err:
            unreadable = Reject(
                422, _("The payload cannot be read as an inquiry"), err.errors, counter="invalid"
            )
            _keep_malformed(request, body, unreadable, endpoint=f"inquiry/{provider}", key=site.key)
            raise unreadable from None
        _inquiry, created = services.inquiry_capture(
            kind=data.kind,
            site=site,
            fields=data.fields,
            page_url=data.page_url,
            referrer=data.referrer,
            visitor_uid=data.visitor_uid,
            utm=data.utm or None,
            click_ids=data.click_ids or None,
            occurred_at=data.occurred_at,
            provider=provider,
            external_id=data.external_id,
            dialog=data.dialog,
            transcript=data.transcript,
            recording_url=data.recording_url,
            duration_seconds=data.duration_seconds,
            tracking_number=data.tracking_number,
        )
    except Reject as exc:
        return _answer(request, exc, site=site)
    except ServiceError as exc:
        count("invalid", site.pk if site else None)
        return with_cors(JsonResponse(exc.as_dict(), status=exc.status), request)
    return JsonResponse({"ok": True, "created": created}, status=201 if created else 200)
