"""Import jobs behind the import page: upload, sniff, start, run by `leadbridge worker --once`."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks_db.models import DBTaskResult

from leadbridge.cli import main
from leadbridge.contacts.importer import (
    import_job_create,
    import_job_errors_csv,
    import_job_run,
    import_job_start,
)
from leadbridge.contacts.models import Contact, ImportJob
from leadbridge.core.errors import Conflict, Forbidden, ValidationFailed
from tests.factories import user

FILE = "Имя;E-mail;Телефон\nАнна;anna@example.com;+7 916 111-22-33\nБорис;not-an-email;\nВера;vera@example.com;\n"


def upload(text: str = FILE, name: str = "контакты.csv", encoding: str = "cp1251") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")


@pytest.mark.django_db
def test_upload_stores_the_file_and_what_sniff_found(admin):
    job = import_job_create(actor=admin, kind="contacts", upload=upload())
    assert job.status == ImportJob.Status.UPLOADED and job.original_name == "контакты.csv"
    sniffed = job.summary["sniff"]
    assert (sniffed["encoding"], sniffed["delimiter"]) == ("cp1251", ";")
    assert sniffed["header"] == ["Имя", "E-mail", "Телефон"]
    assert sniffed["suggested_mapping"] == {"Имя": "first_name", "E-mail": "email", "Телефон": "phone"}
    assert sniffed["preview"][0] == ["Анна", "anna@example.com", "+7 916 111-22-33"]
    assert job.file.read().decode("cp1251") == FILE


@pytest.mark.django_db
def test_upload_of_an_unreadable_file_is_refused_and_needs_the_permission(admin):
    with pytest.raises(ValidationFailed):
        import_job_create(actor=admin, kind="contacts", upload=upload("", encoding="utf-8"))
    assert ImportJob.objects.count() == 0
    with pytest.raises(Forbidden):
        import_job_create(actor=user("sales"), kind="contacts", upload=upload())


@pytest.mark.django_db
def test_start_checks_the_mapping_and_queues_one_run(admin):
    job = import_job_create(actor=admin, kind="contacts", upload=upload())
    with pytest.raises(ValidationFailed):
        import_job_start(actor=admin, job_id=job.pk, mapping={"Nope": "email"}, defaults={}, dry_run=False)
    job = import_job_start(
        actor=admin, job_id=job.pk, mapping={"Имя": "name"}, defaults={"tags": "x"}, dry_run=False
    )
    assert job.status == ImportJob.Status.RUNNING
    assert DBTaskResult.objects.filter(args_kwargs__kwargs__job_id=job.pk).count() == 1
    with pytest.raises(Conflict):
        import_job_start(actor=admin, job_id=job.pk, mapping={}, defaults={}, dry_run=False)


@pytest.mark.django_db
def test_run_records_the_summary_and_the_errors_download_has_the_raw_rows(admin):
    job = import_job_create(actor=admin, kind="contacts", upload=upload())
    import_job_start(actor=admin, job_id=job.pk, mapping={"Имя": "name"}, defaults={}, dry_run=False)
    job = import_job_run(job_id=job.pk)
    assert job.status == ImportJob.Status.DONE and job.finished_at is not None
    assert (job.summary["created"], job.summary["skipped"]) == (2, 1)
    assert job.summary["sniff"]["header"] == ["Имя", "E-mail", "Телефон"]
    assert import_job_run(job_id=job.pk).summary == job.summary  # a second delivery is a no-op
    rows = list(csv.reader(io.StringIO(import_job_errors_csv(job))))
    assert rows[0] == ["row", "field", "message", "Имя", "E-mail", "Телефон"]
    assert rows[1] == ["3", "email", "Not a valid email address: 'not-an-email'", "Борис", "not-an-email", ""]


@pytest.mark.django_db
def test_a_dry_run_job_saves_nothing_but_reports_everything(admin):
    job = import_job_create(actor=admin, kind="contacts", upload=upload())
    import_job_start(actor=admin, job_id=job.pk, mapping={}, defaults={}, dry_run=True)
    job = import_job_run(job_id=job.pk)
    assert job.summary["created"] == 2 and job.summary["dry_run"] is True
    assert Contact.objects.count() == 0


@pytest.mark.django_db
def test_a_job_whose_user_lost_the_permission_fails_with_a_reason(admin):
    marketing = user("marketing", username="mia")
    job = import_job_create(actor=marketing, kind="contacts", upload=upload())
    import_job_start(actor=marketing, job_id=job.pk, mapping={}, defaults={}, dry_run=False)
    marketing.role = "guest"
    marketing.save()
    job = import_job_run(job_id=job.pk)
    assert job.status == ImportJob.Status.FAILED and "permission" in job.summary["error"]
    assert Contact.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_leadbridge_worker_once_runs_a_queued_import_against_the_database(capsys):
    admin = user("admin", username="boss")
    job = import_job_create(actor=admin, kind="contacts", upload=upload())
    import_job_start(actor=admin, job_id=job.pk, mapping={"Имя": "name"}, defaults={}, dry_run=False)
    assert main(["worker", "--once"]) == 0
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE, job.summary
    assert sorted(Contact.objects.values_list("name", flat=True)) == ["Анна", "Вера"]
    # The worker also starts the periodic capture and scoring chains; this is the import task.
    result = DBTaskResult.objects.get(task_path="leadbridge.contacts.tasks.run_import_job")
    assert result.status == "SUCCESSFUL" and result.return_value == {"job_id": job.pk, "status": "done"}
