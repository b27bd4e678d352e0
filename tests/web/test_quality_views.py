"""Data-quality queue and product-issue pages: roles, inline errors, htmx row swaps."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leadbridge.contacts.models import Contact, DataQualityItem, Note
from leadbridge.contacts.services import dq_item_record
from leadbridge.core.models import AuditEntry
from tests.factories import ContactFactory, user

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def dq_user():
    return user("data_quality", username="dora")


@pytest.fixture
def bad_phone_item():
    return dq_item_record(
        source="capture:form",
        reason="invalid",
        raw={
            "name": "Ivan Petrov",
            "email": "ivan@example.test",
            "phone": "12",
            "message": "Call me <b>now</b>",
        },
        errors=[{"field": "phone", "message": "Not a valid phone number: '12'"}],
    )


def _resolve(client, item, **data):
    return client.post(reverse("web:quality_resolve", args=[item.pk]), data, **HTMX)


@pytest.mark.parametrize("role", ["guest", "sales", "marketing", "presales"])
def test_queue_is_refused_to_roles_without_data_quality(client, role):
    client.force_login(user(role, username=f"u_{role}"))
    assert client.get(reverse("web:quality_list")).status_code == 403


@pytest.mark.parametrize("role", ["data_quality", "sales_head", "director", "admin"])
def test_queue_opens_for_roles_that_resolve(client, role, bad_phone_item):
    client.force_login(user(role, username=f"u_{role}"))
    response = client.get(reverse("web:quality_list"))
    assert response.status_code == 200
    assert f'id="dq-item-{bad_phone_item.pk}"' in response.content.decode()


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("web:quality_list"))
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]


def test_item_shows_raw_input_errors_and_suspected_duplicate(client, dq_user):
    existing = ContactFactory(name="Existing Ivan", email="ivan@example.test")
    item = dq_item_record(
        source="import",
        reason="duplicate",
        raw={"name": "Ivan", "email": "ivan@example.test", "fields": {"utm_source": "ya"}},
        errors=[{"field": "email", "message": f"Already used by contact #{existing.pk}"}],
        contact_id=existing.pk,
    )
    client.force_login(dq_user)
    html = client.get(reverse("web:quality_list")).content.decode()
    assert "import" in html
    assert "Likely duplicate" in html
    assert "fields.utm_source" in html and "ya" in html  # nested raw input flattened readably
    assert "Already used by contact" in html
    assert reverse("web:contact_detail", args=[existing.pk]) in html
    assert f'name="contact_id" value="{existing.pk}"' in html  # merge target prefilled
    assert item.status == "open"


def test_raw_input_is_escaped(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    html = client.get(reverse("web:quality_list")).content.decode()
    assert "Call me &lt;b&gt;now&lt;/b&gt;" in html
    assert "<b>now</b>" not in html


def test_fix_form_is_prefilled_from_the_raw_values(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    html = client.get(reverse("web:quality_list")).content.decode()
    assert 'name="field__name" value="Ivan Petrov"' in html
    assert 'name="field__phone" value="12"' in html
    assert 'name="field__email" value="ivan@example.test"' in html


def test_fix_with_a_still_invalid_email_shows_the_error_inline(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    response = _resolve(
        client,
        bad_phone_item,
        action="fix",
        field__name="Ivan Petrov",
        field__email="ivan@@bad",
        field__phone="+7 916 123-45-67",
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Not a valid email address" in html
    assert 'class="errorlist"' in html
    assert 'value="ivan@@bad"' in html  # what the user typed is kept
    bad_phone_item.refresh_from_db()
    assert bad_phone_item.status == "open"
    assert not Contact.objects.exists()


def test_fix_creates_the_contact_and_the_row_is_replaced(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    response = _resolve(
        client,
        bad_phone_item,
        action="fix",
        field__name="Ivan Petrov",
        field__email="ivan@example.test",
        field__phone="8 916 123-45-67",
        field__company="",
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<article")  # a fragment, not the whole page
    assert 'data-status="fixed"' in html
    contact = Contact.objects.get()
    assert contact.phone == "+79161234567"
    assert reverse("web:contact_detail", args=[contact.pk]) in html
    bad_phone_item.refresh_from_db()
    assert (bad_phone_item.status, bad_phone_item.contact_id, bad_phone_item.resolved_by) == (
        "fixed",
        contact.pk,
        dq_user,
    )


def test_fix_without_htmx_redirects_back_to_the_queue(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    response = client.post(
        reverse("web:quality_resolve", args=[bad_phone_item.pk]),
        {"action": "fix", "field__name": "Ivan", "field__phone": "+79161234567"},
    )
    assert response.status_code == 302
    assert Contact.objects.filter(phone="+79161234567").exists()


def test_fix_that_would_duplicate_names_the_existing_contact(client, dq_user, bad_phone_item):
    ContactFactory(name="Other", email="ivan@example.test")
    client.force_login(dq_user)
    response = _resolve(
        client, bad_phone_item, action="fix", field__name="Ivan", field__email="ivan@example.test"
    )
    assert response.status_code == 409
    assert "Likely duplicate of contact" in response.content.decode()
    assert Contact.objects.count() == 1


def test_discard_without_a_reason_is_refused(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    response = _resolve(client, bad_phone_item, action="discard", note="   ")
    assert response.status_code == 422
    assert "Say why the record is discarded" in response.content.decode()
    bad_phone_item.refresh_from_db()
    assert bad_phone_item.status == "open"


def test_discard_with_a_reason(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    response = _resolve(client, bad_phone_item, action="discard", note="test submission")
    assert response.status_code == 200
    assert 'data-status="discarded"' in response.content.decode()
    bad_phone_item.refresh_from_db()
    assert (bad_phone_item.status, bad_phone_item.resolution_note) == ("discarded", "test submission")
    assert AuditEntry.objects.filter(action="data_quality.discard", actor=dq_user).exists()


def test_merge_into_the_suspected_contact_fills_its_blanks(client, dq_user):
    existing = ContactFactory(name="Maria", email="maria@example.test", phone="")
    item = dq_item_record(
        source="import",
        reason="duplicate",
        raw={"name": "Maria K", "email": "maria@example.test", "phone": "+79161112233"},
        errors=[],
        contact_id=existing.pk,
    )
    client.force_login(dq_user)
    response = _resolve(client, item, action="merge", contact_id=str(existing.pk), fill_blanks="1")
    assert response.status_code == 200
    assert 'data-status="merged"' in response.content.decode()
    existing.refresh_from_db()
    assert existing.phone == "+79161112233"
    assert existing.name == "Maria"  # filled blanks only


def test_merge_into_a_missing_contact_is_an_inline_error(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    response = _resolve(client, bad_phone_item, action="merge", contact_id="999999")
    assert response.status_code == 422
    assert "Contact not found" in response.content.decode()
    response = _resolve(client, bad_phone_item, action="merge", contact_id="abc")
    assert response.status_code == 422
    assert "Enter the number of the contact" in response.content.decode()
    bad_phone_item.refresh_from_db()
    assert bad_phone_item.status == "open"


def test_resolving_twice_is_a_conflict_not_a_crash(client, dq_user, bad_phone_item):
    client.force_login(dq_user)
    _resolve(client, bad_phone_item, action="discard", note="spam")
    response = _resolve(client, bad_phone_item, action="discard", note="spam again")
    assert response.status_code == 409
    assert "already discarded" in response.content.decode()


def test_resolve_is_refused_to_sales(client, bad_phone_item):
    client.force_login(user("sales", username="sam"))
    response = _resolve(client, bad_phone_item, action="discard", note="x")
    assert response.status_code == 403
    bad_phone_item.refresh_from_db()
    assert bad_phone_item.status == "open"


def test_unknown_item_is_404(client, dq_user):
    client.force_login(dq_user)
    assert _resolve(client, DataQualityItem(pk=424242), action="discard", note="x").status_code == 404


def test_status_filter_and_bad_cursor(client, dq_user, bad_phone_item):
    done = dq_item_record(source="import", reason="invalid", raw={"name": "Done"}, errors=[])
    client.force_login(dq_user)
    _resolve(client, done, action="discard", note="junk")
    open_html = client.get(reverse("web:quality_list")).content.decode()
    assert f"dq-item-{bad_phone_item.pk}" in open_html and f"dq-item-{done.pk}" not in open_html
    discarded = client.get(reverse("web:quality_list"), {"status": "discarded"}).content.decode()
    assert f"dq-item-{done.pk}" in discarded and f"dq-item-{bad_phone_item.pk}" not in discarded
    assert client.get(reverse("web:quality_list"), {"cursor": "!!!"}).status_code == 400


def test_queue_pages_with_a_cursor(client, dq_user):
    items = [dq_item_record(source="import", reason="invalid", raw={"n": i}, errors=[]) for i in range(55)]
    client.force_login(dq_user)
    first = client.get(reverse("web:quality_list"))
    assert first.context["next_cursor"]
    second = client.get(reverse("web:quality_list"), {"cursor": first.context["next_cursor"]})
    ids = [ctx["item"].pk for ctx in second.context["items"]]
    assert ids == [i.pk for i in items[:5]][::-1]


# --- product issues ----------------------------------------------------------------------------


@pytest.fixture
def issue():
    contact = ContactFactory(name="Anna")
    author = user("sales", username="seller")
    return Note.objects.create(
        contact=contact, author=author, body="Out of stock: roses", is_product_issue=True, product="Roses"
    )


def test_product_issues_list_for_director(client, issue):
    Note.objects.create(contact=issue.contact, body="an ordinary note")
    client.force_login(user("director", username="dir"))
    html = client.get(reverse("web:product_issues")).content.decode()
    assert "Out of stock: roses" in html and "Roses" in html and "seller" in html
    assert reverse("web:contact_detail", args=[issue.contact_id]) in html
    assert "an ordinary note" not in html


def test_director_resolves_an_issue_and_it_leaves_the_open_list(client, issue):
    client.force_login(user("director", username="dir"))
    response = client.post(reverse("web:product_issue_resolve", args=[issue.pk]), **HTMX)
    assert response.status_code == 200
    assert "Resolved" in response.content.decode()
    issue.refresh_from_db()
    assert issue.resolved_at is not None
    assert "Out of stock" not in client.get(reverse("web:product_issues")).content.decode()
    assert "Out of stock" in client.get(reverse("web:product_issues"), {"show": "all"}).content.decode()


def test_guest_reads_product_issues_but_cannot_resolve(client, issue):
    client.force_login(user("guest", username="gus"))
    html = client.get(reverse("web:product_issues")).content.decode()
    assert "Out of stock" in html
    assert reverse("web:product_issue_resolve", args=[issue.pk]) not in html
    assert client.post(reverse("web:product_issue_resolve", args=[issue.pk])).status_code == 403
    issue.refresh_from_db()
    assert issue.resolved_at is None


@pytest.mark.parametrize("role", ["sales", "data_quality"])
def test_product_issues_refused_to_roles_without_it(client, role):
    client.force_login(user(role, username=f"u_{role}"))
    assert client.get(reverse("web:product_issues")).status_code == 403
