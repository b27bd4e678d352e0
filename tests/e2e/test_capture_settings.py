"""Capture setup in a real browser, the way an admin or a marketer uses it: register a site, copy
its snippet from the page into a real page on another origin and see the page view arrive; edit
and deactivate the site; manage inquiry classes and find them in the sales inbox; a sales user is
refused the settings; the settings pages in Russian.

Every test fails on a JavaScript error or a console error the test did not expect (ConsoleWatch).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from leadbridge.capture.models import EventKind, InquiryClass, Site, TrackingEvent, Visitor
from leadbridge.capture.services import inquiry_capture, site_cache_forget, site_create
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.marketing import rules
from leadbridge.marketing import services as marketing_services
from leadbridge.marketing.models import ChannelRule
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from tests.e2e import test_tracker
from tests.e2e.conftest import login
from tests.e2e.test_tracker import SiteServer, wait_for
from tests.factories import user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Secret-pass-1"  # tests.factories.UserFactory's


class ConsoleWatch:
    """Collects the page's uncaught JavaScript errors and console errors; `check` fails on any the
    test did not `allow` (e.g. the browser's own "403" line for a page that is meant to refuse)."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        # The app serves no /favicon.ico; Chromium asks for it and reports the 404.
        self.allowed: list[re.Pattern[str]] = [re.compile(r"status of 404 .*/favicon\.ico")]
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", self._console)

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            where = (msg.location or {}).get("url", "")
            self.errors.append(f"console: {msg.text} ({where})")

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def check(self) -> None:
        unexpected = [e for e in self.errors if not any(p.search(e) for p in self.allowed)]
        assert not unexpected, "browser errors:\n" + "\n".join(unexpected)


@pytest.fixture
def console(page: Any) -> Iterator[ConsoleWatch]:
    watch = ConsoleWatch(page)
    yield watch
    watch.check()


@pytest.fixture
def defaults(transactional_db: Any) -> Iterator[None]:
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    yield
    rules.clear_cache()
    site_cache_forget()


@pytest.fixture
def customer_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[SiteServer]:
    """The customer's website (test_tracker's server, another origin) with one more page: whatever
    `context["snippet"]` holds, pasted into the head as a site owner would."""
    monkeypatch.setitem(
        test_tracker.PAGES,
        "/pasted",
        '<!doctype html><html><head><meta charset="utf-8"><title>Pasted snippet</title>\n{snippet}\n'
        "</head><body><h1>Our offer</h1></body></html>",
    )
    server = SiteServer()
    try:
        yield server
    finally:
        server.stop()


def site_pageviews(site: Site) -> list[TrackingEvent]:
    visitors = Visitor.objects.filter(site=site).values("pk")
    return list(TrackingEvent.objects.filter(kind=EventKind.PAGEVIEW, visitor_id__in=visitors))


def column(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


# --- 1. a site, its snippet, a real page carrying it ---------------------------------------------


def test_site_snippet_copied_into_a_page_records_its_page_views(
    page: Any, live_server: Any, defaults: None, customer_site: SiteServer, console: ConsoleWatch
) -> None:
    user("marketing", username="mary")
    login(page, live_server, "mary", PASSWORD)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)

    page.click("[data-nav=capture_settings]")
    page.wait_for_url("**/capture-setup/sites/")
    page.fill("[data-testid=site-create] #site-name", "Flower shop")
    page.fill("[data-testid=site-create] #site-origins", f"https://www.example.com\n{customer_site.url}")
    page.click("[data-testid=site-create] button[type=submit]")
    page.wait_for_url("**/capture-setup/sites/*/snippet/")
    site = Site.objects.get()
    assert site.origins == ["https://www.example.com", customer_site.url]
    assert page.url.endswith(f"/capture-setup/sites/{site.pk}/snippet/")
    assert "Site added" in page.inner_text(".messages")
    assert page.inner_text("[data-testid=site-key]") == site.key

    snippet = page.text_content("[data-testid=snippet-tracker]")
    assert snippet == (
        "<script>window.lb=window.lb||function(){(lb.q=lb.q||[]).push(arguments)};</script>\n"
        f'<script async src="{live_server.url}/t/lb.js" data-site-key="{site.key}"></script>'
    )
    copy = page.locator("button[data-copy=snippet-tracker]")
    assert copy.inner_text() == "Copy"
    copy.click()
    page.wait_for_function("b => b.textContent === 'Copied'", arg=copy.element_handle())
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == snippet

    # The list shows the key and both origins; the edit page replaces one origin.
    page.click(".crumbs a:has-text('Sites')")
    row = page.locator(f"tr[data-site-id='{site.pk}']")
    assert row.locator("[data-testid=site-key]").inner_text() == site.key
    assert column(page, f"tr[data-site-id='{site.pk}'] .url") == [
        "https://www.example.com",
        customer_site.url,
    ]
    row.locator("a:has-text('Edit')").click()
    page.wait_for_url(f"**/capture-setup/sites/{site.pk}/")
    assert page.input_value("#site-origins") == f"https://www.example.com\n{customer_site.url}"
    console.allow(r"status of 422 .*/capture-setup/sites/")  # the form comes back with its errors
    page.fill("#site-origins", "https://shop.example.com/ example.org")  # the second is no origin
    page.click("[data-testid=site-edit] button[type=submit]")
    assert "Not an origin" in page.inner_text("[data-testid=site-edit] .errorlist")
    assert page.input_value("#site-origins") == "https://shop.example.com/ example.org"  # kept
    page.fill("#site-origins", f"https://shop.example.com/\n{customer_site.url}")
    page.click("[data-testid=site-edit] button[type=submit]")
    page.wait_for_url("**/capture-setup/sites/")
    assert column(page, f"tr[data-site-id='{site.pk}'] .url") == [
        "https://shop.example.com",
        customer_site.url,
    ]

    # The copied snippet, pasted as is into a page of the site, records the visit.
    customer_site.context["snippet"] = copied
    page.goto(f"{customer_site.url}/pasted?utm_source=google&utm_medium=cpc&utm_campaign=spring")
    views = wait_for(lambda: site_pageviews(site), "the page view of the pasted snippet")
    assert len(views) == 1
    assert views[0].url.startswith(f"{customer_site.url}/pasted?utm_source=google")
    assert views[0].title == "Pasted snippet"

    # Deactivated, the site's key is refused: the same page records nothing more.
    page.goto(f"{live_server.url}/capture-setup/sites/{site.pk}/")
    page.uncheck("[data-testid=site-edit] input[name=is_active]")
    page.click("[data-testid=site-edit] button[type=submit]")
    page.wait_for_url("**/capture-setup/sites/")
    assert page.inner_text(f"tr[data-site-id='{site.pk}'] td:nth-child(4)") == "no"
    page.goto(f"{live_server.url}/capture-setup/sites/{site.pk}/snippet/")
    assert page.locator(".badge:has-text('inactive')").is_visible()
    assert not Site.objects.get().is_active

    console.check()  # nothing so far; the refused hit below is expected to complain
    console.allow(r"/t/events")  # the refused hit: the browser reports the 404 and the CORS block
    console.allow(r"Failed to load resource: the server responded with a status of 404")
    with page.expect_response(lambda r: r.url.endswith("/t/events")) as refused:
        page.goto(f"{customer_site.url}/pasted")
    assert refused.value.status == 404
    assert len(site_pageviews(site)) == 1


# --- 2. inquiry classes, then the inbox ----------------------------------------------------------


def test_inquiry_classes_added_renamed_reordered_then_offered_in_the_inbox(
    page: Any, live_server: Any, defaults: None, console: ConsoleWatch
) -> None:
    user("admin", username="boss")
    anna = user("sales", username="anna")
    inquiry, _created = inquiry_capture(
        kind="form",
        fields={"name": "Ivan Petrov", "email": "ivan@example.com", "message": "A kitchen, 3 m"},
        page_url="https://shop.example/kitchens?utm_source=google&utm_medium=cpc",
    )
    assert inquiry.manager == anna
    login(page, live_server, "boss", PASSWORD)
    page.click("[data-nav=capture_settings]")
    page.click("[data-testid=capture-tabs] a:has-text('Inquiry classes')")
    page.wait_for_url("**/capture-setup/classes/")
    before = column(page, "[data-testid=class-row] code")

    form = page.locator("[data-testid=class-create]")
    form.locator("#class-key").fill("kitchen_lead")
    form.locator("#class-name").fill("Kitchen lead")
    form.locator("#class-kind").select_option("target")
    form.locator("#class-product").fill("Kitchens")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=class-row][data-key=kitchen_lead]")
    assert "Class added." in page.inner_text(".messages")
    form = page.locator("[data-testid=class-create]")
    form.locator("#class-key").fill("competitor")
    form.locator("#class-name").fill("Competitor")
    form.locator("#class-kind").select_option("junk")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("[data-testid=class-row][data-key=competitor]")
    assert column(page, "[data-testid=class-row] code") == [*before, "kitchen_lead", "competitor"]
    kitchen = page.locator("[data-testid=class-row][data-key=kitchen_lead]")
    assert "Kitchens" in kitchen.inner_text() and "Target" in kitchen.inner_text()
    assert "Junk" in page.inner_text("[data-testid=class-row][data-key=competitor]")

    # A duplicate key is refused next to the field, the input kept.
    console.allow(r"status of 409 .*/capture-setup/classes/")
    form = page.locator("[data-testid=class-create]")
    form.locator("#class-key").fill("competitor")
    form.locator("#class-name").fill("Competitor again")
    form.locator("button[type=submit]").click()
    assert "Already exists" in page.inner_text("[data-testid=class-create] .errorlist")
    assert page.input_value("[data-testid=class-create] #class-name") == "Competitor again"

    # Rename the target class.
    page.goto(f"{live_server.url}/capture-setup/classes/")
    page.click("[data-testid=class-row][data-key=kitchen_lead] a:has-text('Edit')")
    page.fill("[data-testid=class-edit] #class-name", "Kitchen order")
    page.click("[data-testid=class-edit] button[type=submit]")
    page.wait_for_url("**/capture-setup/classes/")
    assert "Kitchen order" in page.inner_text("[data-testid=class-row][data-key=kitchen_lead]")

    # Move the junk class above the target one (htmx swaps the table in place).
    page.evaluate("window.__noReload = true")
    with page.expect_response(lambda r: "/move/" in r.url):
        page.click("[data-testid=class-row][data-key=competitor] button[value=up]")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=class-row]')].slice(-2).map(r => r.dataset.key).join()"
        " === 'competitor,kitchen_lead'"
    )
    assert page.evaluate("window.__noReload") is True

    # Deactivate a default class: sales no longer see it.
    page.click("[data-testid=class-row][data-key=spam] a:has-text('Edit')")
    page.uncheck("[data-testid=class-edit] input[name=is_active]")
    page.click("[data-testid=class-edit] button[type=submit]")
    page.wait_for_url("**/capture-setup/classes/")
    assert page.inner_text("[data-testid=class-row][data-key=spam] td:nth-child(6)") == "no"
    active = [k for k in column(page, "[data-testid=class-row] code") if k != "spam"]
    assert active[-2:] == ["competitor", "kitchen_lead"]

    # The sales manager's inbox offers the active classes in this order, with the new names.
    page.context.clear_cookies()
    login(page, live_server, "anna", PASSWORD)
    page.click("[data-nav=inbox]")
    row = page.locator(f"tr[data-inquiry-id='{inquiry.pk}']")
    row.wait_for()
    options = row.locator("select[name=class] option")
    assert options.evaluate_all("os => os.map(o => o.value)") == ["", *active]
    assert "Kitchen order" in options.all_inner_texts()
    row.locator("select[name=class]").select_option("kitchen_lead")
    row.locator("button:has-text('Set')").click()
    page.wait_for_selector(f"tr[data-inquiry-id='{inquiry.pk}'] [data-testid=row-class]")
    assert page.inner_text(f"tr[data-inquiry-id='{inquiry.pk}'] [data-testid=row-class]") == "Kitchen order"
    cls = InquiryClass.objects.get(key="kitchen_lead")
    assert (cls.name, cls.kind, cls.product) == ("Kitchen order", "target", "Kitchens")
    inquiry.refresh_from_db()
    assert inquiry.cls_id == cls.pk

    # The inquiry page's buttons show the product and leave out the inactive class.
    page.goto(f"{live_server.url}/inquiries/{inquiry.pk}/")
    buttons = page.locator("[data-testid=classify-form] button[data-class]")
    assert buttons.evaluate_all("bs => bs.map(b => b.dataset.class)") == active
    assert page.inner_text("[data-testid=classify-form] button[data-class=kitchen_lead]") == (
        "Kitchen order · Kitchens"
    )


# --- 5. a sales user and the settings ------------------------------------------------------------


def test_sales_user_is_refused_every_settings_page(
    page: Any, live_server: Any, defaults: None, console: ConsoleWatch
) -> None:
    user("sales", username="anna")
    site = site_create(actor=None, name="Shop", origins=["https://shop.example"])
    campaign = marketing_services.campaign_create(
        actor=user("marketing", username="mary"), data={"name": "Spring", "utm_campaign": "spring"}
    )
    cls = InquiryClass.objects.order_by("position").first()
    rule = ChannelRule.objects.order_by("position").first()
    assert cls is not None and rule is not None
    refused = [
        "/capture-setup/",
        "/capture-setup/sites/",
        f"/capture-setup/sites/{site.pk}/",
        f"/capture-setup/sites/{site.pk}/snippet/",
        "/capture-setup/classes/",
        f"/capture-setup/classes/{cls.pk}/",
        "/marketing/channels/",
        "/marketing/rules/",
        f"/marketing/rules/{rule.pk}/edit/",
        "/marketing/spend/",
        "/marketing/campaigns/new/",
        f"/marketing/campaigns/{campaign.pk}/edit/",
    ]
    console.allow(r"Failed to load resource: the server responded with a status of 403")
    login(page, live_server, "anna", PASSWORD)
    nav = page.locator("[data-nav]").evaluate_all("links => links.map(a => a.dataset.nav)")
    assert "capture_settings" not in nav
    hrefs = page.locator("a[href]").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert not [
        h for h in hrefs if h.startswith(("/capture-setup/", "/marketing/channels", "/marketing/rules"))
    ]

    for path in refused:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.status == 403, path
        assert page.inner_text("h1") == "Not allowed", path
        assert page.locator("[data-testid=user-menu]").is_visible(), path  # the app's page, not a bare error

    # The campaigns she may read show no settings or spend tabs and no edit buttons.
    page.click("[data-nav=campaigns]")
    page.wait_for_url("**/marketing/")
    assert column(page, "[data-testid=marketing-tabs] a") == ["Campaigns"]
    page.click(f"tr[data-campaign-id='{campaign.pk}'] a.strong")
    page.wait_for_url(f"**/marketing/campaigns/{campaign.pk}/")
    assert page.locator("a:has-text('Edit'), a:has-text('Enter spend')").count() == 0


# --- 6. Russian -----------------------------------------------------------------------------------

# Visible text and labels (placeholder, title, aria-label) outside code samples and user data.
LATIN_TEXT_JS = """
(skip) => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!el || el.closest(skip)) continue;
    const text = walker.currentNode.textContent.replace(/\\s+/g, ' ').trim();
    if (/[A-Za-z]{2,}/.test(text)) out.push(text);
  }
  for (const el of document.body.querySelectorAll('[placeholder], [title], [aria-label]')) {
    if (el.closest(skip)) continue;
    for (const name of ['placeholder', 'title', 'aria-label']) {
      const text = el.getAttribute(name);
      if (text && /[A-Za-z]{2,}/.test(text)) out.push(`@${name}: ${text}`);
    }
  }
  return out;
}
"""


# Latin that belongs in a Russian page: URLs and parameter names, file formats, product and
# command names, loanwords the translation keeps (Email), placeholders that are sample values,
# and this test's own data (utm_campaign "spring", the RUB currency code).
LATIN_ALLOWED = re.compile(
    r"https?://\S+|\butm_\w+(=\w+)?|\b(UTM|HTML|JSON|API|JavaScript|head|origins|Email|RUB|LeadBridge"
    r"|X-LeadBridge-Key|lb_hp|gclid|yclid|docs/capture\.md|leadbridge import spend \S+|target_b2b|tv"
    r"|cpc|ppc|spring)\b|gclid=\.\.\.|\.\.\."
)


def latin_text(page: Any, skip: str) -> list[str]:
    return list(page.evaluate(LATIN_TEXT_JS, skip))


def test_settings_pages_in_russian(
    page: Any, live_server: Any, defaults: None, console: ConsoleWatch
) -> None:
    boss = user("admin", username="boss")
    site = site_create(actor=None, name="Магазин", origins=["https://shop.example"])
    campaign = marketing_services.campaign_create(
        actor=boss, data={"name": "Весна", "utm_campaign": "spring", "budget": "1000", "type": "nurture"}
    )
    cls = InquiryClass.objects.order_by("position").first()
    rule = ChannelRule.objects.order_by("position").first()
    assert cls is not None and rule is not None
    login(page, live_server, "boss", PASSWORD)
    page.click("[data-nav=capture_settings]")
    page.wait_for_url("**/capture-setup/sites/")
    # The language switch in the header saves the choice on the user (accounts' preferences).
    page.click(".langswitch button[value=ru]")
    page.wait_for_selector("html[lang=ru]")
    assert page.url.endswith("/capture-setup/sites/")
    boss.refresh_from_db()
    assert boss.language == "ru"
    assert page.inner_text("[data-nav=capture_settings]") == "Сбор обращений"
    assert page.inner_text("h1") == "Сбор обращений"
    assert page.inner_text("[data-testid=site-create] button[type=submit]") == "Добавить сайт"

    pages = [
        "/capture-setup/sites/",
        f"/capture-setup/sites/{site.pk}/",
        f"/capture-setup/sites/{site.pk}/snippet/",
        "/capture-setup/classes/",
        f"/capture-setup/classes/{cls.pk}/",
        "/marketing/",
        "/marketing/campaigns/new/",
        f"/marketing/campaigns/{campaign.pk}/",
        f"/marketing/campaigns/{campaign.pk}/edit/",
        "/marketing/spend/",
        "/marketing/channels/",
        "/marketing/rules/?probe=1&utm_source=google&utm_medium=cpc",
        f"/marketing/rules/{rule.pk}/edit/",
    ]
    untranslated: dict[str, list[str]] = {}
    for path in pages:
        page.goto(f"{live_server.url}{path}")
        assert page.locator("html[lang=ru]").count() == 1, path
        left = [
            text
            for text in latin_text(page, "code, pre, script, style, textarea, .brand, .username, .langswitch")
            if re.search(r"[A-Za-z]{2,}", LATIN_ALLOWED.sub("", re.sub(r"^@[\w-]+: ", "", text)))
        ]
        if left:
            untranslated[path] = left
    assert not untranslated
