"""Company pages: list with search and keyset paging, detail with its contacts, create/edit."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from leadbridge.contacts.models import Company
from tests.factories import CompanyFactory, ContactFactory, user

pytestmark = pytest.mark.django_db


def company_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-company-id="(\d+)"', html)]


def test_list_searches_and_pages_through_every_company(client: Client) -> None:
    client.force_login(user("marketing"))
    made = [CompanyFactory(name=f"Flowers {i}").pk for i in range(5)] + [CompanyFactory(name="Bakery").pk]
    html = client.get("/companies/", {"q": "flow"}).content.decode()
    assert sorted(company_ids(html)) == sorted(made[:5])
    seen: list[int] = []
    url: str | None = "/companies/?limit=4"
    while url:
        html = client.get(url).content.decode()
        seen += company_ids(html)
        m = re.search(r'rel="next" data-testid="next-page" href="([^"]+)"', html)
        url = "/companies/" + m.group(1).replace("&amp;", "&") if m else None
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    partial = client.get("/companies/", {"q": "Bakery"}, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial and company_ids(partial) == [made[-1]]


def test_detail_lists_only_contacts_the_user_may_see(client: Client) -> None:
    me = user("sales", username="me")
    other = user("sales", username="other")
    acme = CompanyFactory(name="Acme <Ltd>")
    mine = ContactFactory(name="Mine", company=acme, owner=me)
    ContactFactory(name="Theirs", company=acme, owner=other)
    client.force_login(me)
    response = client.get(f"/companies/{acme.pk}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Acme &lt;Ltd&gt;" in html and "Mine" in html and "Theirs" not in html
    assert f'href="/contacts/{mine.pk}/"' in html
    assert client.get("/companies/999999/").status_code == 404


def test_create_with_inline_errors_then_success(client: Client) -> None:
    client.force_login(user("admin"))
    response = client.post("/companies/new/", {"name": "", "employees": "many", "country": "Russia"})
    assert response.status_code == 422
    errors = response.context["form"].errors
    assert set(errors) == {"name", "employees", "country"}
    assert not Company.objects.exists()
    response = client.post(
        "/companies/new/", {"name": "Romashka", "domain": "https://Romashka.ru/", "employees": "12"}
    )
    company = Company.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/companies/{company.pk}/"
    assert (company.domain, company.employees) == ("romashka.ru", 12)


def test_edit(client: Client) -> None:
    client.force_login(user("sales_head"))
    company = CompanyFactory(name="Old")
    form = client.get(f"/companies/{company.pk}/edit/")
    assert form.status_code == 200 and 'value="Old"' in form.content.decode()
    response = client.post(f"/companies/{company.pk}/edit/", {**form.context["form"].initial, "name": ""})
    assert response.status_code == 422 and "name" in response.context["form"].errors
    response = client.post(
        f"/companies/{company.pk}/edit/", {**form.context["form"].initial, "name": "New", "city": "Kazan"}
    )
    assert response.status_code == 302
    company.refresh_from_db()
    assert (company.name, company.city) == ("New", "Kazan")


def test_guest_reads_but_cannot_create_or_edit(client: Client) -> None:
    client.force_login(user("guest"))
    company = CompanyFactory(name="Visible")
    assert client.get(f"/companies/{company.pk}/").status_code == 200
    assert "/edit/" not in client.get(f"/companies/{company.pk}/").content.decode()
    assert client.get("/companies/new/").status_code == 403
    assert client.post("/companies/new/", {"name": "X"}).status_code == 403
    assert client.post(f"/companies/{company.pk}/edit/", {"name": "X"}).status_code == 403
    assert Company.objects.get().name == "Visible"


def test_list_query_count_is_bounded(client: Client, django_assert_max_num_queries: Any) -> None:
    client.force_login(user("admin"))
    owner = user("sales", username="owner")
    for i in range(30):
        CompanyFactory(name=f"C{i}", owner=owner)
    with django_assert_max_num_queries(3):
        client.get("/companies/")
