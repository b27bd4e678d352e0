from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "leadbridge.capture"
    label = "capture"
    verbose_name = "Capture"

    def ready(self) -> None:
        from leadbridge.capture import lifecycle
        from leadbridge.capture.models import Inquiry, Touch, Visitor
        from leadbridge.contacts.merge import register_refresher, register_relation
        from leadbridge.contacts.services import register_eraser

        for model in (Touch, Inquiry, Visitor):
            register_relation(model, "contact")
        register_refresher(lifecycle.contact_sources_rebuild)
        register_eraser(lifecycle.contact_capture_erase)
