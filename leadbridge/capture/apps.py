from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "leadbridge.capture"
    label = "capture"
    verbose_name = "Capture"
