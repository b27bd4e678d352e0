"""POST /capture/inquiry/<provider>: the generic call-tracking / chat format and its errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from leadbridge.capture.models import Inquiry, Site
from leadbridge.capture.providers import PayloadError, load
from leadbridge.capture.providers.generic import parse
from leadbridge.contacts.models import DataQualityItem
from tests.capture.public_support import post_json, public_settings  # noqa: F401

URL = "/capture/inquiry/generic"


def call(**extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "kind": "call",
        "id": "ct-1001",
        "occurred_at": "2026-03-01T10:15:00+03:00",
        "phone": "+7 999 123-45-67",
        "name": "Anna Petrova",
        "duration": 125,
        "tracking_number": "+74950000001",
        "utm": {"source": "yandex", "medium": "cpc", "campaign": "spring"},
        "click_ids": {"yclid": "YcLiD-42"},
        "recording_url": "https://calls.example.net/rec/1001.mp3",
        "transcript": "Client: hello",
    }
    payload.update(extra)
    return payload


def send(client: Client, site: Site, payload: Any, **headers: str) -> Any:
    headers.setdefault("X-LeadBridge-Key", site.key)
    return post_json(client, URL, payload, origin=None, **headers)


def test_a_call_becomes_an_inquiry(client: Client, site: Site) -> None:
    response = send(client, site, call())
    assert response.status_code == 201, response.content
    assert response.json() == {"ok": True, "created": True}
    inquiry = Inquiry.objects.select_related("contact", "touch__channel").get()
    assert inquiry.kind == "call"
    assert (inquiry.provider, inquiry.external_id) == ("generic", "ct-1001")
    assert inquiry.contact.phone == "+79991234567"
    assert inquiry.duration_seconds == 125
    assert inquiry.tracking_number == "+74950000001"
    assert inquiry.recording_url == "https://calls.example.net/rec/1001.mp3"
    assert inquiry.transcript == "Client: hello"
    assert inquiry.occurred_at == dt.datetime(2026, 3, 1, 7, 15, tzinfo=dt.UTC)
    assert inquiry.touch.channel.key == "paid_search"
    assert inquiry.touch.campaign_name == "spring"
    assert inquiry.touch.click_ids == {"yclid": "YcLiD-42"}
    assert inquiry.site_id == site.pk


def test_a_repeated_delivery_is_the_same_inquiry(client: Client, site: Site) -> None:
    assert send(client, site, call()).status_code == 201
    again = send(client, site, call())
    assert again.status_code == 200
    assert again.json() == {"ok": True, "created": False}
    assert Inquiry.objects.count() == 1


def test_site_key_in_the_payload(client: Client, site: Site) -> None:
    response = post_json(client, URL, call(site_key=site.key), origin=None)
    assert response.status_code == 201


def test_a_chat_with_messages_and_bare_source(client: Client, site: Site) -> None:
    payload = {
        "kind": "chat",
        "id": 77,
        "email": "chat@example.com",
        "source": "facebook",
        "medium": "social",
        "occurred_at": 1772345700,
        "messages": [
            {"from": "client", "text": "Hi", "at": "2026-03-01T10:15:00Z"},
            {"from": "manager", "text": "Hello! How can I help?"},
            "a bare line",
        ],
    }
    response = send(client, site, payload)
    assert response.status_code == 201, response.content
    inquiry = Inquiry.objects.select_related("touch").get()
    assert inquiry.external_id == "77"
    assert [m["from"] for m in inquiry.dialog] == ["client", "manager", ""]
    assert inquiry.dialog[0]["text"] == "Hi"
    assert inquiry.touch.source == "facebook"
    assert inquiry.occurred_at == dt.datetime.fromtimestamp(1772345700, tz=dt.UTC)


def test_form_encoded_webhook(client: Client, site: Site) -> None:
    data = {"kind": "callback", "phone": "+79990001122", "utm_source": "google", "utm_medium": "cpc"}
    response = client.post(URL, data=data, headers={"X-LeadBridge-Key": site.key})
    assert response.status_code == 201, response.content
    assert Inquiry.objects.get().kind == "callback"


def test_unknown_provider_is_404(client: Client, site: Site) -> None:
    for name in ("nosuch", "__init__", "../generic", "Generic"):
        assert send(client, site, call()).status_code in {201, 200}
        response = post_json(
            client, f"/capture/inquiry/{name}", call(), origin=None, **{"X-LeadBridge-Key": site.key}
        )
        assert response.status_code == 404, name


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"kind": "fax"}, "kind"),
        ({"kind": None}, "kind"),
        ({"occurred_at": "last tuesday"}, "occurred_at"),
        ({"occurred_at": True}, "occurred_at"),
        ({"duration": "long"}, "duration"),
        ({"duration": -5}, "duration"),
        ({"recording_url": "ftp://x/y"}, "recording_url"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [1, 2]}, "messages"),
        ({"utm": "google"}, "utm"),
        ({"click_ids": ["x"]}, "click_ids"),
        ({"id": "i" * 200}, "id"),
        ({"tracking_number": "9" * 40}, "tracking_number"),
        ({"phone": {"number": "1"}}, "phone"),
    ],
)
def test_unreadable_payload_is_422_and_kept(
    client: Client, site: Site, extra: dict[str, Any], field: str
) -> None:
    response = send(client, site, call(**extra))
    assert response.status_code == 422, response.content
    assert field in [e["field"] for e in response.json()["errors"]]
    item = DataQualityItem.objects.get()
    assert item.source == "capture:inquiry/generic"
    assert not Inquiry.objects.exists()


def test_invalid_contact_data_is_422_and_kept(client: Client, site: Site) -> None:
    response = send(client, site, call(phone="12", id="bad-phone"))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["phone"]
    assert DataQualityItem.objects.filter(reason="invalid").count() == 1


def test_future_time_is_refused(client: Client, site: Site) -> None:
    response = send(client, site, call(occurred_at="2999-01-01T00:00:00Z"))
    assert response.status_code == 422


def test_malformed_json_is_400_and_kept(client: Client, site: Site) -> None:
    response = send(client, site, '{"kind": "call", "phone": "+7999')
    assert response.status_code == 400
    assert DataQualityItem.objects.get().raw["site_key"] == site.key


def test_key_errors(client: Client, site: Site) -> None:
    assert post_json(client, URL, call(), origin=None).status_code == 400
    assert send(client, site, call(), **{"X-LeadBridge-Key": "NoSuchKey12345678"}).status_code == 404


def test_wrong_content_type_and_size(client: Client, site: Site, settings: Any) -> None:
    assert send(client, site, "<call/>", content_type="text/xml").status_code == 415
    big = call(transcript="x" * (1024 * 1024))
    assert send(client, site, big).status_code == 413


def test_browser_origin_is_checked(client: Client, site: Site) -> None:
    response = post_json(client, URL, call(), origin="https://evil.example", **{"X-LeadBridge-Key": site.key})
    assert response.status_code == 403


# --- the mapping alone ----------------------------------------------------------------------------


def test_generic_mapping_reads_every_documented_key() -> None:
    data = parse(
        {
            "kind": "Email",
            "id": "m-1",
            "email": "a@b.c",
            "name": "A",
            "subject": "Quote",
            "message": "Please send a quote",
            "utm_source": "newsletter",
            "utm": {"medium": "email"},
            "campaign": "march",
            "gclid": "G-1",
            "landing_page": "https://shop.example/x",
            "referrer": "https://mail.example/",
            "visitor_id": "abc12345",
            "occurred_at": 1772345700123,
        }
    )
    assert data.kind == "email"
    assert data.fields == {
        "email": "a@b.c",
        "name": "A",
        "subject": "Quote",
        "message": "Please send a quote",
    }
    assert data.utm == {"source": "newsletter", "medium": "email", "campaign": "march"}
    assert data.click_ids == {"gclid": "G-1"}
    assert data.page_url == "https://shop.example/x"
    assert data.visitor_uid == "abc12345"
    assert data.occurred_at == dt.datetime.fromtimestamp(1772345700.123, tz=dt.UTC)


def test_generic_mapping_collects_every_error() -> None:
    with pytest.raises(PayloadError) as err:
        parse({"kind": "x", "duration": "y", "occurred_at": "z"})
    assert [e.field for e in err.value.errors] == ["kind", "occurred_at", "duration"]


def test_provider_loading() -> None:
    assert load("generic") is not None
    assert load("nosuch") is None
    assert load("generic.sub") is None
