"""/api/v1/companies."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import Company
from tests.api.conftest import fields
from tests.factories import CompanyFactory, ContactFactory, TeamFactory, user

pytestmark = pytest.mark.django_db


def test_create_read_and_patch(api):
    response = api.post(
        "/companies",
        {"name": "Цветы & Co", "domain": "https://Flowers.example/", "country": "ru", "employees": 12},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "Цветы & Co" and body["domain"] == "flowers.example" and body["country"] == "RU"
    assert body["contacts_count"] == 0 and body["owner"] == api.user.username
    patched = api.patch(f"/companies/{body['id']}", {"city": "Казань", "employees": None})
    assert patched.status_code == 200
    assert patched.json()["city"] == "Казань" and patched.json()["employees"] is None
    assert patched.json()["name"] == "Цветы & Co"


def test_get_counts_the_contacts_the_reader_can_see(api, api_as):
    company = CompanyFactory()
    team = TeamFactory()
    sales = api_as("sales", team=team)
    ContactFactory(company=company, owner=sales.user)
    ContactFactory(company=company, owner=user("sales", username="elsewhere"))
    ContactFactory(company=company, merged_into=ContactFactory())
    assert api.get(f"/companies/{company.pk}").json()["contacts_count"] == 2
    assert sales.get(f"/companies/{company.pk}").json()["contacts_count"] == 1


def test_list_filters_by_name_and_paginates(api):
    ids = {CompanyFactory(name=f"Alpha {i}").pk for i in range(7)}
    CompanyFactory(name="Beta")
    seen: list[int] = []
    cursor = None
    while True:
        body = api.get(
            "/companies", {"q": "alpha", "limit": 3} | ({"cursor": cursor} if cursor else {})
        ).json()
        seen += [c["id"] for c in body["items"]]
        cursor = body["next"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


def test_bad_input_names_fields(api):
    response = api.post("/companies", {"domain": "x.example"})
    assert response.status_code == 422 and "body.name" in fields(response)
    response = api.post("/companies", {"name": "A", "employees": "many", "size": 3, "country": "Germany"})
    assert response.status_code == 422
    assert {"body.employees", "body.size"} <= set(fields(response))
    response = api.post("/companies", {"name": "A", "employees": 10**30})
    assert response.status_code == 422 and set(fields(response)) == {"body.employees"}
    response = api.post("/companies", {"name": "A", "employees": -1})
    assert response.status_code == 422 and set(fields(response)) == {"body.employees"}
    response = api.post("/companies", {"name": "A", "country": "Germany"})
    assert response.status_code == 422 and set(fields(response)) == {"body.country"}
    company = CompanyFactory(name="Keep")
    response = api.patch(f"/companies/{company.pk}", {"name": ""})
    assert response.status_code == 422 and "body.name" in fields(response)
    assert Company.objects.get(pk=company.pk).name == "Keep"


def test_guest_cannot_write_and_unknown_is_404(api_as):
    guest = api_as("guest")
    company = CompanyFactory()
    assert guest.get(f"/companies/{company.pk}").status_code == 200
    assert guest.post("/companies", {"name": "X"}).status_code == 403
    assert guest.patch(f"/companies/{company.pk}", {"name": "X"}).status_code == 403
    assert guest.get("/companies/987654").status_code == 404
    assert api_as("admin").patch("/companies/987654", {"name": "X"}).status_code == 404
