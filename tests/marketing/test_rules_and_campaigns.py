"""Editing rules changes resolution at once; campaign_for; channel/rule/campaign services and roles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from leadbridge.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from leadbridge.core.models import AuditEntry
from leadbridge.marketing import services
from leadbridge.marketing.models import Campaign, Channel, ChannelRule
from leadbridge.marketing.services import resolve_channel
from tests.factories import user

pytestmark = pytest.mark.django_db
PARTNER = {"source": "partner42", "medium": "banner"}


def test_new_rule_takes_effect_at_once(defaults) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    assert resolve_channel(utm=PARTNER, referrer="", click_ids={}).key == "display"
    rule = services.channel_rule_create(
        actor=marketer,
        data={
            "channel": "referral",
            "field": "utm_source",
            "op": "equals",
            "value": "Partner42",
            "position": 1,
        },
    )
    assert resolve_channel(utm=PARTNER, referrer="", click_ids={}).key == "referral"

    services.channel_rule_update(actor=marketer, rule_id=rule.pk, data={"channel": "offline"})
    assert resolve_channel(utm=PARTNER, referrer="", click_ids={}).key == "offline"

    services.channel_rule_update(actor=marketer, rule_id=rule.pk, data={"is_active": False})
    assert resolve_channel(utm=PARTNER, referrer="", click_ids={}).key == "display"

    services.channel_rule_update(actor=marketer, rule_id=rule.pk, data={"is_active": True})
    services.channel_rule_delete(actor=marketer, rule_id=rule.pk)
    assert resolve_channel(utm=PARTNER, referrer="", click_ids={}).key == "display"
    assert AuditEntry.objects.filter(object_type="channel_rule", object_id=str(rule.pk)).count() == 5


def test_moving_a_rule_changes_which_wins(defaults) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    rule = services.channel_rule_create(
        actor=marketer, data={"channel": "referral", "field": "utm_medium", "op": "in", "value": "cpc, ppc"}
    )
    google_cpc = {"source": "google", "medium": "cpc"}
    assert resolve_channel(utm=google_cpc, referrer="", click_ids={}).key == "paid_search"
    for _ in range(ChannelRule.objects.count()):
        services.channel_rule_move(actor=marketer, rule_id=rule.pk, direction="up")
    first = ChannelRule.objects.order_by("position").first()
    assert first is not None and first.pk == rule.pk
    assert resolve_channel(utm=google_cpc, referrer="", click_ids={}).key == "referral"
    services.channel_rule_move(actor=marketer, rule_id=rule.pk, direction="down")
    services.channel_rule_move(actor=marketer, rule_id=rule.pk, direction="down")
    services.channel_rule_move(actor=marketer, rule_id=rule.pk, direction="down")
    assert resolve_channel(utm=google_cpc, referrer="", click_ids={}).key == "paid_search"
    positions = list(ChannelRule.objects.order_by("position").values_list("position", flat=True))
    assert positions == sorted(set(positions))


def test_edit_by_another_process_is_seen_after_the_ttl(defaults, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "CHANNEL_RULES_TTL": 0}
    assert resolve_channel(utm=PARTNER, referrer="", click_ids={}).key == "display"
    # A write that bypasses this process's services, like one made by another server.
    display_rule = ChannelRule.objects.get(field="utm_medium", value__startswith="display")
    ChannelRule.objects.filter(pk=display_rule.pk).delete()
    assert resolve_channel(utm=PARTNER, referrer="", click_ids={}).key == "unknown"


def test_switched_off_channel_is_skipped(defaults) -> None:  # type: ignore[no-untyped-def]
    admin = user("admin")
    social = Channel.objects.get(key="social")
    services.channel_update(actor=admin, channel_id=social.pk, data={"is_active": False})
    assert resolve_channel(utm={}, referrer="https://t.me/x", click_ids={}).key == "referral"


def test_rule_validation(defaults) -> None:  # type: ignore[no-untyped-def]
    admin = user("admin")
    with pytest.raises(ValidationFailed) as exc:
        services.channel_rule_create(actor=admin, data={"channel": "nope", "field": "utm_x", "op": "like"})
    assert {e.field for e in exc.value.errors} == {"channel", "field", "op"}
    with pytest.raises(ValidationFailed) as exc:
        services.channel_rule_create(
            actor=admin, data={"channel": "social", "field": "utm_source", "op": "regex", "value": "(("}
        )
    assert [e.field for e in exc.value.errors] == ["value"]
    with pytest.raises(ValidationFailed) as exc:
        services.channel_rule_create(
            actor=admin,
            data={"channel": "social", "field": "utm_source", "op": "equals", "value": "x", "op2": "in"},
        )
    assert [e.field for e in exc.value.errors] == ["field2"]
    rule = services.channel_rule_create(
        actor=admin,
        data={
            "channel": "social",
            "field": "utm_source",
            "op": "equals",
            "value": "zq",
            "field2": "utm_medium",
        },
    )
    assert rule.op2 == "exists"
    assert resolve_channel(utm={"source": "ZQ"}, referrer="", click_ids={}).key == "unknown"
    assert resolve_channel(utm={"source": "ZQ", "medium": "zzz"}, referrer="", click_ids={}).key == "social"


def test_rules_need_channel_manage(defaults) -> None:  # type: ignore[no-untyped-def]
    rule = ChannelRule.objects.first()
    assert rule is not None
    for role in ("sales", "sales_head", "guest", "data_quality"):
        who = user(role, username=f"r-{role}")
        with pytest.raises(Forbidden):
            services.channel_rule_create(
                actor=who, data={"channel": "social", "field": "utm_source", "op": "exists"}
            )
        with pytest.raises(Forbidden):
            services.channel_rule_delete(actor=who, rule_id=rule.pk)
        with pytest.raises(Forbidden):
            services.channel_create(actor=who, data={"key": "tv", "name": "TV"})


def test_channels(defaults) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    tv = services.channel_create(actor=marketer, data={"key": "tv", "name": "Television"})
    assert tv.position > Channel.objects.get(key="unknown").position
    with pytest.raises(Conflict):
        services.channel_create(actor=marketer, data={"key": "TV", "name": "x"})
    with pytest.raises(ValidationFailed):
        services.channel_create(actor=marketer, data={"key": "bad key!", "name": "x"})
    direct = Channel.objects.get(key="direct")
    with pytest.raises(ValidationFailed):
        services.channel_update(actor=marketer, channel_id=direct.pk, data={"key": "straight"})
    with pytest.raises(Conflict):
        services.channel_delete(actor=marketer, channel_id=direct.pk)
    with pytest.raises(Conflict):  # used by rules
        services.channel_delete(actor=marketer, channel_id=Channel.objects.get(key="social").pk)
    services.channel_delete(actor=marketer, channel_id=tv.pk)
    assert not Channel.objects.filter(key="tv").exists()


def test_campaign_for(defaults) -> None:  # type: ignore[no-untyped-def]
    assert services.campaign_for(utm_campaign="Spring") is None
    assert services.campaign_for(utm_campaign="") is None
    paid = Channel.objects.get(key="paid_search")
    created = services.campaign_for(utm_campaign="Spring_Sale", channel=paid, create=True)
    assert created is not None
    assert (created.name, created.utm_campaign, created.type, created.channel_id) == (
        "Spring_Sale",
        "spring_sale",
        "notification",
        paid.pk,
    )
    assert services.campaign_for(utm_campaign="  SPRING_SALE ") == created
    assert services.campaign_for(utm_campaign="spring_sale", create=True) == created
    assert Campaign.objects.count() == 1
    # Huge values are cut to the column, never an error.
    long = services.campaign_for(utm_campaign="z" * 5000, create=True)
    assert long is not None and len(long.utm_campaign) == 255
    assert services.campaign_for(utm_campaign="Z" * 6000) == long


def test_campaign_crud_and_roles(defaults) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    campaign = services.campaign_create(
        actor=marketer,
        data={
            "name": "Spring sale",
            "type": "nurture",
            "channel": "paid_search",
            "utm_campaign": "Spring",
            "starts_on": "2026-03-01",
            "ends_on": "2026-03-31",
            "budget": "150000.50",
            "currency": "rub",
            "sales_script": "Offer 10% off.\nMention free delivery.",
        },
    )
    assert campaign.utm_campaign == "spring"
    assert campaign.currency == "RUB"
    assert campaign.budget == Decimal("150000.50")
    assert campaign.starts_on == dt.date(2026, 3, 1)
    assert campaign.sales_script == "Offer 10% off.\nMention free delivery."
    assert services.campaign_for(utm_campaign="SPRING") == campaign

    updated = services.campaign_update(
        actor=marketer, campaign_id=campaign.pk, data={"sales_script": "New script", "budget": None}
    )
    assert (updated.sales_script, updated.budget) == ("New script", None)
    entry = AuditEntry.objects.filter(action="campaign.update").get()
    assert entry.after == {"sales_script": "New script", "budget": None}

    with pytest.raises(ValidationFailed) as exc:
        services.campaign_update(actor=marketer, campaign_id=campaign.pk, data={"ends_on": "2026-02-01"})
    assert [e.field for e in exc.value.errors] == ["ends_on"]
    with pytest.raises(ValidationFailed) as exc:
        services.campaign_create(
            actor=marketer, data={"name": "", "type": "mass", "budget": "-1", "currency": "rubles", "x": 1}
        )
    assert {e.field for e in exc.value.errors} == {"name", "type", "budget", "currency", "x"}
    with pytest.raises(Conflict):
        services.campaign_create(actor=marketer, data={"name": "Copy", "utm_campaign": "SPRING"})
    with pytest.raises(NotFound):
        services.campaign_update(actor=marketer, campaign_id=999_999, data={})

    for role in ("sales", "sales_head", "presales", "guest", "data_quality"):
        who = user(role, username=f"c-{role}")
        with pytest.raises(Forbidden):
            services.campaign_create(actor=who, data={"name": "X"})
        with pytest.raises(Forbidden):
            services.campaign_update(actor=who, campaign_id=campaign.pk, data={"name": "X"})
    for role in ("director", "admin"):
        services.campaign_update(
            actor=user(role, username=f"ok-{role}"), campaign_id=campaign.pk, data={"name": role}
        )
