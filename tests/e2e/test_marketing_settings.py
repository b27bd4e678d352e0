"""Marketing settings in a real browser, the way a marketer uses them: a channel and a channel rule
tried with the "try a visit" box, moved and deleted; a campaign created and edited, its spend
entered, its spend and junk share read on its page. Fails on unexpected browser console errors
(ConsoleWatch, shared with test_capture_settings)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from leadbridge.capture.services import inquiry_capture, inquiry_classify, site_cache_forget
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.core import clock
from leadbridge.marketing import rules
from leadbridge.marketing.models import Campaign, Channel, ChannelRule, Spend
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from tests.e2e.conftest import login
from tests.e2e.test_capture_settings import ConsoleWatch
from tests.factories import user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Secret-pass-1"  # tests.factories.UserFactory's
SCRIPT = "Ask which room the kitchen is for.\nOffer the free measurement visit."


@pytest.fixture
def console(page: Any) -> Iterator[ConsoleWatch]:
    watch = ConsoleWatch(page)
    yield watch
    watch.check()


@pytest.fixture
def marketer(transactional_db: Any) -> Iterator[Any]:
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    yield user("marketing", username="mara")
    rules.clear_cache()
    site_cache_forget()


def rule_ids(page: Any) -> list[int]:
    ids = page.locator("tr[data-testid=rule-row]").evaluate_all("rows => rows.map(r => r.dataset.ruleId)")
    return [int(i) for i in ids]


def probe(page: Any, **fields: str) -> str:
    """Fill the "try a visit" box (blank fields cleared), ask, and return the channel key shown."""
    box = page.locator("[data-testid=rule-probe]")
    box.locator("input[type=text]").evaluate_all("inputs => inputs.forEach(i => { i.value = ''; })")
    for name, value in fields.items():
        box.locator(f"input[name={name}]").fill(value)
    box.locator("button[type=submit]").click()
    page.wait_for_url("**/marketing/rules/?probe=1*")
    result = page.locator("[data-testid=probe-result]")
    return str(result.locator("code").inner_text())


# --- 3. a channel and a channel rule ------------------------------------------------------------


def test_channel_rule_added_tried_moved_up_and_deleted(
    page: Any, live_server: Any, marketer: Any, console: ConsoleWatch
) -> None:
    login(page, live_server, "mara", PASSWORD)
    page.click("[data-nav=campaigns]")
    page.click("[data-testid=marketing-tabs] a:has-text('Channels')")
    page.wait_for_url("**/marketing/channels/")
    page.fill("#channel-key", "partners")
    page.fill("#channel-name", "Partner network")
    page.click("button:has-text('Add channel')")
    page.wait_for_selector("[data-testid=channel-row][data-key=partners]")
    assert "Partner network" in page.inner_text("[data-testid=channel-row][data-key=partners]")

    page.click("[data-testid=marketing-tabs] a:has-text('Channel rules')")
    page.wait_for_url("**/marketing/rules/")
    defaults = rule_ids(page)
    # A partner's visit: its utm_source and a link from the partner's site. The last default rule
    # (any other referrer: referral) decides it for now.
    visit = {
        "landing_page": "https://shop.example/kitchens?utm_source=PartnerHub&utm_campaign=autumn",
        "referrer": "https://blog.partnerhub.example/best-kitchens",
    }
    assert probe(page, **visit) == "referral"
    assert page.input_value("[data-testid=rule-probe] input[name=landing_page]") == visit["landing_page"]

    form = page.locator("[data-testid=rule-form]")
    form.locator("#rule-field").select_option("utm_source")
    form.locator("#rule-op").select_option("equals")
    form.locator("#rule-value").fill("partnerhub")
    form.locator("#rule-channel").select_option("partners")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=Rule added.")
    rule = ChannelRule.objects.select_related("channel").get(value="partnerhub")
    assert (rule.field, rule.op, rule.channel.key) == ("utm_source", "equals", "partners")
    assert rule_ids(page) == [*defaults, rule.pk]  # added last
    row = page.locator(f"tr[data-rule-id='{rule.pk}']")
    assert "utm_source" in row.inner_text() and "Partner network" in row.inner_text()
    assert probe(page, **visit) == "referral"  # still behind the referrer rule

    # One step up (htmx, no reload): now it comes first for this visit.
    page.evaluate("window.__noReload = true")
    with page.expect_response(lambda r: r.url.endswith(f"/marketing/rules/{rule.pk}/move/")):
        page.click(f"tr[data-rule-id='{rule.pk}'] button[value=up]")
    page.wait_for_function(
        f"[...document.querySelectorAll('tr[data-testid=rule-row]')].at(-2).dataset.ruleId === '{rule.pk}'"
    )
    assert page.evaluate("window.__noReload") is True
    assert rule_ids(page) == [*defaults[:-1], rule.pk, defaults[-1]]
    assert probe(page, **visit) == "partners"
    assert "Partner network" in page.inner_text("[data-testid=probe-result]")
    # Typed fields win over the URL's tags; click ids count too.
    assert probe(page, landing_page="https://shop.example/?gclid=Abc123") == "paid_search"
    assert probe(page, utm_source="newsletter", landing_page=visit["landing_page"]) == "email"

    # Delete it (after the confirmation), in place.
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_response(lambda r: r.url.endswith(f"/marketing/rules/{rule.pk}/delete/")):
        page.click(f"tr[data-rule-id='{rule.pk}'] button:has-text('Delete')")
    page.wait_for_selector(f"tr[data-rule-id='{rule.pk}']", state="detached")
    assert rule_ids(page) == defaults
    assert not ChannelRule.objects.filter(pk=rule.pk).exists()
    assert probe(page, **visit) == "referral"


# --- 4. a campaign, its spend and its junk share --------------------------------------------------


def test_campaign_created_edited_spend_entered_junk_share_shown(
    page: Any, live_server: Any, marketer: Any, console: ConsoleWatch
) -> None:
    today = clock.today()
    login(page, live_server, "mara", PASSWORD)
    page.click("[data-nav=campaigns]")
    page.click("[data-testid=new-campaign]")
    page.wait_for_url("**/marketing/campaigns/new/")
    page.fill("#id_name", "Autumn kitchens")
    page.select_option("#id_type", "nurture")
    page.select_option("#id_channel", "paid_search")
    page.fill("#id_utm_campaign", "Kitchens_Autumn")
    page.fill("#id_starts_on", (today - dt.timedelta(days=14)).isoformat())
    page.fill("#id_budget", "50000")
    page.fill("#id_sales_script", SCRIPT)
    page.click("[data-testid=campaign-form] button[type=submit]")
    page.wait_for_selector("[data-testid=campaign-name]")
    campaign = Campaign.objects.get()
    assert page.url.endswith(f"/marketing/campaigns/{campaign.pk}/")
    assert "Campaign created." in page.inner_text(".messages")
    assert page.inner_text("[data-testid=campaign-name]") == "Autumn kitchens"
    assert page.inner_text("[data-testid=sales-script]") == SCRIPT
    assert "Nurture (keeps interest)" in page.inner_text(".page-header")
    assert "50,000.00 RUB" in page.inner_text("aside")
    assert "No spend in this period." in page.inner_text("[data-testid=spend-by-day]")
    assert "Not measured yet." in page.inner_text("[data-testid=junk-share]")

    # Edit: a bigger budget.
    page.click(".page-header a:has-text('Edit')")
    page.wait_for_url(f"**/marketing/campaigns/{campaign.pk}/edit/")
    assert page.input_value("#id_utm_campaign") == "kitchens_autumn"
    assert page.input_value("#id_sales_script") == SCRIPT
    page.fill("#id_budget", "60000")
    page.click("[data-testid=campaign-form] button[type=submit]")
    page.wait_for_url(f"**/marketing/campaigns/{campaign.pk}/")
    assert "60,000.00 RUB" in page.inner_text("aside")

    # Spend for today (inside the list's default period, this month), entered from the campaign
    # page: the campaign comes preselected.
    day = today
    page.click(".page-header a:has-text('Enter spend')")
    page.wait_for_url(f"**/marketing/spend/?campaign={campaign.pk}")
    assert page.input_value("#spend-campaign") == str(campaign.pk)
    page.fill("#spend-date", day.isoformat())
    page.select_option("#spend-channel", "paid_search")
    page.fill("#spend-amount", "1234.50")
    page.click("[data-testid=spend-form] button[type=submit]")
    page.wait_for_selector("text=Spend recorded.")
    assert "1,234.50 RUB" in page.inner_text("[data-testid=spend-rows]")
    assert "Autumn kitchens" in page.inner_text("[data-testid=spend-rows]")
    spend = Spend.objects.select_related("channel").get()
    assert (spend.date, spend.campaign_id, spend.channel.key, str(spend.amount)) == (
        day,
        campaign.pk,
        "paid_search",
        "1234.50",
    )

    # Four inquiries from the campaign, one classified as junk, one not classified at all.
    sales = user("sales", username="anna")
    classes = ["new_lead", "spam", "new_lead", None]
    for i, cls in enumerate(classes):
        inquiry, _created = inquiry_capture(
            kind="form",
            fields={"name": f"Buyer {i}", "email": f"buyer{i}@example.com"},
            page_url="https://shop.example/kitchens?utm_source=google&utm_medium=cpc&utm_campaign=kitchens_autumn",
        )
        if cls:
            inquiry_classify(actor=sales, inquiry_id=inquiry.pk, class_key=cls)
    assert Channel.objects.get(key="paid_search")

    page.goto(f"{live_server.url}/marketing/campaigns/{campaign.pk}/")
    by_day = page.inner_text("[data-testid=spend-by-day]")
    assert day.strftime("%m/%d/%Y") in by_day and "1,234.50 RUB" in by_day
    assert page.inner_text("[data-testid=spend-total]") == "1,234.50 RUB"
    junk = page.inner_text("[data-testid=junk-share]")
    assert "33.3 %" in junk and "1 junk of 3 classified inquiries" in junk

    # The list shows the budget and the period's spend.
    page.click(".crumbs a:has-text('Campaigns')")
    row = page.locator(f"tr[data-campaign-id='{campaign.pk}']")
    assert "60,000.00 RUB" in row.inner_text() and "1,234.50 RUB" in row.inner_text()
