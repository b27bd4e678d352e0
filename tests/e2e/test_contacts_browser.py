"""The contact pages in a real browser: forms, htmx filtering, stage rules, notes, language."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from leadbridge.contacts import services
from tests.e2e.conftest import login
from tests.factories import user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Secret-pass-1"
SHOTS = Path(tempfile.gettempdir())


@pytest.fixture
def boss(transactional_db: Any) -> Any:
    return user("admin", username="boss", first_name="Olga", last_name="Boss")


def test_create_contact_fix_invalid_email_and_see_card(
    browser_page: Any, live_server: Any, boss: Any
) -> None:
    page = browser_page
    login(page, live_server, "boss", PASSWORD)
    # The stylesheet and htmx are served by the app itself (WhiteNoise, no CDN).
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).position") == "sticky"
    assert page.evaluate("typeof window.htmx") == "object"
    css = page.request.get(f"{live_server.url}/static/web/app.css")
    assert css.status == 200 and "LeadBridge" in css.text()

    page.click("text=New contact")
    page.fill("#id_name", "Marina Petrova")
    page.fill("#id_email", "marina@@example")
    page.click("button:has-text('Create contact')")
    error = page.locator("[data-field=email] .errorlist")
    assert "Not a valid email address" in error.inner_text()
    assert page.input_value("#id_name") == "Marina Petrova"  # input is kept

    page.fill("#id_email", "marina@example.com")
    page.click("button:has-text('Create contact')")
    page.wait_for_selector("[data-testid=contact-name]")
    assert "Marina Petrova" in page.inner_text("[data-testid=contact-name]")
    assert page.inner_text("[data-testid=contact-email]").strip() == "marina@example.com"


def test_filter_list_by_tag_without_reload(browser_page: Any, live_server: Any, boss: Any) -> None:
    services.contact_create(actor=boss, data={"name": "Beach Lover", "tags": "beach"})
    services.contact_create(actor=boss, data={"name": "Forest Walker", "tags": "forest"})
    page = browser_page
    login(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/contacts/")
    assert page.locator("tbody tr[data-contact-id]").count() == 2
    page.evaluate("window.__noReload = true")
    with page.expect_response(
        lambda r: "/contacts/?" in r.url and r.request.headers.get("hx-request") == "true"
    ):
        page.fill("#id_tag", "beach")
        page.dispatch_event("#id_tag", "change")
    page.wait_for_function("document.querySelectorAll('tbody tr[data-contact-id]').length === 1")
    assert "Beach Lover" in page.inner_text("#results")
    assert page.evaluate("window.__noReload") is True  # swapped in place, not a page load
    assert "tag=beach" in page.url  # the filtered view is bookmarkable


def test_stage_back_needs_reason_then_lands_in_history(
    browser_page: Any, live_server: Any, boss: Any
) -> None:
    contact = services.contact_create(actor=boss, data={"name": "Stage Mover", "stage": "mql"})
    page = browser_page
    login(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/contacts/{contact.pk}/")
    page.select_option("#id_stage_to", "lead")
    page.click("[data-testid=stage-form] button[type=submit]")
    assert page.locator("[data-testid=stage-reason-error]").is_visible()
    assert "MQL" in page.inner_text("[data-testid=contact-stage]")

    page.fill("#id_stage_reason", "Budget frozen until Q3")
    page.click("[data-testid=stage-form] button[type=submit]")
    page.wait_for_selector("text=Stage changed.")
    assert "Lead" in page.inner_text("[data-testid=contact-stage]")
    assert "Budget frozen until Q3" in page.inner_text("[data-testid=stage-history]")


def test_product_issue_note(browser_page: Any, live_server: Any, boss: Any) -> None:
    contact = services.contact_create(actor=boss, data={"name": "Flower Buyer"})
    page = browser_page
    login(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/contacts/{contact.pk}/")
    page.fill("#id_note_body", "Out of stock: red roses, can't sell")
    page.check("#id_is_product_issue")
    page.click("button:has-text('Add note')")
    page.wait_for_selector("text=Note added.")
    notes = page.inner_text("[data-testid=notes]")
    assert "Out of stock: red roses" in notes and "Product issue" in notes
    assert "Note added" in page.inner_text("[data-testid=timeline]")


def test_switch_language_to_russian(browser_page: Any, live_server: Any, boss: Any) -> None:
    page = browser_page
    login(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/contacts/")
    assert page.inner_text("[data-nav=contacts]") == "Contacts"
    page.click(".langswitch button[value=ru]")
    page.wait_for_selector("html[lang=ru]")
    assert page.inner_text("[data-nav=contacts]") == "Контакты"
    assert page.locator("h1", has_text="Контакты").is_visible()
    assert "Новый контакт" in page.inner_text(".page-header")
    # Saved on the user: a fresh visit (no cookie tricks) stays Russian.
    page.goto(f"{live_server.url}/companies/")
    assert page.inner_text("[data-nav=companies]") == "Компании"


def test_screenshots_of_list_and_card(browser_page: Any, live_server: Any, boss: Any) -> None:
    """Not an assertion of looks: leaves web1_*.png in the temp dir for a human to review."""
    sales = user("sales", username="anna", first_name="Anna", last_name="Smirnova")
    people = [
        (
            "Ivan Petrov",
            "ivan.petrov@example.ru",
            "+7 916 123-45-67",
            "Romashka LLC",
            "vip; florist",
            "customer",
        ),
        ("Emily Clarke", "emily@clarke.co.uk", "+44 20 7946 0958", "Clarke & Sons", "newsletter", "mql"),
        ("Дмитрий Соколов", "d.sokolov@yandex.ru", "8 (912) 345-67-89", "ООО Ромашка", "beach; vip", "sql"),
        ("Sarah Johnson", "sarah.j@example.com", "", "Bloom Studio", "forest", "lead"),
        ("<script>alert('x')</script>", "xss@example.com", "", "", "test", "subscriber"),
        ("Анна Кузнецова", "anna.k@mail.ru", "+7 495 123-45-67", "Цветы России", "partner", "opportunity"),
    ]
    last = None
    for name, email, phone, company, tags, stage in people:
        last = services.contact_create(
            actor=boss,
            data={
                "name": name,
                "email": email,
                "phone": phone,
                "company": company,
                "tags": tags,
                "stage": stage,
                "owner": "anna",
                "job_title": "Buyer",
                "city": "Moscow",
                "country": "RU",
            },
        )
    assert last is not None and sales
    services.note_add(actor=boss, contact_id=last.pk, body="Asked for a quote on 200 tulips.")
    services.note_add(
        actor=boss, contact_id=last.pk, body="Tulips out of stock", is_product_issue=True, product="Tulips"
    )
    services.contact_stage_change(
        actor=boss, contact_id=last.pk, to_stage="sql", reason="Budget cut, back to SQL"
    )
    page = browser_page
    login(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/contacts/")
    page.screenshot(path=SHOTS / "web1_list.png", full_page=True)
    assert "<script>alert('x')</script>" in page.inner_text("#results")  # shown as text, not run
    page.goto(f"{live_server.url}/contacts/{last.pk}/")
    page.screenshot(path=SHOTS / "web1_card.png", full_page=True)
    page.goto(f"{live_server.url}/contacts/new/")
    page.fill("#id_name", "Test Person")
    page.fill("#id_email", "not-an-email")
    page.click("button:has-text('Create contact')")
    page.screenshot(path=SHOTS / "web1_form.png", full_page=True)
    page.set_viewport_size({"width": 420, "height": 900})
    page.goto(f"{live_server.url}/contacts/")
    page.screenshot(path=SHOTS / "web1_list_mobile.png", full_page=True)
