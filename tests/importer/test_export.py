"""`export(kind="contacts")`: CSV with import field names (round-trips) or one JSON document."""

from __future__ import annotations

import csv
import io
import json

import pytest

from leadbridge.contacts.exporter import export
from leadbridge.contacts.models import Activity, Contact
from leadbridge.contacts.services import contact_create, custom_field_create
from leadbridge.core.errors import Forbidden, ValidationFailed
from leadbridge.segments.selectors import contacts_matching
from tests.factories import user

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(admin):
    custom_field_create(actor=admin, key="partner", label="Partner", kind="text")
    custom_field_create(actor=admin, key="kinds", label="Kinds", kind="multi_choice", choices=["a", "b"])
    custom_field_create(actor=admin, key="vip", label="VIP", kind="bool")
    user("sales", username="anna")
    return [
        contact_create(
            actor=admin,
            data={
                "name": "Иван Петров",
                "email": "ivan@example.com",
                "phone": "+79161234567",
                "emails": "ivan2@example.com",
                "company": "ООО Ромашка",
                "tags": "vip; b2b",
                "birthday": "1990-05-01",
                "owner": "anna",
                "external_id": "crm-1",
                "custom": {"partner": 'Roses, "Inc"', "kinds": ["a", "b"], "vip": True},
            },
        ),
        contact_create(actor=admin, data={"name": "שלום", "email": "s@example.com", "stage": "mql"}),
    ]


def export_text(**kwargs) -> str:
    out = io.StringIO()
    text = kwargs.pop("segment", None)
    if text is not None:  # filter text, as `leadbridge export contacts --segment` reads it
        kwargs["contacts"] = contacts_matching(user=None, text=text)
    export(kind="contacts", fmt=kwargs.pop("fmt", "csv"), out=out, **kwargs)
    return out.getvalue()


def test_csv_has_import_field_names_and_readable_values(people):
    rows = list(csv.DictReader(io.StringIO(export_text())))
    assert len(rows) == 2
    ivan = rows[0]
    assert ivan["external_id"] == "crm-1" and ivan["company"] == "ООО Ромашка" and ivan["owner"] == "anna"
    assert ivan["tags"] == "b2b; vip" and ivan["emails"] == "ivan2@example.com"
    assert (
        ivan["custom.partner"] == 'Roses, "Inc"'
        and ivan["custom.kinds"] == "a; b"
        and ivan["custom.vip"] == "true"
    )
    assert rows[1]["stage"] == "mql"


def test_export_then_import_changes_nothing_and_restores_deleted_contacts(people, tmp_path, run):
    path = tmp_path / "out.csv"
    path.write_text(export_text(), encoding="utf-8")
    summary = run(path)
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["errors"]) == (0, 0, 2, [])
    activities = Activity.objects.count()
    before = export_text()
    Contact.objects.all().delete()
    summary = run(path)
    assert summary["created"] == 2 and summary["errors"] == []
    assert export_text() == before
    assert Activity.objects.count() > 0 and activities > 0


def test_json_is_one_document_with_native_values(people):
    doc = json.loads(export_text(fmt="json"))
    assert doc["kind"] == "contacts" and len(doc["items"]) == 2
    ivan = doc["items"][0]
    assert (
        ivan["tags"] == ["b2b", "vip"] and ivan["custom.kinds"] == ["a", "b"] and ivan["custom.vip"] is True
    )
    assert json.loads(export_text(fmt="json", segment="email~nobody")) == {"kind": "contacts", "items": []}


def test_segment_filters_and_actor_permission_applies(people):
    rows = list(csv.DictReader(io.StringIO(export_text(segment="tag:vip"))))
    assert [r["email"] for r in rows] == ["ivan@example.com"]
    with pytest.raises(Forbidden):
        export_text(actor=user("sales"))
    with pytest.raises(ValidationFailed):
        export_text(segment="stage = nonsense")
