"""Two people saving the same contact card at once: the second gets a conflict, nothing is lost."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from leadbridge.contacts.models import Contact
from leadbridge.contacts.services import contact_create, contact_update
from leadbridge.core.errors import Conflict


@pytest.mark.django_db(transaction=True)
def test_concurrent_edits_of_one_version_one_wins_one_conflicts(admin):
    contact = contact_create(actor=admin, data={"name": "Shared card"})
    start = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def edit(city: str) -> None:
        try:
            start.wait(timeout=10)
            contact_update(actor=admin, contact_id=contact.pk, data={"city": city}, expected_version=1)
            result = f"saved:{city}"
        except Conflict:
            result = "conflict"
        finally:
            connection.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=edit, args=(c,)) for c in ("Moscow", "Warsaw")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "saved"]
    winner = next(o.split(":")[1] for o in outcomes if o.startswith("saved"))
    row = Contact.objects.get(pk=contact.pk)
    assert row.city == winner and row.version == 2
