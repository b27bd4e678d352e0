"""`import_file(kind="leads")`: one row = one inquiry, recorded as a "lead_captured" activity."""

from __future__ import annotations

import datetime as dt

import pytest

from leadbridge.contacts.models import Activity, Contact
from leadbridge.contacts.services import contact_create, contact_stage_change
from tests.factories import user
from tests.importer.conftest import errors_by_row

pytestmark = pytest.mark.django_db

LEADS = (
    "email,phone,name,company,channel,utm_source,utm_medium,utm_campaign,landing_page,referrer,"
    "occurred_at,class,manager,tags\n"
    "lead1@example.com,,Lead One,Acme,paid_search,google,cpc,spring,https://x.test/p?a=1,"
    "https://google.com/,2026-03-01 10:30,hot,anna,webinar\n"
    ",+48 601 234 567,Lead Two,,email,newsletter,email,,,,2026-03-02,,,\n"
)


def test_leads_create_contacts_and_capture_their_source_in_the_timeline(csv_file, run):
    anna = user("sales", username="anna")
    summary = run(csv_file(LEADS), kind="leads")
    assert (summary["created"], summary["skipped"]) == (2, 0), summary["errors"]
    one = Contact.objects.get(email="lead1@example.com")
    assert (one.stage, one.owner, one.company.name) == ("lead", anna, "Acme")
    captured = Activity.objects.get(contact=one, kind="lead_captured")
    assert captured.payload["channel"] == "paid_search"
    assert captured.payload["utm_campaign"] == "spring"
    assert captured.payload["class"] == "hot"
    assert captured.payload["landing_page"] == "https://x.test/p?a=1"
    assert captured.occurred_at == dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)  # TIME_ZONE is UTC
    two = Contact.objects.get(phone="+48601234567")
    assert Activity.objects.get(contact=two, kind="lead_captured").occurred_at.date() == dt.date(2026, 3, 2)


def test_reimporting_leads_adds_no_second_inquiry(csv_file, run):
    user("sales", username="anna")
    path = csv_file(LEADS)
    run(path, kind="leads")
    count = Activity.objects.count()
    again = run(path, kind="leads")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert Activity.objects.count() == count


def test_a_new_inquiry_of_a_known_contact_is_added_and_never_moves_the_stage_back(csv_file, run, admin):
    c = contact_create(actor=admin, data={"name": "C", "email": "c@example.com"})
    contact_stage_change(actor=admin, contact_id=c.pk, to_stage="customer")
    summary = run(csv_file("email,channel,stage\nc@example.com,referral,lead\n"), kind="leads")
    assert summary["updated"] == 1
    c.refresh_from_db()
    assert c.stage == "customer"
    assert Activity.objects.filter(contact=c, kind="lead_captured", payload__channel="referral").count() == 1
    run(csv_file("email,channel,stage\nc@example.com,referral,lead\nd@example.com,ads,mql\n"), kind="leads")
    assert Contact.objects.get(email="d@example.com").stage == "mql"


def test_lead_rows_with_bad_dates_or_unknown_managers_are_row_errors(csv_file, run):
    text = "email,occurred_at,manager\na@example.com,yesterday,\nb@example.com,,nobody\nc@example.com,2026-01-05T08:00:00+03:00,\n"
    summary = run(csv_file(text), kind="leads")
    errors = errors_by_row(summary)
    assert errors[2][0][0] == "occurred_at" and "ISO 8601" in errors[2][0][1]
    assert errors[3] == [("manager", "No active user 'nobody'")]
    c = Activity.objects.get(kind="lead_captured")
    assert c.occurred_at == dt.datetime(2026, 1, 5, 5, 0, tzinfo=dt.UTC)


def test_lead_columns_from_another_system_map_by_their_names(csv_file, run):
    summary = run(
        csv_file(
            "E-mail;UTM Source;utm-medium;Дата обращения;Канал\nx@example.com;fb;social;2026-02-02;social\n"
        ),
        kind="leads",
    )
    assert summary["mapping"] == {
        "E-mail": "email", "UTM Source": "utm_source", "utm-medium": "utm_medium",
        "Дата обращения": "occurred_at", "Канал": "channel",
    }  # fmt: skip
    assert Activity.objects.get(kind="lead_captured").payload["utm_source"] == "fb"
