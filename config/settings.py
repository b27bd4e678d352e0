"""LeadBridge settings: one file, driven by the environment.

Every knob reads an environment variable; secrets may come from `NAME_FILE` too.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        return Path(file_path).read_text(encoding="utf-8").strip()
    return os.environ.get(name, default)


def envbool(name: str, default: bool = False) -> bool:
    value = env(name, "")
    if not value:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = env(name, "")
    return int(value) if value.strip() else default


DATA_DIR = Path(env("LEADBRIDGE_DATA_DIR", str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    configured = env("SECRET_KEY")
    if configured:
        return configured
    # Self-hosted installs get a per-install key kept in the data dir, never in the repo.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        from django.utils.crypto import get_random_string

        key_file.write_text(get_random_string(64), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip()


SECRET_KEY = _secret_key()
DEBUG = envbool("DEBUG", False)
ALLOWED_HOSTS = [
    h.strip() for h in env("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h.strip()
]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_tasks_db",
    "leadbridge.core",
    "leadbridge.accounts",
    "leadbridge.contacts",
    "leadbridge.marketing",
    "leadbridge.capture",
    "leadbridge.segments",
    "leadbridge.scoring",
    "leadbridge.web",
    "leadbridge.api",
    # Only for the bundled Swagger UI assets of /api/v1/docs (without it ninja loads them from a CDN).
    "ninja",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leadbridge.accounts.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "leadbridge.web.context.navigation",
            ],
        },
    }
]


def _database_from_url(url: str) -> dict[str, object]:
    parsed = urlparse(url)
    options = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    if parsed.scheme in {"postgres", "postgresql", "pgsql"}:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parsed.path.lstrip("/")) or "leadbridge",
            "USER": unquote(parsed.username or ""),
            "PASSWORD": unquote(parsed.password or ""),
            "HOST": parsed.hostname or "",
            "PORT": str(parsed.port or ""),
            "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if parsed.scheme == "sqlite":
        return _sqlite(Path(unquote(parsed.path)))
    raise ValueError(f"DATABASE_URL: unsupported scheme {parsed.scheme!r} (use postgres:// or sqlite://)")


def _sqlite(path: Path) -> dict[str, object]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        # Reopening the file per request (PRAGMAs, WAL checkpoint on close) cost ~3.5 ms of every
        # request; a kept connection per thread makes /healthz 4.1 -> 0.4 ms.
        "CONN_MAX_AGE": envint("DB_CONN_MAX_AGE", 600),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            # Concurrent writers wait for the lock instead of failing with "database is locked".
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000; PRAGMA cache_size=-64000;"
            ),
        },
        "TEST": {"NAME": str(DATA_DIR / "test.sqlite3")},
    }


DATABASE_URL = env("DATABASE_URL")
DATABASES = {
    "default": _database_from_url(DATABASE_URL) if DATABASE_URL else _sqlite(DATA_DIR / "leadbridge.sqlite3")
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "web:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = env("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
LOCALE_PATHS = [BASE_DIR / "leadbridge" / "locale"]
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns about a missing root even when it serves from finders
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "uploads")},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the app folders: no collectstatic step for a self-hosted install.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

TASKS = {
    "default": {
        "BACKEND": env("TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

MAILERS = {
    "default": {
        "BACKEND": env("MAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"),
    }
}

# Rate-limit counters (public capture endpoints) live in the cache. Several app processes or
# machines share limits only through Redis; the in-process default counts per process.
REDIS_URL = env("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "leadbridge"}
    )
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("UPLOAD_MAX_MEMORY_BYTES", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Business settings.
LEADBRIDGE = {
    "DEFAULT_PHONE_REGION": env("DEFAULT_PHONE_REGION", "RU"),
    "DEFAULT_CURRENCY": env("DEFAULT_CURRENCY", "RUB"),
    "IMPORT_BATCH_SIZE": envint("IMPORT_BATCH_SIZE", 2000),
    # Processes that clean rows while the importing process writes (big files); unset = automatic.
    "IMPORT_WORKERS": env("IMPORT_WORKERS", "") or None,
    "PAGE_SIZE": envint("PAGE_SIZE", 50),
    # Public capture endpoints (/capture/*, /t/*): requests per client IP and per site key
    # ("count/period", django-ratelimit syntax; blank turns a limit off), body limits in bytes,
    # hits per tracking batch, and user agents counted as bots but not stored (a regex; blank
    # keeps the built-in crawler list, see leadbridge/capture/http.py).
    "CAPTURE_RATE_IP": env("CAPTURE_RATE_IP", "600/m"),
    "CAPTURE_RATE_SITE": env("CAPTURE_RATE_SITE", "20000/m"),
    "CAPTURE_MAX_BODY": envint("CAPTURE_MAX_BODY", 64 * 1024),
    "CAPTURE_WEBHOOK_MAX_BODY": envint("CAPTURE_WEBHOOK_MAX_BODY", 1024 * 1024),
    "CAPTURE_MAX_HITS": envint("CAPTURE_MAX_HITS", 100),
    "CAPTURE_BOT_UA": env("CAPTURE_BOT_UA", ""),
    # Pixel hits that create no touch are written by a background thread per process every this
    # many ms (one transaction for all of them, see leadbridge/capture/hitbuffer.py); 0 writes
    # each in its request. A killed process loses at most this interval's hits.
    "CAPTURE_PIXEL_FLUSH_MS": envint("CAPTURE_PIXEL_FLUSH_MS", 200),
    # Behind a reverse proxy: the request header carrying the client address (e.g. X-Real-IP or
    # X-Forwarded-For, whose last entry is the one our proxy added). Blank: the socket address.
    "CAPTURE_IP_HEADER": env("CAPTURE_IP_HEADER", ""),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "WARNING")},
}
