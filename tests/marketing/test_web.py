"""Marketing pages: campaigns (list, detail, create/edit), spend entry, channel and rule settings."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.test import Client

from leadbridge.core import clock
from leadbridge.marketing import services
from leadbridge.marketing.models import Campaign, Channel, ChannelRule, Spend
from leadbridge.marketing.services import resolve_channel
from tests.factories import user

pytestmark = pytest.mark.django_db


def campaign_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-campaign-id="(\d+)"', html)]


def test_nav_and_tabs_follow_the_role(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    html = client.get("/marketing/").content.decode()
    assert 'data-nav="campaigns"' in html
    assert 'href="/marketing/spend/"' in html and 'href="/marketing/rules/"' in html
    client.force_login(user("sales"))
    html = client.get("/marketing/").content.decode()
    assert 'data-nav="campaigns"' in html
    assert 'href="/marketing/spend/"' not in html and 'href="/marketing/rules/"' not in html
    assert "New campaign" not in html
    client.force_login(user("data_quality"))
    assert client.get("/marketing/").status_code == 403


def test_campaign_list_shows_spend_in_period(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    spring = services.campaign_create(
        actor=marketer,
        data={"name": "Spring sale", "type": "nurture", "channel": "paid_search", "utm_campaign": "spring",
              "starts_on": "2026-03-01", "ends_on": "2026-03-31", "budget": "50000"},
    )  # fmt: skip
    autumn = services.campaign_create(actor=marketer, data={"name": "Autumn", "channel": "email"})
    services.spend_record(
        actor=marketer, date="2026-03-02", channel="paid_search", campaign=spring, amount="1234.5"
    )
    services.spend_record(
        actor=marketer, date="2026-04-02", channel="paid_search", campaign=spring, amount="99"
    )
    client.force_login(marketer)
    html = client.get("/marketing/", {"from": "2026-03-01", "to": "2026-03-31"}).content.decode()
    assert campaign_ids(html) == [autumn.pk, spring.pk]
    assert "Spring sale" in html and "Nurture" in html and "Paid search" in html
    assert "1,234.50 RUB" in html and "99.00" not in html
    assert "50,000.00 RUB" in html
    partial = client.get("/marketing/", {"channel": "email"}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and campaign_ids(partial) == [autumn.pk]

    client.force_login(user("sales"))
    html = client.get("/marketing/", {"from": "2026-03-01", "to": "2026-03-31"}).content.decode()
    assert campaign_ids(html) == [autumn.pk, spring.pk]
    assert "1,234.50" not in html  # sales see campaigns, not spend


def test_create_and_edit_a_campaign(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    assert client.get("/marketing/campaigns/new/").status_code == 200
    form = {"name": "Spring", "type": "expert", "channel": "paid_social", "utm_campaign": "Spring-VK",
            "starts_on": "2026-03-01", "ends_on": "2026-03-31", "budget": "1 000,50", "currency": "rub",
            "sales_script": "Say hello.\nOffer the discount.", "is_active": "on"}  # fmt: skip
    response = client.post("/marketing/campaigns/new/", form)
    campaign = Campaign.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/marketing/campaigns/{campaign.pk}/"
    assert (campaign.utm_campaign, campaign.budget, campaign.currency, campaign.is_active) == (
        "spring-vk", Decimal("1000.50"), "RUB", True,
    )  # fmt: skip
    assert campaign.sales_script == "Say hello.\nOffer the discount."

    bad = client.post(
        "/marketing/campaigns/new/", {**form, "name": "", "utm_campaign": "x", "ends_on": "2026-01-01"}
    )
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "A name is required" in html and "Ends before it starts" in html
    dup = client.post("/marketing/campaigns/new/", {**form, "name": "Copy"})
    assert dup.status_code == 409 and "Already used by" in dup.content.decode()

    edit = client.get(f"/marketing/campaigns/{campaign.pk}/edit/").content.decode()
    assert 'value="spring-vk"' in edit and "Offer the discount." in edit
    response = client.post(
        f"/marketing/campaigns/{campaign.pk}/edit/", {**form, "sales_script": "New script", "budget": ""}
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.sales_script, campaign.budget, campaign.is_active) == ("New script", None, True)
    client.post(
        f"/marketing/campaigns/{campaign.pk}/edit/", {k: v for k, v in form.items() if k != "is_active"}
    )
    campaign.refresh_from_db()
    assert campaign.is_active is False


def test_sales_and_guests_cannot_edit(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    campaign = services.campaign_create(
        actor=user("marketing"), data={"name": "Spring", "sales_script": "Script!"}
    )
    rule = ChannelRule.objects.first()
    channel = Channel.objects.get(key="social")
    assert rule is not None
    for role in ("sales", "guest", "presales", "sales_head"):
        client.force_login(user(role, username=f"w-{role}"))
        detail = client.get(f"/marketing/campaigns/{campaign.pk}/")
        assert detail.status_code == 200 and "Script!" in detail.content.decode()
        assert f"/marketing/campaigns/{campaign.pk}/edit/" not in detail.content.decode()
        assert client.get("/marketing/campaigns/new/").status_code == 403
        assert client.post("/marketing/campaigns/new/", {"name": "X"}).status_code == 403
        assert client.post(f"/marketing/campaigns/{campaign.pk}/edit/", {"name": "X"}).status_code == 403
        assert (
            client.post(
                "/marketing/spend/", {"date": "2026-03-01", "channel": "email", "amount": "1"}
            ).status_code
            == 403
        )
        assert client.get("/marketing/rules/").status_code == 403
        assert client.post(f"/marketing/rules/{rule.pk}/delete/").status_code == 403
        assert client.post(f"/marketing/channels/{channel.pk}/move/", {"direction": "up"}).status_code == 403
    campaign.refresh_from_db()
    assert (
        campaign.name == "Spring"
        and not Spend.objects.exists()
        and ChannelRule.objects.filter(pk=rule.pk).exists()
    )


def test_campaign_detail_spend_by_day_and_junk_slot(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    campaign = services.campaign_create(
        actor=marketer,
        data={"name": "Spring", "channel": "paid_search", "starts_on": "2026-03-01", "ends_on": "2026-03-31"},
    )
    for day, amount in (("2026-03-01", "100"), ("2026-03-02", "50.25"), ("2026-04-01", "7")):
        services.spend_record(
            actor=marketer, date=day, channel="paid_search", campaign=campaign, amount=amount
        )
    client.force_login(marketer)
    with clock.frozen(dt.datetime(2026, 4, 15, 12)):
        html = client.get(f"/marketing/campaigns/{campaign.pk}/").content.decode()
    table = html[html.index('data-testid="spend-by-day"') :]
    assert "100.00 RUB" in table and "50.25 RUB" in table and "7.00" not in table
    assert 'data-testid="spend-total">150.25 RUB' in html
    assert 'data-testid="junk-share"' in html and "Not measured yet." in html
    wider = client.get(
        f"/marketing/campaigns/{campaign.pk}/", {"from": "2026-03-01", "to": "2026-04-30"}
    ).content.decode()
    assert 'data-testid="spend-total">157.25 RUB' in wider
    assert client.get("/marketing/campaigns/999999/").status_code == 404


def test_spend_form(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    campaign = services.campaign_create(actor=marketer, data={"name": "Spring", "channel": "display"})
    client.force_login(marketer)
    page = client.get("/marketing/spend/", {"campaign": campaign.pk}).content.decode()
    assert f'<option value="{campaign.pk}" selected>' in page
    form = {
        "date": "2026-03-01",
        "channel": "",
        "campaign": str(campaign.pk),
        "amount": "10,5",
        "currency": "",
    }
    response = client.post("/marketing/spend/", form)
    assert response.status_code == 302
    spend = Spend.objects.get()
    assert (spend.channel.key, spend.amount, spend.source) == ("display", Decimal("10.50"), "manual")
    client.post("/marketing/spend/", form)
    assert Spend.objects.count() == 1
    bad = client.post("/marketing/spend/", {**form, "amount": "ten", "date": ""})
    assert bad.status_code == 422
    assert "Not a number" in bad.content.decode() and "A date is required" in bad.content.decode()
    listed = client.get("/marketing/spend/", {"from": "2026-03-01", "to": "2026-03-31"}).content.decode()
    assert "10.50 RUB" in listed and "Display" in listed
    client.force_login(user("sales_head"))
    readonly = client.get("/marketing/spend/", {"from": "2026-03-01", "to": "2026-03-31"})
    assert readonly.status_code == 200 and 'data-testid="spend-form"' not in readonly.content.decode()
    client.force_login(user("sales"))
    assert client.get("/marketing/spend/").status_code == 403


def test_channel_settings(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    html = client.get("/marketing/channels/").content.decode()
    assert html.count('data-testid="channel-row"') == 11
    assert client.post("/marketing/channels/", {"key": "tv", "name": "Television"}).status_code == 302
    tv = Channel.objects.get(key="tv")
    bad = client.post("/marketing/channels/", {"key": "tv", "name": "x"})
    assert bad.status_code == 409 and "Already exists" in bad.content.decode()
    response = client.post(
        f"/marketing/channels/{tv.pk}/move/", {"direction": "up"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200 and "<html" not in response.content.decode()
    keys = list(Channel.objects.order_by("position").values_list("key", flat=True))
    assert keys[-2:] == ["tv", "unknown"]
    assert client.post(f"/marketing/channels/{tv.pk}/edit/", {"key": "tv", "name": "TV"}).status_code == 302
    tv.refresh_from_db()
    assert (tv.name, tv.is_active) == ("TV", False)
    direct = Channel.objects.get(key="direct")
    response = client.post(f"/marketing/channels/{direct.pk}/delete/", follow=True)
    assert "built in" in response.content.decode()
    client.post(f"/marketing/channels/{tv.pk}/delete/")
    assert not Channel.objects.filter(key="tv").exists()


def test_rule_settings_add_edit_move_delete(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    html = client.get("/marketing/rules/").content.decode()
    assert html.count('data-testid="rule-row"') == ChannelRule.objects.count()
    form = {
        "field": "utm_source",
        "op": "equals",
        "value": "Partner42",
        "channel": "referral",
        "field2": "",
        "op2": "",
        "value2": "",
    }
    assert client.post("/marketing/rules/", form).status_code == 302
    rule = ChannelRule.objects.get(value="Partner42")
    assert (
        resolve_channel(utm={"source": "partner42", "medium": "cpc"}, referrer="", click_ids={}).key
        == "paid_search"
    )
    bad = client.post("/marketing/rules/", {**form, "op": "regex", "value": "(("})
    assert bad.status_code == 422 and "Invalid regular expression" in bad.content.decode()

    for _ in range(ChannelRule.objects.count()):
        client.post(f"/marketing/rules/{rule.pk}/move/", {"direction": "up"}, headers={"HX-Request": "true"})
    assert ChannelRule.objects.order_by("position").first() == rule
    assert (
        resolve_channel(utm={"source": "partner42", "medium": "cpc"}, referrer="", click_ids={}).key
        == "referral"
    )

    assert client.get(f"/marketing/rules/{rule.pk}/edit/").status_code == 200
    response = client.post(
        f"/marketing/rules/{rule.pk}/edit/", {**form, "channel": "offline", "is_active": "1"}
    )
    assert response.status_code == 302
    assert resolve_channel(utm={"source": "partner42"}, referrer="", click_ids={}).key == "offline"

    probe = client.get("/marketing/rules/", {"probe": "1", "utm_source": "PARTNER42"}).content.decode()
    assert 'data-testid="probe-result"' in probe and "<code>offline</code>" in probe
    probe = client.get(
        "/marketing/rules/", {"probe": "1", "referrer": "https://www.google.com/", "click_ids": "gclid=abc"}
    ).content.decode()
    assert "<code>paid_search</code>" in probe

    partial = client.post(f"/marketing/rules/{rule.pk}/delete/", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    assert not ChannelRule.objects.filter(pk=rule.pk).exists()
    assert resolve_channel(utm={"source": "partner42"}, referrer="", click_ids={}).key == "unknown"


def test_pages_speak_russian(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing", language="ru")
    campaign = services.campaign_create(
        actor=marketer, data={"name": "Весна", "type": "nurture", "channel": "paid_search"}
    )
    client.force_login(marketer)
    html = client.get("/marketing/").content.decode()
    assert "Кампании" in html and "Новая кампания" in html and "Платный поиск" in html
    detail = client.get(f"/marketing/campaigns/{campaign.pk}/").content.decode()
    assert "Скрипт продаж" in detail and "Доля мусора" in detail and "Поддерживающая" in detail
    rules_page = client.get("/marketing/rules/").content.decode()
    assert "Правила каналов" in rules_page and "одно из" in rules_page
