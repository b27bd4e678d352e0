from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    # lb_lower(), which the compiler uses on SQLite, is registered by core (core/apps.py).
    name = "leadbridge.segments"
    label = "segments"
    verbose_name = "Segments"
