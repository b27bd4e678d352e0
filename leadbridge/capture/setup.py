"""Defaults that `leadbridge init` and `leadbridge demo` ensure exist (idempotent)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext_noop

from leadbridge.capture.models import ClassKind, InquiryClass

# (key, English name, kind). Names stay English in the database; the UI translates them.
DEFAULT_CLASSES: list[tuple[str, str, str]] = [
    ("new_lead", gettext_noop("New lead"), ClassKind.TARGET),
    ("upsell", gettext_noop("Upsell"), ClassKind.UPSELL),
    ("service", gettext_noop("Service"), ClassKind.SERVICE),
    ("spam", gettext_noop("Spam"), ClassKind.JUNK),
    ("non_target", gettext_noop("Non-target"), ClassKind.JUNK),
    ("wrong_number", gettext_noop("Wrong number"), ClassKind.JUNK),
    ("job_seeker", gettext_noop("Job seeker"), ClassKind.JUNK),
]


@transaction.atomic
def ensure_defaults() -> dict[str, Any]:
    """Create the default inquiry classes that are missing; never changes existing ones."""
    existing = set(InquiryClass.objects.values_list("key", flat=True))
    missing = [
        InquiryClass(key=key, name=name, kind=kind, position=i)
        for i, (key, name, kind) in enumerate(DEFAULT_CLASSES)
        if key not in existing
    ]
    InquiryClass.objects.bulk_create(missing, ignore_conflicts=True)
    return {"inquiry_classes_created": [c.key for c in missing]}
