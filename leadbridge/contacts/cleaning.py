"""Turns raw contact input (UI form, API JSON, CSV row) into clean field values.

The same function serves every write path, so a rule (how a phone is normalised, which
birthday is impossible) lives in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadbridge.contacts.models import STAGE_ORDER, CustomField
from leadbridge.contacts.validation import (
    Invalid,
    clean_text,
    collect,
    normalize_country,
    normalize_email,
    normalize_ip,
    normalize_phone,
    parse_birthday,
    validate_custom_value,
)
from leadbridge.core import clock
from leadbridge.core.errors import FieldError

TEXT_FIELDS: dict[str, int] = {
    "name": 255,
    "first_name": 120,
    "last_name": 120,
    "job_title": 120,
    "street": 255,
    "city": 120,
    "region": 120,
    "postal_code": 20,
    "geo_city": 120,
}
# Fields a client may write directly on a contact (besides custom.* and relations).
WRITABLE_FIELDS = frozenset(
    {
        *TEXT_FIELDS,
        "email",
        "phone",
        "emails",
        "phones",
        "country",
        "geo_country",
        "ip_address",
        "birthday",
        "stage",
        "external_id",
        "custom",
        "tags",
        "company",
        "owner",
    }
)


@dataclass
class CleanContact:
    values: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    extra_emails: list[str] = field(default_factory=list)
    extra_phones: list[str] = field(default_factory=list)
    tags: list[str] | None = None
    company_name: str | None = None
    owner_username: str | None = None
    errors: list[FieldError] = field(default_factory=list)


def custom_field_defs(entity: str = "contact") -> dict[str, CustomField]:
    return {f.key: f for f in CustomField.objects.filter(entity=entity)}


def _split_multi(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in (p.strip() for p in value.replace(",", ";").split(";")) if v]
    if isinstance(value, list):
        return value
    raise Invalid("Must be a list")


def clean_contact_input(
    data: Mapping[str, Any],
    *,
    defs: Mapping[str, CustomField],
    partial: bool,
    region: str | None = None,
) -> CleanContact:
    """Validate and normalise. Unknown keys are errors (typos must not vanish silently)."""
    out = CleanContact()
    errors = out.errors
    for key, raw in data.items():
        if key.startswith("custom."):
            out_key = key[len("custom.") :]
            _clean_custom(out, defs, out_key, raw)
            continue
        if key not in WRITABLE_FIELDS:
            errors.append(FieldError(key, "Unknown field"))
            continue
        if key in TEXT_FIELDS:
            out.values[key] = collect(errors, key, clean_text, raw, max_length=TEXT_FIELDS[key])
        elif key == "email":
            out.values["email"] = collect(errors, key, normalize_email, raw)
        elif key == "phone":
            out.values["phone"] = collect(errors, key, normalize_phone, raw, region)
        elif key in {"emails", "phones"}:
            items = collect(errors, key, _split_multi, raw) or []
            norm = normalize_email if key == "emails" else normalize_phone
            target = out.extra_emails if key == "emails" else out.extra_phones
            for i, item in enumerate(items):
                value = collect(errors, f"{key}[{i}]", norm, item)
                if value and value not in target:
                    target.append(value)
        elif key in {"country", "geo_country"}:
            out.values[key] = collect(errors, key, normalize_country, raw)
        elif key == "ip_address":
            out.values[key] = collect(errors, key, normalize_ip, raw)
        elif key == "birthday":
            out.values[key] = collect(errors, key, parse_birthday, raw, today=clock.today())
        elif key == "stage":
            stage = collect(errors, key, clean_text, raw, max_length=16)
            if stage:
                stage = stage.lower()
                if stage not in STAGE_ORDER:
                    errors.append(
                        FieldError(key, f"Unknown stage {stage!r}; one of: {', '.join(STAGE_ORDER)}")
                    )
                else:
                    out.values["stage"] = stage
        elif key == "external_id":
            ext = collect(errors, key, clean_text, raw, max_length=128)
            out.values["external_id"] = ext or None
        elif key == "custom":
            if not isinstance(raw, Mapping):
                errors.append(FieldError("custom", "Must be an object of custom field values"))
                continue
            for ckey, cval in raw.items():
                _clean_custom(out, defs, str(ckey), cval)
        elif key == "tags":
            items = collect(errors, key, _split_multi, raw)
            if items is not None:
                tags: list[str] = []
                for i, item in enumerate(items):
                    name = collect(errors, f"tags[{i}]", clean_text, item, max_length=100)
                    if name and name.lower() not in {t.lower() for t in tags}:
                        tags.append(name)
                out.tags = tags
        elif key == "company":
            out.company_name = collect(errors, key, clean_text, raw, max_length=255)
        elif key == "owner":
            out.owner_username = collect(errors, key, clean_text, raw, max_length=150)
    if not partial:
        check_complete(out, defs)
    return out


def check_complete(out: CleanContact, defs: Mapping[str, CustomField]) -> None:
    """The rules for a whole new contact (required custom fields, something to identify it).

    `clean_contact_input(partial=False)` applies them; the importer calls this directly once
    it knows a row creates a contact rather than updating one.
    """
    errors = out.errors
    for fdef in defs.values():
        if fdef.required and out.custom.get(fdef.key) in (None, "", []):
            errors.append(FieldError(f"custom.{fdef.key}", "This field is required"))
    identity = (out.values.get(k) for k in ("name", "first_name", "last_name", "email", "phone"))
    if not any(identity) and not out.extra_emails and not out.extra_phones and not errors:
        errors.append(FieldError("name", "Give at least a name, an email or a phone"))


def _clean_custom(out: CleanContact, defs: Mapping[str, CustomField], key: str, raw: Any) -> None:
    fdef = defs.get(key)
    name = f"custom.{key}"
    if fdef is None:
        out.errors.append(FieldError(name, "Unknown custom field"))
        return
    value = collect(out.errors, name, validate_custom_value, fdef.kind, list(fdef.choices or []), raw)
    if value is None and fdef.required and not any(e.field == name for e in out.errors):
        out.errors.append(FieldError(name, "This field is required"))
    out.custom[key] = value
