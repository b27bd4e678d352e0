"""/api/v1/contacts: what an integration relies on when it reads and writes contacts."""

from __future__ import annotations

import pytest

from leadbridge.accounts.models import ApiToken
from leadbridge.contacts.models import Activity, Consent, Contact, ContactPoint, ContactTag
from leadbridge.contacts.services import contact_create, custom_field_create
from leadbridge.core import clock
from tests.api.conftest import Api, fields
from tests.factories import CompanyFactory, ContactFactory, TagFactory, TeamFactory, user

pytestmark = pytest.mark.django_db


def new_contact(api: Api, **data: object) -> dict:
    response = api.post("/contacts", data)
    assert response.status_code == 201, response.json()
    return response.json()


# --- create and read ----------------------------------------------------------------------------


def test_create_normalises_and_returns_the_full_record(api):
    custom_field_create(actor=api.user, key="partner_name", label="Partner", kind="text")
    body = new_contact(
        api,
        name="Иван Петров",
        email="  Ivan@Example.COM ",
        phone="8 (916) 123-45-67",
        emails=["second@example.com"],
        phones=["+48 601 234 567"],
        tags=["beach", "Forest"],
        company="Roga i Kopyta",
        custom={"partner_name": "Roses"},
        birthday="1990-05-17",
        country="ru",
    )
    assert body["email"] == "ivan@example.com"
    assert body["phone"] == "+79161234567"
    assert body["emails"] == ["second@example.com"]
    assert body["phones"] == ["+48601234567"]
    assert sorted(body["tags"]) == ["Forest", "beach"]
    assert body["company"]["name"] == "Roga i Kopyta" and isinstance(body["company"]["id"], int)
    assert body["custom"] == {"partner_name": "Roses"}
    assert body["birthday"] == "1990-05-17"
    assert body["country"] == "RU"
    assert body["stage"] == "lead" and body["version"] == 1 and body["owner"] is None
    assert body["created_at"].startswith(str(clock.today().year))
    for key in ("id", "first_name", "last_name", "score", "external_id", "city", "updated_at", "consents"):
        assert key in body
    assert Activity.objects.filter(contact_id=body["id"], kind="contact_created").exists()


def test_get_one_has_consents_extra_points_owner_and_an_etag(api):
    owner = user("sales", username="anna")
    contact = contact_create(
        actor=None, data={"name": "A", "email": "a@example.com", "emails": "b@example.com", "owner": "anna"}
    )
    Consent.objects.create(contact=contact, channel="email", status="revoked", source="link")
    response = api.get(f"/contacts/{contact.pk}")
    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["owner"] == owner.username
    assert body["emails"] == ["b@example.com"]
    assert body["consents"][0] | {"changed_at": None} == {
        "channel": "email",
        "status": "revoked",
        "source": "link",
        "changed_at": None,
    }


def test_sales_creating_a_contact_owns_it(api_as):
    sales = api_as("sales")
    body = new_contact(sales, name="Mine")
    assert body["owner"] == sales.user.username


def test_unknown_contact_is_404_json(api):
    response = api.get("/contacts/999999")
    assert response.status_code == 404
    assert response.json() == {"detail": "Contact not found", "errors": []}


# --- authentication and roles -------------------------------------------------------------------


def test_no_token_bad_token_and_revoked_token_are_401(api):
    assert Api(None).get("/contacts").status_code == 401
    assert "Bearer" in Api(None).get("/contacts")["WWW-Authenticate"]
    bad = Api("lb_not-a-real-token").get("/contacts")
    assert bad.status_code == 401 and fields(bad) == {}
    ApiToken.objects.update(revoked_at=clock.now())
    assert api.get("/contacts").status_code == 401


def test_inactive_users_token_is_401(api):
    api.user.is_active = False
    api.user.save()
    assert api.get("/contacts").status_code == 401


def test_guest_reads_but_every_write_is_403(api_as):
    contact = ContactFactory()
    guest = api_as("guest")
    assert guest.get(f"/contacts/{contact.pk}").status_code == 200
    assert guest.get("/contacts").status_code == 200
    writes = [
        guest.post("/contacts", {"name": "X"}),
        guest.patch(f"/contacts/{contact.pk}", {"name": "X"}),
        guest.delete(f"/contacts/{contact.pk}", {"reason": "asked"}),
        guest.post(f"/contacts/{contact.pk}/stage", {"to_stage": "mql"}),
        guest.post(f"/contacts/{contact.pk}/tags", {"add": ["x"]}),
    ]
    assert [r.status_code for r in writes] == [403] * 5
    assert writes[0].json()["errors"] == []
    contact.refresh_from_db()
    assert contact.name != "X" and contact.version == 1 and Contact.objects.count() == 1


def test_sales_see_own_and_team_contacts_only(api_as):
    team = TeamFactory(name="Moscow")
    sales = api_as("sales", team=team)
    mate = user("sales", username="mate", team=team)
    stranger = user("sales", username="stranger", team=TeamFactory(name="Warsaw"))
    own = ContactFactory(owner=sales.user)
    teams = ContactFactory(owner=mate)
    other = ContactFactory(owner=stranger)
    nobody = ContactFactory(owner=None)

    listed = {c["id"] for c in sales.get("/contacts").json()["items"]}
    assert listed == {own.pk, teams.pk}
    assert sales.get(f"/contacts/{teams.pk}").status_code == 200
    for hidden in (other, nobody):
        assert sales.get(f"/contacts/{hidden.pk}").status_code == 404
        assert sales.patch(f"/contacts/{hidden.pk}", {"name": "X"}).status_code == 404
        assert sales.get(f"/contacts/{hidden.pk}/timeline").status_code == 404
        assert sales.get(f"/contacts/{hidden.pk}/stage-history").status_code == 404
        assert sales.post(f"/contacts/{hidden.pk}/stage", {"to_stage": "mql"}).status_code == 404
        assert sales.post(f"/contacts/{hidden.pk}/tags", {"add": ["x"]}).status_code == 404
    other.refresh_from_db()
    assert other.stage == "lead" and other.version == 1


# --- bad input ----------------------------------------------------------------------------------


def test_bad_email_and_phone_name_their_fields(api):
    response = api.post(
        "/contacts", {"name": "X", "email": "not-an-email", "phone": "12", "country": "Russia"}
    )
    assert response.status_code == 422
    assert set(fields(response)) == {"body.email", "body.phone", "body.country"}
    assert Contact.objects.count() == 0


def test_unknown_fields_and_wrong_types_are_422_with_paths(api):
    response = api.post(
        "/contacts",
        {"name": 5, "emial": "a@b.cd", "tags": "beach", "emails": [1], "birthday": "soon", "custom": []},
    )
    assert response.status_code == 422
    errors = fields(response)
    assert errors["body.emial"] == "Unknown field"
    assert {"body.name", "body.tags", "body.emails[0]", "body.birthday", "body.custom"} <= set(errors)


def test_unknown_custom_field_and_bad_custom_value(api):
    custom_field_create(actor=api.user, key="size", label="Size", kind="number")
    response = api.post("/contacts", {"name": "X", "custom": {"size": "big", "colour": "red"}})
    assert response.status_code == 422
    assert set(fields(response)) == {"body.custom.size", "body.custom.colour"}


def test_a_future_birthday_is_rejected(api):
    response = api.post("/contacts", {"name": "X", "birthday": "2999-01-01"})
    assert response.status_code == 422 and "body.birthday" in fields(response)


def test_empty_contact_is_rejected(api):
    response = api.post("/contacts", {})
    assert response.status_code == 422 and "body.name" in fields(response)


@pytest.mark.parametrize(
    ("raw", "status", "message"),
    [
        ('{"name": "A",', 400, "line 1"),
        ("{'name': 'A'}", 400, "double quotes"),
        ('{"name": NaN}', 400, "NaN"),
        ('{"name": Infinity}', 400, "Infinity"),
        ("", 422, "JSON body is required"),
        ("[1, 2]", 422, "dictionary"),
        ('"just a string"', 422, "dictionary"),
        ("[" * 100_000, 400, ""),
        (b"\xff\xfe\xfa{", 400, ""),
    ],
)
def test_malformed_json_is_a_clear_4xx(api, raw, status, message):
    response = api.post("/contacts", raw)
    assert response.status_code == status
    assert message in fields(response)["body"]
    assert Contact.objects.count() == 0


def test_nul_characters_are_refused_with_their_path(api):
    response = api.post("/contacts", {"name": "a\x00b", "tags": ["ok", "x\x00"]})
    assert response.status_code == 422
    assert set(fields(response)) == {"body.name", "body.tags[1]"}
    response = api.get("/contacts", {"q": "a\x00"})
    assert response.status_code == 422 and set(fields(response)) == {"query.q"}


def test_query_parameters_are_checked(api):
    for params, field in [
        ({"limit": 0}, "query.limit"),
        ({"limit": 201}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"cursor": "not-a-cursor"}, "query.cursor"),
        ({"cursor": "WzEuNV0"}, "query.cursor"),  # [1.5]
        ({"stage": "nirvana"}, "query.stage"),
        ({"company_id": "abc"}, "query.company_id"),
    ]:
        response = api.get("/contacts", params)
        assert response.status_code == 422, (params, response.content)
        assert field in fields(response), (params, response.json())
    # A filter that cannot be read or compiled is malformed input (400), with its position.
    for q, position in [("stage=nirvana", 6), ('"unclosed', 0)]:
        response = api.get("/contacts", {"q": q})
        assert response.status_code == 400, (q, response.content)
        assert response.json()["errors"][0]["field"] == "query.q"
        assert response.json()["errors"][0]["position"] == position
    # A forged cursor beyond any 64-bit id is just past the end, not a database error.
    response = api.get("/contacts", {"cursor": "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwXQ"})  # [10**28]
    assert response.status_code == 200 and response.json() == {"items": [], "next": None}


def test_too_many_query_parameters_is_400_json(api):
    response = api.get("/contacts?" + "&".join(f"p{i}=1" for i in range(1100)))
    assert response.status_code == 400
    assert fields(response)


def test_path_ids_out_of_range_are_422_not_500(api):
    for path in ("/contacts/0", "/contacts/-1", "/contacts/99999999999999999999999", "/contacts/abc"):
        response = api.get(path)
        assert response.status_code in (404, 422), path
        assert response.json()["detail"]


def test_injection_strings_are_stored_and_returned_verbatim(api):
    nasty = "Robert'); DROP TABLE contacts_contact;-- <script>alert(1)</script> {{7*7}} ${x} %s"
    body = new_contact(api, name=nasty, city="<img src=x onerror=alert(1)>")
    assert body["name"] == nasty
    fetched = api.get(f"/contacts/{body['id']}")
    assert fetched["Content-Type"] == "application/json; charset=utf-8"
    assert fetched.json()["name"] == nasty
    assert fetched.json()["city"] == "<img src=x onerror=alert(1)>"
    found = api.get("/contacts", {"q": '"Robert\'); DROP"'}).json()["items"]
    assert [c["id"] for c in found] == [body["id"]]
    assert api.get("/contacts", {"q": '"x\' OR 1=1 --"'}).json()["items"] == []
    unbalanced = api.get("/contacts", {"q": "' OR 1=1 --"})
    assert unbalanced.status_code == 400 and "query.q" in fields(unbalanced)


def test_unicode_and_rtl_round_trip(api):
    name = "\u200fمحمد عبد الله \u05e9\u05dc\u05d5\u05dd 🌹 Ёлкина"
    body = new_contact(api, name=name, city="القاهرة", tags=["زهور"])
    assert body["name"] == name and body["city"] == "القاهرة" and body["tags"] == ["زهور"]
    assert [c["id"] for c in api.get("/contacts", {"tag": "زهور"}).json()["items"]] == [body["id"]]


def test_huge_strings_are_refused_with_the_limit(api):
    response = api.post("/contacts", {"name": "x" * 256})
    assert response.status_code == 422
    assert fields(response)["body.name"].startswith("At most 255 characters")
    response = api.post("/contacts", {"name": "x" * 900_000})
    assert response.status_code == 422
    response = api.post("/contacts", {"name": "x" * (1024 * 1024 + 1)})
    assert response.status_code == 413
    assert "body" in fields(response)
    assert Contact.objects.count() == 0


# --- duplicates and concurrent edits ------------------------------------------------------------


def test_likely_duplicate_is_409_naming_the_existing_contact(api):
    first = new_contact(api, name="A", email="a@example.com", phone="+48 601 234 567")
    response = api.post("/contacts", {"name": "B", "email": "A@example.com"})
    assert response.status_code == 409
    assert f"#{first['id']}" in response.json()["detail"]
    assert f"#{first['id']}" in fields(response)["body.email"]
    response = api.post("/contacts", {"name": "B", "phone": "+48601234567"})
    assert response.status_code == 409 and "body.phone" in fields(response)
    assert Contact.objects.count() == 1
    again = api.post("/contacts", {"name": "B", "email": "a@example.com"}, params={"allow_duplicate": "true"})
    assert again.status_code == 201 and again.json()["id"] != first["id"]


def test_external_id_must_be_unique(api):
    new_contact(api, name="A", external_id="crm-1")
    response = api.post("/contacts", {"name": "B", "external_id": "crm-1"})
    assert response.status_code == 409 and "body.external_id" in fields(response)


def test_patch_changes_only_what_is_sent_and_bumps_the_version(api):
    body = new_contact(api, name="A", email="a@example.com", city="Moscow", tags=["x"])
    response = api.patch(f"/contacts/{body['id']}", {"city": "Kazan", "phone": "8 916 123 45 67"})
    assert response.status_code == 200
    patched = response.json()
    assert patched["city"] == "Kazan" and patched["phone"] == "+79161234567"
    assert patched["email"] == "a@example.com" and patched["tags"] == ["x"]
    assert patched["version"] == 2 and response["ETag"] == '"2"'
    cleared = api.patch(f"/contacts/{body['id']}", {"city": None, "tags": []}).json()
    assert cleared["city"] == "" and cleared["tags"] == []


def test_patch_validates_like_create(api):
    body = new_contact(api, name="A")
    response = api.patch(f"/contacts/{body['id']}", {"email": "nope", "nmae": "B", "stage": "heaven"})
    assert response.status_code == 422
    assert {"body.nmae", "body.stage"} <= set(fields(response))
    assert Contact.objects.get(pk=body["id"]).version == 1


def test_stale_version_is_409_and_the_first_edit_survives(api, api_as):
    body = new_contact(api, name="A")
    other = api_as("marketing")
    first = api.patch(f"/contacts/{body['id']}", {"city": "Moscow", "version": 1})
    assert first.status_code == 200
    second = other.patch(f"/contacts/{body['id']}", {"city": "Kazan", "version": 1})
    assert second.status_code == 409
    assert "body.version" in fields(second)
    assert Contact.objects.get(pk=body["id"]).city == "Moscow"


def test_if_match_header_works_like_the_version_field(api):
    body = new_contact(api, name="A")
    ok = api.patch(f"/contacts/{body['id']}", {"city": "Moscow"}, **{"If-Match": '"1"'})
    assert ok.status_code == 200
    stale = api.patch(f"/contacts/{body['id']}", {"city": "Kazan"}, **{"If-Match": '"1"'})
    assert stale.status_code == 409 and "header.If-Match" in fields(stale)
    junk = api.patch(f"/contacts/{body['id']}", {"city": "Kazan"}, **{"If-Match": "yesterday"})
    assert junk.status_code == 422 and "header.If-Match" in fields(junk)
    assert Contact.objects.get(pk=body["id"]).city == "Moscow"


# --- list, filters, pagination ------------------------------------------------------------------


def test_cursor_pagination_walks_everything_once(api):
    ids = {ContactFactory().pk for _ in range(123)}
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        body = api.get("/contacts", params).json()
        seen += [c["id"] for c in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert pages == 13
    assert len(seen) == len(set(seen)) == 123 and set(seen) == ids
    assert seen == sorted(seen, reverse=True)


def test_filters_by_q_tag_stage_owner_and_company(api):
    anna = user("sales", username="anna")
    company = CompanyFactory(name="Flowers Ltd")
    beach = ContactFactory(name="Beach lover", owner=anna, stage="mql", company=company)
    ContactTag.objects.create(contact=beach, tag=TagFactory(name="beach"))
    ContactFactory(name="Someone else", stage="lead")

    def ids(params: dict) -> list[int]:
        response = api.get("/contacts", params)
        assert response.status_code == 200, response.json()
        return [c["id"] for c in response.json()["items"]]

    assert ids({"q": "tag:beach"}) == [beach.pk]
    assert ids({"q": "stage>=mql"}) == [beach.pk]
    assert ids({"q": "lover"}) == [beach.pk]
    assert ids({"tag": "BEACH"}) == [beach.pk]
    assert ids({"stage": "mql"}) == [beach.pk]
    assert ids({"owner": "anna"}) == [beach.pk]
    assert ids({"company_id": company.pk}) == [beach.pk]
    assert ids({"tag": "beach", "stage": "lead"}) == []


def test_list_query_count_does_not_grow_with_the_page(api, django_assert_max_num_queries):
    owners = [user("sales", username=f"owner{i}") for i in range(3)]
    tags = [TagFactory(name=f"t{i}") for i in range(3)]
    for i in range(40):
        contact = ContactFactory(owner=owners[i % 3], company=CompanyFactory())
        ContactTag.objects.create(contact=contact, tag=tags[i % 3])
        ContactPoint.objects.create(contact=contact, kind="phone", value=f"+7916123{i:04d}")
    api.get("/contacts")  # the token's last_used_at is written once a minute, not on this call
    # token lookup, contacts (company joined), owners, tags, extra emails/phones
    with django_assert_max_num_queries(5):
        body = api.get("/contacts", {"limit": 40}).json()
    assert len(body["items"]) == 40
    assert all(c["tags"] and c["owner"] and c["company"] and c["phones"] for c in body["items"])
    # The tag filter adds one lookup (the tag's id) and keeps the full records.
    with django_assert_max_num_queries(6):
        tagged = api.get("/contacts", {"limit": 40, "tag": "t1"}).json()
    assert len(tagged["items"]) == 13
    assert all("t1" in c["tags"] and c["custom"] == {} and c["version"] == 1 for c in tagged["items"])


def test_tag_filter_pages_through_the_tagged_contacts(api):
    beach, other = TagFactory(name="Beach"), TagFactory(name="other")
    tagged = []
    for i in range(25):
        contact = ContactFactory(city=f"City {i}")
        ContactTag.objects.create(contact=contact, tag=beach if i % 3 else other)
        if i % 3:
            tagged.append(contact.pk)
    seen: list[int] = []
    cursor = None
    while True:
        body = api.get(
            "/contacts", {"tag": "beach", "limit": 4} | ({"cursor": cursor} if cursor else {})
        ).json()
        seen += [c["id"] for c in body["items"]]
        assert all(c["tags"] == ["Beach"] and c["city"].startswith("City") for c in body["items"])
        cursor = body["next"]
        if cursor is None:
            break
    assert seen == sorted(tagged, reverse=True)
    unknown = api.get("/contacts", {"tag": "nowhere"})
    assert unknown.status_code == 200 and unknown.json() == {"items": [], "next": None}


# --- erase, timeline, stages, tags --------------------------------------------------------------


def test_delete_erases_personal_data_and_needs_a_reason(api_as):
    dq = api_as("data_quality")
    contact = contact_create(
        actor=None, data={"name": "Ivan", "email": "i@example.com", "phones": "+48601234567"}
    )
    response = dq.delete(f"/contacts/{contact.pk}")
    assert response.status_code == 422 and "query.reason" in fields(response)
    response = dq.delete(f"/contacts/{contact.pk}", {"reason": "   "})
    assert response.status_code == 422 and "query.reason" in fields(response)
    assert api_as("sales").delete(f"/contacts/{contact.pk}", {"reason": "asked"}).status_code == 403
    response = dq.delete(f"/contacts/{contact.pk}", {"reason": "data subject request"})
    assert response.status_code == 204
    body = dq.get(f"/contacts/{contact.pk}").json()
    assert body["name"] == "" and body["email"] == "" and body["phones"] == [] and body["erased_at"]
    assert dq.delete(f"/contacts/{contact.pk}", {"reason": "again"}).status_code == 404


def test_timeline_is_paginated_newest_first(api):
    body = new_contact(api, name="A")
    for i in range(6):
        api.patch(f"/contacts/{body['id']}", {"city": f"City {i}"})
    first = api.get(f"/contacts/{body['id']}/timeline", {"limit": 4}).json()
    second = api.get(f"/contacts/{body['id']}/timeline", {"limit": 4, "cursor": first["next"]}).json()
    kinds = [a["kind"] for a in first["items"] + second["items"]]
    assert kinds == ["contact_updated"] * 6 + ["contact_created"]
    assert second["next"] is None
    assert first["items"][0]["actor"] == api.user.username
    assert first["items"][0]["payload"]["after"] == {"city": "City 5"}


def test_stage_change_and_history(api):
    body = new_contact(api, name="A")
    moved = api.post(f"/contacts/{body['id']}/stage", {"to_stage": "sql"})
    assert moved.status_code == 200 and moved.json()["stage"] == "sql"
    back = api.post(f"/contacts/{body['id']}/stage", {"to_stage": "lead"})
    assert back.status_code == 422 and "body.reason" in fields(back)
    back = api.post(f"/contacts/{body['id']}/stage", {"to_stage": "lead", "reason": "budget frozen"})
    assert back.status_code == 200
    bad = api.post(f"/contacts/{body['id']}/stage", {"to_stage": "heaven"})
    assert bad.status_code == 422 and "body.to_stage" in fields(bad)
    history = api.get(f"/contacts/{body['id']}/stage-history").json()
    assert [(h["from_stage"], h["to_stage"]) for h in history["items"]] == [
        ("sql", "lead"),
        ("lead", "sql"),
        ("", "lead"),
    ]
    assert history["items"][0]["reason"] == "budget frozen"
    assert history["items"][0]["actor"] == api.user.username


def test_tags_add_and_remove(api):
    body = new_contact(api, name="A", tags=["one", "two"])
    response = api.post(f"/contacts/{body['id']}/tags", {"add": ["three", "two"], "remove": ["ONE", "nope"]})
    assert response.status_code == 200
    assert sorted(response.json()["tags"]) == ["three", "two"]
    response = api.post(f"/contacts/{body['id']}/tags", {"add": ["x" * 101]})
    assert response.status_code == 422 and "body.add[0]" in fields(response)
    response = api.post(f"/contacts/{body['id']}/tags", {"add": "three"})
    assert response.status_code == 422 and "body.add" in fields(response)
