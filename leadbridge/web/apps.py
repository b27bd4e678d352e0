from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "leadbridge.web"
    label = "web"
    verbose_name = "Web UI"
