"""Marketing tests run against the default channels and rules, as `leadbridge init` installs them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadbridge.marketing import rules
from leadbridge.marketing.setup import ensure_defaults
from tests.api.conftest import api, api_as  # noqa: F401  (fixtures shared with the API tests)


@pytest.fixture(autouse=True)
def fresh_rule_cache() -> Iterator[None]:
    # Each test's rows are rolled back afterwards; a cache loaded in one test must not leak
    # channel rows that no longer exist into the next.
    rules.clear_cache()
    yield
    rules.clear_cache()


@pytest.fixture
def defaults(db: None) -> dict[str, object]:
    return ensure_defaults()
