from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import user

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):  # type: ignore[no-untyped-def]
    # Real hashing costs ~0.3 s per user on this machine; what we test is who may log in, not PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def pixel_hits_written_at_once(settings):  # type: ignore[no-untyped-def]
    # The pixel's write-behind buffer writes from its own thread and connection, outside the
    # test's transaction; tests of the buffer itself (tests/capture/test_hit_buffer.py) turn it on.
    # The roll-up's safe horizon waits 10 s on PostgreSQL for late commits, which a test has none
    # of (tests/capture/test_contact_days.py checks the wait itself).
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "CAPTURE_PIXEL_FLUSH_MS": 0, "CAPTURE_SAFE_LAG": 0}


@pytest.fixture(autouse=True)
def no_language_leaks():  # type: ignore[no-untyped-def]
    # A request of a Russian user leaves Russian active in the thread (LocaleMiddleware activates,
    # nothing deactivates): tests that build texts outside a request must start from the default.
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def admin(db):  # type: ignore[no-untyped-def]
    return user("admin", username="admin")


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (a user's clone has none)")
    return SHARED_DATA


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Browser tests need Debian's Chromium. CI sets LEADBRIDGE_REQUIRE_BROWSER=1 so a missing
    # browser fails loudly there instead of skipping.
    if Path("/usr/bin/chromium").exists() or os.environ.get("LEADBRIDGE_REQUIRE_BROWSER") == "1":
        return
    skip = pytest.mark.skip(reason="/usr/bin/chromium is not installed (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def process_caches_cleared() -> Iterator[None]:
    # Channel rules and sites are cached per process; rows are rolled back after each test, so a
    # cached channel id from one test would point at nothing in the next (an IntegrityError at
    # teardown, depending on the order tests run in).
    from leadbridge.capture.services import site_cache_forget
    from leadbridge.marketing import rules

    rules.clear_cache()
    site_cache_forget()
    yield
    rules.clear_cache()
    site_cache_forget()
