"""Capture setup pages: sites (create, edit origins/active, new key, snippet page) and inquiry
classes (add, edit, reorder), with who may use them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.test import Client

from leadbridge.capture.models import InquiryClass, Site
from leadbridge.capture.services import site_by_key, site_cache_forget
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from tests.factories import user

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def defaults(db: None) -> Iterator[None]:
    site_cache_forget()
    capture_defaults()
    yield
    site_cache_forget()


@pytest.mark.parametrize(
    ("role", "sites", "classes"),
    [
        ("admin", 200, 200),
        ("director", 200, 200),
        ("marketing", 200, 403),
        ("sales_head", 403, 200),
        ("sales", 403, 403),
        ("guest", 403, 403),
    ],
)
def test_who_may_open_what(client: Client, role: str, sites: int, classes: int) -> None:
    client.force_login(user(role))
    assert client.get("/capture-setup/sites/").status_code == sites
    assert client.get("/capture-setup/classes/").status_code == classes
    entry = client.get("/capture-setup/")
    if sites == 200:
        assert entry["Location"] == "/capture-setup/sites/"
    elif classes == 200:
        assert entry["Location"] == "/capture-setup/classes/"
    else:
        assert entry.status_code == 403
    nav = client.get("/contacts/").content.decode()
    assert ('data-nav="capture_settings"' in nav) is (sites == 200 or classes == 200)


# --- sites ---------------------------------------------------------------------------------------


def test_create_a_site_and_see_its_snippet(client: Client) -> None:
    client.force_login(user("marketing", username="mary"))
    response = client.post(
        "/capture-setup/sites/",
        {"name": "Main site", "origins": "https://www.example.com\nhttp://localhost:3000"},
    )
    site = Site.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/capture-setup/sites/{site.pk}/snippet/"
    assert site.origins == ["https://www.example.com", "http://localhost:3000"]
    html = client.get(response["Location"]).content.decode()
    tracker = html[html.index('data-testid="snippet-tracker"') :]
    tracker = tracker[: tracker.index("</code>")]
    assert f"data-site-key=&quot;{site.key}&quot;" in tracker
    assert "src=&quot;http://testserver/t/lb.js&quot;" in tracker
    assert "window.lb=window.lb||function()" in tracker
    form = html[html.index('data-testid="snippet-form"') :]
    assert "http://testserver/capture/form" in form and f"value=&quot;{site.key}&quot;" in form
    assert "https://www.example.com/thanks" in form and "lb_hp" in form
    assert "http://testserver/capture/inquiry/generic" in html and "X-LeadBridge-Key" in html
    listing = client.get("/capture-setup/sites/").content.decode()
    assert site.key in listing and "Main site" in listing


def test_snippet_uses_the_configured_base_url(client: Client, settings) -> None:  # type: ignore[no-untyped-def]
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "BASE_URL": "https://crm.example.com/"}
    client.force_login(user("admin"))
    site = Site.objects.create(name="S", origins=["https://s.example"])
    html = client.get(f"/capture-setup/sites/{site.pk}/snippet/").content.decode()
    assert "https://crm.example.com/t/lb.js" in html


def test_bad_origins_are_shown_inline(client: Client) -> None:
    client.force_login(user("admin"))
    response = client.post(
        "/capture-setup/sites/", {"name": "", "origins": "ftp://x.example https://ok.example/path"}
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "A site needs a name" in html or "Not an origin" in html
    assert Site.objects.count() == 0
    assert "ftp://x.example https://ok.example/path" in html  # the input is kept


def test_edit_origins_active_and_issue_a_new_key(client: Client, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    client.force_login(user("admin"))
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    old_key = site.key
    assert site_by_key(old_key) is not None
    page = client.get(f"/capture-setup/sites/{site.pk}/").content.decode()
    assert "https://shop.example" in page and old_key in page
    with django_capture_on_commit_callbacks(execute=True):  # the key cache is forgotten after commit
        response = client.post(
            f"/capture-setup/sites/{site.pk}/",
            {"name": "Shop 2", "origins": "https://shop.example, https://m.shop.example"},
        )
    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.name, site.origins, site.is_active) == (
        "Shop 2",
        ["https://shop.example", "https://m.shop.example"],
        False,  # the box was not ticked
    )
    assert site_by_key(old_key) is None  # an inactive site's key is refused at once
    bad = client.post(
        f"/capture-setup/sites/{site.pk}/", {"name": "Shop 2", "origins": "nonsense", "is_active": "1"}
    )
    assert bad.status_code == 422 and "Not an origin" in bad.content.decode()
    client.post(f"/capture-setup/sites/{site.pk}/", {"rotate_key": "1"})
    site.refresh_from_db()
    assert site.key != old_key
    assert client.get("/capture-setup/sites/999/").status_code == 404


def test_sales_cannot_touch_sites(client: Client) -> None:
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    client.force_login(user("sales"))
    assert (
        client.post("/capture-setup/sites/", {"name": "X", "origins": "https://x.example"}).status_code == 403
    )
    assert client.post(f"/capture-setup/sites/{site.pk}/", {"rotate_key": "1"}).status_code == 403
    assert client.get(f"/capture-setup/sites/{site.pk}/snippet/").status_code == 403
    assert Site.objects.count() == 1 and Site.objects.get().key == site.key


# --- inquiry classes -----------------------------------------------------------------------------


def keys_in_order(html: str) -> list[str]:
    return re.findall(r'data-testid="class-row" data-key="([^"]+)"', html)


def test_add_edit_and_reorder_classes(client: Client) -> None:
    client.force_login(user("admin"))
    html = client.get("/capture-setup/classes/").content.decode()
    assert keys_in_order(html) == [
        "new_lead",
        "upsell",
        "service",
        "spam",
        "non_target",
        "wrong_number",
        "job_seeker",
    ]
    response = client.post(
        "/capture-setup/classes/",
        {"key": "target_b2b", "name": "B2B lead", "kind": "target", "product": "Fleet"},
    )
    assert response.status_code == 302
    cls = InquiryClass.objects.get(key="target_b2b")
    assert (cls.kind, cls.product, cls.is_active) == ("target", "Fleet", True)
    dup = client.post("/capture-setup/classes/", {"key": "spam", "name": "Spam again", "kind": "junk"})
    assert dup.status_code == 409 and "Already exists" in dup.content.decode()
    bad = client.post("/capture-setup/classes/", {"key": "Bad Key", "name": "", "kind": "other"})
    assert bad.status_code == 422
    text = bad.content.decode()
    assert "lower-case latin letters" in text and "Unknown kind" in text

    response = client.post(
        f"/capture-setup/classes/{cls.pk}/", {"name": "B2B fleet lead", "kind": "upsell", "product": ""}
    )
    assert response.status_code == 302
    cls.refresh_from_db()
    assert (cls.name, cls.kind, cls.product, cls.is_active) == ("B2B fleet lead", "upsell", "", False)

    # Move the new class (last) up twice, with htmx: the rows come back in the new order.
    rows = client.post(
        f"/capture-setup/classes/{cls.pk}/move/", {"direction": "up"}, headers=HX
    ).content.decode()
    assert "<html" not in rows
    assert keys_in_order(rows)[-2:] == ["target_b2b", "job_seeker"]
    client.post(f"/capture-setup/classes/{cls.pk}/move/", {"direction": "up"})
    order = list(InquiryClass.objects.order_by("position", "id").values_list("key", flat=True))
    assert order[-3:] == ["target_b2b", "wrong_number", "job_seeker"]
    assert list(InquiryClass.objects.order_by("position", "id").values_list("position", flat=True)) == list(
        range(8)
    )
    # The top one cannot go higher.
    first = InquiryClass.objects.get(key="new_lead")
    client.post(f"/capture-setup/classes/{first.pk}/move/", {"direction": "up"})
    assert InquiryClass.objects.order_by("position", "id").first() == first


def test_inactive_class_leaves_the_inbox_buttons(client: Client) -> None:
    from leadbridge.capture.services import inquiry_capture

    anna = user("sales", username="anna")
    inquiry, _ = inquiry_capture(kind="form", fields={"name": "X", "email": "x@example.com"})
    job = InquiryClass.objects.get(key="job_seeker")
    client.force_login(user("admin"))
    client.post(f"/capture-setup/classes/{job.pk}/", {"name": job.name, "kind": "junk", "product": ""})
    client.force_login(anna)
    html = client.get(f"/inquiries/{inquiry.pk}/").content.decode()
    assert 'data-class="job_seeker"' not in html and 'data-class="spam"' in html


def test_sales_cannot_manage_classes(client: Client) -> None:
    client.force_login(user("sales"))
    spam = InquiryClass.objects.get(key="spam")
    assert (
        client.post("/capture-setup/classes/", {"key": "x", "name": "X", "kind": "junk"}).status_code == 403
    )
    assert (
        client.post(f"/capture-setup/classes/{spam.pk}/", {"name": "Y", "kind": "target"}).status_code == 403
    )
    assert client.post(f"/capture-setup/classes/{spam.pk}/move/", {"direction": "up"}).status_code == 403
    assert InquiryClass.objects.get(key="spam").name == "Spam"
