"""Issue 3's "done when", all in a browser: a visitor lands on a customer's site from a paid
search ad, browses, sends the form; the inquiry is in the sales inbox with its channel and
campaign, the earlier page views are on the contact card, the manager classifies it, marketing
disputes the class with a comment and the head of sales resolves the dispute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from leadbridge.capture.models import Inquiry, InquiryReview, ReviewStatus, Site
from leadbridge.capture.services import site_cache_forget, site_create
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.marketing import rules
from leadbridge.marketing import services as marketing_services
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from tests.e2e.conftest import login
from tests.e2e.test_tracker import SiteServer, pageviews, wait_for
from tests.factories import user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Secret-pass-1"  # tests.factories.UserFactory's
SCRIPT = "Spring offer: 15% off until the end of April. Ask about the trade-in."


@pytest.fixture
def customer_site() -> Iterator[SiteServer]:
    server = SiteServer()
    try:
        yield server
    finally:
        server.stop()


def log_out(page: Any, live_server: Any) -> None:
    page.click("[data-testid=user-menu] button:has-text('Log out')")
    page.wait_for_url(f"{live_server.url}/login/")


def test_form_to_inbox_classify_dispute_resolve(
    page: Any, live_server: Any, customer_site: SiteServer
) -> None:
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    anna = user("sales", username="anna")
    mary = user("marketing", username="mary")
    user("sales_head", username="helen")
    marketing_services.campaign_create(
        actor=mary,
        data={"name": "spring", "utm_campaign": "spring", "channel": "paid_search", "sales_script": SCRIPT},
    )
    site: Site = site_create(actor=None, name="Customer site", origins=[customer_site.url])
    customer_site.context.update(
        crm=live_server.url, key=site.key, site=customer_site.url, title="Spring offer"
    )

    # --- the visitor: an ad click, a second page, the form ---------------------------------------
    page.goto(
        f"{customer_site.url}/landing?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=GcL1d-42"
    )
    wait_for(lambda: len(pageviews()) >= 1, "the landing page view")
    page.click("#next")
    page.wait_for_url("**/second")
    wait_for(lambda: len(pageviews()) >= 2, "the second page view")
    page.fill("input[name=name]", "Anna Petrova")
    page.fill("input[name=email]", "anna.petrova@example.com")
    page.fill("input[name=phone]", "+7 999 123-45-67")
    page.fill("textarea[name=message]", "Please call me about the spring offer")
    page.click("button[type=submit]")
    page.wait_for_selector("#thanks")
    inquiry = wait_for(lambda: Inquiry.objects.first(), "the inquiry")
    assert inquiry.manager == anna

    # --- the manager: inbox, inquiry page, contact card, one click ------------------------------
    login(page, live_server, "anna", PASSWORD)
    page.click("[data-nav=inbox]")
    row = page.locator(f"[data-testid=queue] tr[data-inquiry-id='{inquiry.pk}']")
    row.wait_for()
    assert row.locator("td[data-channel]").get_attribute("data-channel") == "paid_search"
    assert row.locator("td[data-channel]").inner_text() == "Paid search"
    assert row.locator("[data-testid=row-campaign]").inner_text() == "spring"
    assert "Anna Petrova" in row.inner_text()
    assert row.locator("[data-testid=age]").inner_text().endswith("min")

    row.locator("a.strong").click()
    page.wait_for_url(f"**/inquiries/{inquiry.pk}/")
    assert SCRIPT in page.locator("[data-testid=sales-script]").inner_text()
    assert "Please call me about the spring offer" in page.locator("[data-testid=dialog]").inner_text()
    assert page.get_attribute("[data-testid=touch-channel]", "data-channel") == "paid_search"
    assert "gclid=GcL1d-42" in page.locator("[data-testid=touch-click-ids]").inner_text()

    page.click("[data-testid=contact-link]")
    page.wait_for_url(f"**/contacts/{inquiry.contact_id}/")
    visits = page.locator("[data-testid=visits] [data-testid=visit-url]").all_inner_texts()
    assert any("/landing?utm_source=google" in v for v in visits), visits
    assert any(v.endswith("/second") for v in visits), visits
    assert page.get_attribute("[data-testid=first-touch] [data-channel]", "data-channel") == "paid_search"
    page.go_back()
    page.wait_for_url(f"**/inquiries/{inquiry.pk}/")

    page.click("[data-testid=classify-form] button[data-class=spam]")
    page.wait_for_selector("[data-testid=current-class][data-class=spam]")
    assert "Classified" in page.locator("[data-testid=review-history]").inner_text()
    assert Inquiry.objects.get(pk=inquiry.pk).cls.key == "spam"
    log_out(page, live_server)

    # --- marketing: the feed, a dispute needs a comment -----------------------------------------
    login(page, live_server, "mary", PASSWORD)
    page.click("[data-nav=inquiries]")
    feed_row = page.locator(f"[data-testid=feed] tr[data-inquiry-id='{inquiry.pk}']")
    feed_row.wait_for()
    assert "Spam" in feed_row.inner_text()
    feed_row.locator("a.strong").click()
    page.wait_for_url(f"**/inquiries/{inquiry.pk}/")
    assert page.locator("[data-testid=classify-form]").count() == 0
    page.click("[data-testid=review-form] button[value=dispute]")
    page.wait_for_selector("[data-testid=review-error]")
    assert Inquiry.objects.get(pk=inquiry.pk).review_status == ReviewStatus.NONE
    page.fill("[data-testid=review-form] textarea[name=comment]", "She asks about the offer: a real lead")
    page.click("[data-testid=review-form] button[value=dispute]")
    page.wait_for_selector("[data-testid=review-status][data-status=disputed]")
    assert (
        "She asks about the offer: a real lead" in page.locator("[data-testid=review-history]").inner_text()
    )
    log_out(page, live_server)

    # --- the head of sales: the dispute queue, the decision -------------------------------------
    login(page, live_server, "helen", PASSWORD)
    page.wait_for_selector("[data-testid=bell-count]:has-text('1')")  # the dispute notification
    page.click("[data-nav=inbox]")
    page.click("[data-testid=tab-disputes]")
    dispute = page.locator(f"[data-testid=disputes] tr[data-inquiry-id='{inquiry.pk}']")
    dispute.locator("a.strong").click()
    page.wait_for_url(f"**/inquiries/{inquiry.pk}/")
    page.select_option("[data-testid=resolve-form] select[name=class]", "new_lead")
    page.fill("[data-testid=resolve-form] textarea[name=comment]", "Agreed: a target lead")
    page.click("[data-testid=resolve-form] button[type=submit]")
    page.wait_for_selector("[data-testid=review-status][data-status=resolved]")
    assert page.get_attribute("[data-testid=current-class]", "data-class") == "new_lead"

    final = Inquiry.objects.select_related("cls").get(pk=inquiry.pk)
    assert (final.cls.key, final.review_status) == ("new_lead", ReviewStatus.RESOLVED)
    assert list(InquiryReview.objects.filter(inquiry=final).values_list("action", flat=True)) == [
        "classified",
        "disputed",
        "resolved",
    ]
