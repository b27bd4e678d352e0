"""Admin-side pages in a real browser: fix a data-quality item, run a CSV import, read the audit log.

Set LEADBRIDGE_SCREENSHOTS=/some/dir to keep screenshots of the pages (for a visual check).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import pytest

from leadbridge.contacts.models import Contact, DataQualityItem, ImportJob
from leadbridge.contacts.services import dq_item_record
from tests.e2e.conftest import login
from tests.factories import user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Secret-pass-1"
IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


def _shot(page: Any, name: str) -> None:
    folder = os.environ.get("LEADBRIDGE_SCREENSHOTS")
    if folder:
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(Path(folder) / f"web2_{name}.png"), full_page=True)


def test_data_quality_user_fixes_a_phone_then_audit_shows_it(browser_page: Any, live_server: Any) -> None:
    user("data_quality", username="dora")
    user("admin", username="boss")
    item = dq_item_record(
        source="capture:form",
        reason="invalid",
        raw={"name": "Ivan Petrov", "email": "ivan@example.test", "phone": "12", "message": "Call after 6pm"},
        errors=[{"field": "phone", "message": "Not a valid phone number: '12'"}],
    )
    dq_item_record(
        source="import",
        reason="invalid",
        raw={"name": "Анна Смирнова", "email": "anna@@mail", "city": "Казань", "import_job": 7},
        errors=[{"row": 14, "field": "email", "message": "Not a valid email address: 'anna@@mail'"}],
    )
    page = browser_page
    login(page, live_server, "dora", PASSWORD)
    page.goto(f"{live_server.url}/quality/")
    row = page.locator(f"#dq-item-{item.pk}")
    assert "Not a valid phone number" in row.inner_text()
    assert "Call after 6pm" in row.inner_text()
    _shot(page, "quality")

    row.locator("[data-testid=dq-fix]").click()
    phone = page.locator(f"#dq{item.pk}-phone")
    assert phone.input_value() == "12"  # prefilled from the raw input
    phone.fill("123")
    row.locator("button:has-text('Create contact')").click()
    error = page.locator(f"#dq-item-{item.pk} .errorlist")
    error.wait_for()
    assert "Not a valid phone number" in error.inner_text()
    assert not Contact.objects.exists()

    page.locator(f"#dq{item.pk}-phone").fill("+7 916 123-45-67")
    page.evaluate("window.__noReload = true")
    page.locator(f"#dq-item-{item.pk} button:has-text('Create contact')").click()
    page.wait_for_selector(f"#dq-item-{item.pk}[data-status=fixed]")
    assert page.evaluate("window.__noReload") is True  # htmx swapped the row, no page load
    _shot(page, "quality_fixed")
    contact = Contact.objects.get()
    assert contact.phone == "+79161234567"
    assert DataQualityItem.objects.get(pk=item.pk).status == "fixed"
    link = page.locator(f"#dq-item-{item.pk} [data-testid=dq-contact-link]")
    assert link.inner_text() == "Ivan Petrov"

    # The audit log (an admin's page) shows who fixed it and the contact that was created.
    page.context.clear_cookies()
    login(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/audit/?actor=dora")
    table = page.locator("[data-testid=audit-table]")
    assert "data_quality.fix" in table.inner_text()
    create_row = page.locator("[data-testid=audit-row][data-action='contact.create']")
    assert "+79161234567" in create_row.inner_text()
    create_row.locator("[data-testid=audit-object-link]").click()
    page.wait_for_url(f"**/contacts/{contact.pk}/")


def test_admin_imports_a_csv_with_a_mapped_column_and_downloads_errors(
    browser_page: Any, live_server: Any, settings: Any, tmp_path: Path
) -> None:
    settings.TASKS = IMMEDIATE
    user("admin", username="boss")
    source = tmp_path / "leads-export.csv"
    source.write_bytes(
        (
            "Кто;E-mail;Телефон;Примечание\r\n"
            "Ольга Ким;olga@example.test;+7 903 111-22-33;VIP\r\n"
            "Борис Лаптев;boris@example;+7 903 222-33-44;\r\n"
            "Зоя Новак;zoya@example.test;+7 903 333-44-55;from Tver\r\n"
        ).encode("cp1251")
    )
    page = browser_page
    login(page, live_server, "boss", PASSWORD)
    page.goto(f"{live_server.url}/import/")
    page.select_option("#import-kind", "contacts")
    page.set_input_files("#import-file", str(source))
    page.click("button:has-text('Upload and map columns')")
    page.wait_for_url("**/import/*/map/")
    assert page.inner_text("[data-testid=sniff-encoding]") == "cp1251"
    assert "semicolon" in page.inner_text("[data-testid=sniff-delimiter]")
    assert "Ольга Ким" in page.inner_text("[data-testid=preview-table]")
    assert page.input_value("select[data-column='Телефон']") == "phone"  # suggested
    assert page.input_value("select[data-column='Кто']") == ""  # not recognised: the user maps it
    page.select_option("select[data-column='Кто']", "name")
    page.select_option("select[name=set_field_0]", "tags")
    page.fill("input[name=set_value_0]", "import-test")
    _shot(page, "import_map")

    page.click("[data-testid=run-import]")
    page.wait_for_selector("[data-testid=import-status][data-status=done]")
    assert page.inner_text("[data-testid=count-created]") == "2"
    assert page.inner_text("[data-testid=count-skipped]") == "1"
    assert page.inner_text("[data-testid=count-rows]") == "3"
    _shot(page, "import_result")
    assert Contact.objects.get(email="olga@example.test").name == "Ольга Ким"

    with page.expect_download() as download_info:
        page.click("[data-testid=errors-csv]")
    download = download_info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["row", "field", "message"]
    assert rows[1][0] == "3" and rows[1][1] == "email" and "Борис Лаптев" in rows[1]

    job = ImportJob.objects.get()
    page.goto(f"{live_server.url}/audit/?object_type=import_job&object_id={job.pk}")
    assert "contact.import" in page.inner_text("[data-testid=audit-table]")
