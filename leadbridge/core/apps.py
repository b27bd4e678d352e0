from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "leadbridge.core"
    label = "core"
    verbose_name = "Core"
