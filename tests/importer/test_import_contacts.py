"""`import_file(kind="contacts")`: mapping, validation, upsert, idempotency, data quality, audit."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import (
    Activity,
    Company,
    Contact,
    ContactPoint,
    ContactTag,
    DataQualityItem,
    StageChange,
    Tag,
)
from leadbridge.contacts.services import contact_create, custom_field_create
from leadbridge.core.errors import Forbidden, ValidationFailed
from leadbridge.core.models import AuditEntry
from tests.factories import ContactFactory, user
from tests.importer.conftest import errors_by_row

pytestmark = pytest.mark.django_db

BASIC = (
    "Name,E-mail,Phone,Company,Tags,City\n"
    "Anna Smith,Anna@Example.com,+48 601 234 567,Acme,vip; b2b,Warsaw\n"
    "Иван Петров,ivan@example.ru,8 (916) 123-45-67,ООО Ромашка,vip,Москва\n"
)


def world() -> dict[str, int]:
    """Row counts of everything an import writes."""
    return {
        "contacts": Contact.objects.count(),
        "activities": Activity.objects.count(),
        "stage_changes": StageChange.objects.count(),
        "tags": Tag.objects.count(),
        "links": ContactTag.objects.count(),
        "points": ContactPoint.objects.count(),
        "companies": Company.objects.count(),
        "dq": DataQualityItem.objects.count(),
        "audit": AuditEntry.objects.count(),
    }


def test_a_file_creates_contacts_with_normalised_values_tags_companies_and_history(csv_file, run):
    summary = run(csv_file(BASIC))
    assert (summary["created"], summary["updated"], summary["skipped"], summary["rows"]) == (2, 0, 0, 2)
    assert summary["mapping"] == {
        "Name": "name", "E-mail": "email", "Phone": "phone", "Company": "company", "Tags": "tags", "City": "city",
    }  # fmt: skip
    assert summary["created_refs"] == {"tags": ["vip", "b2b"], "companies": ["Acme", "ООО Ромашка"]}
    anna = Contact.objects.get(email="anna@example.com")
    assert (anna.phone, anna.company.name, anna.city) == ("+48601234567", "Acme", "Warsaw")
    assert sorted(anna.tag_links.values_list("tag__name", flat=True)) == ["b2b", "vip"]
    ivan = Contact.objects.get(phone="+79161234567")
    assert ivan.name == "Иван Петров"
    created = Activity.objects.get(contact=ivan, kind="contact_created")
    assert created.payload["source"] == "import" and created.payload["row"] == 3
    assert StageChange.objects.get(contact=ivan).to_stage == "lead"
    entry = AuditEntry.objects.get(action="contact.import")
    assert entry.after["created"] == 2 and entry.after["rows"] == 2


def test_rerunning_the_same_file_changes_nothing(csv_file, run):
    path = csv_file(BASIC + "Bad Row,not-an-email,,,,\n")
    first = run(path)
    before = world()
    again = run(path)
    assert (again["created"], again["updated"], again["unchanged"], again["skipped"]) == (0, 0, 2, 1)
    assert again["errors"] == first["errors"]
    after = world()
    assert after == {**before, "audit": before["audit"] + 1}  # only the run's own audit entry


def test_dry_run_reports_the_same_summary_and_saves_nothing(csv_file, run):
    path = csv_file(BASIC + "Bad,not-an-email,,,,\nAnna again,anna@example.com,,,new-tag,\n")
    before = world()
    dry = run(path, dry_run=True)
    assert world() == before
    real = run(path)
    assert {**dry, "dry_run": False} == real
    assert (real["created"], real["updated"], real["skipped"]) == (2, 1, 1)


def test_mapping_and_set_and_ignored_columns(csv_file, run):
    path = csv_file("Nom;Courriel;Mobile;Junk\nMarie;marie@example.fr;+33 6 12 34 56 78;zzz\n")
    summary = run(
        path,
        mapping={"Nom": "name", "Courriel": "email", "Mobile": "phone"},
        defaults={"tags": "salon-2026", "stage": "mql"},
    )
    assert summary["created"] == 1 and summary["ignored_columns"] == ["Junk"]
    marie = Contact.objects.get(email="marie@example.fr")
    assert (marie.name, marie.phone, marie.stage) == ("Marie", "+33612345678", "mql")
    assert list(marie.tag_links.values_list("tag__name", flat=True)) == ["salon-2026"]


def test_a_column_can_be_ignored_explicitly_and_custom_keys_map_by_name(csv_file, run, admin):
    custom_field_create(actor=admin, key="partner_name", label="Partner", kind="text")
    custom_field_create(actor=admin, key="budget", label="Budget", kind="number")
    path = csv_file("name,email,partner_name,Budget,Phone\nA,a@example.com,Roses & Co,1 500,garbage\n")
    summary = run(path, mapping={"Phone": ""})
    assert summary["created"] == 1 and summary["errors"] == []
    assert summary["ignored_columns"] == ["Phone"]
    assert Contact.objects.get().custom == {"partner_name": "Roses & Co", "budget": 1500}


@pytest.mark.parametrize(
    ("mapping", "defaults", "fragment"),
    [
        ({"Nope": "email"}, {}, "no column 'Nope'"),
        ({"name": "emial"}, {}, "unknown field 'emial'"),
        ({"name": "email", "mail": "email"}, {}, "both map to 'email'"),
        ({}, {"colour": "red"}, "unknown field 'colour'"),
        ({"mail": "email"}, {"email": "x@example.com"}, "also set for every row"),
    ],
)
def test_mapping_mistakes_are_reported_before_anything_is_written(csv_file, run, mapping, defaults, fragment):
    path = csv_file("name,mail\nA,a@example.com\n")
    with pytest.raises(ValidationFailed) as info:
        run(path, mapping=mapping, defaults=defaults)
    assert fragment in str(info.value)
    assert Contact.objects.count() == 0


def test_invalid_rows_are_reported_with_their_line_numbers_and_queued_with_the_raw_row(csv_file, run):
    text = (
        "name,email,phone,birthday,country\n"
        "Good One,good@example.com,,,\n"
        "Bad Email,bad@,,,\n"
        "\n"
        "Bad Many,x@example.com,12,2999-01-01,Russia\n"
        ",,,,\n"
        "Too,many,cols,x,y,z,w\n"
        "Nobody,,,,\n"
        ",,,,PL\n"
    )
    summary = run(csv_file(text))
    errors = errors_by_row(summary)
    assert set(errors) == {3, 5, 7, 9}
    assert errors[3] == [("email", "Not a valid email address: 'bad@'")]
    assert {f for f, _ in errors[5]} == {"phone", "birthday", "country"}
    assert errors[7][0][0] == "row" and "Expected 5 columns, got 7" in errors[7][0][1]
    assert errors[9] == [("name", "Give at least a name, an email or a phone")]
    assert (summary["created"], summary["skipped"], summary["rows"]) == (2, 4, 6)
    assert summary["errors"][0]["column"] == "email"
    items = {i.raw["row"]: i for i in DataQualityItem.objects.all()}
    assert set(items) == {3, 5, 7, 9}
    assert items[3].source == "import" and items[3].reason == "invalid"
    assert items[3].raw["columns"] == {
        "name": "Bad Email",
        "email": "bad@",
        "phone": "",
        "birthday": "",
        "country": "",
    }
    assert items[3].errors == [{"field": "email", "message": "Not a valid email address: 'bad@'"}]
    assert items[7].reason == "malformed"


def test_upsert_matches_by_external_id_then_email_then_phone(csv_file, run, admin):
    by_ext = contact_create(
        actor=admin, data={"name": "Ext", "external_id": "crm-1", "email": "old@example.com"}
    )
    by_email = contact_create(actor=admin, data={"name": "Mail", "email": "mail@example.com"})
    by_phone = contact_create(actor=admin, data={"name": "Tel", "phone": "+48 601 000 111"})
    by_point = contact_create(
        actor=admin, data={"name": "Point", "email": "p@example.com", "emails": "p2@example.com"}
    )
    text = (
        "external_id,name,email,phone,city\n"
        "crm-1,Ext Renamed,new@example.com,,Kraków\n"
        ",Mail,MAIL@example.com,,Gdańsk\n"
        ",,,+48601000111,Poznań\n"
        ",,p2@example.com,,Łódź\n"
        "crm-9,Fresh,fresh@example.com,,\n"
    )
    summary = run(csv_file(text))
    assert (summary["created"], summary["updated"], summary["skipped"]) == (1, 4, 0)
    by_ext.refresh_from_db()
    assert (by_ext.name, by_ext.email, by_ext.city, by_ext.version) == (
        "Ext Renamed",
        "new@example.com",
        "Kraków",
        2,
    )
    # the old primary email is kept as an extra address, so it still matches next time
    assert ContactPoint.objects.filter(contact=by_ext, kind="email", value="old@example.com").exists()
    assert Contact.objects.get(pk=by_email.pk).city == "Gdańsk"
    assert Contact.objects.get(pk=by_phone.pk).city == "Poznań"
    assert Contact.objects.get(pk=by_point.pk).city == "Łódź"
    assert Contact.objects.get(pk=by_point.pk).email == "p@example.com"
    update = Activity.objects.get(contact=by_ext, kind="contact_updated")
    assert update.payload["before"]["name"] == "Ext" and update.payload["after"]["name"] == "Ext Renamed"
    assert Contact.objects.filter(external_id="crm-9").exists()


def test_blank_cells_never_clear_values_and_tags_are_only_added(csv_file, run, admin):
    c = contact_create(
        actor=admin, data={"name": "Kept", "email": "k@example.com", "city": "Oslo", "tags": "old"}
    )
    summary = run(csv_file("email,city,name,tags\nk@example.com,,,new\n"))
    assert summary["updated"] == 1
    c.refresh_from_db()
    assert (c.name, c.city) == ("Kept", "Oslo")
    assert sorted(c.tag_links.values_list("tag__name", flat=True)) == ["new", "old"]
    assert Activity.objects.filter(contact=c, kind="tags_changed", payload__added=["new"]).count() == 1


def test_email_of_one_contact_and_phone_of_another_is_a_duplicate_for_the_queue(csv_file, run, admin):
    a = contact_create(actor=admin, data={"name": "A", "email": "a@example.com"})
    b = contact_create(actor=admin, data={"name": "B", "phone": "+48601234567"})
    summary = run(csv_file("name,email,phone\nWho,a@example.com,+48 601 234 567\n"))
    assert (summary["created"], summary["updated"], summary["skipped"]) == (0, 0, 1)
    message = summary["errors"][0]["message"]
    assert f"#{a.pk}" in message and f"#{b.pk}" in message
    item = DataQualityItem.objects.get()
    assert (item.reason, item.contact_id) == ("duplicate", a.pk)
    assert Contact.objects.get(pk=a.pk).name == "A" and Contact.objects.get(pk=b.pk).name == "B"


def test_an_email_match_with_a_different_external_id_is_not_overwritten(csv_file, run, admin):
    a = contact_create(actor=admin, data={"name": "A", "email": "a@example.com", "external_id": "x-1"})
    summary = run(csv_file("external_id,email\nx-2,a@example.com\n"))
    assert summary["skipped"] == 1 and "'x-1', not 'x-2'" in summary["errors"][0]["message"]
    assert Contact.objects.get(pk=a.pk).external_id == "x-1"


def test_the_same_person_twice_in_one_file_is_created_once_and_updated_by_the_later_row(csv_file, run):
    text = (
        "name,email,phone,city,tags\n"
        "Ola,ola@example.com,,Gdynia,a\n"
        "Ola N.,OLA@example.com,+48 601 234 568,Sopot,b\n"
        "Ola N.,,+48601234568,Sopot,\n"
    )
    summary = run(csv_file(text))
    assert (summary["created"], summary["updated"], summary["unchanged"]) == (1, 1, 1)
    ola = Contact.objects.get()
    assert (ola.name, ola.phone, ola.city) == ("Ola N.", "+48601234568", "Sopot")
    assert sorted(ola.tag_links.values_list("tag__name", flat=True)) == ["a", "b"]


def test_duplicates_far_apart_in_a_file_behave_the_same_as_near_ones(csv_file, run, settings):
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "IMPORT_BATCH_SIZE": 2}
    text = "name,email\nA,a@example.com\nB,b@example.com\nC,c@example.com\nA2,a@example.com\n"
    summary = run(csv_file(text))
    assert (summary["created"], summary["updated"]) == (3, 1)
    assert Contact.objects.get(email="a@example.com").name == "A2"


def test_unicode_rtl_and_injection_strings_are_stored_verbatim(csv_file, run):
    nasty = [
        "Robert'); DROP TABLE contacts_contact;--",
        '<script>alert("x")</script>',
        "محمد عبد الله",
        "שלום עליכם",
        "Zoë 🌹 Ünïcödé",
        '=HYPERLINK("http://evil")',
    ]
    lines = "".join(f'"{n.replace(chr(34), chr(34) * 2)}",p{i}@example.com\n' for i, n in enumerate(nasty))
    summary = run(csv_file("name,email\n" + lines))
    assert summary["created"] == len(nasty) and summary["errors"] == []
    assert sorted(Contact.objects.values_list("name", flat=True)) == sorted(nasty)


def test_too_long_values_are_row_errors(csv_file, run):
    summary = run(csv_file(f"name,email\n{'x' * 300},a@example.com\nok,b@example.com\n"))
    assert errors_by_row(summary)[2] == [("name", "At most 255 characters (got 300)")]
    assert summary["created"] == 1


def test_owner_by_username_and_unknown_owner_is_a_row_error(csv_file, run):
    anna = user("sales", username="anna")
    summary = run(csv_file("name,owner\nA,ANNA\nB,ghost\n"))
    assert Contact.objects.get(name="A").owner == anna
    assert errors_by_row(summary)[3] == [("owner", "No active user 'ghost'")]


def test_stage_column_moves_the_stage_with_history(csv_file, run, admin):
    c = contact_create(actor=admin, data={"name": "S", "email": "s@example.com"})
    run(csv_file("email,stage\ns@example.com,SQL\n"))
    c.refresh_from_db()
    assert c.stage == "sql"
    change = StageChange.objects.filter(contact=c).order_by("-id").first()
    assert (change.from_stage, change.to_stage, change.reason) == ("lead", "sql", "import")
    assert Activity.objects.filter(contact=c, kind="stage_changed").count() == 1


def test_required_custom_fields_apply_to_new_contacts_only(csv_file, run, admin):
    existing = ContactFactory(email="e@example.com")
    custom_field_create(
        actor=admin, key="segment", label="Segment", kind="choice", choices=["a", "b"], required=True
    )
    summary = run(
        csv_file("name,email,segment\nNew,n@example.com,\nOld,e@example.com,\nBad,z@example.com,c\n")
    )
    errors = errors_by_row(summary)
    assert errors[2] == [("custom.segment", "This field is required")]
    assert errors[4] == [("custom.segment", "'c' is not one of: a, b")]
    assert 3 not in errors and Contact.objects.get(pk=existing.pk).name == "Old"


def test_rows_of_a_merged_contact_reach_the_winner(csv_file, run, admin):
    from leadbridge.contacts.merge import contact_merge

    winner = contact_create(actor=admin, data={"name": "W", "email": "w@example.com"})
    loser = contact_create(actor=admin, data={"name": "L", "external_id": "L-1", "phone": "+48601999888"})
    contact_merge(actor=admin, winner_id=winner.pk, loser_id=loser.pk)
    summary = run(csv_file("external_id,city\nL-1,Bergen\n"))
    assert summary["updated"] == 1
    assert Contact.objects.get(pk=winner.pk).city == "Bergen"
    # a winner with an external id of its own: the loser's id still leads to it
    other = contact_create(actor=admin, data={"name": "O", "external_id": "O-1"})
    gone = contact_create(actor=admin, data={"name": "G", "external_id": "G-1"})
    contact_merge(actor=admin, winner_id=other.pk, loser_id=gone.pk)
    summary = run(csv_file("external_id,city\nG-1,Tromsø\n"))
    assert (summary["updated"], summary["errors"]) == (1, [])
    assert Contact.objects.get(pk=other.pk).city == "Tromsø"


def test_an_actor_needs_the_import_permission(csv_file, run):
    with pytest.raises(Forbidden):
        run(csv_file(BASIC), actor=user("sales"))
    summary = run(csv_file(BASIC), actor=user("marketing"))
    assert summary["created"] == 2
    assert AuditEntry.objects.get(action="contact.import").actor.role == "marketing"


def test_deals_and_spend_are_not_supported_yet(csv_file, run):
    with pytest.raises(ValidationFailed) as info:
        run(csv_file(BASIC), kind="deals")
    assert "cannot import 'deals' yet" in str(info.value)


def test_a_malformed_file_in_the_middle_does_not_stop_the_import(csv_file, run):
    # 3,000 good rows first, so the broken bytes lie beyond the sample the encoding is detected on
    good = "".join(f"P{i},p{i}@example.com\n" for i in range(3000)).encode()
    data = b"name,email\n" + good + b'"B"oops,b@example.com\nC\xff\xfe,c@example.com\nD,d@example.com\n'
    summary = run(csv_file(data))
    assert summary["encoding"] == "utf-8"
    assert summary["created"] == 3001
    assert set(errors_by_row(summary)) == {3002, 3003}
    assert DataQualityItem.objects.filter(reason="malformed").count() == 2


def test_a_rejected_row_leaves_no_company_or_tag_behind(csv_file, run):
    summary = run(csv_file("company,tags,city\nAcme,vip,Oslo\n"))
    assert summary["skipped"] == 1
    assert (Company.objects.count(), Tag.objects.count(), Contact.objects.count()) == (0, 0, 0)


def test_rows_cleaned_in_worker_processes_give_the_same_result(csv_file, run, settings):
    text = "name,email,phone,tags\n" + "".join(
        f"P{i},p{i % 700}@example.com,{'+48 601 ' + str(100000 + i)[-6:] if i % 3 else 'bad'},t{i % 5}\n"
        for i in range(2500)
    )
    serial = run(csv_file(text), dry_run=True)
    settings.LEADBRIDGE = {
        **settings.LEADBRIDGE, "IMPORT_WORKERS": 2, "IMPORT_PARALLEL_MIN_BYTES": 0, "IMPORT_BATCH_SIZE": 300,
    }  # fmt: skip
    parallel = run(csv_file(text))
    assert {**serial, "dry_run": False} == parallel
    assert parallel["created"] == Contact.objects.count() == 700 and parallel["skipped"] > 0
