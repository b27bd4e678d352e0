from django.apps import AppConfig


class SegmentsConfig(AppConfig):
    name = "leadbridge.segments"
    label = "segments"
    verbose_name = "Segments"
