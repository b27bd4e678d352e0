"""Marketing pages in a real browser: a campaign with a sales script, reordering channel rules."""

from __future__ import annotations

from typing import Any

import pytest

from leadbridge.marketing import rules
from leadbridge.marketing.models import Campaign, ChannelRule
from leadbridge.marketing.setup import ensure_defaults
from tests.e2e.conftest import login
from tests.factories import user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Secret-pass-1"
SCRIPT = "Greet by name.\nOffer the spring discount: 10% until March 31."


@pytest.fixture
def marketer(transactional_db: Any) -> Any:
    rules.clear_cache()
    ensure_defaults()
    yield user("marketing", username="mara")
    rules.clear_cache()


def test_create_campaign_with_sales_script(browser_page: Any, live_server: Any, marketer: Any) -> None:
    page = browser_page
    login(page, live_server, "mara", PASSWORD)
    page.click("[data-nav=campaigns]")
    page.click("[data-testid=new-campaign]")
    page.fill("#id_name", "Spring sale")
    page.select_option("#id_type", "nurture")
    page.select_option("#id_channel", "paid_search")
    page.fill("#id_utm_campaign", "Spring")
    page.fill("#id_starts_on", "2026-03-01")
    page.fill("#id_ends_on", "2026-02-01")
    page.fill("#id_budget", "150000")
    page.fill("#id_sales_script", SCRIPT)
    page.click("button:has-text('Create campaign')")
    # The service's rule comes back next to the field, and the typed input is kept.
    assert "Ends before it starts" in page.inner_text("[data-field=ends_on] .errorlist")
    assert page.input_value("#id_sales_script") == SCRIPT

    page.fill("#id_ends_on", "2026-03-31")
    page.click("button:has-text('Create campaign')")
    page.wait_for_selector("[data-testid=campaign-name]")
    assert page.inner_text("[data-testid=campaign-name]") == "Spring sale"
    assert page.inner_text("[data-testid=sales-script]") == SCRIPT
    campaign = Campaign.objects.get()
    assert campaign.channel is not None
    assert (campaign.utm_campaign, campaign.type, campaign.channel.key) == (
        "spring",
        "nurture",
        "paid_search",
    )

    page.click("[data-nav=campaigns]")
    row = page.locator(f"tr[data-campaign-id='{campaign.pk}']")
    assert "Spring sale" in row.inner_text() and "150,000.00 RUB" in row.inner_text()


def test_reorder_rules_without_reload(browser_page: Any, live_server: Any, marketer: Any) -> None:
    page = browser_page
    login(page, live_server, "mara", PASSWORD)
    page.goto(f"{live_server.url}/marketing/rules/")
    second = ChannelRule.objects.order_by("position")[1]
    page.evaluate("window.__noReload = true")
    with page.expect_response(lambda r: "/move/" in r.url):
        page.click(f"tr[data-rule-id='{second.pk}'] button[value=up]")
    page.wait_for_function(
        f"document.querySelector('tr[data-testid=rule-row]').dataset.ruleId === '{second.pk}'"
    )
    assert page.evaluate("window.__noReload") is True
    first = ChannelRule.objects.order_by("position").first()
    assert first is not None and first.pk == second.pk
