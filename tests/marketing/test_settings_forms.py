"""How the settings forms answer a refusal (web/adapters.values_form and form_post): the form comes
back with the values as typed, the field errors and the service's status; htmx gets the rows
only when the request succeeded."""

from __future__ import annotations

import pytest
from django.test import Client

from leadbridge.capture.models import InquiryClass
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.marketing import services
from leadbridge.marketing.models import Channel, ChannelRule, Spend
from tests.factories import user

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def test_channel_edit_refused_keeps_the_values(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    direct = Channel.objects.get(key="direct")
    response = client.post(f"/marketing/channels/{direct.pk}/edit/", {"key": "direct", "name": "Typed name"})
    assert response.status_code == 422
    html = response.content.decode()
    assert "built in" in html and 'value="Typed name"' in html
    direct.refresh_from_db()
    assert direct.is_active and direct.name != "Typed name"


def test_rule_forms_refused_keep_the_values(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    form = {"field": "utm_source", "op": "regex", "value": "((", "channel": "referral"}
    added = client.post("/marketing/rules/", form, headers=HX)
    # A refused form is the whole page (its form shows the errors), even for htmx.
    assert added.status_code == 422 and "<html" in added.content.decode()
    assert 'value="(("' in added.content.decode()
    rule = ChannelRule.objects.first()
    assert rule is not None
    edited = client.post(f"/marketing/rules/{rule.pk}/edit/", {**form, "value": "[x", "is_active": "1"})
    assert edited.status_code == 422
    html = edited.content.decode()
    assert "Invalid regular expression" in html and 'value="[x"' in html


def test_channel_delete_refused_with_htmx_answers_409(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    direct = Channel.objects.get(key="direct")
    response = client.post(f"/marketing/channels/{direct.pk}/delete/", headers=HX)
    assert response.status_code == 409 and "built in" in response.content.decode()
    assert "HX-Request" in response["Vary"]
    assert Channel.objects.filter(pk=direct.pk).exists()


def test_created_flash_and_redirect(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("marketing"))
    response = client.post("/marketing/channels/", {"key": "tv", "name": "Television"}, follow=True)
    assert response.redirect_chain == [("/marketing/channels/", 302)]
    assert "Channel added." in response.content.decode()


@pytest.mark.parametrize("campaign", ["²", "99999999999999999999999", "no-such-campaign"])
def test_spend_with_a_bad_campaign_is_a_field_error(defaults, client: Client, campaign: str) -> None:  # type: ignore[no-untyped-def]
    """Was: "²" (a digit to str.isdigit, not to int) and an id past 64 bits failed with a 500, and a
    campaign that is not a number was dropped without a word (the spend recorded without it)."""
    client.force_login(user("marketing"))
    form = {"date": "2026-03-01", "channel": "display", "campaign": campaign, "amount": "10"}
    response = client.post("/marketing/spend/", form)
    assert response.status_code == 422
    assert "No campaign" in response.content.decode()
    assert not Spend.objects.exists()


def test_spend_campaign_by_id_still_works(defaults, client: Client) -> None:  # type: ignore[no-untyped-def]
    marketer = user("marketing")
    campaign = services.campaign_create(actor=marketer, data={"name": "Spring", "channel": "display"})
    client.force_login(marketer)
    form = {"date": "2026-03-01", "channel": "", "campaign": str(campaign.pk), "amount": "10"}
    assert client.post("/marketing/spend/", form).status_code == 302
    assert Spend.objects.get().campaign == campaign


def test_class_list_get_defaults_and_refusal(db: None, client: Client) -> None:
    capture_defaults()
    client.force_login(user("admin"))
    page = client.get("/capture-setup/classes/").content.decode()
    assert '<option value="target" selected>' in page
    refused = client.post("/capture-setup/classes/", {"key": "spam", "name": "Again", "kind": "junk"})
    assert refused.status_code == 409
    html = refused.content.decode()
    assert 'value="Again"' in html and '<option value="junk" selected>' in html
    assert InquiryClass.objects.filter(key="spam").count() == 1
