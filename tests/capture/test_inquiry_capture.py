"""inquiry_capture: contact matching, repeat flag, manager assignment, idempotency, bad data."""

from __future__ import annotations

import datetime as dt

import pytest

from leadbridge.capture.models import Inquiry, Touch
from leadbridge.capture.services import inquiry_capture
from leadbridge.contacts.models import Activity, Contact, DataQualityItem
from leadbridge.contacts.services import contact_create
from leadbridge.core.errors import Forbidden, ValidationFailed
from tests.factories import user

SPRING = (
    "https://shop.example/offer?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=EAIaIQobChMI-Xy"
)


def test_a_form_creates_the_contact_and_an_inquiry_with_its_source(capture):
    inquiry = capture(
        page_url=SPRING, name="Anna", email="Anna@Example.COM", phone="8 (912) 345-67-89", message="Call me"
    )
    contact = inquiry.contact
    assert (contact.name, contact.email, contact.phone) == ("Anna", "anna@example.com", "+79123456789")
    assert inquiry.kind == "form" and inquiry.message == "Call me" and not inquiry.is_repeat
    touch = inquiry.touch
    assert touch.channel.key == "paid_search"
    assert touch.campaign.name == "spring" and touch.campaign.utm_campaign == "spring"
    assert touch.click_ids == {"gclid": "EAIaIQobChMI-Xy"}
    assert touch.landing_page == "https://shop.example/offer"
    activity = Activity.objects.get(contact=contact, kind="inquiry_received")
    assert activity.payload["inquiry_id"] == inquiry.pk and activity.payload["channel"] == "paid_search"


def test_explicit_utm_and_click_ids_win_over_the_page_url(capture):
    inquiry = capture(
        page_url=SPRING,
        email="b@example.com",
        utm={"utm_source": "yandex", "utm_medium": "cpc", "utm_campaign": "Autumn"},
        click_ids={"yclid": "123ABCabc"},
    )
    assert (inquiry.touch.source, inquiry.touch.campaign_name) == ("yandex", "Autumn")
    assert inquiry.touch.click_ids == {"yclid": "123ABCabc"}


def test_a_second_inquiry_of_the_same_person_is_a_repeat_on_the_same_contact(capture):
    first = capture(email="c@example.com", name="C")
    by_phone = capture(kind="call", fields={"phone": "+7 912 111-22-33"})
    again = capture(kind="chat", fields={"email": " C@EXAMPLE.com ", "phone": "+79121112233"})
    assert again.contact_id == first.contact_id and again.is_repeat
    assert by_phone.contact_id != first.contact_id and not by_phone.is_repeat
    # The blank phone of the first contact was filled in from the chat.
    assert Contact.objects.get(pk=first.contact_id).phone == "+79121112233"


def test_other_submitted_fields_are_kept_with_the_inquiry(capture):
    inquiry = capture(
        fields={"email": "d@example.com", "Subject": "Price", "comment": "Need 5", "budget": "100k"}
    )
    assert inquiry.subject == "Price" and inquiry.message == "Need 5"
    assert inquiry.fields == {"budget": "100k"}


def test_the_manager_is_the_owner_else_round_robin_over_sales(capture):
    s1 = user("sales", username="s1")
    s2 = user("sales", username="s2")
    user("sales", username="gone", is_active=False)
    user("marketing", username="m1")
    owner = user("sales_head", username="boss")
    contact_create(actor=None, data={"name": "Owned", "email": "owned@example.com", "owner": "boss"})
    managers = [capture(email=f"rr{i}@example.com").manager for i in range(3)]
    assert managers == [s1, s2, s1]
    assert capture(email="owned@example.com").manager == owner
    # A new contact is given to its manager, so the next inquiry goes to the same person.
    first = Inquiry.objects.get(contact__email="rr0@example.com")
    assert first.contact.owner == s1
    assert capture(email="rr0@example.com").manager == s1


def test_the_same_idempotency_key_is_one_inquiry(site):
    args = {"kind": "form", "site": site, "fields": {"email": "e@example.com"}, "idempotency_key": "k-1"}
    first, created = inquiry_capture(**args)
    again, created_again = inquiry_capture(**args)
    assert created and not created_again and again.pk == first.pk
    assert Inquiry.objects.count() == 1 and Touch.objects.count() == 1
    # The same key on another site, or without a site, is another inquiry.
    from leadbridge.capture.services import site_create

    other = site_create(actor=None, name="Other", origins=["https://other.example"])
    assert inquiry_capture(**{**args, "site": other})[1]
    assert inquiry_capture(**{**args, "site": None})[1]
    assert not inquiry_capture(**{**args, "site": None})[1]
    assert Inquiry.objects.count() == 3


def test_the_same_provider_id_is_one_inquiry():
    args = {
        "kind": "call",
        "fields": {"phone": "+7 912 555-44-33"},
        "provider": "calltouch",
        "external_id": "call-778",
        "duration_seconds": 95,
        "recording_url": "https://rec.example/778.mp3",
        "tracking_number": "+74950000000",
        "transcript": "Hello...",
    }
    first, created = inquiry_capture(**args)
    again, created_again = inquiry_capture(**{**args, "duration_seconds": 96})
    assert created and not created_again and again.pk == first.pk
    assert first.duration_seconds == 95 and first.recording_url.endswith("778.mp3")
    # Another provider may use the same id for its own call.
    assert inquiry_capture(**{**args, "provider": "generic"})[1]


def test_the_dialog_is_kept():
    inquiry, _ = inquiry_capture(
        kind="chat",
        fields={"email": "chat@example.com"},
        dialog=[
            {"from": "visitor", "text": "Hi", "at": "2026-03-01T10:00:00Z"},
            {"from": "manager", "text": "Hello"},
        ],
    )
    assert inquiry.dialog == [
        {"from": "visitor", "text": "Hi", "at": "2026-03-01T10:00:00Z"},
        {"from": "manager", "text": "Hello", "at": ""},
    ]


def test_bad_contact_data_names_the_field_and_keeps_the_raw_payload(site):
    payload = {"email": "anna@@example", "phone": "12", "name": "Anna", "message": "hi"}
    with pytest.raises(ValidationFailed) as exc:
        inquiry_capture(kind="form", site=site, fields=payload, page_url=SPRING, idempotency_key="x1")
    assert {e.field for e in exc.value.errors} == {"email", "phone"}
    item = DataQualityItem.objects.get()
    assert item.reason == "invalid" and item.source == "capture:form"
    assert item.raw["fields"] == payload and item.raw["page_url"] == SPRING and item.raw["site_id"] == site.pk
    assert {e["field"] for e in item.errors} == {"email", "phone"}
    assert not Inquiry.objects.exists() and not Contact.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "fax"}, "kind"),
        ({"fields": {}}, "fields"),
        ({"fields": {"message": "only a message"}}, "fields"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"duration_seconds": -5}, "duration_seconds"),
        ({"recording_url": "javascript:alert(1)"}, "recording_url"),
        ({"dialog": "not a list"}, "dialog"),
    ],
)
def test_other_bad_input_is_a_field_error_and_kept(kwargs, field):
    args = {"kind": "form", "fields": {"email": "ok@example.com"}, **kwargs}
    with pytest.raises(ValidationFailed) as exc:
        inquiry_capture(**args)
    assert field in {e.field for e in exc.value.errors}
    assert DataQualityItem.objects.count() == 1


def test_occurred_at_is_taken_from_the_provider():
    inquiry, _ = inquiry_capture(
        kind="call", fields={"phone": "+79120000001"}, occurred_at="2026-01-05T08:30:00+03:00"
    )
    assert inquiry.occurred_at == dt.datetime(2026, 1, 5, 5, 30, tzinfo=dt.UTC)
    assert inquiry.touch.occurred_at == inquiry.occurred_at


def test_people_need_the_capture_permission():
    with pytest.raises(Forbidden):
        inquiry_capture(kind="form", fields={"email": "g@example.com"}, actor=user("guest", username="g"))
    inquiry, _ = inquiry_capture(
        kind="form", fields={"email": "g@example.com"}, actor=user("marketing", username="m")
    )
    assert inquiry.pk


def test_an_anonymous_chat_from_a_known_browser_goes_to_its_contact(site, capture):
    first = capture(email="h@example.com", visitor_uid="vid-hhhhhhhh")
    chat = capture(
        kind="chat", fields={}, visitor_uid="vid-hhhhhhhh", dialog=[{"from": "visitor", "text": "hi"}]
    )
    assert chat.contact_id == first.contact_id and chat.is_repeat
