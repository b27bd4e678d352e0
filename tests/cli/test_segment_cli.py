"""`leadbridge segment count|list` and `leadbridge export contacts --segment` on the segment language."""

from __future__ import annotations

import csv
import io
import json

import pytest

from leadbridge.cli import main
from leadbridge.contacts.services import contact_create
from leadbridge.segments.services import segment_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def realtor(admin):
    for name, tags in (
        ("Brian", ["summer_house", "beach"]),
        ("Jenny", ["homeowner", "beach", "forest"]),
        ("David", ["investor", "income"]),
    ):
        contact_create(actor=admin, data={"name": name, "email": f"{name.lower()}@example.com", "tags": tags})


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("tag:beach", 2),
        ("tag:forest and tag:income", 0),
        ("tag:forest or tag:income", 2),
        ("tag:investor", 1),
        ("tag:beach and (tag:forest or tag:income) and not tag:investor", 1),
        ("jenny", 1),
        ("jenny@example.com", 1),
    ],
)
def test_count(realtor, capsys, expr, expected):
    assert run(capsys, "segment", "count", expr) == (0, f"{expected}\n", "")
    code, out, _err = run(capsys, "segment", "count", expr, "--format", "json")
    assert code == 0 and json.loads(out) == {"count": expected}


def test_list(realtor, capsys):
    code, out, _err = run(capsys, "segment", "list", "tag:forest or tag:income", "--format", "json")
    assert code == 0
    items = json.loads(out)["items"]
    assert [i["name"] for i in items] == ["Jenny", "David"]
    assert set(items[0]) == {"id", "name", "email", "phone", "stage", "score"}
    code, out, _err = run(capsys, "segment", "list", "tag:beach")
    assert code == 0 and [line.split("\t")[1] for line in out.splitlines()] == ["Brian", "Jenny"]


def test_errors_are_one_line_with_the_position(realtor, capsys):
    code, out, err = run(capsys, "segment", "count", "tag:beach and emial = x")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert "Position 14: unknown field 'emial' — did you mean 'email'?" in err
    code, _out, err = run(capsys, "segment", "list", "tag:a tag:b")
    assert code == 1 and "Position 6" in err


def test_export_by_saved_segment_name(admin, realtor, capsys):
    segment_create(actor=admin, name="Beach lovers", filter="tag:beach and not tag:forest")
    code, out, _err = run(capsys, "export", "contacts", "--segment", "beach LOVERS")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["name"] for r in rows] == ["Brian"]
    code, out, _err = run(capsys, "export", "contacts", "--segment", "tag:income", "--format", "json")
    assert code == 0 and [i["name"] for i in json.loads(out)["items"]] == ["David"]
    code, _out, err = run(capsys, "export", "contacts", "--segment", "stage >= bogus")
    assert code == 1 and "unknown stage 'bogus'" in err
