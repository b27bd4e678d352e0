"""Segment pages and the builder's preview endpoint through Django's test client: who may see and
change segments, create/edit/delete through the forms with inline errors, the detail page's count,
members (keyset "More") and CSV export, and the preview's answers — including every way a request
can be wrong, which is a 400 with a message, never a 500."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

import pytest
from django.test import Client

from leadbridge.contacts import services as contact_services
from leadbridge.contacts.models import Contact, CustomField
from leadbridge.segments import services as segment_services
from leadbridge.segments.models import Segment
from tests.factories import user

pytestmark = pytest.mark.django_db

XSS = "<script>alert('x')</script>"
EDITORS = ["admin", "marketing", "sales_head"]
USERS_ONLY = ["sales", "presales", "director", "data_quality", "guest"]


def logged_in(client: Client, role: str = "admin", **kwargs: Any) -> Any:
    u = user(role, **kwargs)
    client.force_login(u)
    return u


@pytest.fixture
def realtor(db: Any) -> dict[str, Contact]:
    """The realtor's small data set: Brian (summer_house, beach), Jenny (homeowner, beach, forest),
    David (investor, income)."""
    boss = user("admin", username="boss")
    rows = {
        "brian": ("Brian", "brian@example.com", "summer_house; beach"),
        "jenny": ("Jenny", "jenny@example.com", "homeowner; beach; forest"),
        "david": ("David", "david@example.com", "investor; income"),
    }
    return {
        key: contact_services.contact_create(actor=boss, data={"name": name, "email": email, "tags": tags})
        for key, (name, email, tags) in rows.items()
    }


def saved(name: str = "Beach people", text: str = "tag:beach", **kwargs: Any) -> Segment:
    owner = kwargs.pop("owner", None) or user("marketing", username="mia")
    return segment_services.segment_create(actor=owner, name=name, filter=text, **kwargs)


def ids_in(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-contact-id="(\d+)"', html)]


def preview(client: Client, body: Any, *, raw: bool = False) -> tuple[int, dict[str, Any]]:
    data = body if raw else json.dumps(body)
    response = client.post("/segments/preview/", data=data, content_type="application/json")
    return response.status_code, response.json()


# --- access --------------------------------------------------------------------------------------


def test_pages_need_login(client: Client) -> None:
    segment = saved()
    for url in [
        "/segments/",
        "/segments/new/",
        f"/segments/{segment.pk}/",
        f"/segments/{segment.pk}/edit/",
        f"/segments/{segment.pk}/delete/",
        f"/segments/{segment.pk}/count/",
        f"/segments/{segment.pk}/export.csv",
    ]:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    response = client.post("/segments/preview/", data="{}", content_type="application/json")
    assert response.status_code == 302


@pytest.mark.parametrize("role", ["admin", "sales", "guest"])
def test_navigation_links_segments_for_everyone_who_sees_contacts(client: Client, role: str) -> None:
    logged_in(client, role)
    html = client.get("/contacts/").content.decode()
    assert '<a href="/segments/" data-nav="segments">' in html
    html = client.get("/segments/").content.decode()
    assert '<a href="/segments/" data-nav="segments" class="active" aria-current="page">' in html
    segment = saved()
    html = client.get(f"/segments/{segment.pk}/").content.decode()
    assert 'data-nav="segments" class="active"' in html
    html = client.get("/companies/").content.decode()
    assert 'data-nav="segments">' in html and 'data-nav="segments" class' not in html


@pytest.mark.parametrize("role", EDITORS)
def test_editors_see_the_edit_actions(client: Client, role: str) -> None:
    segment = saved()
    logged_in(client, role)
    html = client.get("/segments/").content.decode()
    assert 'href="/segments/new/"' in html and f'href="/segments/{segment.pk}/edit/"' in html
    for url in ["/segments/new/", f"/segments/{segment.pk}/edit/", f"/segments/{segment.pk}/delete/"]:
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("role", USERS_ONLY)
def test_other_roles_use_segments_but_cannot_change_them(client: Client, role: str) -> None:
    segment = saved(text="tag:beach")
    logged_in(client, role)
    html = client.get("/segments/").content.decode()
    assert "Beach people" in html and 'href="/segments/new/"' not in html
    assert f'href="/segments/{segment.pk}/edit/"' not in html
    assert client.get(f"/segments/{segment.pk}/").status_code == 200
    assert client.get(f"/segments/{segment.pk}/count/").status_code == 200
    assert client.get("/segments/new/").status_code == 403
    assert client.post("/segments/new/", {"name": "Mine", "filter": "tag:x"}).status_code == 403
    assert client.get(f"/segments/{segment.pk}/edit/").status_code == 403
    assert (
        client.post(f"/segments/{segment.pk}/edit/", {"name": "Renamed", "filter": "tag:x"}).status_code
        == 403
    )
    assert client.post(f"/segments/{segment.pk}/delete/").status_code == 403
    segment.refresh_from_db()
    assert (segment.name, segment.filter_text) == ("Beach people", "tag:beach")
    assert list(Segment.objects.values_list("name", flat=True)) == ["Beach people"]


def test_unknown_segment_is_404(client: Client) -> None:
    logged_in(client, "admin")
    for url in ["/segments/999/", "/segments/999/edit/", "/segments/999/delete/", "/segments/999/count/"]:
        assert client.get(url).status_code == 404, url


# --- create, edit, delete through the pages --------------------------------------------------------


def test_create_through_the_form_saves_the_canonical_filter_and_owner(client: Client, realtor: Any) -> None:
    mia = logged_in(client, "marketing", username="mia")
    response = client.post(
        "/segments/new/",
        {
            "name": "Nature lovers",
            "description": "Beach and forest or income",
            "filter": "tag:beach AND (tag:forest OR tag:income)",
        },
    )
    segment = Segment.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/segments/{segment.pk}/"
    assert segment.filter_text == "tag:beach and (tag:forest or tag:income)"
    assert segment.owner == mia and segment.description == "Beach and forest or income"
    html = client.get(response["Location"]).content.decode()
    assert "Segment saved." in html
    assert re.search(r'data-testid="segment-count">1<', html)
    assert ids_in(html) == [realtor["jenny"].pk]
    assert "tag:beach and (tag:forest or tag:income)" in html


def test_new_form_renders_the_builder_with_fields_tags_and_operators(client: Client, realtor: Any) -> None:
    CustomField.objects.create(key="partner_name", label="Partner name", kind="text")
    saved(name="Existing")
    logged_in(client, "marketing")
    html = client.get("/segments/new/").content.decode()
    assert 'id="segment-builder"' in html and 'data-preview-url="/segments/preview/"' in html
    assert "web/segment_builder.js" in html
    assert '<option value="custom.partner_name" data-kind="text">Partner name</option>' in html
    assert '<option value="stage" data-kind="stage"' in html
    assert '<option value="first_touch.channel" data-kind="ref">' in html
    assert '<option value="@text" data-kind="typed">' in html
    assert '<option value="forest">' in html  # tag names for the value list
    assert '<option value="Existing">' in html  # segment names for "in segment"
    assert 'name="csrfmiddlewaretoken"' in html


def test_create_refused_keeps_the_input_and_marks_the_filter_error(client: Client) -> None:
    logged_in(client, "admin")
    response = client.post(
        "/segments/new/", {"name": XSS, "description": "d", "filter": "tag:beach and (tag:forest or"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert XSS not in html and "&lt;script&gt;" in html
    assert 'data-position="28"' in html
    assert "Position 28: expected a condition, found end of filter" in html
    assert ">tag:beach and (tag:forest or</textarea>" in html
    assert not Segment.objects.exists()

    response = client.post("/segments/new/", {"name": "", "filter": "tag:beach"})
    assert response.status_code == 422 and "This field is required" in response.content.decode()

    response = client.post("/segments/new/", {"name": "x", "filter": "emial = 1"})
    html = response.content.decode()
    assert response.status_code == 400 and "unknown field" in html and 'data-position="0"' in html


def test_create_with_a_taken_name_is_a_conflict_on_the_name(client: Client) -> None:
    saved(name="Beach people")
    logged_in(client, "admin")
    response = client.post("/segments/new/", {"name": "BEACH PEOPLE", "filter": "tag:beach"})
    assert response.status_code == 409
    assert "already exists" in response.content.decode()
    assert Segment.objects.count() == 1


def test_edit_through_the_form(client: Client, realtor: Any) -> None:
    segment = saved(text="tag:beach")
    logged_in(client, "sales_head")
    html = client.get(f"/segments/{segment.pk}/edit/").content.decode()
    assert 'value="Beach people"' in html and ">tag:beach</textarea>" in html
    response = client.post(
        f"/segments/{segment.pk}/edit/",
        {"name": "Beach owners", "description": "new", "filter": "tag:beach and not tag:summer_house"},
    )
    assert response.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.description, segment.filter_text) == (
        "Beach owners",
        "new",
        "tag:beach and not tag:summer_house",
    )
    response = client.post(f"/segments/{segment.pk}/edit/", {"name": "Beach owners", "filter": "score >"})
    assert response.status_code == 400 and "Position 7" in response.content.decode()


def test_renaming_or_deleting_a_used_segment_is_refused(client: Client) -> None:
    base = saved(name="Beach", text="tag:beach")
    saved(name="Beach investors", text='in segment("Beach") and tag:investor')
    logged_in(client, "admin")
    response = client.post(f"/segments/{base.pk}/edit/", {"name": "Shore", "filter": "tag:beach"})
    assert response.status_code == 409 and "Beach investors" in response.content.decode()
    response = client.post(f"/segments/{base.pk}/delete/")
    assert response.status_code == 409 and "Beach investors" in response.content.decode()
    assert Segment.objects.filter(pk=base.pk).exists()
    # A filter that uses itself through another segment is a cycle.
    response = client.post(
        f"/segments/{base.pk}/edit/", {"name": "Beach", "filter": 'in segment("Beach investors")'}
    )
    assert response.status_code == 400 and "→" in response.content.decode()


def test_delete_asks_then_deletes(client: Client) -> None:
    segment = saved()
    logged_in(client, "marketing")
    html = client.get(f"/segments/{segment.pk}/delete/").content.decode()
    assert "Delete the segment" in html and "Beach people" in html
    response = client.post(f"/segments/{segment.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/segments/"
    assert not Segment.objects.exists()
    assert "Segment Beach people deleted." in client.get("/segments/").content.decode()


# --- list, detail, members, count, export ----------------------------------------------------------


def test_list_shows_name_description_filter_owner_and_counts_on_demand(client: Client, realtor: Any) -> None:
    segment = saved(name="Beach", text="tag:beach", description="Sea view " + XSS)
    logged_in(client, "guest")
    html = client.get("/segments/").content.decode()
    assert "Beach" in html and "Sea view" in html and XSS not in html
    assert "tag:beach" in html and "mia" in html
    assert f'hx-get="/segments/{segment.pk}/count/"' in html
    fragment = client.get(f"/segments/{segment.pk}/count/").content.decode()
    assert re.search(r'data-testid="segment-count">2<', fragment)


def test_list_and_detail_queries_do_not_grow_with_rows(client: Client, realtor: Any) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    owner = user("marketing", username="mia")
    logged_in(client, "admin")

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    first = saved(name="Segment 0", owner=owner)
    few_list, few_detail = queries("/segments/"), queries(f"/segments/{first.pk}/")
    for i in range(1, 6):
        saved(name=f"Segment {i}", owner=user("marketing", username=f"m{i}"))
    boss = user("admin", username="boss")
    for i in range(5):
        contact_services.contact_create(actor=boss, data={"name": f"More {i}", "tags": "beach; vip"})
    assert queries("/segments/") == few_list
    assert queries(f"/segments/{first.pk}/") == few_detail


def test_list_pages_with_a_cursor(client: Client) -> None:
    owner = user("marketing", username="mia")
    for i in range(3):
        saved(name=f"Segment {i}", owner=owner)
    logged_in(client, "admin")
    html = client.get("/segments/", {"limit": 2}).content.decode()
    assert html.count("data-segment-id=") == 2
    cursor = re.search(r'data-testid="next-page" href="\?limit=2&amp;cursor=([^"]+)"', html)
    assert cursor
    html = client.get("/segments/", {"limit": 2, "cursor": cursor.group(1)}).content.decode()
    assert html.count("data-segment-id=") == 1
    assert client.get("/segments/", {"cursor": "nonsense"}).status_code == 400


def test_detail_lists_members_with_keyset_more(client: Client) -> None:
    boss = logged_in(client, "admin")
    created = [
        contact_services.contact_create(actor=boss, data={"name": f"Buyer {i}", "tags": "beach"})
        for i in range(53)
    ]
    contact_services.contact_create(actor=boss, data={"name": "Other", "tags": "forest"})
    segment = saved(text="tag:beach")
    html = client.get(f"/segments/{segment.pk}/").content.decode()
    assert re.search(r'data-testid="segment-count">53<', html)
    first = ids_in(html)
    assert first == [c.pk for c in reversed(created)][:50]
    more = re.search(r'data-testid="members-more" href="([^"]+)"', html)
    assert more
    response = client.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    rest = ids_in(response.content.decode())
    assert rest == [c.pk for c in reversed(created)][50:]
    assert "members-more" not in response.content.decode()
    assert "<html" not in response.content.decode()


def test_counts_and_members_respect_what_a_sales_user_may_see(client: Client, realtor: Any) -> None:
    anna = user("sales", username="anna")
    Contact.objects.filter(pk=realtor["brian"].pk).update(owner=anna)
    segment = saved(text="tag:beach")
    client.force_login(anna)
    html = client.get(f"/segments/{segment.pk}/").content.decode()
    assert re.search(r'data-testid="segment-count">1<', html)
    assert ids_in(html) == [realtor["brian"].pk]
    assert "segment-export" not in html  # sales may not export
    assert client.get(f"/segments/{segment.pk}/export.csv").status_code == 403
    status, body = preview(client, {"text": "tag:beach"})
    assert status == 200 and body["count"] == 1
    assert [m["id"] for m in body["members"]] == [realtor["brian"].pk]


def test_export_downloads_the_members_as_the_contacts_csv(client: Client, realtor: Any) -> None:
    segment = saved(name="Beach people", text="tag:beach")
    logged_in(client, "marketing")
    html = client.get(f"/segments/{segment.pk}/").content.decode()
    assert f'href="/segments/{segment.pk}/export.csv"' in html
    response = client.get(f"/segments/{segment.pk}/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="segment-beach-people.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert sorted(r["email"] for r in rows) == ["brian@example.com", "jenny@example.com"]


def test_a_segment_whose_filter_no_longer_compiles_still_shows(client: Client, realtor: Any) -> None:
    field = CustomField.objects.create(key="size", label="Size", kind="number")
    segment = saved(text="custom.size > 3")
    field.delete()
    logged_in(client, "admin")
    response = client.get(f"/segments/{segment.pk}/")
    assert response.status_code == 200
    assert "This filter no longer works" in response.content.decode()
    assert "Filter error" in client.get(f"/segments/{segment.pk}/count/").content.decode()


# --- the preview endpoint --------------------------------------------------------------------------


def test_preview_of_text_gives_canonical_text_tree_count_and_members(client: Client, realtor: Any) -> None:
    logged_in(client, "marketing")
    status, body = preview(client, {"text": "tag:beach AND (tag:forest OR tag:income)"})
    assert status == 200
    assert body["text"] == "tag:beach and (tag:forest or tag:income)"
    assert body["count"] == 1 and body["error"] is None
    assert body["members"] == [
        {
            "id": realtor["jenny"].pk,
            "name": "Jenny",
            "email": "jenny@example.com",
            "url": f"/contacts/{realtor['jenny'].pk}/",
        }
    ]
    assert body["tree"] == {
        "op": "and",
        "children": [
            {"op": "tag", "name": "beach", "text": "tag:beach"},
            {
                "op": "or",
                "children": [
                    {"op": "tag", "name": "forest", "text": "tag:forest"},
                    {"op": "tag", "name": "income", "text": "tag:income"},
                ],
            },
        ],
    }


def test_preview_of_a_tree_with_a_typed_condition(client: Client, realtor: Any) -> None:
    logged_in(client, "admin")
    tree = {
        "op": "or",
        "children": [
            {"op": "not", "child": {"op": "tag", "name": "beach"}},
            {"op": "text", "text": 'email ~ "brian"'},
        ],
    }
    status, body = preview(client, {"tree": tree})
    assert status == 200, body
    assert body["text"] == 'not tag:beach or email ~ "brian"'
    assert body["count"] == 2
    assert {m["name"] for m in body["members"]} == {"Brian", "David"}
    assert body["tree"]["children"][1] == {
        "op": "contains",
        "field": "email",
        "value": "brian",
        "negated": False,
        "text": 'email ~ "brian"',
    }


def test_preview_while_editing_reports_a_cycle_through_the_segment(client: Client, realtor: Any) -> None:
    logged_in(client, "admin")
    beach = saved("Beach", "tag:beach")
    saved("Beach forest", 'in segment("beach") and tag:forest')
    text = 'in segment("beach forest")'
    assert preview(client, {"text": text})[0] == 200  # as a new segment's filter: fine
    status, body = preview(client, {"text": text, "segment": beach.pk})
    assert status == 400 and "beach → beach forest → beach" in body["error"]["message"]
    assert body["error"]["position"] == 0
    status, body = preview(client, {"text": "tag:forest", "segment": beach.pk})
    assert status == 200 and body["count"] == 1
    for bad in ("1", True, -3, 2**70):
        assert preview(client, {"text": "tag:forest", "segment": bad})[0] == 400
    # The edit page tells the builder which segment it edits.
    page = client.get(f"/segments/{beach.pk}/edit/").content.decode()
    assert f'data-segment-id="{beach.pk}"' in page


def test_preview_of_nothing_counts_nothing(client: Client) -> None:
    logged_in(client, "admin")
    for body in [{"text": "  "}, {"tree": None}, {"tree": {}}]:
        status, answer = preview(client, body)
        assert status == 200
        assert answer == {"text": "", "tree": None, "count": None, "members": [], "error": None}


def test_preview_syntax_error_gives_message_and_position(client: Client, realtor: Any) -> None:
    logged_in(client, "admin")
    status, body = preview(client, {"text": "tag:beach and (tag:forest or"})
    assert status == 400
    assert body["error"] == {
        "message": "Position 28: expected a condition, found end of filter",
        "position": 28,
    }
    assert body["count"] is None and body["members"] == []
    status, body = preview(client, {"text": "score >= 40 and and"})
    assert status == 400 and body["error"]["position"] == 16


def test_preview_unknown_field_in_text_and_in_tree(client: Client, realtor: Any) -> None:
    logged_in(client, "admin")
    status, body = preview(client, {"text": "tag:beach and emial = 1"})
    assert status == 400
    assert body["error"]["position"] == 14
    assert "unknown field 'emial'" in body["error"]["message"] and "email" in body["error"]["message"]

    tree = {
        "op": "and",
        "children": [
            {"op": "tag", "name": "beach"},
            {"op": "or", "children": [{"op": "tag", "name": "x"}, {"op": "exists", "field": "emial"}]},
        ],
    }
    status, body = preview(client, {"tree": tree})
    assert status == 400
    # The error names the row of the tree and the position in the tree's canonical text.
    assert body["text"] == "tag:beach and (tag:x or emial exists)"
    assert body["error"]["path"] == "$.children[1].children[1]"
    assert body["error"]["position"] == 24


def test_preview_tree_errors_name_their_path(client: Client) -> None:
    logged_in(client, "admin")
    tree = {
        "op": "and",
        "children": [
            {"op": "tag", "name": "beach"},
            {"op": "cmp", "field": "score", "cmp": ">=", "value": {"type": "num", "value": "lots"}},
        ],
    }
    status, body = preview(client, {"tree": tree})
    assert status == 400 and body["error"]["path"] == "$.children[1].value.value"
    status, body = preview(client, {"tree": {"op": "xor", "children": []}})
    assert status == 400 and body["error"]["path"] == "$.op"
    # A typed condition that does not parse: its path, and the position inside its own text.
    tree = {"op": "and", "children": [{"op": "tag", "name": "a"}, {"op": "text", "text": "visited("}]}
    status, body = preview(client, {"tree": tree})
    assert status == 400
    assert body["error"]["path"] == "$.children[1]" and body["error"]["position"] == 8
    assert body["error"]["in_condition"] is True
    status, body = preview(client, {"tree": {"op": "text", "text": ""}})
    assert status == 400 and body["error"]["path"] == "$"


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        '{"text": "tag:a"',
        "[]",
        '"tag:a"',
        "{}",
        '{"text": "tag:a", "tree": {"op": "tag", "name": "a"}}',
        '{"filter": "tag:a"}',
        '{"text": 42}',
        '{"text": null}',
        b"\xff\xfe",
    ],
)
def test_preview_refuses_malformed_requests_with_400(client: Client, raw: Any) -> None:
    logged_in(client, "admin")
    status, body = preview(client, raw, raw=True)
    assert status == 400 and body["error"]["message"]


def test_preview_refuses_huge_and_deep_input_without_a_500(client: Client) -> None:
    logged_in(client, "admin")
    status, body = preview(client, {"text": "x" * 300_000})
    assert status == 400 and "too large" in body["error"]["message"]
    status, body = preview(client, {"text": "tag:a or " * 1200 + "tag:b"})
    assert status == 400 and "longer than" in body["error"]["message"]
    status, body = preview(client, {"text": "(" * 200 + "tag:a" + ")" * 200})
    assert status == 400 and "position" in body["error"]
    deep: dict[str, Any] = {"op": "tag", "name": "a"}
    for _ in range(300):
        deep = {"op": "not", "child": deep}
    status, body = preview(client, {"tree": deep})
    assert status == 400 and body["error"]["message"]
    status, body = preview(client, {"text": "score > 1" + "0" * 400})
    assert status in (200, 400) and ("count" in body)
    status, body = preview(client, {"text": 'name = "a\\u0000b"'})
    assert status in (200, 400)


def test_preview_needs_post_and_the_csrf_token(realtor: Any) -> None:
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user("admin", username="strict"))
    assert strict.get("/segments/preview/").status_code == 405
    response = strict.post(
        "/segments/preview/", data='{"text": "tag:beach"}', content_type="application/json"
    )
    assert response.status_code == 403
    strict.get("/segments/new/")  # sets the CSRF cookie
    token = strict.cookies["csrftoken"].value
    response = strict.post(
        "/segments/preview/",
        data='{"text": "tag:beach"}',
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 200 and response.json()["count"] == 2


def test_preview_and_form_in_russian(client: Client) -> None:
    logged_in(client, "marketing", language="ru")
    status, body = preview(client, {"text": "tag:beach and ("})
    assert status == 400 and body["error"]["message"].startswith("Позиция 15:")
    html = client.get("/segments/new/").content.decode()
    for text in [
        "Новый сегмент",
        "Конструктор",
        "Условие",
        "Текст фильтра",
        "все условия (И)",
        "Выберите поле…",
    ]:
        assert text in html, text
