"""Import pages: upload → mapping with preview → run → result and errors CSV."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse

from leadbridge.contacts.models import Contact, DataQualityItem, ImportJob
from tests.factories import user

pytestmark = pytest.mark.django_db

IMMEDIATE = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
DUMMY = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
HTMX = {"HTTP_HX_REQUEST": "true"}

# A Russian Excel export: Windows-1251, semicolons, a header in Russian; row 4 has a bad email.
RU_CSV = (
    "ФИО;Эл. почта;Телефон;Город;Комментарий\r\n"
    "Иванов Иван;ivan@example.test;8 (916) 123-45-67;Москва;постоянный клиент\r\n"
    "Петрова Анна;anna@example.test;+7 916 765-43-21;Казань;\r\n"
    "Сидоров Пётр;не-почта;;Тверь;звонить утром\r\n"
).encode("cp1251")


@pytest.fixture
def importer_user():
    return user("marketing", username="mia")


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }


def _upload(client, content: bytes = RU_CSV, kind: str = "contacts", name: str = "клиенты.csv"):
    return client.post(reverse("web:import_start"), {"kind": kind, "file": SimpleUploadedFile(name, content)})


def _job_from(response) -> ImportJob:
    assert response.status_code == 302, response.content.decode()[:500]
    job_id = int(response["Location"].rstrip("/").split("/")[-2])
    return ImportJob.objects.get(pk=job_id)


def _mapping_post(job: ImportJob, **extra):
    """The mapping form as the page would submit it, with the suggested choices."""
    sniff = job.summary["sniff"]
    data = {f"map_{i}": sniff["suggested_mapping"].get(name, "") for i, name in enumerate(sniff["header"])}
    for i in range(3):
        data.setdefault(f"set_field_{i}", "")
        data.setdefault(f"set_value_{i}", "")
    data.update(extra)
    return data


@pytest.mark.parametrize("role", ["guest", "sales", "presales"])
def test_import_is_refused_to_roles_without_import(client, role):
    client.force_login(user(role, username=f"u_{role}"))
    assert client.get(reverse("web:import_start")).status_code == 403
    assert _upload(client).status_code == 403
    assert not ImportJob.objects.exists()


def test_upload_without_a_file_or_with_an_unknown_kind_shows_inline_errors(client, importer_user):
    client.force_login(importer_user)
    response = client.post(reverse("web:import_start"), {"kind": "contacts"})
    assert response.status_code == 422
    assert "Choose a CSV file" in response.content.decode()
    response = _upload(client, kind="deals-and-more")
    assert response.status_code == 422
    assert "cannot import" in response.content.decode().lower()
    assert not ImportJob.objects.exists()


def test_cp1251_semicolon_file_shows_the_right_preview_and_mapping(client, importer_user):
    client.force_login(importer_user)
    job = _job_from(_upload(client))
    response = client.get(reverse("web:import_map", args=[job.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="sniff-encoding">cp1251<' in html
    assert "semicolon (;)" in html
    assert "Иванов Иван" in html and "Москва" in html and "звонить утром" in html
    columns = {c["name"]: c["value"] for c in response.context["columns"]}
    assert columns["ФИО"] == "name"
    assert columns["Эл. почта"] == "email"
    assert columns["Телефон"] == "phone"
    assert columns["Город"] == "city"
    assert '<option value="phone" selected>' in html


def test_running_the_import_creates_contacts_and_reports_bad_rows(client, importer_user):
    client.force_login(importer_user)
    job = _job_from(_upload(client))
    with override_settings(TASKS=IMMEDIATE):
        response = client.post(
            reverse("web:import_map", args=[job.pk]),
            _mapping_post(job, set_field_0="tags", set_value_0="выставка-2026"),
        )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:import_detail", args=[job.pk])
    job.refresh_from_db()
    assert job.status == "done"
    ivan = Contact.objects.get(email="ivan@example.test")
    assert (ivan.name, ivan.phone, ivan.city) == ("Иванов Иван", "+79161234567", "Москва")
    assert [t.tag.name for t in ivan.tag_links.select_related("tag")] == ["выставка-2026"]
    assert Contact.objects.count() == 2

    page = client.get(reverse("web:import_detail", args=[job.pk]))
    html = page.content.decode()
    assert 'data-testid="count-created">2<' in html
    assert 'data-testid="count-skipped">1<' in html
    assert "hx-trigger" not in html  # finished: no more polling
    assert reverse("web:import_errors", args=[job.pk]) in html
    assert "Комментарий" in html  # the column that was not imported is named

    download = client.get(reverse("web:import_errors", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert "attachment" in download["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows[0][:3] == ["row", "field", "message"]
    assert len(rows) == 2
    assert rows[1][0] == "4" and rows[1][1] == "email"
    assert "Сидоров Пётр" in rows[1]
    assert DataQualityItem.objects.filter(status="open").count() == 1


def test_dry_run_writes_nothing_but_reports(client, importer_user):
    client.force_login(importer_user)
    job = _job_from(_upload(client))
    with override_settings(TASKS=IMMEDIATE):
        client.post(reverse("web:import_map", args=[job.pk]), _mapping_post(job, dry_run="1"))
    job.refresh_from_db()
    assert (job.status, job.dry_run, job.summary["created"]) == ("done", True, 2)
    assert not Contact.objects.exists()
    assert "Dry run" in client.get(reverse("web:import_detail", args=[job.pk])).content.decode()


def test_a_bad_mapping_is_an_inline_error_and_nothing_starts(client, importer_user):
    client.force_login(importer_user)
    job = _job_from(_upload(client))
    with override_settings(TASKS=IMMEDIATE):
        response = client.post(
            reverse("web:import_map", args=[job.pk]), _mapping_post(job, map_0="email", map_1="email")
        )
        assert response.status_code == 422
        assert "both map to" in response.content.decode()
        response = client.post(
            reverse("web:import_map", args=[job.pk]), _mapping_post(job, set_value_0="orphan")
        )
        assert response.status_code == 422
        assert "Choose the field for the value" in response.content.decode()
    job.refresh_from_db()
    assert job.status == "uploaded"
    assert not Contact.objects.exists()


def test_result_page_polls_while_the_job_runs(client, importer_user):
    client.force_login(importer_user)
    job = _job_from(_upload(client))
    with override_settings(TASKS=DUMMY):  # queued, never run: the page must keep polling
        client.post(reverse("web:import_map", args=[job.pk]), _mapping_post(job))
    page = client.get(reverse("web:import_detail", args=[job.pk]))
    html = page.content.decode()
    assert 'hx-trigger="every 1s"' in html and "Queued" in html
    partial = client.get(reverse("web:import_detail", args=[job.pk]), **HTMX).content.decode()
    assert partial.lstrip().startswith('<div id="import-status"')
    assert "<html" not in partial


def test_an_unreadable_upload_is_refused_with_the_reason(client, importer_user):
    client.force_login(importer_user)
    response = _upload(client, content=b"", name="empty.csv")
    assert response.status_code == 422
    assert 'class="errorlist"' in response.content.decode()


def test_other_pages_of_a_job_need_the_import_role(client, importer_user):
    client.force_login(importer_user)
    job = _job_from(_upload(client))
    client.force_login(user("sales", username="sam"))
    for name in ("web:import_map", "web:import_detail", "web:import_errors"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 403
    client.force_login(importer_user)
    assert client.get(reverse("web:import_detail", args=[99999])).status_code == 404
