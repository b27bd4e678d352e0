"""Notifications in the app: the header bell's count, the list, marking read, following one."""

from __future__ import annotations

import pytest
from django.test import Client

from leadbridge.accounts.models import Notification
from leadbridge.accounts.services import notify
from tests.factories import user

pytestmark = pytest.mark.django_db


def test_bell_is_on_every_page_and_counts_unread(client: Client) -> None:
    mary = user("marketing", username="mary")
    other = user("marketing", username="otto")
    client.force_login(mary)
    html = client.get("/contacts/").content.decode()
    assert 'data-testid="bell"' in html and 'data-src="/notifications/count/"' in html
    assert client.get("/notifications/count/").content == b""
    notify(users=[mary], kind="junk_alert", title="Junk share of campaign “Spring” is 40.0%", email=False)
    notify(users=[mary, other], kind="info", title="Second", email=False)
    response = client.get("/notifications/count/")
    assert response.content == b"2" and response["Cache-Control"] == "no-store"
    notify(users=[mary], kind="info", title="Many", email=False)
    Notification.objects.bulk_create([Notification(user=mary, kind="x", title=f"n{i}") for i in range(120)])
    assert client.get("/notifications/count/").content == b"99+"
    client.logout()
    # An ended session never swaps a login page into the header.
    anonymous = client.get("/notifications/count/")
    assert anonymous.status_code == 200 and anonymous.content == b""


def test_list_shows_own_notifications_and_marks_them_read(client: Client) -> None:
    mary = user("marketing", username="mary")
    otto = user("marketing", username="otto")
    (junk,) = notify(
        users=[mary],
        kind="junk_alert",
        title="Junk share of campaign “Spring” is 40.0%",
        body="4 of the last 10 classified inquiries are junk",
        url="/inquiries/",
        email=False,
    )
    (theirs,) = notify(users=[otto], kind="info", title="Not for Mary", email=False)
    (plain,) = notify(users=[mary], kind="info", title="No link", email=False)
    client.force_login(mary)
    html = client.get("/notifications/").content.decode()
    assert "Junk share of campaign “Spring” is 40.0%" in html and "4 of the last 10" in html
    assert "Not for Mary" not in html
    assert html.count('class="unread"') == 2

    # Following one marks it read and lands on its page.
    response = client.get(f"/notifications/{junk.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/inquiries/"
    junk.refresh_from_db()
    assert junk.read_at is not None
    # Someone else's is not reachable.
    assert client.get(f"/notifications/{theirs.pk}/open/").status_code == 404

    response = client.post("/notifications/read/", {"id": str(plain.pk)})
    assert response.status_code == 302
    plain.refresh_from_db()
    assert plain.read_at is not None
    notify(users=[mary], kind="info", title="A", email=False)
    notify(users=[mary], kind="info", title="B", email=False)
    client.post("/notifications/read/")
    assert not Notification.objects.filter(user=mary, read_at__isnull=True).exists()
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert client.get("/notifications/count/").content == b""


def test_links_outside_the_app_are_not_followed(client: Client) -> None:
    mary = user("marketing", username="mary")
    (evil,) = notify(users=[mary], kind="x", title="x", url="//evil.example/", email=False)
    (unknown,) = notify(users=[mary], kind="x", title="y", url="/no-such-page/", email=False)
    client.force_login(mary)
    assert client.get(f"/notifications/{evil.pk}/open/")["Location"] == "/notifications/"
    assert client.get(f"/notifications/{unknown.pk}/open/")["Location"] == "/notifications/"


def test_list_pages_by_cursor(client: Client) -> None:
    mary = user("marketing", username="mary")
    Notification.objects.bulk_create(
        [Notification(user=mary, kind="x", title=f"note {i:02d}") for i in range(35)]
    )
    client.force_login(mary)
    html = client.get("/notifications/").content.decode()
    assert html.count("data-notification-id=") == 30
    assert "note 34" in html and "note 04" not in html
    import re

    cursor = re.search(r'href="\?cursor=([^"]+)"', html)
    assert cursor is not None
    older = client.get(f"/notifications/?cursor={cursor.group(1)}").content.decode()
    assert older.count("data-notification-id=") == 5 and "note 00" in older
    assert client.get("/notifications/?cursor=garbage").status_code == 200


def test_pages_need_login(client: Client) -> None:
    for url in ["/notifications/", "/notifications/1/open/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.post("/notifications/read/").status_code == 302


def test_a_junk_alert_leads_to_the_campaign_page(client: Client) -> None:
    from leadbridge.capture.services import inquiry_capture, inquiry_classify, junk_check
    from leadbridge.capture.setup import ensure_defaults as capture_defaults
    from leadbridge.marketing import rules
    from leadbridge.marketing.setup import ensure_defaults as marketing_defaults

    rules.clear_cache()
    marketing_defaults()
    capture_defaults()
    anna = user("sales", username="anna")
    mary = user("marketing", username="mary")
    for i in range(10):
        inquiry, _ = inquiry_capture(
            kind="form",
            fields={"name": f"P{i}", "email": f"p{i}@example.com"},
            page_url="https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
        )
        inquiry_classify(actor=anna, inquiry_id=inquiry.pk, class_key="spam" if i < 4 else "new_lead")
    (alert,) = junk_check()
    rules.clear_cache()
    client.force_login(mary)
    assert client.get("/notifications/count/").content == b"1"
    note = Notification.objects.get(user=mary, kind="junk_alert")
    assert "40.0%" in note.title
    response = client.get(f"/notifications/{note.pk}/open/", follow=True)
    assert response.redirect_chain[-1][0] == f"/marketing/campaigns/{alert.campaign_id}/"
    assert "4 junk of 10 classified inquiries" in response.content.decode()
