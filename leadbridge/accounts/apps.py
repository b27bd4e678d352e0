from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "leadbridge.accounts"
    label = "accounts"
    verbose_name = "Accounts"
