"""The sales inbox and the inquiry page through Django's test client: what each role sees, the
one-click classification, marketing's review and the head of sales' decision."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from leadbridge.accounts.models import Notification
from leadbridge.capture.models import Inquiry, InquiryReview, ReviewStatus, Site
from leadbridge.capture.services import inquiry_capture, inquiry_classify, inquiry_review, site_cache_forget
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.core import clock
from leadbridge.marketing import rules
from leadbridge.marketing import services as marketing_services
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from tests.factories import TeamFactory, user

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def defaults(db: None) -> Iterator[None]:
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    yield
    rules.clear_cache()
    site_cache_forget()


def capture(email: str, **kwargs: Any) -> Inquiry:
    kwargs.setdefault(
        "page_url", "https://shop.example/offer?utm_source=google&utm_medium=cpc&utm_campaign=spring"
    )
    fields = {"name": kwargs.pop("name", email.split("@")[0].title()), "email": email}
    if "message" in kwargs:
        fields["message"] = kwargs.pop("message")
    inquiry, _created = inquiry_capture(kind=kwargs.pop("kind", "form"), fields=fields, **kwargs)
    return inquiry


def ids_in(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-inquiry-id="(\d+)"', html)]


def section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</section>", start)]


# --- navigation and access ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "inbox", "feed"),
    [
        ("sales", True, False),
        ("presales", True, False),
        ("sales_head", True, True),
        ("marketing", False, True),
        ("director", False, True),
        ("admin", False, True),
        ("guest", False, True),
        ("data_quality", False, False),
    ],
)
def test_nav_entries_follow_the_role(client: Client, role: str, inbox: bool, feed: bool) -> None:
    client.force_login(user(role))
    html = client.get("/contacts/").content.decode()
    assert ('data-nav="inbox"' in html) is inbox
    assert ('data-nav="inquiries"' in html) is feed


def test_inbox_is_for_those_who_classify(client: Client) -> None:
    for role, status in [
        ("guest", 403),
        ("marketing", 403),
        ("sales", 200),
        ("sales_head", 200),
        ("admin", 200),
    ]:
        client.force_login(user(role, username=f"u_{role}"))
        assert client.get("/inbox/").status_code == status, role
    client.logout()
    response = client.get("/inbox/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- the inbox ----------------------------------------------------------------------------------


def test_unclassified_first_with_their_age_then_recent(client: Client) -> None:
    anna = user("sales", username="anna")
    now = clock.now()
    old = capture("old@example.com", occurred_at=now - dt.timedelta(hours=3, minutes=5), message="Call me")
    older = capture("older@example.com", occurred_at=now - dt.timedelta(days=2, hours=1))
    done = capture("done@example.com", occurred_at=now - dt.timedelta(minutes=30))
    inquiry_classify(actor=anna, inquiry_id=done.pk, class_key="new_lead")
    client.force_login(anna)
    html = client.get("/inbox/").content.decode()
    queue, recent = section(html, "queue"), section(html, "recent")
    assert ids_in(queue) == [older.pk, old.pk]  # oldest waiting first
    assert "3 h" in queue and "2 d" in queue
    assert "Call me" in queue
    assert "Paid search" in queue and "spring" in queue and "anna" in queue
    assert ids_in(recent) == [done.pk]
    assert "New lead" in recent


def test_inbox_query_count_does_not_grow_with_rows(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    anna = user("sales", username="anna")
    for i in range(5):
        capture(f"a{i}@example.com")
    client.force_login(anna)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        client.get("/inbox/")
    for i in range(5, 40):
        inquiry = capture(f"a{i}@example.com", page_url=f"https://shop.example/p{i}?utm_campaign=c{i % 7}")
        if i % 2:
            inquiry_classify(actor=anna, inquiry_id=inquiry.pk, class_key="spam")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/inbox/")
    assert len(ids_in(response.content.decode())) == 40
    assert len(many.captured_queries) == len(few.captured_queries) <= 8


def test_queue_pages_with_more(client: Client) -> None:
    anna = user("sales", username="anna")
    base = clock.now() - dt.timedelta(days=1)
    created = [capture(f"p{i}@example.com", occurred_at=base + dt.timedelta(minutes=i)) for i in range(53)]
    client.force_login(anna)
    html = client.get("/inbox/").content.decode()
    assert ids_in(section(html, "queue")) == [i.pk for i in created[:50]]
    more = re.search(r'data-testid="queue-more"', html)
    assert more is not None
    cursor = re.search(r'hx-get="\?cursor=([^"]+)"', html)
    assert cursor is not None
    rest = client.get(f"/inbox/?cursor={cursor.group(1)}", headers=HX).content.decode()
    assert "<html" not in rest and ids_in(rest) == [i.pk for i in created[50:]]
    assert "queue-more" not in rest


def test_sales_see_only_their_teams_inquiries(client: Client) -> None:
    north, south = TeamFactory(name="North"), TeamFactory(name="South")
    anna = user("sales", username="anna", team=north)
    bob = user("sales", username="bob", team=north)
    carl = user("sales", username="carl", team=south)
    mine = capture("one@example.com")  # round robin: anna, bob, carl
    teammate = capture("two@example.com")
    other = capture("three@example.com")
    assert (mine.manager, teammate.manager, other.manager) == (anna, bob, carl)
    client.force_login(anna)
    assert set(ids_in(client.get("/inbox/").content.decode())) == {mine.pk, teammate.pk}
    assert client.get(f"/inquiries/{teammate.pk}/").status_code == 200
    assert client.get(f"/inquiries/{other.pk}/").status_code == 404
    assert client.post(f"/inquiries/{other.pk}/classify/", {"class": "spam"}).status_code == 404
    assert Inquiry.objects.get(pk=other.pk).cls is None
    assert set(ids_in(client.get("/inquiries/").content.decode())) == {mine.pk, teammate.pk}


# --- the inquiry page ---------------------------------------------------------------------------


def test_inquiry_page_shows_dialog_source_script_and_contact(client: Client) -> None:
    marketer = user("marketing", username="mary")
    marketing_services.campaign_create(
        actor=marketer,
        data={"name": "Spring sale", "utm_campaign": "spring", "channel": "paid_search",
              "sales_script": "Offer the <b>10%</b> spring discount first."},
    )  # fmt: skip
    anna = user("sales", username="anna")
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    inquiry, _ = inquiry_capture(
        kind="call",
        site=site,
        fields={"name": "Anna Petrova", "phone": "+7 999 123-45-67"},
        page_url="https://shop.example/offer?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=AbC-9",
        dialog=[
            {"from": "client", "text": "Hello, is the offer still on?"},
            {"from": "manager", "text": "Yes!"},
        ],
        transcript="Client: hello <script>x</script>",
        recording_url="https://calls.example.net/rec/1.mp3",
        duration_seconds=125,
        tracking_number="+74950000001",
    )
    client.force_login(anna)
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    dialog = section(html, "dialog")
    assert "Hello, is the offer still on?" in dialog and "Yes!" in dialog
    assert "&lt;script&gt;x&lt;/script&gt;" in dialog and "<script>x" not in dialog
    assert 'href="https://calls.example.net/rec/1.mp3"' in dialog and "2:05" in dialog
    touch = section(html, "touch")
    assert 'data-channel="paid_search"' in touch and "google / cpc" in touch
    assert "Spring sale" in touch and "gclid=AbC-9" in touch
    assert "https://shop.example/offer" in touch
    script = section(html, "sales-script")
    assert "Offer the &lt;b&gt;10%&lt;/b&gt; spring discount first." in script
    assert "Anna Petrova" in section(html, "inquiry-contact")
    verdict = section(html, "verdict")
    for key in ["new_lead", "upsell", "service", "spam", "non_target", "wrong_number", "job_seeker"]:
        assert f'data-class="{key}"' in verdict
    assert 'data-testid="review-form"' not in verdict  # sales do not review


def test_recording_link_only_for_web_urls(client: Client) -> None:
    anna = user("sales", username="anna")
    inquiry = capture("r@example.com")
    Inquiry.objects.filter(pk=inquiry.pk).update(recording_url="javascript:alert(1)")
    client.force_login(anna)
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert "javascript:alert" not in html


# --- classify, review, resolve ------------------------------------------------------------------


def test_manager_classifies_with_one_click(client: Client) -> None:
    anna = user("sales", username="anna")
    inquiry = capture("c@example.com")
    client.force_login(anna)
    response = client.post(f"/inquiries/{inquiry.pk}/classify/", {"class": "new_lead"}, headers=HX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and 'data-testid="verdict"' in html
    assert 'data-testid="current-class" data-class="new_lead"' in html
    assert 'data-action="classified"' in html
    inquiry.refresh_from_db()
    assert inquiry.cls is not None and inquiry.cls.key == "new_lead" and inquiry.classified_by == anna
    # Correcting it is one more click; the history keeps both.
    client.post(f"/inquiries/{inquiry.pk}/classify/", {"class": "upsell"}, headers=HX)
    assert list(InquiryReview.objects.filter(inquiry=inquiry).values_list("action", flat=True)) == [
        "classified",
        "reclassified",
    ]
    # Without htmx the form post lands back on the page with a message.
    response = client.post(f"/inquiries/{inquiry.pk}/classify/", {"class": "service"})
    assert response.status_code == 302 and response["Location"] == f"/inquiries/{inquiry.pk}/"
    assert "Classified as" in client.get(response["Location"]).content.decode()


def test_quick_classify_from_the_inbox_row(client: Client) -> None:
    anna = user("sales", username="anna")
    inquiry = capture("q@example.com")
    client.force_login(anna)
    response = client.post(
        f"/inquiries/{inquiry.pk}/classify/", {"class": "spam", "from": "inbox"}, headers=HX
    )
    html = response.content.decode()
    assert response.status_code == 200 and html.strip().startswith("<tr")
    assert f'data-inquiry-id="{inquiry.pk}"' in html and 'data-testid="row-class"' in html and "Spam" in html
    other = capture("q2@example.com")
    bad = client.post(f"/inquiries/{other.pk}/classify/", {"class": "nope", "from": "inbox"}, headers=HX)
    assert bad.status_code == 422 and "Unknown inquiry class" in bad.content.decode()
    assert "<select" in bad.content.decode()  # the row keeps its picker


def test_unknown_class_is_an_inline_error(client: Client) -> None:
    anna = user("sales", username="anna")
    inquiry = capture("u@example.com")
    client.force_login(anna)
    response = client.post(f"/inquiries/{inquiry.pk}/classify/", {"class": "nope"}, headers=HX)
    assert response.status_code == 422
    assert "Unknown inquiry class" in response.content.decode()
    assert Inquiry.objects.get(pk=inquiry.pk).cls is None


def test_guest_reads_but_cannot_classify(client: Client) -> None:
    user("sales", username="anna")
    inquiry = capture("g@example.com")
    client.force_login(user("guest"))
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert 'data-testid="classify-form"' not in html and 'data-testid="review-form"' not in html
    assert client.post(f"/inquiries/{inquiry.pk}/classify/", {"class": "spam"}).status_code == 403
    assert client.post(f"/inquiries/{inquiry.pk}/review/", {"action": "confirm"}).status_code == 403
    assert client.post(f"/inquiries/{inquiry.pk}/resolve/", {"class": "spam"}).status_code == 403
    assert Inquiry.objects.get(pk=inquiry.pk).cls is None


def test_marketing_disputes_with_a_comment_but_cannot_classify(client: Client) -> None:
    anna = user("sales", username="anna")
    head = user("sales_head", username="helen")
    inquiry = capture("m@example.com")
    client.force_login(user("marketing", username="mary"))
    assert client.post(f"/inquiries/{inquiry.pk}/classify/", {"class": "new_lead"}).status_code == 403
    # Nothing to review before sales classify.
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert 'data-testid="review-form"' not in html and 'data-testid="classify-form"' not in html
    inquiry_classify(actor=anna, inquiry_id=inquiry.pk, class_key="spam")
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert 'data-testid="review-form"' in html
    missing = client.post(
        f"/inquiries/{inquiry.pk}/review/", {"action": "dispute", "comment": " "}, headers=HX
    )
    assert missing.status_code == 422
    assert 'data-testid="review-error"' in missing.content.decode()
    assert Inquiry.objects.get(pk=inquiry.pk).review_status == ReviewStatus.NONE
    plain = client.post(f"/inquiries/{inquiry.pk}/review/", {"action": "dispute", "comment": ""})
    assert plain.status_code == 422  # without htmx: the whole page, the error beside the form
    assert "<html" in plain.content.decode() and 'data-testid="review-error"' in plain.content.decode()
    response = client.post(
        f"/inquiries/{inquiry.pk}/review/",
        {"action": "dispute", "comment": "He asked for a quote in the recording"},
        headers=HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="disputed"' in html and "He asked for a quote in the recording" in html
    assert 'data-testid="review-form"' not in html  # reviewed once
    assert Notification.objects.filter(user=head, kind="inquiry_disputed").exists()
    again = client.post(f"/inquiries/{inquiry.pk}/review/", {"action": "confirm"}, headers=HX)
    assert again.status_code == 409


def test_sales_head_resolves_disputes(client: Client) -> None:
    anna = user("sales", username="anna")
    mary = user("marketing", username="mary")
    head = user("sales_head", username="helen")
    inquiry = capture("d@example.com")
    calm = capture("calm@example.com")
    inquiry_classify(actor=anna, inquiry_id=inquiry.pk, class_key="spam")
    inquiry_classify(actor=anna, inquiry_id=calm.pk, class_key="new_lead")
    inquiry_review(actor=mary, inquiry_id=inquiry.pk, action="dispute", comment="Real lead")

    # The manager can no longer change it and cannot decide it.
    client.force_login(anna)
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert 'data-testid="classify-form"' not in html and 'data-testid="resolve-form"' not in html
    assert client.post(f"/inquiries/{inquiry.pk}/resolve/", {"class": "new_lead"}).status_code == 403

    client.force_login(head)
    disputes = client.get("/inbox/?show=disputes").content.decode()
    assert ids_in(section(disputes, "disputes")) == [inquiry.pk]
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert 'data-testid="resolve-form"' in html
    response = client.post(
        f"/inquiries/{inquiry.pk}/resolve/", {"class": "new_lead", "comment": "Agreed, a lead"}, headers=HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-status="resolved"' in html and 'data-class="new_lead"' in html
    assert [r.action for r in InquiryReview.objects.filter(inquiry=inquiry)] == [
        "classified",
        "disputed",
        "resolved",
    ]
    assert Notification.objects.filter(user=mary, kind="inquiry_resolved").exists()
    # Only a disputed class can be resolved.
    assert client.post(f"/inquiries/{calm.pk}/resolve/", {"class": "spam"}, headers=HX).status_code == 409
    assert ids_in(section(client.get("/inbox/?show=disputes").content.decode(), "disputes")) == []


def test_manager_marks_the_first_response_once(client: Client) -> None:
    anna = user("sales", username="anna2")
    t0 = dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)
    with clock.frozen(t0):
        inquiry = capture("resp@example.com")
    client.force_login(anna)
    assert 'data-testid="mark-responded"' in client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    with clock.frozen(t0 + dt.timedelta(minutes=7)):
        response = client.post(f"/inquiries/{inquiry.pk}/responded/")
    assert response.status_code == 302
    inquiry.refresh_from_db()
    assert inquiry.first_response_at == t0 + dt.timedelta(minutes=7)
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert 'data-testid="mark-responded"' not in html and "First response recorded." in html
    # A later click does not move the first response; a guest may not record one.
    with clock.frozen(t0 + dt.timedelta(hours=2)):
        client.post(f"/inquiries/{inquiry.pk}/responded/")
    inquiry.refresh_from_db()
    assert inquiry.first_response_at == t0 + dt.timedelta(minutes=7)
    client.force_login(user("guest", username="g2"))
    assert client.post(f"/inquiries/{inquiry.pk}/responded/").status_code == 403
