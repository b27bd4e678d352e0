"""Export of contacts as CSV or JSON, streamed in id order.

The CSV header uses the import field names (`importer.CONTACT_FIELDS` then `custom.<key>`),
so an exported file imports back unchanged: re-importing it matches every contact by
external id, email or phone and changes nothing. Multi-values (tags, extra emails/phones,
multi-choice custom fields) are joined with "; ". JSON is one document,
`{"kind": "contacts", "items": [...]}`, with native values (lists, numbers, booleans).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from leadbridge.contacts.cleaning import custom_field_defs
from leadbridge.contacts.importer import CONTACT_FIELDS
from leadbridge.contacts.models import Contact, ContactTag
from leadbridge.core.errors import FieldError, ValidationFailed
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

CHUNK = 2000
FORMATS = ("csv", "json")


def _rows(qs: Any, custom_keys: list[str]) -> Iterator[dict[str, Any]]:
    last_id = 0
    while True:
        chunk = list(
            qs.filter(pk__gt=last_id)
            .order_by("pk")
            .select_related("owner", "company")
            .prefetch_related(
                Prefetch(
                    "tag_links", queryset=ContactTag.objects.select_related("tag").order_by("tag__name")
                ),
                "points",
            )[:CHUNK]
        )
        if not chunk:
            return
        for contact in chunk:
            points = list(contact.points.all())
            custom = contact.custom or {}
            row: dict[str, Any] = {
                "external_id": contact.external_id or "",
                "name": contact.name,
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "email": contact.email,
                "phone": contact.phone,
                "emails": [p.value for p in points if p.kind == "email"],
                "phones": [p.value for p in points if p.kind == "phone"],
                "company": contact.company.name if contact.company else "",
                "job_title": contact.job_title,
                "street": contact.street,
                "city": contact.city,
                "region": contact.region,
                "postal_code": contact.postal_code,
                "country": contact.country,
                "ip_address": contact.ip_address or "",
                "geo_city": contact.geo_city,
                "geo_country": contact.geo_country,
                "birthday": contact.birthday.isoformat() if contact.birthday else "",
                "stage": contact.stage,
                "owner": contact.owner.username if contact.owner else "",
                "tags": [link.tag.name for link in contact.tag_links.all()],
            }
            for key in custom_keys:
                row[f"custom.{key}"] = custom.get(key)
            yield row
        last_id = chunk[-1].pk


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)


def export(
    *,
    kind: str,
    fmt: str,
    out: IO[str],
    actor: Any = None,
    contacts: QuerySet[Contact] | None = None,
) -> int:
    """Write contacts to `out`; returns the count.

    `contacts` narrows the export to these (a filter's or a saved segment's members, from the
    segments app, which sits above this one). `actor=None` is the system (the CLI); with an actor, its
    permission and visibility apply.
    """
    if kind != "contacts":
        message = _("Cannot export %(kind)s yet; supported: %(supported)s") % {
            "kind": repr(kind),
            "supported": "contacts",
        }
        raise ValidationFailed([FieldError("kind", message)])
    if fmt not in FORMATS:
        message = _("Unknown format %(format)s; one of: %(choices)s") % {
            "format": repr(fmt),
            "choices": ", ".join(FORMATS),
        }
        raise ValidationFailed([FieldError("format", message)])
    qs = Contact.objects.alive()
    if actor is not None:
        require(actor, Perm.CONTACT_EXPORT)
        qs = qs.visible_to(actor)
    if contacts is not None:
        qs = qs.filter(pk__in=contacts.values("pk"))
    custom_keys = list(custom_field_defs())
    columns = [*CONTACT_FIELDS, *(f"custom.{k}" for k in custom_keys)]
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in _rows(qs, custom_keys):
            writer.writerow([_cell(row[c]) for c in columns])
            count += 1
        return count
    out.write('{"kind": "contacts", "items": [')
    for row in _rows(qs, custom_keys):
        out.write(("\n" if count == 0 else ",\n") + json.dumps(row, ensure_ascii=False))
        count += 1
    out.write("\n]}\n" if count else "]}\n")
    return count
