from __future__ import annotations

import hashlib

import pytest

from leadbridge.accounts.models import ApiToken
from leadbridge.accounts.services import token_authenticate, token_create, token_revoke, user_create
from leadbridge.core.errors import Conflict, ValidationFailed
from leadbridge.core.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_tokens_are_stored_hashed_and_can_be_revoked(admin):
    raw = token_create(user=admin, name="zapier")
    row = ApiToken.objects.get()
    assert raw not in (row.token_hash, row.prefix)
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token_authenticate(raw) == admin
    assert token_authenticate(raw + "x") is None
    assert token_authenticate("") is None
    token_revoke(token_id=row.pk, actor=admin)
    assert token_authenticate(raw) is None


def test_user_create_validates_and_audits(admin):
    with pytest.raises(ValidationFailed) as info:
        user_create(username="", role="king", password="123")
    assert {e.field for e in info.value.errors} == {"username", "role", "password"}
    user_create(username="marta", role="marketing", password="Long-enough-9", actor=admin)
    with pytest.raises(Conflict):
        user_create(username="MARTA", role="sales")
    assert AuditEntry.objects.filter(action="user.create", actor=admin).count() == 1
