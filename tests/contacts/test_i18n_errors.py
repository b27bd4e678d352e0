"""Service messages in the user's language: Russian under a Russian request or user, English by
default, field names (API keys) never translated.

The catalogues are the per-app ones (leadbridge/{contacts,core,accounts,capture,marketing}/locale);
the last tests check that every message the service modules raise (the public capture endpoints'
answers included) has a Russian translation in the compiled catalogue and that no message is a
bare literal.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from leadbridge.accounts.services import token_create, user_create
from leadbridge.capture.providers import INQUIRY_KINDS
from leadbridge.capture.services import (
    inquiry_capture,
    inquiry_classify,
    inquiry_review,
    site_cache_forget,
    site_create,
)
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.contacts import services
from leadbridge.contacts.importer import (
    import_file,
    import_job_create,
    import_job_errors_csv,
    import_job_run,
    import_job_start,
)
from leadbridge.contacts.models import Contact
from leadbridge.contacts.selectors import contact_get, contact_list
from leadbridge.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from leadbridge.marketing import rules
from leadbridge.marketing.services import channel_create, spend_record
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from tests.api.conftest import Api
from tests.factories import user

ROOT = Path(__file__).resolve().parents[2] / "leadbridge"
SERVICE_MODULES = [
    *(
        ROOT / "contacts" / f"{name}.py"
        for name in (
            "validation", "cleaning", "services", "merge", "selectors",
            "exporter", "csvio", "importer",
        )
    ),
    *(ROOT / "core" / f"{name}.py" for name in ("errors", "pagination", "permissions")),
    ROOT / "accounts" / "services.py",
    *(
        ROOT / "capture" / f"{name}.py"
        for name in (
            "services", "public", "http", "selectors", "ui_selectors", "lead_import", "providers/generic",
        )
    ),
    *(ROOT / "marketing" / f"{name}.py" for name in ("services", "values", "rules", "selectors")),
]  # fmt: skip


def messages(exc: ValidationFailed | Conflict) -> dict[str, str]:
    return {e.field: e.message for e in exc.errors}


# --- services under translation.override -----------------------------------------------------


@pytest.mark.django_db
def test_field_errors_come_out_in_russian_and_still_name_the_field(admin):
    with translation.override("ru"), pytest.raises(ValidationFailed) as caught:
        services.contact_create(
            actor=admin, data={"name": "Марина", "email": "marina@@example", "birthday": "2999-01-01"}
        )
    assert caught.value.detail == "Некорректные данные"
    assert messages(caught.value) == {
        "email": "Некорректный адрес электронной почты: 'marina@@example'",
        "birthday": "Дата рождения не может быть в будущем",
    }
    with translation.override("ru"), pytest.raises(ValidationFailed) as caught:
        services.contact_create(actor=admin, data={"name": "Old", "birthday": "1800-01-01"})
    assert messages(caught.value) == {"birthday": "Дата рождения более 130 лет назад невозможна"}
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_unknown_stage_lists_the_stages_untranslated_inside_a_russian_sentence(admin):
    contact = services.contact_create(actor=admin, data={"name": "A"})
    with translation.override("ru"), pytest.raises(ValidationFailed) as caught:
        services.contact_stage_change(actor=admin, contact_id=contact.pk, to_stage="bogus")
    message = messages(caught.value)["stage"]
    assert message.startswith("Неизвестный этап 'bogus'; допустимые значения: subscriber, lead, mql")
    with translation.override("ru"), pytest.raises(ValidationFailed) as caught:
        services.contact_update(actor=admin, contact_id=contact.pk, data={"stage": "bogus", "nope": 1})
    assert messages(caught.value)["stage"].startswith("Неизвестный этап 'bogus'")
    assert messages(caught.value)["nope"] == "Неизвестное поле"


@pytest.mark.django_db
def test_a_duplicate_is_a_russian_conflict_naming_the_field(admin):
    first = services.contact_create(actor=admin, data={"name": "Анна", "email": "anna@example.com"})
    with translation.override("ru"), pytest.raises(Conflict) as caught:
        services.contact_create(actor=admin, data={"name": "Анна 2", "email": "ANNA@example.com"})
    assert caught.value.detail == f"Похоже на дубликат контакта №{first.pk} (Анна)"
    assert messages(caught.value) == {"email": f"Уже указан у контакта №{first.pk}"}
    with translation.override("ru"), pytest.raises(Conflict) as caught:
        services.contact_update(actor=admin, contact_id=first.pk, data={"name": "X"}, expected_version=7)
    assert caught.value.detail.startswith("Пока контакт был открыт у вас, его изменил другой пользователь")
    assert messages(caught.value) == {"version": "Ожидалась версия 7, текущая — 1"}


@pytest.mark.django_db
def test_permission_and_not_found_errors_are_russian(admin):
    guest = user("guest", username="gina")
    with translation.override("ru"), pytest.raises(Forbidden) as forbidden:
        services.contact_create(actor=guest, data={"name": "A"})
    assert forbidden.value.detail == "У вас нет прав на это действие"
    with translation.override("ru"), pytest.raises(NotFound) as missing:
        contact_get(user=admin, contact_id=999_999)
    assert missing.value.detail == "Контакт не найден"


@pytest.mark.django_db
def test_list_filter_and_account_errors_are_russian(admin):
    with translation.override("ru"), pytest.raises(ValidationFailed) as caught:
        contact_list(user=admin, stage="bogus")
    assert messages(caught.value) == {"stage": "Неизвестный этап 'bogus'"}
    with translation.override("ru"), pytest.raises(Conflict) as caught:
        user_create(username="ADMIN", role="sales")
    assert caught.value.detail == "Пользователь 'ADMIN' уже существует"
    assert messages(caught.value) == {"username": "Уже занято"}


@pytest.mark.django_db
def test_english_stays_unchanged_by_default_and_under_english(admin):
    for language in (None, "en"):
        with translation.override(language), pytest.raises(ValidationFailed) as caught:
            services.contact_create(
                actor=admin, data={"email": "x@", "birthday": "2999-01-01", "stage": "zz"}
            )
        assert caught.value.detail == "Invalid input"
        assert messages(caught.value) == {
            "email": "Not a valid email address: 'x@'",
            "birthday": "A birthday cannot be in the future",
            "stage": "Unknown stage 'zz'; one of: " + ", ".join(services.STAGE_ORDER),
        }
    assert str(Forbidden()) == "You do not have permission to do this"


def test_russian_length_errors_agree_with_the_number():
    from leadbridge.contacts.validation import Invalid, clean_text

    seen = {}
    with translation.override("ru"):
        for limit in (21, 22, 25):
            with pytest.raises(Invalid) as caught:
                clean_text("x" * 30, max_length=limit)
            seen[limit] = str(caught.value)
    assert seen == {
        21: "Не более 21 символа (введено 30)",
        22: "Не более 22 символов (введено 30)",
        25: "Не более 25 символов (введено 30)",
    }


# --- imports -------------------------------------------------------------------------------------

FILE = "Имя;E-mail;Этап\nАнна;anna@example.com;lead\nБорис;not-an-email;lead\nВера;vera@example.com;zz\n"


def upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("контакты.csv", FILE.encode("utf-8"), content_type="text/csv")


def error_rows(job: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(import_job_errors_csv(job))))


@pytest.mark.django_db
def test_an_import_job_runs_in_the_language_of_the_user_who_started_it():
    anna = user("admin", username="anna", language="ru")
    job = import_job_create(actor=anna, kind="contacts", upload=upload())
    # Started and run outside any request: English is active, the user's choice wins.
    import_job_start(actor=anna, job_id=job.pk, mapping={"Имя": "name"}, defaults={}, dry_run=False)
    job = import_job_run(job_id=job.pk)
    assert [(e["row"], e["field"], e["message"]) for e in job.summary["errors"]] == [
        (3, "email", "Некорректный адрес электронной почты: 'not-an-email'"),
        (4, "stage", "Неизвестный этап 'zz'; допустимые значения: " + ", ".join(services.STAGE_ORDER)),
    ]
    assert translation.get_language() == "en"  # the worker's override did not leak
    with translation.override("ru"):
        rows = error_rows(job)
    assert rows[0] == ["строка", "поле", "сообщение", "Имя", "E-mail", "Этап"]
    assert rows[1][:3] == ["3", "email", "Некорректный адрес электронной почты: 'not-an-email'"]


@pytest.mark.django_db
def test_without_a_chosen_language_a_job_keeps_the_language_it_was_started_in():
    bob = user("admin", username="bob")
    job = import_job_create(actor=bob, kind="contacts", upload=upload())
    with translation.override("ru"):  # a Russian browser, no preference saved
        import_job_start(actor=bob, job_id=job.pk, mapping={"Имя": "name"}, defaults={}, dry_run=True)
    job = import_job_run(job_id=job.pk)
    assert job.summary["errors"][0]["message"] == "Некорректный адрес электронной почты: 'not-an-email'"

    english = import_job_create(actor=bob, kind="contacts", upload=upload())
    import_job_start(actor=bob, job_id=english.pk, mapping={"Имя": "name"}, defaults={}, dry_run=True)
    english = import_job_run(job_id=english.pk)
    assert english.summary["errors"][0]["message"] == "Not a valid email address: 'not-an-email'"
    assert error_rows(english)[0][:3] == ["row", "field", "message"]


@pytest.mark.django_db
def test_rows_cleaned_in_worker_processes_are_reported_in_the_run_language(tmp_path, settings):
    settings.LEADBRIDGE = {
        **settings.LEADBRIDGE, "IMPORT_WORKERS": 2, "IMPORT_PARALLEL_MIN_BYTES": 0, "IMPORT_BATCH_SIZE": 2,
    }  # fmt: skip
    lines = ["name,email,birthday"] + [f"P{i},p{i}@example.com,2999-01-0{i % 9 + 1}" for i in range(12)]
    path = tmp_path / "people.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with translation.override("ru"):
        summary = import_file(kind="contacts", path=path, mapping={}, defaults={}, dry_run=True, actor=None)
    assert summary["skipped"] == 12
    assert {(e["field"], e["message"]) for e in summary["errors"]} == {
        ("birthday", "Дата рождения не может быть в будущем")
    }


@pytest.mark.django_db
def test_a_file_problem_is_reported_in_russian(tmp_path):
    path = tmp_path / "twice.csv"
    path.write_text("email,Email,email\na@example.com,b,c\n", encoding="utf-8")
    with translation.override("ru"), pytest.raises(ValidationFailed) as caught:
        import_file(kind="contacts", path=path, mapping={}, defaults={}, dry_run=True, actor=None)
    assert caught.value.detail == (
        "В заголовке повторяются названия столбцов: 'email' (столбцы 1 и 3); переименуйте один из них"
    )
    assert list(messages(caught.value)) == ["file"]


# --- web and API ----------------------------------------------------------------------------------

RU = {"Accept-Language": "ru"}


@pytest.mark.django_db
def test_a_russian_user_sees_russian_inline_errors_on_the_contact_form(client: Client):
    client.force_login(user("admin", username="olga", language="ru"))
    response = client.post("/contacts/new/", {"name": "Марина", "email": "marina@@example", "country": "R1"})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert errors["email"] == ["Некорректный адрес электронной почты: 'marina@@example'"]
    assert errors["country"] == ["Укажите двухбуквенный код страны по ISO, например RU, PL, DE"]
    html = response.content.decode()
    assert "Некорректный адрес электронной почты" in html and "Not a valid email" not in html


@pytest.mark.django_db
def test_the_api_answers_in_the_accept_language_with_english_field_paths():
    who = user("admin", username="api_admin")
    api = Api(token_create(user=who), who)
    bad = {"name": "Марина", "email": "marina@@example", "birthday": "2999-01-01"}
    response = api.post("/contacts", bad, **RU)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "Некорректные данные",
        "errors": [
            {"field": "body.email", "message": "Некорректный адрес электронной почты: 'marina@@example'"},
            {"field": "body.birthday", "message": "Дата рождения не может быть в будущем"},
        ],
    }
    assert response.json()["errors"][0]["field"] == "body.email"

    created = api.post("/contacts", {"name": "Анна", "email": "anna@example.com"}).json()
    response = api.post("/contacts", {"email": "anna@example.com"}, **RU)
    assert response.status_code == 409
    assert response.json()["detail"] == f"Похоже на дубликат контакта №{created['id']} (Анна)"
    assert [e["field"] for e in response.json()["errors"]] == ["body.email"]

    guest = user("guest", username="api_guest")
    response = Api(token_create(user=guest), guest).post("/contacts", {"name": "A"}, **RU)
    assert (response.status_code, response.json()["detail"]) == (403, "У вас нет прав на это действие")

    english = api.post("/contacts", bad)
    assert english.json()["detail"] == "Invalid input"
    assert english.json()["errors"][0] == {
        "field": "body.email",
        "message": "Not a valid email address: 'marina@@example'",
    }


# --- capture and marketing ------------------------------------------------------------------------


@pytest.fixture
def capture_setup(db: None) -> Iterator[Any]:
    """The default channels, rules and inquiry classes, a site and one form inquiry from it."""
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    site = site_create(actor=None, name="Shop", origins=["https://shop.example"])
    inquiry, _created = inquiry_capture(
        kind="form", site=site, fields={"name": "Анна", "email": "anna@example.com"}, page_url=""
    )
    yield inquiry
    rules.clear_cache()
    site_cache_forget()


def test_inquiry_api_errors_follow_the_accept_language(capture_setup):
    inquiry = capture_setup
    head = user("admin", username="api_head")
    api = Api(token_create(user=head), head)
    response = api.post(f"/inquiries/{inquiry.pk}/resolve", {"class": "new_lead"}, **RU)
    assert response.status_code == 409
    assert response.json() == {"detail": "Решение принимается только по оспоренному классу", "errors": []}
    response = api.post(f"/inquiries/{inquiry.pk}/classify", {"class": "bogus"}, **RU)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body.class"
    assert error["message"].startswith("Неизвестный класс обращения 'bogus'; допустимые значения: ")
    response = api.post("/inquiries/999999/resolve", {"class": "new_lead"}, **RU)
    assert (response.status_code, response.json()["detail"]) == (404, "Обращение не найдено")

    english = api.post(f"/inquiries/{inquiry.pk}/resolve", {"class": "new_lead"})
    assert english.json()["detail"] == "Only a disputed class can be resolved"

    inquiry_classify(actor=head, inquiry_id=inquiry.pk, class_key="new_lead")
    inquiry_review(actor=head, inquiry_id=inquiry.pk, action="confirm")
    with translation.override("ru"), pytest.raises(Conflict) as caught:
        inquiry_review(actor=head, inquiry_id=inquiry.pk, action="dispute", comment="нет")
    assert caught.value.detail == "Класс уже подтверждён"


def test_the_public_endpoints_answer_in_the_accept_language(client: Client, capture_setup):
    site = capture_setup.site
    headers = {"Origin": "https://shop.example", "Accept-Language": "ru"}

    def post(url: str, body: Any, **extra: str) -> Any:
        data = body if isinstance(body, str) else json.dumps(body)
        return client.post(url, data=data, content_type="application/json", headers={**headers, **extra})

    response = post("/capture/form", {"site_key": "no-such-key-1", "fields": {"name": "A"}})
    assert response.status_code == 404
    assert response.json() == {"detail": "Неизвестный или неактивный ключ сайта", "errors": []}
    response = post("/capture/form", json.dumps({"site_key": site.key})[:-1] + ', "fields": {')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Некорректный JSON в строке 1, столбце ")
    assert response.json()["detail"].endswith("(данные обрезаны?)")

    response = post(
        "/capture/inquiry/generic", {"kind": "fax", "duration": "long"}, **{"X-LeadBridge-Key": site.key}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "Данные не удаётся прочитать как обращение"
    assert {e["field"]: e["message"] for e in body["errors"]} == {
        "kind": "Обязательное поле; допустимые значения: " + ", ".join(INQUIRY_KINDS),
        "duration": "ожидается число секунд",
    }

    del headers["Accept-Language"]
    response = post("/capture/form", {"site_key": "no-such-key-1", "fields": {"name": "A"}})
    assert response.json()["detail"] == "Unknown or inactive site key"


def test_marketing_errors_are_russian(admin, capture_setup):
    with translation.override("ru"), pytest.raises(Conflict) as conflict:
        channel_create(actor=admin, data={"key": "direct", "name": "Прямые"})
    assert conflict.value.detail == "Канал 'direct' уже существует"
    assert messages(conflict.value) == {"key": "Уже существует"}
    with translation.override("ru"), pytest.raises(ValidationFailed) as caught:
        spend_record(actor=admin, date="32.13.2026", channel="nope", amount="-5", currency="RUBL")
    assert messages(caught.value) == {
        "date": "Не удалось распознать дату '32.13.2026' (используйте формат ГГГГ-ММ-ДД)",
        "channel": "Нет канала 'nope'",
        "amount": "Сумма не может быть отрицательной",
        "currency": "Это не код валюты: 'RUBL' (нужны три латинские буквы, например RUB, EUR)",
    }


# --- the catalogues --------------------------------------------------------------------------------

_GETTEXT = {"_", "gettext", "gettext_lazy", "ngettext", "pgettext"}


def _literal(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _marked_strings(path: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _GETTEXT:
            texts = {"ngettext": 2, "pgettext": 2}.get(node.func.id, 1)  # ngettext's count is not
            args = tuple(_literal(a) for a in node.args[:texts])
            assert all(a is not None for a in args), f"{path.name}:{node.lineno}: gettext of a non-literal"
            yield node.func.id, args  # type: ignore[misc]


def test_every_service_message_has_a_russian_translation():
    untranslated: list[str] = []
    count = 0
    with translation.override("ru"):
        for path in SERVICE_MODULES:
            for func, args in _marked_strings(path):
                count += 1
                if func == "ngettext":
                    pairs = [
                        (translation.ngettext(args[0], args[1], n), args[0 if n == 1 else 1]) for n in (1, 5)
                    ]
                elif func == "pgettext":
                    pairs = [(translation.pgettext(args[0], args[1]), args[1])]
                else:
                    pairs = [(translation.gettext(args[0]), args[0])]
                untranslated += [
                    f"{path.name}: {english!r}" for russian, english in pairs if russian == english
                ]
    assert count > 300
    assert not untranslated


def _po_entries(path: Path) -> Iterator[tuple[str, str, str, str]]:
    """(context, msgid, msgid_plural, msgstr or msgstr[0]) of each entry but the header."""

    def text(lines: str | None) -> str:
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', lines or "")
        return "".join(ast.literal_eval(f'"{part}"') for part in parts)

    entry = re.compile(
        r'(?:msgctxt ((?:".*"\n)+))?msgid ((?:".*"\n)+)(?:msgid_plural ((?:".*"\n)+))?'
        r'msgstr(?:\[0\])? ((?:".*"\n?)+)'
    )
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        match = entry.search(block + "\n")
        if match and text(match[2]):
            yield text(match[1]), text(match[2]), text(match[3]), text(match[4])


@pytest.mark.parametrize("app", ["contacts", "core", "accounts", "capture", "marketing"])
def test_compiled_catalogue_matches_its_po_file(app):
    """A .po edited without recompiling the .mo would silently keep the old text."""
    po = ROOT / app / "locale" / "ru" / "LC_MESSAGES" / "django.po"
    assert (po.parent / "django.mo").is_file()
    entries = list(_po_entries(po))
    assert entries and all(russian for *_english, russian in entries)
    with translation.override("ru"):
        for context, msgid, plural, russian in entries:
            if plural:
                got = translation.ngettext(msgid, plural, 1)
            elif context:
                got = translation.pgettext(context, msgid)
            else:
                got = translation.gettext(msgid)
            assert got == russian, msgid


_MESSAGE_ARGS = {
    "Invalid": 0, "NotFound": 0, "Conflict": 0, "Forbidden": 0, "_file_error": 0, "ValueError": 0,
    "field_error": 1, "FieldError": 1, "Reject": 1, "json_error": 1,
}  # fmt: skip


def test_service_messages_are_never_bare_literals():
    """A literal or f-string message would reach a Russian user in English."""
    found: list[str] = []
    for path in SERVICE_MODULES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                continue
            position = _MESSAGE_ARGS.get(node.func.id)
            candidates = [node.args[position]] if position is not None and len(node.args) > position else []
            candidates += [k.value for k in node.keywords if k.arg in {"detail", "message"}]
            for arg in candidates:
                if isinstance(arg, ast.JoinedStr) or _literal(arg) is not None:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found
