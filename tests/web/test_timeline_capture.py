"""Capture events read as sentences on the contact card's timeline, in the user's language."""

from __future__ import annotations

import pytest
from django.utils import translation

from leadbridge.capture.services import inquiry_capture, inquiry_classify, inquiry_review
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.contacts.models import Activity
from leadbridge.marketing import rules
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from leadbridge.web.timeline import describe
from tests.factories import user as make_user

pytestmark = pytest.mark.django_db


def test_inquiry_events_have_titles_and_details() -> None:
    rules.clear_cache()
    marketing_defaults()
    capture_defaults()
    head = make_user("sales_head", username="head")
    marketer = make_user("marketing", username="mk")
    inquiry, _ = inquiry_capture(
        kind="form",
        fields={"name": "Ольга", "email": "olga@example.com", "message": "Нужен букет к пятнице"},
        page_url="https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
    )
    inquiry_classify(actor=head, inquiry_id=inquiry.pk, class_key="spam")
    inquiry_review(actor=marketer, inquiry_id=inquiry.pk, action="dispute", comment="Это реальный заказ")
    entries = {a.kind: describe(a) for a in Activity.objects.filter(contact=inquiry.contact).order_by("id")}
    received = entries["inquiry_received"]
    assert str(received.title) == "Inquiry received"
    assert any("paid_search" in line and "spring" in line for line in received.lines)
    assert "Нужен букет к пятнице" in received.lines
    assert any("spam" in line for line in entries["inquiry_classified"].lines)
    assert str(entries["inquiry_reviewed"].title) == "Class disputed by marketing"
    with translation.override("ru"):
        assert str(
            describe(Activity.objects.get(contact=inquiry.contact, kind="inquiry_received")).title
        ) == ("Получено обращение")
    rules.clear_cache()
