"""Reading the files people have: encodings, delimiters, broken rows, huge lines, header names."""

from __future__ import annotations

import codecs

import pytest

from leadbridge.contacts.csvio import MAX_LINE_BYTES, CsvFile
from leadbridge.contacts.importer import sniff
from leadbridge.contacts.services import custom_field_create
from leadbridge.core.errors import ValidationFailed

RU = "Имя;Фамилия;Телефон;E-mail\nИван;Петров;8 916 123-45-67;ivan@example.com\nЁлка;Щукина;+7 916 765 43 21;\n"


def read_all(path, **kwargs):
    with CsvFile(path, **kwargs) as f:
        return f, [(r.row, r.values, r.error) for r in f.records()]


def test_cp1251_file_from_russian_excel_is_detected_and_decoded(csv_file):
    path = csv_file(RU, encoding="cp1251")
    assert path.read_bytes().count(b"\xc8") >= 1  # real cp1251 bytes ("И")
    f, rows = read_all(path)
    assert (f.encoding, f.delimiter) == ("cp1251", ";")
    assert f.header == ["Имя", "Фамилия", "Телефон", "E-mail"]
    assert rows[1] == (3, ["Ёлка", "Щукина", "+7 916 765 43 21", ""], "")


def test_utf8_with_bom_loses_the_bom_in_the_first_header_name(csv_file):
    path = csv_file(codecs.BOM_UTF8 + b"email,name\na@example.com,Ann\n")
    f, rows = read_all(path)
    assert f.encoding == "utf-8-sig"
    assert f.header == ["email", "name"]
    assert rows == [(2, ["a@example.com", "Ann"], "")]


def test_polish_cp1250_file_is_told_apart_from_cp1251(csv_file):
    path = csv_file("Imię;Nazwisko;Miasto\nŁukasz;Żółć;Łódź\nZofia;Wąs;Kraków\n", encoding="cp1250")
    f, rows = read_all(path)
    assert f.encoding == "cp1250"
    assert rows[0][1] == ["Łukasz", "Żółć", "Łódź"]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n", ";"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ('name;note\n"Smith, John";"a, b, c"\n', ";"),
        ("email\nx@example.com\n", ","),
    ],
)
def test_delimiter_is_detected(csv_file, text, delimiter):
    f, _ = read_all(csv_file(text))
    assert f.delimiter == delimiter


def test_quoted_newlines_keep_the_row_number_of_the_line_the_record_starts_on(csv_file):
    _, rows = read_all(csv_file('name,note\nA,"line one\nline two"\nB,x\n'))
    assert rows == [(2, ["A", "line one\nline two"], ""), (4, ["B", "x"], "")]


def test_broken_quoting_is_a_row_error_and_reading_goes_on(csv_file):
    _, rows = read_all(csv_file('name,email\n"Ann"x,a@example.com\nBob,b@example.com\n'))
    assert rows[0][0] == 2 and rows[0][1] is None and "Cannot read the row" in rows[0][2]
    assert rows[1] == (3, ["Bob", "b@example.com"], "")


def test_a_huge_line_is_skipped_with_an_error_without_reading_it_into_memory(csv_file, tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.write(b"name,email\nAnn,a@example.com\n")
        fh.write(b"X" * (MAX_LINE_BYTES * 5) + b",x@example.com\n")
        fh.write(b"Bob,b@example.com\n")
    _, rows = read_all(path)
    assert rows[0] == (2, ["Ann", "a@example.com"], "")
    assert rows[1][0] == 3 and rows[1][1] is None and "bytes long" in rows[1][2]
    assert rows[2] == (4, ["Bob", "b@example.com"], "")


def test_a_huge_quoted_field_spanning_lines_is_capped(csv_file, tmp_path):
    path = tmp_path / "field.csv"
    with path.open("wb") as fh:
        fh.write(b'name,note\nAnn,"')
        for _ in range(1500):
            fh.write(b"y" * 1000 + b"\n")
        fh.write(b'"\nBob,ok\n')
    _, rows = read_all(path)
    assert rows[0][0] == 2 and rows[0][1] is None and "longer than" in rows[0][2]
    assert rows[-1][1] == ["Bob", "ok"]


def test_invalid_utf8_late_in_the_file_spoils_only_its_row(csv_file):
    lines = ["name,email"] + [f"P{i},p{i}@example.com" for i in range(5000)]
    data = "\n".join(lines).encode() + b"\nBad\xff\xfeName,bad@example.com\nLast,last@example.com\n"
    f, rows = read_all(csv_file(data))
    assert f.encoding == "utf-8"
    bad = [r for r in rows if r[1] is None]
    assert [(r[0], "not valid utf-8" in r[2]) for r in bad] == [(5002, True)]
    assert rows[-1] == (5003, ["Last", "last@example.com"], "")


def test_blank_lines_are_skipped_and_do_not_shift_row_numbers(csv_file):
    _, rows = read_all(csv_file("a,b\n\n1,2\n ,\n3,4\n"))
    assert [r[0] for r in rows] == [3, 5]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"email,Email,email\n", "twice"),
        (codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le"), "UTF-16"),
        (b"a,b\r1,2\r", "CR only"),
    ],
)
def test_files_that_cannot_be_imported_at_all_say_why(csv_file, content, message):
    with pytest.raises(ValidationFailed) as info:
        CsvFile(csv_file(content))
    assert message in str(info.value)


@pytest.mark.django_db
def test_sniff_suggests_fields_for_english_russian_and_polish_headers(csv_file, admin):
    custom_field_create(actor=admin, key="partner_name", label="Partner name", kind="text")
    header = "E-mail;Телефон;Имя;Фамилия;Компания;Nazwisko;Partner name;Whatever;Tags\n"
    rows = "".join(f"a{i}@example.com;+7916000000{i};И{i};Ф{i};К;N;P;W;t\n" for i in range(8))
    info = sniff(csv_file(header + rows))
    assert info.encoding == "utf-8" and info.delimiter == ";"
    assert len(info.preview) == 5 and info.preview[0][0] == "a0@example.com"
    assert info.suggested_mapping == {
        "E-mail": "email",
        "Телефон": "phone",
        "Имя": "first_name",
        "Фамилия": "last_name",
        "Компания": "company",
        "Partner name": "custom.partner_name",
        "Tags": "tags",
    }
