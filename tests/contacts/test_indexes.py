from __future__ import annotations

import pytest
from django.db import connection

# Each of these columns is the first column of a composite index (or is indexed by a named
# Meta index), so the FK's own single-column index was dropped in 0002; the named index must
# still be there, or lookups and ON DELETE cascades would scan the table.
COVERED = [
    ("contacts_activity", "contact_id", "activity_timeline"),
    ("contacts_contact", "company_id", "contact_company"),
    ("contacts_contact", "owner_id", "contact_owner_id"),
    ("contacts_contacttag", "contact_id", "uniq_contact_tag"),
    ("contacts_contacttag", "tag_id", "contact_tag_by_tag"),
    ("contacts_note", "contact_id", "note_contact"),
    ("contacts_stagechange", "contact_id", "stage_change_contact"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "column", "covering"), COVERED)
def test_fk_column_has_one_leading_index(table: str, column: str, covering: str) -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    leading = sorted(
        name
        for name, info in constraints.items()
        if (info["index"] or info["unique"]) and info["columns"] and info["columns"][0] == column
    )
    assert leading == [covering]
    fks = [info for info in constraints.values() if info["foreign_key"] and info["columns"] == [column]]
    assert len(fks) == 1, "the FK constraint itself stays"
