"""What capture does when the contacts app merges, un-merges or erases a contact.

Registered in CaptureConfig.ready() with the contacts app's registries (contacts cannot import
capture): touches, inquiries and visitors move with a merge like the contacts app's own rows, the
derived first/lead/last touch is rebuilt, and an erasure removes the personal data capture holds.
"""

from __future__ import annotations

from django.db.models import Q

from leadbridge.capture.models import ContactDay, ContactSource, Inquiry, Touch, TrackingEvent, Visitor


def contact_sources_rebuild(contact_ids: list[int]) -> None:
    """First and last touch from the contacts' touches; the lead touch is the touch of the
    contact's first inquiry (as when it was captured). A contact without touches has none."""
    for contact_id in contact_ids:
        touches = Touch.objects.filter(contact_id=contact_id)
        first = touches.order_by("occurred_at", "id").values_list("pk", flat=True).first()
        last = touches.order_by("-occurred_at", "-id").values_list("pk", flat=True).first()
        if first is None or last is None:
            ContactSource.objects.filter(contact_id=contact_id).delete()
            continue
        lead = (
            Inquiry.objects.filter(contact_id=contact_id, touch__isnull=False)
            .order_by("occurred_at", "id")
            .values_list("touch_id", flat=True)
            .first()
        )
        ContactSource.objects.update_or_create(
            contact_id=contact_id,
            defaults={"first_touch_id": first, "last_touch_id": last, "lead_touch_id": lead},
        )


def contact_capture_erase(contact_id: int) -> None:
    """Personal data capture holds about an erased contact: what they wrote and said in their
    inquiries, and the pages their browsers were seen on (URLs can carry names and emails).
    Inquiries stay (counted in reports, with their class and source), emptied; visitors are
    unlinked so new hits from the same browser are not tied to the erased contact."""
    Inquiry.objects.filter(contact_id=contact_id).update(
        subject="", message="", fields={}, dialog=[], transcript="", recording_url="", tracking_number=""
    )
    ContactDay.objects.filter(contact_id=contact_id).delete()
    visitor_ids = list(Visitor.objects.filter(contact_id=contact_id).values_list("pk", flat=True))
    if visitor_ids:
        TrackingEvent.objects.filter(visitor_id__in=visitor_ids).delete()
        Visitor.objects.filter(pk__in=visitor_ids).update(contact=None)
    # Landing pages and referrers of the contact's touches can carry the same personal data.
    Touch.objects.filter(Q(contact_id=contact_id)).update(landing_page="", referrer="")
