from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "leadbridge.marketing"
    label = "marketing"
    verbose_name = "Marketing"
