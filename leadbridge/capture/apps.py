from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from leadbridge.capture.lead_import import LeadImportSink
    from leadbridge.contacts.importer import LeadImport


class CaptureConfig(AppConfig):
    name = "leadbridge.capture"
    label = "capture"
    verbose_name = "Capture"

    def ready(self) -> None:
        from leadbridge.capture import contact_days, lifecycle
        from leadbridge.capture.models import Inquiry, Touch, Visitor
        from leadbridge.contacts.importer import register_lead_sink
        from leadbridge.contacts.merge import register_refresher, register_relation
        from leadbridge.contacts.services import register_eraser

        for model in (Touch, Inquiry, Visitor):
            register_relation(model, "contact")
        register_refresher(lifecycle.contact_sources_rebuild)
        # Visitors moved between the two contacts: so did their hits in the behaviour roll-up.
        register_refresher(contact_days.rebuild)
        register_eraser(lifecycle.contact_capture_erase)
        # `leadbridge import leads`: the contacts importer hands each batch's lead rows to capture.
        register_lead_sink(_lead_sink)


def _lead_sink(run: LeadImport) -> LeadImportSink:
    # Imported on the first leads import, not at start-up.
    from leadbridge.capture.lead_import import LeadImportSink

    return LeadImportSink(run)
