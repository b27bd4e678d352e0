"""Audit log and settings pages: roles, inline errors, tokens shown once."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.urls import reverse

from leadbridge.accounts.models import ApiToken, Team, User
from leadbridge.accounts.services import token_create
from leadbridge.contacts.models import ContactTag, CustomField, Tag
from leadbridge.contacts.services import contact_create, contact_update
from leadbridge.core.audit import audit_record
from leadbridge.core.models import AuditEntry
from tests.factories import ContactFactory, TagFactory, user

pytestmark = pytest.mark.django_db


# --- audit log --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["guest", "sales", "marketing", "data_quality", "presales"])
def test_audit_log_refused_without_audit_view(client, role):
    client.force_login(user(role, username=f"u_{role}"))
    assert client.get(reverse("web:audit_list")).status_code == 403


def test_audit_log_shows_who_what_and_a_readable_diff(client, admin):
    contact = contact_create(actor=admin, data={"name": "Olga", "phone": "+79161234567"})
    contact_update(
        actor=admin, contact_id=contact.pk, data={"city": "Kazan", "name": "Olga <script>x</script>"}
    )
    client.force_login(user("director", username="dir"))
    response = client.get(reverse("web:audit_list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "contact.update" in html and "contact.create" in html
    assert reverse("web:contact_detail", args=[contact.pk]) in html
    update_row = html[html.index('data-action="contact.update"') :].split("</tr>\n  \n")[0]
    assert "admin" in update_row
    assert '<del class="diff-before">Olga</del>' in update_row
    assert '<ins class="diff-after">Kazan</ins>' in update_row
    assert "&lt;script&gt;" in html and "<script>x" not in html


def test_audit_log_filters_by_object_and_actor(client, admin):
    other = user("sales_head", username="helen")
    c1 = contact_create(actor=admin, data={"name": "One"})
    c2 = contact_create(actor=other, data={"name": "Two"})
    client.force_login(admin)
    by_object = client.get(reverse("web:audit_list"), {"object_type": "contact", "object_id": str(c1.pk)})
    assert [r["entry"].object_id for r in by_object.context["entries"]] == [str(c1.pk)]
    by_actor = client.get(reverse("web:audit_list"), {"actor": "HELEN"})
    assert {r["entry"].object_id for r in by_actor.context["entries"]} == {str(c2.pk)}
    assert client.get(reverse("web:audit_list"), {"object_type": "nothing"}).context["entries"] == []


def test_audit_log_keyset_pagination(client, admin):
    for i in range(60):
        audit_record(actor=admin, action="test.step", object_type="thing", object_id=i)
    client.force_login(admin)
    first = client.get(reverse("web:audit_list"), {"object_type": "thing"})
    assert len(first.context["entries"]) == 50
    next_query = first.context["next_query"]
    assert "object_type=thing" in next_query and "cursor=" in next_query
    second = client.get(reverse("web:audit_list") + "?" + next_query)
    assert [r["entry"].object_id for r in second.context["entries"]] == [str(i) for i in range(9, -1, -1)]
    assert second.context["next_query"] == ""
    assert client.get(reverse("web:audit_list"), {"cursor": "garbage"}).status_code == 400


# --- settings: access ---------------------------------------------------------------------------


def test_every_user_sees_their_tokens_but_not_admin_sections(client):
    client.force_login(user("sales", username="sam"))
    response = client.get(reverse("web:settings"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="settings-tab-tokens"' in html
    assert 'data-testid="settings-tab-users"' not in html
    for tab in ("users", "fields", "tags"):
        assert client.get(reverse("web:settings"), {"tab": tab}).status_code == 403


@pytest.mark.parametrize(
    ("role", "tab", "status"),
    [
        ("director", "fields", 403),  # custom fields: admin only
        ("director", "users", 403),
        ("director", "tags", 200),
        ("marketing", "tags", 200),
        ("guest", "tags", 403),
        ("admin", "fields", 200),
        ("admin", "users", 200),
    ],
)
def test_settings_tabs_follow_roles(client, role, tab, status):
    client.force_login(user(role, username=f"u_{role}"))
    assert client.get(reverse("web:settings"), {"tab": tab}).status_code == status


def test_writes_are_refused_to_roles_without_the_permission(client):
    client.force_login(user("sales", username="sam"))
    tag = TagFactory(name="vip")
    assert client.post(reverse("web:settings_tag_create"), {"name": "new"}).status_code == 403
    assert client.post(reverse("web:settings_tag_delete", args=[tag.pk])).status_code == 403
    data = {"key": "x", "label": "X", "kind": "text"}
    assert client.post(reverse("web:settings_custom_field_create"), data).status_code == 403
    assert (
        client.post(reverse("web:settings_user_create"), {"username": "evil", "role": "admin"}).status_code
        == 403
    )
    assert not Tag.objects.filter(key="new").exists()
    assert not CustomField.objects.exists()
    assert not User.objects.filter(username="evil").exists()


def test_settings_forms_need_csrf(admin):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)
    assert strict.post(reverse("web:settings_tag_create"), {"name": "x"}).status_code == 403
    page = strict.get(reverse("web:settings"), {"tab": "tags"}).content.decode()
    assert "csrfmiddlewaretoken" in page


# --- tokens -------------------------------------------------------------------------------------


def test_token_is_shown_once_and_only_its_hash_is_stored(client):
    sam = user("sales", username="sam")
    client.force_login(sam)
    response = client.post(reverse("web:settings_token_create"), {"name": "Zapier"})
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    raw = re.search(r'data-testid="new-token-value">([^<]+)<', html).group(1)
    row = ApiToken.objects.get(user=sam)
    assert row.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (row.token_hash, row.prefix, row.name)
    assert raw.startswith(row.prefix)
    listing = client.get(reverse("web:settings")).content.decode()
    assert raw not in listing
    assert row.prefix in listing and "Zapier" in listing


def test_token_name_too_long_is_an_inline_error(client):
    client.force_login(user("sales", username="sam"))
    response = client.post(reverse("web:settings_token_create"), {"name": "x" * 121})
    assert response.status_code == 422
    assert "At most 120 characters" in response.content.decode()
    assert not ApiToken.objects.exists()


def test_tokens_list_only_your_own_and_revoke(client):
    sam, other = user("sales", username="sam"), user("sales", username="other")
    token_create(user=other, name="not-yours")
    token_create(user=sam, name="mine")
    mine = ApiToken.objects.get(user=sam)
    theirs = ApiToken.objects.get(user=other)
    client.force_login(sam)
    html = client.get(reverse("web:settings")).content.decode()
    assert "mine" in html and "not-yours" not in html
    assert client.post(reverse("web:settings_token_revoke", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    assert client.post(reverse("web:settings_token_revoke", args=[mine.pk])).status_code == 302
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    assert "Revoked" in client.get(reverse("web:settings")).content.decode()


# --- tags ---------------------------------------------------------------------------------------


def test_tags_are_listed_with_counts_and_created_and_deleted(client):
    vip = TagFactory(name="VIP")
    for c in ContactFactory.create_batch(3):
        ContactTag.objects.create(contact=c, tag=vip)
    client.force_login(user("marketing", username="mia"))
    page = client.get(reverse("web:settings"), {"tab": "tags"})
    assert [(t.name, t.contact_count) for t in page.context["tags"]] == [("VIP", 3)]
    assert (
        client.post(reverse("web:settings_tag_create"), {"name": "Beach", "color": "#00aa00"}).status_code
        == 302
    )
    assert Tag.objects.filter(key="beach", color="#00aa00").exists()
    duplicate = client.post(reverse("web:settings_tag_create"), {"name": "vip"})
    assert duplicate.status_code == 409
    assert "Already exists" in duplicate.content.decode()
    empty = client.post(reverse("web:settings_tag_create"), {"name": "  "})
    assert empty.status_code == 422 and "A tag needs a name" in empty.content.decode()
    assert client.post(reverse("web:settings_tag_delete", args=[vip.pk])).status_code == 302
    assert not Tag.objects.filter(pk=vip.pk).exists()
    assert client.post(reverse("web:settings_tag_delete", args=[vip.pk])).status_code == 404


# --- custom fields ----------------------------------------------------------------------------


def test_custom_field_create_with_inline_errors_then_success(client, admin):
    client.force_login(admin)
    url = reverse("web:settings_custom_field_create")
    bad = client.post(
        url, {"entity": "contact", "key": "1 bad key", "label": "Partner", "kind": "choice", "choices": ""}
    )
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "start with a letter" in html
    assert "A choice field needs at least one choice" in html
    assert 'value="Partner"' in html  # the label typed is kept
    assert not CustomField.objects.exists()
    good = client.post(
        url, {"entity": "contact", "key": "size", "label": "Size", "kind": "choice", "choices": "S\nM\n\nL"}
    )
    assert good.status_code == 302
    field = CustomField.objects.get()
    assert (field.key, field.kind, field.choices) == ("size", "choice", ["S", "M", "L"])
    listing = client.get(reverse("web:settings"), {"tab": "fields"}).content.decode()
    assert "custom.size" in listing and "S, M, L" in listing
    assert (
        client.post(url, {"entity": "contact", "key": "size", "label": "again", "kind": "text"}).status_code
        == 409
    )
    assert client.post(reverse("web:settings_custom_field_delete", args=[field.pk])).status_code == 302
    assert not CustomField.objects.exists()


# --- users --------------------------------------------------------------------------------------


def test_admin_creates_a_user_with_a_team(client, admin):
    client.force_login(admin)
    url = reverse("web:settings_user_create")
    bad = client.post(
        url, {"username": "", "role": "sales", "password": "short", "email": "nope", "team": "Moscow"}
    )
    assert bad.status_code == 422
    html = bad.content.decode()
    assert "Username is required" in html
    assert "Not a valid email address" in html
    assert 'name="password" type="password" autocomplete="new-password">' in html  # never echoed back
    assert not Team.objects.filter(name="Moscow").exists()  # nothing half-written
    ok = client.post(
        url,
        {
            "username": "pavel",
            "role": "sales",
            "password": "Long-enough-9",
            "email": "p@example.test",
            "team": "Moscow",
        },
    )
    assert ok.status_code == 302
    pavel = User.objects.get(username="pavel")
    assert (pavel.role, pavel.team.name, pavel.check_password("Long-enough-9")) == ("sales", "Moscow", True)
    assert AuditEntry.objects.filter(action="user.create", actor=admin).exists()
    listing = client.get(reverse("web:settings"), {"tab": "users"}).content.decode()
    assert "pavel" in listing and "Moscow" in listing and "Sales manager" in listing
    taken = client.post(url, {"username": "PAVEL", "role": "sales"})
    assert taken.status_code == 409 and "Already taken" in taken.content.decode()
