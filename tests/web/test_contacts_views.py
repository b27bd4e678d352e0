"""Contact pages through Django's test client: roles, inline errors, htmx partials, paging, queries."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from leadbridge.contacts import merge, services
from leadbridge.contacts.models import Contact, ContactTag, Merge, Note, StageChange
from tests.factories import CompanyFactory, ContactFactory, TagFactory, TeamFactory, user

pytestmark = pytest.mark.django_db

XSS = "<script>alert('x')</script>"


def logged_in(client: Client, role: str = "admin", **kwargs: Any) -> Any:
    u = user(role, **kwargs)
    client.force_login(u)
    return u


def ids_in(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-contact-id="(\d+)"', html)]


# --- list --------------------------------------------------------------------------------------


def test_pages_need_login(client: Client) -> None:
    c = ContactFactory()
    for url in ["/contacts/", f"/contacts/{c.pk}/", "/contacts/new/", f"/contacts/{c.pk}/edit/"]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url


def test_list_shows_columns_and_filters_by_tag_stage_owner_and_q(client: Client) -> None:
    admin = logged_in(client, username="boss")
    anna = user("sales", username="anna")
    acme = CompanyFactory(name="Acme Flowers")
    a = services.contact_create(
        actor=admin,
        data={
            "name": "Alice Green",
            "email": "alice@example.com",
            "phone": "+7 916 123-45-67",
            "tags": "beach; vip",
            "stage": "mql",
            "owner": "anna",
            "company": "Acme Flowers",
        },
    )
    b = services.contact_create(actor=admin, data={"name": "Bob Stone", "tags": "forest", "stage": "lead"})
    html = client.get("/contacts/").content.decode()
    assert set(ids_in(html)) == {a.pk, b.pk}
    for text in [
        "Alice Green",
        "alice@example.com",
        "+79161234567",
        "Acme Flowers",
        "MQL",
        str(anna),
        "beach",
        "vip",
    ]:
        assert text in html
    assert f'href="/companies/{acme.pk}/"' in html

    assert ids_in(client.get("/contacts/", {"tag": "beach"}).content.decode()) == [a.pk]
    assert ids_in(client.get("/contacts/", {"tag": "BEACH"}).content.decode()) == [a.pk]
    assert ids_in(client.get("/contacts/", {"stage": "lead"}).content.decode()) == [b.pk]
    assert ids_in(client.get("/contacts/", {"owner": "anna"}).content.decode()) == [a.pk]
    assert ids_in(client.get("/contacts/", {"owner": "none"}).content.decode()) == [b.pk]
    assert ids_in(client.get("/contacts/", {"q": "stage>=mql"}).content.decode()) == [a.pk]
    assert ids_in(client.get("/contacts/", {"q": "bob"}).content.decode()) == [b.pk]
    assert ids_in(client.get("/contacts/", {"q": "tag:forest", "stage": "mql"}).content.decode()) == []


def test_bad_filter_is_a_400_naming_the_problem_not_a_500(client: Client) -> None:
    logged_in(client)
    response = client.get("/contacts/", {"q": "stage=nonsense"})
    assert response.status_code == 400
    assert "unknown stage" in response.content.decode()
    assert client.get("/contacts/", {"cursor": "!!!"}).status_code == 400
    # The htmx partial answers the same way, so the error shows where the rows were.
    partial = client.get("/contacts/", {"q": 'name="unclosed'}, headers={"HX-Request": "true"})
    assert partial.status_code == 400 and "<html" not in partial.content.decode()
    assert "filter-error" in partial.content.decode()


def test_htmx_request_gets_only_the_rows_partial(client: Client) -> None:
    logged_in(client)
    c = ContactFactory(name="Partial Person")
    full = client.get("/contacts/")
    partial = client.get("/contacts/", headers={"HX-Request": "true"})
    assert "<html" in full.content.decode() and 'id="results"' in full.content.decode()
    body = partial.content.decode()
    assert "<html" not in body and "<tbody>" in body and f'data-contact-id="{c.pk}"' in body
    assert "HX-Request" in partial["Vary"]
    # A history restore (back button) needs the whole page.
    restore = client.get("/contacts/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restore.content.decode()


def test_pagination_walks_every_row_once(client: Client) -> None:
    logged_in(client)
    created = {ContactFactory().pk for _ in range(11)}
    seen: list[int] = []
    url: str | None = "/contacts/?limit=4"
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        seen += ids_in(html)
        pages += 1
        match = re.search(r'rel="next" data-testid="next-page" href="([^"]+)"', html)
        url = "/contacts/" + match.group(1).replace("&amp;", "&") if match else None
    assert pages == 3
    assert sorted(seen) == sorted(created) and len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # newest first


def test_list_query_count_does_not_grow_with_rows(client: Client, django_assert_max_num_queries: Any) -> None:
    admin = logged_in(client)
    tags = [TagFactory(name=f"t{i}") for i in range(3)]
    for i in range(40):
        c = ContactFactory(owner=admin, company=CompanyFactory())
        ContactTag.objects.bulk_create([ContactTag(contact=c, tag=t) for t in tags[: i % 3 + 1]])
    with django_assert_max_num_queries(8):
        response = client.get("/contacts/")
    assert len(ids_in(response.content.decode())) == 40
    with django_assert_max_num_queries(6):
        client.get("/contacts/", {"tag": "t2"}, headers={"HX-Request": "true"})


def _add_contacts(n: int, owners: list[Any], tags: list[Any]) -> None:
    for i in range(n):
        c = ContactFactory(
            owner=owners[i % len(owners)], company=CompanyFactory(), job_title=f"Job {i}", stage="mql"
        )
        ContactTag.objects.bulk_create([ContactTag(contact=c, tag=t) for t in tags[: i % 3 + 1]])


def _queries_for(client: Client, params: dict[str, str], **headers: str) -> tuple[int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get("/contacts/", params, headers=headers)
    assert response.status_code == 200
    return len(queries.captured_queries), len(ids_in(response.content.decode()))


@pytest.mark.parametrize("role", ["admin", "sales"])
def test_list_queries_are_the_same_for_5_and_60_rows(client: Client, role: str) -> None:
    # The rows load only the shown columns: a template touching any other column would cost a
    # query per row, which this catches for every filter kind.
    team = TeamFactory(name="South")
    viewer = logged_in(client, role, username="viewer", team=team)
    owners = [viewer, user("sales", username="mate", team=team, first_name="Ann", last_name="Lee")]
    tags = [TagFactory(name=f"Tag{i}") for i in range(3)]
    cases: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {}),
        ({}, {"HX-Request": "true"}),
        ({"tag": "tag0"}, {"HX-Request": "true"}),
        ({"tag": "tag0", "q": "tag:tag1 and stage=mql"}, {}),
        ({"q": "contact"}, {"HX-Request": "true"}),
    ]
    _add_contacts(5, owners, tags)
    few = [_queries_for(client, params, **headers) for params, headers in cases]
    _add_contacts(55, owners, tags)
    many = [_queries_for(client, params, **headers) for params, headers in cases]
    assert [q for q, _ in few] == [q for q, _ in many]
    assert [rows for _, rows in many][:3] == [50, 50, 50]
    # Session, user, (team members,) (tag ids,) contacts, owners, tag names, (datalist, owners).
    assert max(q for q, _ in many) <= 9


def test_rows_show_tag_names_and_the_filter_bar_offers_them(client: Client) -> None:
    logged_in(client)
    c = ContactFactory(name="Tagged", company=CompanyFactory(name="Roses Ltd"))
    for name in ["Zebra", "apple", "Mango"]:
        ContactTag.objects.create(contact=c, tag=TagFactory(name=name))
    TagFactory(name="Unused")
    html = client.get("/contacts/").content.decode()
    row = html[html.index(f'data-contact-id="{c.pk}"') :]
    assert re.findall(r'<span class="tag">([^<]+)</span>', row) == ["apple", "Mango", "Zebra"]
    assert re.findall(
        r'<option value="([^"]+)">', html.split('id="tag-options"')[1].split("</datalist>")[0]
    ) == [
        "apple",
        "Mango",
        "Unused",
        "Zebra",
    ]
    assert "Roses Ltd" in row


def test_unknown_tag_shows_no_rows_not_an_error(client: Client) -> None:
    logged_in(client)
    ContactFactory()
    response = client.get("/contacts/", {"tag": "never-made"})
    assert response.status_code == 200 and ids_in(response.content.decode()) == []
    assert "No contacts match these filters." in response.content.decode()


def test_values_render_escaped(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(
        actor=admin, data={"name": XSS, "job_title": '"><img src=x onerror=alert(1)>', "tags": "<b>bold</b>"}
    )
    services.note_add(actor=admin, contact_id=c.pk, body=XSS)
    for url in ["/contacts/", f"/contacts/{c.pk}/", f"/contacts/{c.pk}/edit/"]:
        html = client.get(url).content.decode()
        assert XSS not in html and "<img src=x" not in html and "<b>bold</b>" not in html, url
        assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html, url


# --- visibility and roles -----------------------------------------------------------------------


def test_sales_sees_own_and_team_contacts_only(client: Client) -> None:
    team = TeamFactory(name="Moscow")
    me = logged_in(client, "sales", username="me", team=team)
    mate = user("sales", username="mate", team=team)
    other = user("sales", username="other")
    mine, mates, others = ContactFactory(owner=me), ContactFactory(owner=mate), ContactFactory(owner=other)
    assert set(ids_in(client.get("/contacts/").content.decode())) == {mine.pk, mates.pk}
    assert client.get(f"/contacts/{mates.pk}/").status_code == 200
    assert client.get(f"/contacts/{others.pk}/").status_code == 404
    assert client.get(f"/contacts/{others.pk}/edit/").status_code == 404
    assert client.get(f"/contacts/{others.pk}/timeline/").status_code == 404
    response = client.post(f"/contacts/{others.pk}/notes/", {"body": "hi"})
    assert response.status_code == 404 and not Note.objects.exists()
    response = client.post(f"/contacts/{others.pk}/stage/", {"stage": "mql"})
    assert response.status_code == 404
    assert Contact.objects.get(pk=others.pk).stage == "lead"


def test_guest_reads_everything_but_cannot_change_anything(client: Client) -> None:
    admin = user("admin", username="boss")
    c = services.contact_create(actor=admin, data={"name": "Read Only", "tags": "x"})
    logged_in(client, "guest")
    card = client.get(f"/contacts/{c.pk}/").content.decode()
    assert "Read Only" in card
    for marker in [
        f'href="/contacts/{c.pk}/edit/"',
        'name="body"',
        "stage-form",
        'name="add"',
        "Erase",
        'name="other_id"',
    ]:
        assert marker not in card
    assert 'href="/contacts/new/"' not in client.get("/contacts/").content.decode()
    assert client.get("/contacts/new/").status_code == 403
    assert client.get(f"/contacts/{c.pk}/edit/").status_code == 403
    posts = {
        "/contacts/new/": {"name": "X"},
        f"/contacts/{c.pk}/edit/": {"name": "Changed", "version": "1"},
        f"/contacts/{c.pk}/stage/": {"stage": "mql"},
        f"/contacts/{c.pk}/notes/": {"body": "hi"},
        f"/contacts/{c.pk}/tags/": {"add": "y"},
        f"/contacts/{c.pk}/consent/": {"channel": "email", "status": "granted"},
        f"/contacts/{c.pk}/merge/": {"other_id": "1"},
        f"/contacts/{c.pk}/erase/": {"reason": "asked"},
    }
    for url, data in posts.items():
        assert client.post(url, data).status_code == 403, url
    c.refresh_from_db()
    assert (c.name, c.stage, c.version) == ("Read Only", "lead", 1)
    assert Contact.objects.count() == 1 and not Note.objects.exists()


def test_csrf_is_enforced_on_card_actions() -> None:
    admin = user("admin", username="boss")
    c = services.contact_create(actor=admin, data={"name": "Csrf"})
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(f"/contacts/{c.pk}/notes/", {"body": "no token"}).status_code == 403
    assert not Note.objects.exists()
    client.get(f"/contacts/{c.pk}/")
    token = client.cookies["csrftoken"].value
    response = client.post(f"/contacts/{c.pk}/notes/", {"body": "with token", "csrfmiddlewaretoken": token})
    assert response.status_code == 302 and Note.objects.get().body == "with token"


# --- create / edit --------------------------------------------------------------------------------


def test_create_shows_inline_field_errors_and_keeps_input(client: Client) -> None:
    logged_in(client)
    response = client.post(
        "/contacts/new/",
        {
            "name": "Marina",
            "email": "marina@@example",
            "phone": "12",
            "birthday": "2999-01-01",
            "country": "Russia",
        },
    )
    assert response.status_code == 422
    form = response.context["form"]
    assert "Not a valid email address" in form.errors["email"][0]
    assert "phone" in form.errors and "birthday" in form.errors and "country" in form.errors
    html = response.content.decode()
    email_block = re.search(r'data-field="email">(.*?)</div>', html, re.S).group(1)
    assert "errorlist" in email_block and 'value="marina@@example"' in email_block
    assert not Contact.objects.exists()


def test_create_renders_custom_fields_by_type_and_maps_their_errors(client: Client) -> None:
    admin = logged_in(client)
    services.custom_field_create(
        actor=admin, key="partner_name", label="Partner name", kind="text", required=True
    )
    services.custom_field_create(actor=admin, key="budget", label="Budget", kind="number")
    services.custom_field_create(actor=admin, key="since", label="Client since", kind="date")
    services.custom_field_create(actor=admin, key="size", label="Size", kind="choice", choices=["S", "M"])
    services.custom_field_create(
        actor=admin, key="likes", label="Likes", kind="multi_choice", choices=["roses", "tulips"]
    )
    services.custom_field_create(actor=admin, key="wholesale", label="Wholesale", kind="bool")
    html = client.get("/contacts/new/").content.decode()
    assert 'name="custom.partner_name"' in html and 'type="date" name="custom.since"' in html
    assert '<select name="custom.size"' in html and 'type="checkbox" name="custom.likes"' in html
    assert '<select name="custom.wholesale"' in html

    response = client.post("/contacts/new/", {"name": "Flora", "custom.budget": "lots", "custom.size": "XL"})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert set(errors) >= {"custom.partner_name", "custom.budget", "custom.size"}

    response = client.post(
        "/contacts/new/",
        {
            "name": "Flora",
            "custom.partner_name": "Roses Ltd",
            "custom.budget": "1 500,5",
            "custom.likes": ["roses", "tulips"],
            "custom.wholesale": "true",
            "custom.since": "2024-02-29",
        },
    )
    assert response.status_code == 302
    c = Contact.objects.get()
    assert c.custom == {
        "partner_name": "Roses Ltd",
        "budget": 1500.5,
        "likes": ["roses", "tulips"],
        "wholesale": True,
        "since": "2024-02-29",
    }
    card = client.get(f"/contacts/{c.pk}/").content.decode()
    assert "Roses Ltd" in card and "roses, tulips" in card


def test_create_success_opens_the_card(client: Client) -> None:
    logged_in(client)
    response = client.post(
        "/contacts/new/",
        {
            "name": "Ivan Petrov",
            "email": "Ivan@Example.com",
            "phone": "8 916 123 45 67",
            "tags": "vip; beach",
            "company": "Romashka",
            "stage": "mql",
            "emails": "ivan2@example.com",
        },
        follow=True,
    )
    assert response.status_code == 200
    c = Contact.objects.get()
    assert response.redirect_chain[-1][0] == f"/contacts/{c.pk}/"
    html = response.content.decode()
    for text in [
        "Ivan Petrov",
        "ivan@example.com",
        "ivan2@example.com",
        "+79161234567",
        "Romashka",
        "vip",
        "MQL",
        "Contact created.",
    ]:
        assert text in html


def test_duplicate_links_the_existing_contact_and_can_be_created_anyway(client: Client) -> None:
    admin = logged_in(client)
    existing = services.contact_create(actor=admin, data={"name": "First", "email": "same@example.com"})
    response = client.post("/contacts/new/", {"name": "Second", "email": "SAME@example.com"})
    assert response.status_code == 409
    html = response.content.decode()
    assert f'href="/contacts/{existing.pk}/"' in html and 'data-testid="create-anyway"' in html
    assert Contact.objects.count() == 1
    response = client.post(
        "/contacts/new/", {"name": "Second", "email": "same@example.com", "allow_duplicate": "1"}
    )
    assert response.status_code == 302 and Contact.objects.count() == 2


def test_edit_saves_and_a_stale_version_shows_a_conflict_instead_of_overwriting(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(actor=admin, data={"name": "Old Name", "tags": "a; b"})
    form = client.get(f"/contacts/{c.pk}/edit/")
    assert 'name="version" value="1"' in form.content.decode()
    initial = form.context["form"].initial
    assert initial["tags"] == "a; b"

    # Someone else saves first.
    services.contact_update(actor=admin, contact_id=c.pk, data={"name": "Their Name"})
    response = client.post(f"/contacts/{c.pk}/edit/", {**initial, "name": "My Name", "version": "1"})
    assert response.status_code == 409
    assert 'data-testid="conflict"' in response.content.decode()
    assert 'value="My Name"' in response.content.decode()  # the user's input is not lost
    c.refresh_from_db()
    assert c.name == "Their Name"

    fresh = client.get(f"/contacts/{c.pk}/edit/").context["form"].initial
    response = client.post(
        f"/contacts/{c.pk}/edit/", {**fresh, "name": "My Name", "tags": "a", "email": "x@example.com"}
    )
    assert response.status_code == 302
    c.refresh_from_db()
    assert (c.name, c.email, c.version) == ("My Name", "x@example.com", 3)
    assert [link.tag.key for link in c.tag_links.all()] == ["a"]


def test_edit_shows_inline_errors(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(actor=admin, data={"name": "Valid"})
    initial = client.get(f"/contacts/{c.pk}/edit/").context["form"].initial
    response = client.post(f"/contacts/{c.pk}/edit/", {**initial, "email": "nope"})
    assert response.status_code == 422 and "email" in response.context["form"].errors
    c.refresh_from_db()
    assert c.email == "" and c.version == 1


# --- card --------------------------------------------------------------------------------------------


def test_stage_back_needs_a_reason_shown_inline(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(actor=admin, data={"name": "Mover", "stage": "sql"})
    response = client.post(f"/contacts/{c.pk}/stage/", {"stage": "lead", "reason": ""})
    assert response.status_code == 422
    assert 'data-testid="stage-reason-error"' in response.content.decode()
    assert Contact.objects.get(pk=c.pk).stage == "sql"
    response = client.post(
        f"/contacts/{c.pk}/stage/", {"stage": "lead", "reason": "Budget frozen"}, follow=True
    )
    assert response.status_code == 200
    history = re.search(r'data-testid="stage-history">(.*?)</ol>', response.content.decode(), re.S).group(1)
    assert "Budget frozen" in history and "SQL" in history
    assert StageChange.objects.filter(contact=c, to_stage="lead", reason="Budget frozen").exists()


def test_notes_with_product_issue_flag(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(actor=admin, data={"name": "Buyer"})
    response = client.post(f"/contacts/{c.pk}/notes/", {"body": ""})
    assert response.status_code == 422 and "A note cannot be empty" in response.content.decode()
    client.post(
        f"/contacts/{c.pk}/notes/", {"body": "Out of stock", "is_product_issue": "on", "product": "Roses"}
    )
    note = Note.objects.get()
    assert note.is_product_issue and note.product == "Roses"
    assert "Product issue: Roses" in client.get(f"/contacts/{c.pk}/").content.decode()


def test_tags_add_and_remove(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(actor=admin, data={"name": "Tagged", "tags": "old"})
    client.post(f"/contacts/{c.pk}/tags/", {"add": "New One; second"})
    assert sorted(link.tag.name for link in c.tag_links.all()) == ["New One", "old", "second"]
    client.post(f"/contacts/{c.pk}/tags/", {"remove": "old"})
    assert sorted(link.tag.key for link in c.tag_links.all()) == ["new one", "second"]
    response = client.post(f"/contacts/{c.pk}/tags/", {"add": "x" * 150})
    assert response.status_code == 422 and "At most 100 characters" in response.content.decode()


def test_consent_can_be_set(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(actor=admin, data={"name": "Consent"})
    assert (
        client.post(f"/contacts/{c.pk}/consent/", {"channel": "email", "status": "revoked"}).status_code
        == 302
    )
    assert c.consents.get(channel="email").status == "revoked"
    assert (
        client.post(f"/contacts/{c.pk}/consent/", {"channel": "fax", "status": "granted"}).status_code == 422
    )


def test_merge_and_undo_from_the_card(client: Client) -> None:
    logged_in(client, "data_quality")
    admin = user("admin", username="boss")
    keep = services.contact_create(actor=admin, data={"name": "Keep", "email": "keep@example.com"})
    gone = services.contact_create(actor=admin, data={"name": "Gone", "phone": "+79161234567"})
    response = client.post(f"/contacts/{keep.pk}/merge/", {"other_id": "abc"})
    assert response.status_code == 422 and "Give the number" in response.content.decode()
    response = client.post(f"/contacts/{keep.pk}/merge/", {"other_id": str(keep.pk)})
    assert response.status_code == 422
    response = client.post(f"/contacts/{keep.pk}/merge/", {"other_id": "999999"})
    assert response.status_code == 422 and "not found" in response.content.decode()

    response = client.post(f"/contacts/{keep.pk}/merge/", {"other_id": f"#{gone.pk}"}, follow=True)
    assert response.status_code == 200
    m = Merge.objects.get()
    html = response.content.decode()
    assert f'action="/contacts/merges/{m.pk}/undo/"' in html and "+79161234567" in html
    assert "This contact was merged into" in client.get(f"/contacts/{gone.pk}/").content.decode()

    response = client.post(f"/contacts/merges/{m.pk}/undo/", {"contact_id": keep.pk}, follow=True)
    assert response.status_code == 200 and "Merge undone" in response.content.decode()
    assert Contact.objects.get(pk=gone.pk).merged_into_id is None
    # Undoing twice is a clear message, not an error page.
    response = client.post(f"/contacts/merges/{m.pk}/undo/", {"contact_id": keep.pk}, follow=True)
    assert "already undone" in response.content.decode()


def test_erase_only_for_roles_with_delete(client: Client) -> None:
    admin = user("admin", username="boss")
    c = services.contact_create(actor=admin, data={"name": "Private Person", "email": "p@example.com"})
    logged_in(client, "sales_head", username="head")
    assert "Erase" not in client.get(f"/contacts/{c.pk}/").content.decode()
    assert client.post(f"/contacts/{c.pk}/erase/", {"reason": "asked"}).status_code == 403
    client.force_login(user("data_quality", username="dq"))
    assert client.post(f"/contacts/{c.pk}/erase/", {"reason": ""}).status_code == 422
    response = client.post(f"/contacts/{c.pk}/erase/", {"reason": "Asked by email"}, follow=True)
    assert response.status_code == 200
    c.refresh_from_db()
    assert c.erased_at is not None and c.email == ""
    assert "Private Person" not in response.content.decode()


def test_card_query_count_does_not_grow_with_history(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    admin = logged_in(client)
    services.custom_field_create(actor=admin, key="partner", label="Partner", kind="text")
    c = services.contact_create(
        actor=admin,
        data={
            "name": "Busy",
            "tags": "a;b;c;d",
            "emails": "x1@example.com;x2@example.com",
            "custom.partner": "P",
        },
    )
    for i in range(30):
        services.note_add(actor=admin, contact_id=c.pk, body=f"note {i}", is_product_issue=i % 2 == 0)
    for stage in ["mql", "sql", "opportunity"]:
        services.contact_stage_change(actor=admin, contact_id=c.pk, to_stage=stage)
    other = services.contact_create(actor=admin, data={"name": "Other"})
    merge.contact_merge(actor=admin, winner_id=c.pk, loser_id=other.pk)
    # 13 for the record and its history, 3 for the score section (settings, entries, rules).
    with django_assert_max_num_queries(16):
        response = client.get(f"/contacts/{c.pk}/")
    assert response.status_code == 200


def test_timeline_loads_more_with_htmx(client: Client) -> None:
    admin = logged_in(client)
    c = services.contact_create(actor=admin, data={"name": "Chatty"})
    for i in range(25):
        services.note_add(actor=admin, contact_id=c.pk, body=f"n{i:02d}")
    card = client.get(f"/contacts/{c.pk}/").content.decode()
    assert card.count('class="tl-item') == 20
    more = re.search(r'hx-get="(/contacts/\d+/timeline/\?cursor=[^"]+)"', card).group(1)
    partial = client.get(more, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert partial.count('class="tl-item') == 6 and "timeline-more" not in partial  # 25 notes + created
    assert "<html" in client.get(more).content.decode()  # without htmx: a whole page
    assert client.get(f"/contacts/{c.pk}/timeline/?cursor=bad!").status_code == 400
