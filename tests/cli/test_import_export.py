"""`leadbridge import` and `leadbridge export` through the command's entry point."""

from __future__ import annotations

import csv
import io
import json

import pytest

from leadbridge.cli import main
from leadbridge.contacts.models import Contact

pytestmark = pytest.mark.django_db

FILE = "Имя;Фамилия;E-mail;Телефон\nИван;Петров;ivan@example.com;8 916 123-45-67\nАнна;;bad@;\n"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    return lines[0]


@pytest.fixture
def ru_file(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_bytes(FILE.encode("cp1251"))
    return path


def test_import_prints_one_json_summary(ru_file, capsys):
    assert main(["import", "contacts", str(ru_file), "--format", "json", "--set", "tags=expo"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert (summary["created"], summary["updated"], summary["skipped"]) == (1, 0, 1)
    assert summary["errors"] == [
        {"row": 3, "field": "email", "message": "Not a valid email address: 'bad@'", "column": "E-mail"}
    ]
    assert (summary["encoding"], summary["delimiter"]) == ("cp1251", ";")
    assert summary["created_refs"] == {"tags": ["expo"]}
    assert Contact.objects.get().phone == "+79161234567"


def test_import_text_output_and_dry_run(ru_file, capsys):
    assert main(["import", "contacts", str(ru_file), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "2 rows: created 1, updated 0, unchanged 0, skipped 1 (dry run: nothing saved)" in out
    assert "row 3: email: Not a valid email address" in out
    assert Contact.objects.count() == 0


def test_import_with_map_renames_columns(tmp_path, capsys):
    path = tmp_path / "x.csv"
    path.write_text("Who,Where\nZoe,zoe@example.com\n", encoding="utf-8")
    assert (
        main(
            ["import", "contacts", str(path), "--map", "Who=name", "--map", "Where=email", "--format", "json"]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["created"] == 1
    assert Contact.objects.get().name == "Zoe"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--map", "Email"], "--map: expected NAME=VALUE, got 'Email'"),
        (["--map", "Nope=email"], "no column 'Nope' in the file"),
        (["--map", "Имя=emial"], "unknown field 'emial'"),
        (["--set", "=x"], "--set: expected NAME=VALUE"),
    ],
)
def test_bad_options_exit_non_zero_with_one_line(ru_file, capsys, args, fragment):
    assert main(["import", "contacts", str(ru_file), *args]) == 1
    out = capsys.readouterr()
    line = one_line(out.err)
    assert line.startswith("leadbridge: ") and fragment in line
    assert out.out == ""
    assert Contact.objects.count() == 0


def test_missing_or_unreadable_file_exits_non_zero_with_one_line(tmp_path, capsys):
    assert main(["import", "contacts", str(tmp_path / "nope.csv")]) == 1
    assert one_line(capsys.readouterr().err) == f"leadbridge: file not found: {tmp_path / 'nope.csv'}"
    assert main(["import", "contacts", str(tmp_path)]) == 1
    assert "file not found" in one_line(capsys.readouterr().err)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert main(["import", "contacts", str(empty)]) == 1
    assert "empty" in one_line(capsys.readouterr().err)


def test_export_then_import_round_trips(tmp_path, capsys, ru_file):
    main(["import", "contacts", str(ru_file), "--set", "tags=a;b", "--set", "city=Москва"])
    capsys.readouterr()
    assert main(["export", "contacts"]) == 0
    exported = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [(r["first_name"], r["city"], r["tags"]) for r in rows] == [("Иван", "Москва", "a; b")]
    path = tmp_path / "back.csv"
    path.write_text(exported, encoding="utf-8")
    assert main(["import", "contacts", str(path), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["errors"]) == (0, 0, 1, [])


def test_export_json_with_a_segment(ru_file, capsys):
    main(["import", "contacts", str(ru_file)])
    capsys.readouterr()
    assert main(["export", "contacts", "--format", "json", "--segment", "email~ivan"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [i["email"] for i in doc["items"]] == ["ivan@example.com"]
    assert main(["export", "contacts", "--segment", "stage=bogus"]) == 1
    assert "unknown stage" in one_line(capsys.readouterr().err)


@pytest.mark.shared_data
def test_import_a_slice_of_a_real_crm_export(shared_data, tmp_path, capsys):
    lines = (shared_data / "maven_crm" / "accounts.csv").read_text(encoding="utf-8").splitlines()[:31]
    path = tmp_path / "accounts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["import", "contacts", str(path), "--map", "office_location=city", "--map", "sector=job_title"]
    assert main([*args, "--map", "account=company", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    # accounts have no person's name, email or phone: every row is reported, none is dropped silently
    assert summary["rows"] == 30 and summary["skipped"] == 30
    assert {e["message"] for e in summary["errors"]} == {"Give at least a name, an email or a phone"}
    assert set(summary["ignored_columns"]) == {"year_established", "revenue", "employees", "subsidiary_of"}
    assert main([*args, "--map", "account=name", "--set", "tags=maven", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["created"], summary["errors"]) == (30, [])
    acme = Contact.objects.get(name="Acme Corporation")
    assert (acme.city, acme.job_title) == ("United States", "technolgy")
