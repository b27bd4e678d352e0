from typing import Any

from django.apps import AppConfig


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """`lb_lower(x)`: Python's str.lower on SQLite, whose own lower() and LIKE fold ASCII only.

    The segment compiler uses it for `~` with a non-ASCII needle (`name ~ "анна"` finds "Анна"),
    capture for the lower-cased paths of its per-contact roll-up (capture/contact_days.py).
    """
    if connection.vendor == "sqlite":
        connection.connection.create_function("lb_lower", 1, _lower, deterministic=True)


class CoreConfig(AppConfig):
    name = "leadbridge.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # A per-connection setting, not a business side effect: Django's documented hook for it.
        from django.db.backends.signals import connection_created

        connection_created.connect(sqlite_functions, dispatch_uid="leadbridge.core.sqlite_functions")
