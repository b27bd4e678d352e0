"""contact_list: the tag-driven page gives the same rows as testing each contact for the tag,
and list rows load only what the row templates show."""

from __future__ import annotations

import random
from typing import Any

import pytest
from django.db import connection
from django.db.models import Exists, OuterRef
from django.test.utils import CaptureQueriesContext

from leadbridge.contacts.models import Contact, ContactTag, Tag
from leadbridge.contacts.selectors import contact_list
from leadbridge.core.errors import ValidationFailed
from leadbridge.core.pagination import encode_cursor
from tests.factories import CompanyFactory, ContactFactory, TagFactory, TeamFactory, user

pytestmark = pytest.mark.django_db


def with_tag(key: str) -> Exists:
    # The filter as it was before the tag was resolved to an id: the reference for the results.
    return Exists(ContactTag.objects.filter(contact=OuterRef("pk"), tag__key=key))


def walk(viewer: Any, *, limit: int, **filters: Any) -> tuple[list[int], int]:
    """Every id the list shows, following the cursor; and how many pages that took."""
    ids: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = contact_list(user=viewer, cursor=cursor, limit=limit, **filters)
        ids += [c.pk for c in page.items]
        pages += 1
        if page.next is None:
            return ids, pages
        cursor = page.next


@pytest.fixture
def tagged() -> dict[str, Any]:
    """120 contacts of three owners (two in one team), a popular and a rare tag, some erased
    or merged ones that must never show."""
    team = TeamFactory(name="North")
    sales = user("sales", username="seller", team=team)
    mate = user("sales", username="mate", team=team)
    stranger = user("sales", username="stranger")
    popular, rare, vip = TagFactory(name="Newsletter"), TagFactory(name="rare"), TagFactory(name="vip")
    rng = random.Random(7)
    owners = [sales, mate, stranger, None]
    contacts = []
    for i in range(120):
        contacts.append(
            ContactFactory(
                owner=owners[i % 4], stage="mql" if i % 3 == 0 else "lead", company=CompanyFactory()
            )
        )
    links = []
    for i, c in enumerate(contacts):
        if rng.random() < 0.7:
            links.append(ContactTag(contact=c, tag=popular))
        if i % 17 == 0:
            links.append(ContactTag(contact=c, tag=rare))
        if i % 2 == 0:
            links.append(ContactTag(contact=c, tag=vip))
    ContactTag.objects.bulk_create(links)
    Contact.objects.filter(pk=contacts[119].pk).update(erased_at="2026-01-01T00:00:00Z")
    Contact.objects.filter(pk=contacts[102].pk).update(merged_into=contacts[0])
    return {"sales": sales, "admin": user("admin", username="boss")}


@pytest.mark.parametrize("viewer", ["admin", "sales"])
@pytest.mark.parametrize("key", ["newsletter", "rare"])
def test_tag_page_has_the_same_rows_in_the_same_order(tagged: dict[str, Any], viewer: str, key: str) -> None:
    who = tagged[viewer]
    expected = list(
        Contact.objects.alive()
        .visible_to(who)
        .filter(with_tag(key))
        .order_by("-pk")
        .values_list("pk", flat=True)
    )
    assert expected, "the fixture gives every viewer some tagged contacts"
    ids, pages = walk(who, limit=7, tag=key.upper())
    assert ids == expected
    assert pages == len(expected) // 7 + 1


def test_stage_and_owner_apply_to_a_tag_page(tagged: dict[str, Any]) -> None:
    who = tagged["sales"]
    expected = list(
        Contact.objects.alive()
        .visible_to(who)
        .filter(with_tag("newsletter"), stage="mql", owner__username="seller")
        .order_by("-pk")
        .values_list("pk", flat=True)
    )
    assert expected
    assert walk(who, limit=4, tag="Newsletter", stage="MQL", owner="seller")[0] == expected


def test_cursor_from_an_unfiltered_page_continues_a_tag_page(tagged: dict[str, Any]) -> None:
    admin = tagged["admin"]
    middle = Contact.objects.order_by("pk")[60].pk
    page = contact_list(user=admin, tag="rare", cursor=encode_cursor([middle]), limit=100)
    expected = list(
        Contact.objects.alive()
        .filter(with_tag("rare"), pk__lt=middle)
        .order_by("-pk")
        .values_list("pk", flat=True)
    )
    assert [c.pk for c in page.items] == expected and page.next is None


def test_unknown_tag_is_an_empty_page_not_an_error(tagged: dict[str, Any]) -> None:
    admin = tagged["admin"]
    for filters in ({"tag": "nosuch"}, {"tag": "nosuch", "stage": "mql"}):
        page = contact_list(user=admin, **filters)
        assert page.items == [] and page.next is None
    page = contact_list(user=admin, tag="nosuch", cursor=encode_cursor([10]))
    assert page.items == []
    with pytest.raises(ValidationFailed):
        contact_list(user=admin, tag="nosuch", cursor="not a cursor")


def test_tag_page_joins_the_links_once_and_orders_by_them(tagged: dict[str, Any]) -> None:
    # Two joins of the link table (a second filter() call) would multiply rows and lose the
    # index walk; the order must come from the link's contact id, not the contact's.
    tag_id = Tag.objects.get(key="newsletter").pk
    with CaptureQueriesContext(connection) as queries:
        contact_list(user=tagged["sales"], tag="newsletter", cursor=encode_cursor([80]), limit=5)
    main = next(q["sql"] for q in queries.captured_queries if 'FROM "contacts_contact"' in q["sql"])
    assert main.count('JOIN "contacts_contacttag"') == 1
    assert f'"contacts_contacttag"."tag_id" = {tag_id}' in main
    assert '"contacts_contacttag"."contact_id" < 80' in main and '"contacts_contact"."id" < 80' in main
    assert main.endswith('ORDER BY "contacts_contacttag"."contact_id" DESC LIMIT 6')


def test_rows_carry_tag_names_and_need_no_further_queries(tagged: dict[str, Any]) -> None:
    page = contact_list(user=tagged["admin"], limit=30)
    assert len(page.items) == 30
    with CaptureQueriesContext(connection) as queries:
        shown = [
            (
                c.pk,
                c.display_name,
                c.job_title,
                c.email,
                c.phone,
                c.company_id,
                c.company.name if c.company else None,
                c.get_stage_display(),
                str(c.owner) if c.owner else None,
                c.created_at,
                c.tag_names,
            )
            for c in page.items
        ]
    assert queries.captured_queries == []
    for row, c in zip(shown, page.items, strict=True):
        expected = list(
            ContactTag.objects.filter(contact=c).order_by("tag__key").values_list("tag__name", flat=True)
        )
        assert row[-1] == expected
    assert any(row[-1] for row in shown) and "custom" in page.items[0].get_deferred_fields()


def test_full_contacts_for_the_api(tagged: dict[str, Any]) -> None:
    page = contact_list(user=tagged["admin"], tag="vip", limit=10, full=True)
    assert len(page.items) == 10
    with CaptureQueriesContext(connection) as queries:
        for c in page.items:
            assert c.get_deferred_fields() == set()
            assert "vip" in [link.tag.key for link in c.tag_links.all()]
            list(c.points.all())
            _ = c.owner
    assert queries.captured_queries == []
