"""The tracker in a real browser: a site on another origin carries the snippet; a visitor lands
from a paid search ad, browses, sends a form. The inquiry has its source and the earlier page
views belong to the contact."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from leadbridge.capture.models import EventKind, Inquiry, Site, TrackingEvent, Visitor
from leadbridge.capture.selectors import contact_visits
from leadbridge.capture.services import site_cache_forget, site_create
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.marketing import rules
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEAD = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<script>window.lb=window.lb||function(){{(lb.q=lb.q||[]).push(arguments)}};</script>
<script async src="{crm}/t/lb.js" data-site-key="{key}"></script></head><body>"""
PAGES = {
    "/landing": HEAD + '<h1>Spring offer</h1><a id="next" href="/second">Prices</a></body></html>',
    "/second": HEAD
    + """<h1>Prices</h1>
<form method="post" action="{crm}/capture/form">
  <input type="hidden" name="site_key" value="{key}">
  <input type="hidden" name="redirect" value="{site}/thanks">
  <input name="name" placeholder="Name"><input type="email" name="email" placeholder="Email">
  <input type="tel" name="phone" placeholder="Phone"><textarea name="message"></textarea>
  <input name="lb_hp" tabindex="-1" autocomplete="off" style="position:absolute;left:-9999px">
  <button type="submit">Send</button>
</form></body></html>""",
    "/thanks": HEAD + "<h1 id='thanks'>Thanks!</h1></body></html>",
}


class SiteServer:
    """The customer's website: a separate origin (127.0.0.1 vs the CRM's localhost)."""

    def __init__(self) -> None:
        self.context: dict[str, str] = {}
        pages, context = PAGES, self.context

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.format(**context).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def customer_site() -> Iterator[SiteServer]:
    server = SiteServer()
    try:
        yield server
    finally:
        server.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll the database until the browser's (asynchronous) hits have arrived."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def pageviews() -> list[TrackingEvent]:
    return list(TrackingEvent.objects.filter(kind=EventKind.PAGEVIEW).order_by("occurred_at", "id"))


def test_paid_search_visit_to_inquiry(page: Any, live_server: Any, customer_site: SiteServer) -> None:
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    site: Site = site_create(actor=None, name="Customer site", origins=[customer_site.url])
    customer_site.context.update(
        crm=live_server.url, key=site.key, site=customer_site.url, title="Spring offer"
    )

    page.goto(
        f"{customer_site.url}/landing?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=TeSt123"
    )
    wait_for(lambda: len(pageviews()) >= 1, "the landing page view")
    vid = next(c["value"] for c in page.context.cookies() if c["name"] == "_lb_vid")
    assert Visitor.objects.get(site=site).uid == vid

    page.evaluate("lb('event', 'video_play', {video: 'intro'})")
    page.click("#next")
    page.wait_for_url("**/second")
    wait_for(lambda: len(pageviews()) >= 2, "the second page view")
    wait_for(
        lambda: TrackingEvent.objects.filter(kind=EventKind.EVENT, name="video_play").exists(), "the event"
    )

    page.fill("input[name=name]", "Anna Petrova")
    page.fill("input[name=email]", "anna.petrova@example.com")
    page.fill("input[name=phone]", "+7 999 123-45-67")
    page.fill("textarea[name=message]", "Please call me about the spring offer")
    page.click("button[type=submit]")
    page.wait_for_url(f"{customer_site.url}/thanks")
    page.wait_for_selector("#thanks")

    inquiry = wait_for(
        lambda: Inquiry.objects.select_related("contact", "touch__channel", "touch__campaign").first(),
        "the inquiry",
    )
    assert inquiry.kind == "form"
    assert inquiry.contact.email == "anna.petrova@example.com"
    assert inquiry.touch.channel.key == "paid_search"
    assert inquiry.touch.campaign is not None and inquiry.touch.campaign.utm_campaign == "spring"
    assert inquiry.touch.campaign_name == "spring"
    assert inquiry.touch.click_ids == {"gclid": "TeSt123"}
    assert inquiry.idempotency_key  # the tracker gave the form one
    assert inquiry.message == "Please call me about the spring offer"

    # The visits before the form are the contact's now.
    visits = contact_visits(contact=inquiry.contact)
    urls = [v.url for v in visits if v.kind == EventKind.PAGEVIEW]
    assert any("/landing?utm_source=google" in u for u in urls)
    assert any(u.endswith("/second") for u in urls)
    assert Visitor.objects.get(site=site).contact_id == inquiry.contact_id

    # Navigation kept the source: first and last touch sit in the site's own cookie.
    src = next(c["value"] for c in page.context.cookies() if c["name"] == "_lb_src")
    assert "TeSt123" in src and "spring" in src
    assert Inquiry.objects.count() == 1


def test_identify_from_code_links_the_visitor(page: Any, live_server: Any, customer_site: SiteServer) -> None:
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    site: Site = site_create(actor=None, name="Customer site", origins=[customer_site.url])
    customer_site.context.update(crm=live_server.url, key=site.key, site=customer_site.url, title="Home")

    page.goto(f"{customer_site.url}/landing")
    wait_for(lambda: len(pageviews()) >= 1, "the page view")
    page.evaluate("lb('identify', {email: 'Boris@Example.com', name: 'Boris'})")
    visitor = wait_for(
        lambda: Visitor.objects.filter(site=site, contact__isnull=False).select_related("contact").first(),
        "the identified visitor",
    )
    assert visitor.contact.email == "boris@example.com"
    assert [v.kind for v in contact_visits(contact=visitor.contact)][-1] == EventKind.PAGEVIEW
