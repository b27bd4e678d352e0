"""The WSGI application (config/wsgi.py): tracking hits take the lean path, all else Django's full stack.

The test client goes through its own handler, so these tests call `config.wsgi.application`
the way gunicorn does: a WSGI environ in, status, headers and body out, `close()` at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import RequestFactory
from django.urls import resolve

from config.wsgi import application
from leadbridge.capture import services
from leadbridge.capture.http import counters, parse_rate
from leadbridge.capture.models import EventKind, Site, TrackingEvent, Visitor
from leadbridge.capture.urls import TRACKING_PATHS
from tests.capture.public_support import BROWSER_UA, ORIGIN, public_settings  # noqa: F401

VID = "lean-visitor-0001"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    cookies: list[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@contextmanager
def keep_test_connection(keep: bool = True) -> Iterator[None]:
    """What Django's test client does too: the test's transaction lives on this connection, so
    the request cycle must not close it."""
    if not keep:
        yield
        return
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def call(
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    remote_addr: str = "127.0.0.1",
    in_test_transaction: bool = True,
) -> Answer:
    headers = {"User-Agent": BROWSER_UA, **(headers or {})}
    factory = RequestFactory()
    if method == "GET":
        request = factory.get(path, query or {}, headers=headers, REMOTE_ADDR=remote_addr)
    else:
        request = factory.generic(
            method,
            path,
            body,
            content_type="text/plain;charset=UTF-8",
            headers=headers,
            REMOTE_ADDR=remote_addr,
        )
    got: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"] = int(status.split()[0])
        got["headers"] = response_headers

    with keep_test_connection(in_test_transaction):
        result = application(request.environ, start_response)
        try:
            body_out = b"".join(result)
        finally:
            result.close()  # what a WSGI server does when the response is sent
    pairs = got["headers"]
    return Answer(
        status=got["status"],
        headers={k: v for k, v in pairs if k != "Set-Cookie"},
        cookies=[v for k, v in pairs if k == "Set-Cookie"],
        body=body_out,
    )


def pixel(site: Site | None, **params: str) -> Answer:
    query = {"k": site.key} if site else {}
    query.update(params)
    return call("GET", "/t/p.gif", query=query)


def events(site: Site, n: int = 2, *, remote_addr: str = "127.0.0.1", **headers: str) -> Answer:
    payload = {
        "site_key": site.key,
        "visitor_id": VID,
        "hits": [{"type": "pageview", "url": f"https://shop.example/p{i}"} for i in range(n)],
    }
    headers.setdefault("Origin", ORIGIN)
    return call(
        "POST", "/t/events", body=json.dumps(payload).encode(), headers=headers, remote_addr=remote_addr
    )


def limits(settings: Any, **values: str) -> None:
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, **values}


# --- the lean path ---------------------------------------------------------------------------------


def test_the_lean_paths_are_the_routed_views() -> None:
    for path, view in TRACKING_PATHS.items():
        assert resolve(path).func is view


def test_pixel_on_the_lean_path(site: Site) -> None:
    answer = pixel(site, v=VID, u="https://shop.example/nojs", t="No JS")
    assert answer.status == 200
    assert answer.body.startswith(b"GIF89a")
    assert answer.headers["X-LeadBridge-Result"] == "stored"
    assert answer.headers["Content-Type"] == "image/gif"
    # The security headers of the full stack are kept; a session, CSRF or locale are not involved.
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Referrer-Policy"] == "same-origin"
    assert answer.cookies == []
    assert "Cookie" not in answer.headers.get("Vary", "")
    event = TrackingEvent.objects.get()
    assert (event.kind, event.url, event.title) == (EventKind.PIXEL, "https://shop.example/nojs", "No JS")
    assert Visitor.objects.get().uid == VID


def test_events_on_the_lean_path(site: Site) -> None:
    answer = events(site, 3)
    assert answer.status == 200
    assert answer.json() == {"ok": True, "stored": 3, "rejected": 0}
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.cookies == []
    assert TrackingEvent.objects.count() == 3


def test_unknown_key_on_the_lean_path(site: Site) -> None:
    assert pixel(None, k="NoSuchKey12345678").headers["X-LeadBridge-Result"] == "unknown_key"
    site.key = "NoSuchKey12345678"
    answer = events(site)
    assert answer.status == 404
    assert answer.headers["Content-Type"] == "application/json"
    assert not TrackingEvent.objects.exists()
    assert counters(None)["unknown_key"] == 2


def test_rate_limits_hold_on_the_lean_path(site: Site, settings: Any) -> None:
    limits(settings, CAPTURE_RATE_IP="2/m")
    assert [pixel(site).headers["X-LeadBridge-Result"] for _ in range(3)] == [
        "stored",
        "stored",
        "rate_limited",
    ]
    over = events(site)
    assert over.status == 429
    assert "this address" in over.json()["detail"]
    # Another address has its own budget; the site's budget is counted too.
    limits(settings, CAPTURE_RATE_IP="100/m", CAPTURE_RATE_SITE="2/m")
    assert events(site, remote_addr="198.51.100.7").status == 429
    assert TrackingEvent.objects.count() == 2


def test_bots_and_sizes_on_the_lean_path(site: Site) -> None:
    bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    answer = call("GET", "/t/p.gif", query={"k": site.key}, headers={"User-Agent": bot})
    assert answer.headers["X-LeadBridge-Result"] == "bot"
    assert events(site, **{"User-Agent": bot}).json()["ignored"] == "bot"
    assert events(site, 101).status == 413
    huge = b'{"site_key": "' + site.key.encode() + b'", "hits": [' + b" " * 70_000 + b"]}"
    assert call("POST", "/t/events", body=huge, headers={"Origin": ORIGIN}).status == 413
    assert not TrackingEvent.objects.exists()


def test_foreign_origin_and_wrong_method_on_the_lean_path(site: Site) -> None:
    assert events(site, Origin="https://evil.example").status == 403
    assert call("GET", "/t/events").status == 405
    preflight = call("OPTIONS", "/t/events", headers={"Origin": ORIGIN})
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_a_host_not_allowed_is_refused_on_the_lean_path(site: Site) -> None:
    answer = call("GET", "/t/p.gif", query={"k": site.key}, headers={"Host": "evil.example"})
    assert answer.status == 400
    assert not TrackingEvent.objects.exists()


def test_the_pixel_stays_a_gif_when_storing_fails_on_the_lean_path(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not our database mocked: a stand-in for any failure (say, the database is down).
    def broken(**kwargs: Any) -> int:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(services, "track_hits", broken)
    answer = pixel(site)
    assert (answer.status, answer.headers["X-LeadBridge-Result"]) == (200, "error")


def test_an_unexpected_error_is_a_500_page_not_a_crash(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: Any) -> int:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(services, "track_hits", broken)
    assert events(site).status == 500


def test_the_request_cycle_signals_fire_on_the_lean_path(site: Site) -> None:
    """request_started/request_finished are what reuse and close database connections."""
    seen: list[str] = []

    def started(**kwargs: Any) -> None:
        seen.append("started")

    def finished(**kwargs: Any) -> None:
        seen.append("finished")

    request_started.connect(started)
    request_finished.connect(finished)
    try:
        pixel(site)
        events(site)
    finally:
        request_started.disconnect(started)
        request_finished.disconnect(finished)
    assert seen == ["started", "finished", "started", "finished"]


@pytest.mark.django_db(transaction=True)
def test_database_connections_are_reused_and_closed_as_on_any_request(site: Site) -> None:
    def hit() -> None:
        answer = call("GET", "/t/p.gif", query={"k": site.key}, in_test_transaction=False)
        assert answer.headers["X-LeadBridge-Result"] == "stored"

    hit()
    kept = connection.connection
    hit()
    assert kept is not None and connection.connection is kept  # CONN_MAX_AGE: reused
    connection.close_at = time.monotonic() - 1  # past its age: the next request closes it
    hit()
    assert connection.connection is not kept
    assert TrackingEvent.objects.count() == 3


# --- everything else: the full stack ----------------------------------------------------------------


def test_pages_still_get_sessions_and_csrf() -> None:
    page = call("GET", "/login/")
    assert page.status == 200
    assert any(c.startswith("csrftoken=") for c in page.cookies)
    assert "Cookie" in page.headers["Vary"]
    assert page.headers["Content-Language"]
    # No CSRF token: refused, as on every page.
    assert call("POST", "/login/", body=b"username=a&password=b").status == 403


def test_the_tracker_script_keeps_the_full_stack() -> None:
    answer = call("GET", "/t/lb.js")
    assert answer.status == 200
    assert "Accept-Language" in answer.headers["Vary"]


# --- the rate limit counter ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("600/m", (600, 60)), ("5/10s", (5, 10)), ("20000/M", (20000, 60)), ("3/h", (3, 3600)), ("7/", (7, 1))],
)
def test_rates_in_django_ratelimit_syntax(rate: str, parsed: tuple[int, int]) -> None:
    assert parse_rate(rate) == parsed


def test_a_broken_rate_is_a_configuration_error() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        parse_rate("lots")


# --- PostgreSQL: plain hits commit on their own ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_plain_hits_outside_a_transaction(site: Site) -> None:
    """Outside an atomic block (as in a real request, unlike the other tests here) plain hits are
    one statement committing on their own; on PostgreSQL it waits for no WAL flush, and only
    for its own commit."""
    stored = services.track_hits(
        site=site,
        visitor_uid=VID,
        hits=[{"type": "pageview", "url": f"https://shop.example/{i}"} for i in range(3)],
    )
    again = services.track_hits(site=site, visitor_uid=VID, hits=[{"type": "pixel", "url": "x"}])
    assert (stored, again) == (3, 1)
    assert TrackingEvent.objects.count() == 4
    assert Visitor.objects.count() == 1
    assert connection.get_autocommit()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"
