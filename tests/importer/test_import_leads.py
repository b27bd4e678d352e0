"""`import_file(kind="leads")`: one row = one inquiry with its touch (capture's lead sink).

These run on a bare database (no default channels or classes): what a row names is created.
tests/capture/test_import_leads.py covers attribution, classes and idempotency in depth.
"""

from __future__ import annotations

import datetime as dt

import pytest

from leadbridge.capture.models import Inquiry, Touch
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


def test_leads_create_contacts_and_their_inquiries(csv_file, run):
    anna = user("sales", username="anna")
    summary = run(csv_file(LEADS), kind="leads")
    assert (summary["created"], summary["skipped"]) == (2, 0), summary["errors"]
    assert summary["inquiries"] == {"created": 2, "updated": 0, "unchanged": 0}
    assert summary["created_refs"] == {
        "tags": ["webinar"], "companies": ["Acme"], "channels": ["paid_search", "email"],
        "campaigns": ["spring"], "classes": ["hot"],
    }  # fmt: skip
    one = Contact.objects.get(email="lead1@example.com")
    assert (one.stage, one.owner, one.company.name) == ("lead", anna, "Acme")
    inquiry = Inquiry.objects.select_related("touch__channel", "touch__campaign", "cls").get(contact=one)
    assert (inquiry.kind, inquiry.manager, inquiry.cls.key, inquiry.is_repeat) == (
        "import",
        anna,
        "hot",
        False,
    )
    assert inquiry.occurred_at == dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)  # TIME_ZONE is UTC
    touch = inquiry.touch
    assert (touch.kind, touch.channel.key, touch.source, touch.medium) == (
        "import",
        "paid_search",
        "google",
        "cpc",
    )
    assert (touch.campaign_name, touch.campaign.utm_campaign) == ("spring", "spring")
    assert (touch.landing_page, touch.referrer) == ("https://x.test/p?a=1", "https://google.com/")
    assert touch.occurred_at == inquiry.occurred_at
    received = Activity.objects.get(contact=one, kind="inquiry_received")
    assert received.payload["inquiry_id"] == inquiry.pk and received.occurred_at == inquiry.occurred_at
    assert not Activity.objects.filter(kind="lead_captured").exists()
    two = Contact.objects.get(phone="+48601234567")
    assert Inquiry.objects.get(contact=two).occurred_at.date() == dt.date(2026, 3, 2)


def test_reimporting_leads_adds_no_second_inquiry(csv_file, run):
    user("sales", username="anna")
    path = csv_file(LEADS)
    run(path, kind="leads")
    counts = (Activity.objects.count(), Inquiry.objects.count(), Touch.objects.count())
    again = run(path, kind="leads")
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert again["inquiries"] == {"created": 0, "updated": 0, "unchanged": 2}
    assert "created_refs" in again and again["created_refs"] == {}
    assert (Activity.objects.count(), Inquiry.objects.count(), Touch.objects.count()) == counts


def test_a_new_inquiry_of_a_known_contact_is_added_and_never_moves_the_stage_back(csv_file, run, admin):
    c = contact_create(actor=admin, data={"name": "C", "email": "c@example.com"})
    contact_stage_change(actor=admin, contact_id=c.pk, to_stage="customer")
    summary = run(csv_file("email,channel,stage\nc@example.com,referral,lead\n"), kind="leads")
    assert summary["updated"] == 1
    c.refresh_from_db()
    assert c.stage == "customer"
    assert Inquiry.objects.filter(contact=c, touch__channel__key="referral").count() == 1
    run(csv_file("email,channel,stage\nc@example.com,referral,lead\nd@example.com,ads,mql\n"), kind="leads")
    assert Contact.objects.get(email="d@example.com").stage == "mql"
    assert Inquiry.objects.filter(contact=c).count() == 1


def test_lead_rows_with_bad_dates_or_unknown_managers_are_row_errors(csv_file, run):
    text = "email,occurred_at,manager\na@example.com,yesterday,\nb@example.com,,nobody\nc@example.com,2026-01-05T08:00:00+03:00,\n"
    summary = run(csv_file(text), kind="leads")
    errors = errors_by_row(summary)
    assert errors[2][0][0] == "occurred_at" and "ISO 8601" in errors[2][0][1]
    assert errors[3] == [("manager", "No active user 'nobody'")]
    (inquiry,) = Inquiry.objects.all()
    assert inquiry.occurred_at == dt.datetime(2026, 1, 5, 5, 0, tzinfo=dt.UTC)
    assert list(Contact.objects.values_list("email", flat=True)) == ["c@example.com"]


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
    touch = Touch.objects.get()
    assert (touch.source, touch.medium, touch.channel.key) == ("fb", "social", "social")


def test_leads_in_parallel_workers_write_the_same_inquiries(csv_file, run, settings):
    settings.LEADBRIDGE = {
        **settings.LEADBRIDGE, "IMPORT_WORKERS": 2, "IMPORT_PARALLEL_MIN_BYTES": 0, "IMPORT_BATCH_SIZE": 7,
    }  # fmt: skip
    lines = ["email,utm_source,utm_medium,occurred_at,class"]
    lines += [
        f"p{i}@example.com,google,cpc,2026-02-{1 + i % 28:02d} 09:00,{'spam' if i % 5 == 0 else ''}"
        for i in range(40)
    ]
    lines += ["bad@example.com,google,cpc,31.02.2026,"]
    summary = run(csv_file("\n".join(lines) + "\n"), kind="leads")
    assert (summary["created"], summary["skipped"]) == (40, 1)
    assert errors_by_row(summary)[42][0][0] == "occurred_at"
    assert Inquiry.objects.count() == 40 and Inquiry.objects.filter(cls__key="spam").count() == 8
    assert summary["created_refs"]["classes"] == ["spam"]
