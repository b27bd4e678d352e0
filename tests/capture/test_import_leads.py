"""`leadbridge import leads`: each row becomes an inquiry with its touch, counted like a live one.

Runs on the default channels, rules and classes (tests/capture/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError

from leadbridge.capture import lead_import
from leadbridge.capture.models import ContactSource, Inquiry, InquiryClass, InquiryReview, Touch
from leadbridge.capture.selectors import junk_share
from leadbridge.cli import main
from leadbridge.contacts.importer import import_file
from leadbridge.contacts.models import Activity, Contact
from leadbridge.core import clock
from leadbridge.core.models import AuditEntry
from leadbridge.marketing.models import Campaign, Channel
from tests.factories import user

NOW = dt.datetime(2026, 4, 1, 12, 0, tzinfo=dt.UTC)

HEADER = "external_id,email,phone,name,channel,utm_source,utm_medium,utm_campaign,utm_term,landing_page,referrer,occurred_at,class,manager\n"  # fmt: skip
UTM_ROWS = HEADER + (
    "amo-1,ann@example.com,,Ann,,google,cpc,Spring_Sale,flowers,https://shop.example/lp?gclid=G1&x=1,,2026-03-01 10:00,,\n"
    ",bob@example.com,,Bob,,facebook,paid_social,spring_sale,,,,2026-03-02 11:00,,\n"
    ",cat@example.com,,Cat,,,,,,https://shop.example/,https://www.google.com/search?q=x,2026-03-03,,\n"
    ",dan@example.com,,Dan,,newsletter,email,,,,,2026-03-04,,\n"
    ",eve@example.com,,Eve,,,,,,,,2026-03-05,,\n"
    ",fay@example.com,,Fay,Партнёры,,,,,,,2026-03-06,,\n"
    ",gus@example.com,,Gus,,,,,,https://shop.example/lp?utm_source=yandex&utm_medium=cpc&utm_campaign=brand,,2026-03-07,,\n"
)  # fmt: skip


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    counter = {"n": 0}

    def make(content: str, *, encoding: str = "utf-8") -> Path:
        counter["n"] += 1
        path = tmp_path / f"leads{counter['n']}.csv"
        path.write_bytes(content.encode(encoding))
        return path

    return make


def run(path: Path, *, dry_run: bool = False, actor: Any = None, **kwargs: Any) -> dict[str, Any]:
    with clock.frozen(NOW):
        return import_file(
            kind="leads", path=path, mapping=kwargs.pop("mapping", {}), defaults={}, dry_run=dry_run,
            actor=actor, **kwargs,
        )  # fmt: skip


def inquiry_of(email: str) -> Inquiry:
    return Inquiry.objects.select_related("touch__channel", "touch__campaign", "cls", "manager").get(
        contact__email=email
    )


def table_counts() -> dict[str, int]:
    models = (
        Contact,
        Inquiry,
        Touch,
        ContactSource,
        InquiryReview,
        Activity,
        Channel,
        Campaign,
        InquiryClass,
    )
    return {m.__name__: m.objects.count() for m in models}


def test_utm_rows_become_inquiries_with_touches_on_the_channels_the_rules_give(csv_file):
    summary = run(csv_file(UTM_ROWS))
    assert (summary["created"], summary["skipped"]) == (7, 0), summary["errors"]
    assert summary["inquiries"] == {"created": 7, "updated": 0, "unchanged": 0}
    assert summary["created_refs"] == {"channels": ["partnery"], "campaigns": ["Spring_Sale", "brand"]}
    people = ("ann", "bob", "cat", "dan", "eve", "fay", "gus")
    channels = {p: inquiry_of(f"{p}@example.com").touch.channel.key for p in people}
    assert channels == {
        "ann": "paid_search", "bob": "paid_social", "cat": "organic_search", "dan": "email",
        "eve": "unknown", "fay": "partnery", "gus": "paid_search",
    }  # fmt: skip
    assert Channel.objects.get(key="partnery").name == "Партнёры"

    ann = inquiry_of("ann@example.com")
    assert (ann.kind, ann.occurred_at, ann.is_repeat, ann.site) == (
        "import",
        dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC),
        False,
        None,
    )
    touch = ann.touch
    assert (touch.kind, touch.source, touch.medium, touch.term) == ("import", "google", "cpc", "flowers")
    assert touch.click_ids == {"gclid": "G1"}
    assert touch.landing_page == "https://shop.example/lp?x=1"  # tracking parameters kept apart
    # One campaign for both spellings, created with the channel of the row that named it first.
    campaign = Campaign.objects.get(utm_campaign="spring_sale")
    assert (campaign.name, campaign.channel.key) == ("Spring_Sale", "paid_search")
    assert inquiry_of("bob@example.com").touch.campaign == campaign
    # UTM values in the landing page's query string count when the row has no UTM columns.
    gus = inquiry_of("gus@example.com").touch
    assert (gus.source, gus.medium, gus.campaign.utm_campaign) == ("yandex", "cpc", "brand")
    # The contact's first/lead/last touch is the imported touch.
    source = ContactSource.objects.get(contact=ann.contact)
    assert source.first_touch_id == source.lead_touch_id == source.last_touch_id == touch.pk
    assert Contact.objects.get(email="ann@example.com").external_id == "amo-1"
    # The timeline reads like a live inquiry's, with where it came from.
    received = Activity.objects.get(contact=ann.contact, kind="inquiry_received")
    assert received.occurred_at == ann.occurred_at
    assert received.payload | {"import": None} == {
        "inquiry_id": ann.pk, "kind": "import", "channel": "paid_search", "campaign": "Spring_Sale",
        "source": "google", "medium": "cpc", "is_repeat": False, "manager": None, "excerpt": "",
        "import": None,
    }  # fmt: skip
    assert received.payload["import"]["row"] == 2


def test_an_older_imported_inquiry_becomes_the_first_touch_and_the_first_inquiry(capture, csv_file):
    with clock.frozen(dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC)):
        live = capture(
            email="ann@example.com", page_url="https://shop.example/?utm_source=vk&utm_medium=social"
        )
    assert live.is_repeat is False
    run(csv_file(HEADER + ",ann@example.com,,,,google,cpc,,,,,2025-11-02 08:00,,\n"))
    imported = Inquiry.objects.get(kind="import")
    live.refresh_from_db()
    assert (imported.is_repeat, live.is_repeat) == (False, True)
    source = ContactSource.objects.get(contact=live.contact)
    assert (source.first_touch_id, source.lead_touch_id, source.last_touch_id) == (
        imported.touch_id, imported.touch_id, live.touch_id,
    )  # fmt: skip
    # A newer one (after the live inquiry) is a repeat and the last touch.
    run(csv_file(HEADER + ",ann@example.com,,,,newsletter,email,,,,,2026-03-25,,\n"))
    newest = Inquiry.objects.filter(kind="import").latest("occurred_at")
    source.refresh_from_db()
    assert newest.is_repeat is True
    assert (source.first_touch_id, source.lead_touch_id, source.last_touch_id) == (
        imported.touch_id, imported.touch_id, newest.touch_id,
    )  # fmt: skip


def test_repeat_rows_of_one_contact_in_one_file_are_first_then_repeats_by_time(csv_file):
    rows = HEADER + (
        ",ann@example.com,,Ann,,google,cpc,,,,,2026-03-05,,\n"
        ",ann@example.com,,Ann,,newsletter,email,,,,,2026-03-01,,\n"
        ",ann@example.com,,Ann,,,,,,,https://vk.com/,2026-03-09,,\n"
    )
    summary = run(csv_file(rows))
    assert (summary["created"], summary["updated"], summary["inquiries"]["created"]) == (1, 2, 3)
    flags = list(Inquiry.objects.order_by("occurred_at").values_list("is_repeat", "touch__channel__key"))
    assert flags == [(False, "email"), (True, "paid_search"), (True, "social")]
    source = ContactSource.objects.select_related("first_touch", "lead_touch", "last_touch").get()
    assert (source.first_touch.medium, source.lead_touch.medium, source.last_touch.referrer) == (
        "email", "email", "https://vk.com/",
    )  # fmt: skip


def test_class_and_manager(csv_file, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    anna = user("sales", username="anna", email="anna@corp.test")
    boris = user("sales", username="boris", email="Boris@Corp.test")
    rows = HEADER + (
        ",a1@example.com,,,,vk,cpc,promo,,,,2026-03-30 10:00,spam,anna\n"
        ",a2@example.com,,,,vk,cpc,promo,,,,2026-03-30 11:00,Нецелевой,boris@corp.test\n"
        ",a3@example.com,,,,vk,cpc,promo,,,,2026-03-30 12:00,VIP клиент,\n"
        ",a4@example.com,,,,vk,cpc,promo,,,,2026-03-30 13:00,New lead,\n"
        ",a5@example.com,,,,vk,cpc,promo,,,,2026-03-30 14:00,,nobody\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        summary = run(csv_file(rows))
    assert summary["errors"] == [
        {"row": 6, "field": "manager", "message": "No active user 'nobody'", "column": "manager"}
    ]
    assert (summary["created"], summary["skipped"]) == (4, 1)
    assert summary["created_refs"]["classes"] == ["Нецелевой", "VIP клиент"]
    one, two, three, four = (inquiry_of(f"a{i}@example.com") for i in range(1, 5))
    assert (one.cls.key, one.cls.kind, one.manager) == ("spam", "junk", anna)
    assert (two.cls.key, two.cls.kind, two.manager) == ("netselevoy", "junk", boris)
    assert (three.cls.kind, three.manager) == ("target", None)
    assert four.cls.key == "new_lead"  # found by its displayed name
    assert one.contact.owner == anna  # a new contact is the manager's
    assert one.classified_at == NOW and one.review_status == ""
    review = InquiryReview.objects.get(inquiry=one)
    assert (review.action, review.from_class, review.to_class.key) == ("classified", None, "spam")
    classified = Activity.objects.get(contact=one.contact, kind="inquiry_classified")
    assert classified.payload["to"] == "spam" and classified.payload["class_kind"] == "junk"
    assert Activity.objects.get(contact=one.contact, kind="inquiry_received").payload["manager"] == "anna"
    # The failed row left nothing behind.
    assert not Contact.objects.filter(email="a5@example.com").exists()
    assert Inquiry.objects.count() == 4
    # Junk share counts them like live inquiries, and their campaign's junk check is queued.
    marketer = user("marketing", username="mara")
    (row,) = junk_share(user=marketer, by="campaign")
    assert (row["classified"], row["junk"]) == (4, 2)
    (task,) = DBTaskResult.objects.all()
    assert task.task_path.endswith("run_junk_check")
    assert task.args_kwargs["kwargs"] == {"campaign_ids": [one.touch.campaign_id]}


def test_a_manager_on_a_known_contact_handles_the_inquiry_but_does_not_take_the_contact(csv_file, admin):
    from leadbridge.contacts.services import contact_create

    owner = user("sales", username="olga")
    anna = user("sales", username="anna")
    contact = contact_create(actor=admin, data={"email": "k@example.com", "name": "K", "owner": "olga"})
    run(csv_file(HEADER + ",k@example.com,,,,,,,,,,2026-03-01,,anna\n"))
    contact.refresh_from_db()
    assert contact.owner == owner
    assert inquiry_of("k@example.com").manager == anna


def test_reimport_creates_nothing_and_a_later_export_fills_the_class(csv_file):
    path = csv_file(UTM_ROWS)
    run(path)
    before = table_counts()
    again = run(path)
    assert (again["created"], again["updated"], again["unchanged"], again["skipped"]) == (0, 0, 7, 0)
    assert again["inquiries"] == {"created": 0, "updated": 0, "unchanged": 7}
    assert again["created_refs"] == {}
    assert table_counts() == before
    # The same export a week later: sales classified Ann's lead meanwhile in the old CRM.
    later = UTM_ROWS.replace("2026-03-01 10:00,,", "2026-03-01 10:00,spam,")
    summary = run(csv_file(later))
    assert (summary["updated"], summary["unchanged"]) == (1, 6)
    assert summary["inquiries"] == {"created": 0, "updated": 1, "unchanged": 6}
    ann = inquiry_of("ann@example.com")
    assert ann.cls.key == "spam"
    assert InquiryReview.objects.filter(inquiry=ann, action="classified").count() == 1
    assert Inquiry.objects.count() == before["Inquiry"]
    # A class set in LeadBridge is not overwritten by a later file.
    summary = run(csv_file(UTM_ROWS.replace("2026-03-01 10:00,,", "2026-03-01 10:00,new_lead,")))
    assert summary["inquiries"]["unchanged"] == 7
    assert inquiry_of("ann@example.com").cls.key == "spam"


def test_the_same_lead_twice_in_one_file_is_one_inquiry(csv_file):
    row = ",ann@example.com,,Ann,,google,cpc,,,,,2026-03-01 10:00,,\n"
    summary = run(csv_file(HEADER + row + row))
    assert summary["inquiries"] == {"created": 1, "updated": 0, "unchanged": 1}
    assert (summary["created"], summary["unchanged"]) == (1, 1)
    assert Inquiry.objects.count() == 1


def test_dry_run_writes_nothing_and_reports_what_a_real_run_would(csv_file):
    before = table_counts()
    path = csv_file(UTM_ROWS + ",zed@example.com,,,,,,,,,,2026-03-08,Мусор,\n")
    dry = run(path, dry_run=True)
    assert table_counts() == before
    assert not AuditEntry.objects.filter(action="channel.create").exists()
    real = run(path)
    for key in ("created", "updated", "unchanged", "skipped", "errors", "created_refs", "inquiries"):
        assert dry[key] == real[key], key
    assert real["created_refs"]["classes"] == ["Мусор"]
    assert InquiryClass.objects.get(name="Мусор").kind == "junk"
    assert Channel.objects.filter(key="partnery").count() == 1


def test_row_errors_name_row_and_field_and_leave_nothing(csv_file):
    future = (NOW + dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
    rows = HEADER + (
        f",f1@example.com,,,,google,cpc,,,,,{future},,\n"
        ",f2@example.com,,,,google,cpc,,,,,2026-13-01,,\n"
        ",f3@example.com,,,???,google,cpc,,,,,2026-03-01,,\n"
        ",f4@example.com,,,,google,cpc,,,,,2026-03-01,!!!,\n"
        ",f5@example.com,,,,google,cpc,,,,,2026-03-01,,\n"
    )
    summary = run(csv_file(rows))
    errors = {(e["row"], e["field"]) for e in summary["errors"]}
    assert errors == {(2, "occurred_at"), (3, "occurred_at"), (4, "channel"), (5, "class")}
    assert (summary["created"], summary["skipped"]) == (1, 4)
    assert list(Contact.objects.values_list("email", flat=True)) == ["f5@example.com"]
    assert Inquiry.objects.count() == Touch.objects.count() == 1
    assert not Channel.objects.filter(name="???").exists()


def test_a_batch_that_fails_is_retried_row_by_row_without_duplicates(csv_file, settings, monkeypatch):
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "IMPORT_BATCH_SIZE": 10}
    original = lead_import.LeadImportSink.write
    calls = {"n": 0}

    def flaky(self: Any, rows: Any) -> Any:
        done = original(self, rows)
        calls["n"] += 1
        if calls["n"] == 1:
            raise IntegrityError("a concurrent writer")
        return done

    monkeypatch.setattr(lead_import.LeadImportSink, "write", flaky)
    summary = run(csv_file(UTM_ROWS))
    assert (summary["created"], summary["skipped"]) == (7, 0)
    assert summary["created_refs"] == {"channels": ["partnery"], "campaigns": ["Spring_Sale", "brand"]}
    assert Inquiry.objects.count() == 7 and Campaign.objects.filter(utm_campaign="spring_sale").count() == 1


def test_a_cp1251_file_with_russian_headers_and_dotted_dates(csv_file):
    user("sales", username="ivanova", email="ivanova@corp.test")
    text = (
        "ФИО;Телефон;Канал;utm_source;utm_medium;utm_campaign;Дата обращения;Класс обращения;Менеджер\n"
        "Иван Петров;+7 916 123-45-67;;yandex;cpc;Весна;01.03.2026 10:30;Целевой;ivanova@corp.test\n"
        "Пётр Сидоров;8 (916) 765-43-21;Сарафанное радио;;;;02.03.2026;;\n"
    )
    summary = run(csv_file(text, encoding="cp1251"))
    assert summary["encoding"] == "cp1251"
    assert (summary["created"], summary["skipped"]) == (2, 0), summary["errors"]
    ivan = Inquiry.objects.select_related("touch__channel", "touch__campaign", "cls", "contact").get(
        contact__phone="+79161234567"
    )
    assert ivan.contact.name == "Иван Петров"
    assert ivan.occurred_at == dt.datetime(2026, 3, 1, 10, 30, tzinfo=dt.UTC)
    assert (ivan.touch.channel.key, ivan.touch.campaign.name, ivan.cls.name, ivan.cls.kind) == (
        "paid_search", "Весна", "Целевой", "target",
    )  # fmt: skip
    assert ivan.manager.username == "ivanova"
    petr = Inquiry.objects.select_related("touch__channel").get(contact__phone="+79167654321")
    assert (petr.touch.channel.key, petr.touch.channel.name) == ("sarafannoe_radio", "Сарафанное радио")
    assert summary["created_refs"]["channels"] == ["sarafannoe_radio"]


def test_the_cli_imports_leads(csv_file, capsys):
    path = csv_file(UTM_ROWS)
    with clock.frozen(NOW):
        assert main(["import", "leads", str(path), "--dry-run", "--format", "json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert (dry["created"], dry["dry_run"], dry["inquiries"]["created"]) == (7, True, 7)
    assert Inquiry.objects.count() == 0
    with clock.frozen(NOW):
        assert main(["import", "leads", str(path)]) == 0
    out = capsys.readouterr().out
    assert "7 rows: created 7" in out and "new channels: partnery" in out
    assert Inquiry.objects.count() == 7


def test_imported_inquiries_are_in_the_api_feed(csv_file, api_as):
    run(csv_file(UTM_ROWS))
    body = api_as("marketing").get("/api/v1/inquiries?kind=import").json()
    assert len(body["items"]) == 7
    ann = next(i for i in body["items"] if i["contact"]["name"] == "Ann")
    assert (ann["kind"], ann["channel"], ann["campaign"]["name"], ann["source"]) == (
        "import", "paid_search", "Spring_Sale", "google",
    )  # fmt: skip
    assert ann["click_ids"] == {"gclid": "G1"}


def test_the_import_page_imports_leads_as_the_user_who_started_it(admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from leadbridge.contacts.importer import import_job_create, import_job_run, import_job_start

    upload = SimpleUploadedFile("amo.csv", UTM_ROWS.encode(), content_type="text/csv")
    job = import_job_create(actor=admin, kind="leads", upload=upload)
    import_job_start(actor=admin, job_id=job.pk, mapping={}, defaults={"manager": "admin"}, dry_run=False)
    with clock.frozen(NOW):
        job = import_job_run(job_id=job.pk)
    assert job is not None and job.status == "done", job.summary
    assert job.summary["inquiries"]["created"] == 7
    inquiry = inquiry_of("ann@example.com")
    assert inquiry.manager == admin
    received = Activity.objects.get(contact=inquiry.contact, kind="inquiry_received")
    assert received.actor == admin
    assert received.payload["import"] == {"file": "amo.csv", "job": job.pk, "row": 2}
