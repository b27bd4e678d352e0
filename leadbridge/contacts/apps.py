from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "leadbridge.contacts"
    label = "contacts"
    verbose_name = "Contacts"
