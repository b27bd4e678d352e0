"""Login/logout, role-aware navigation, and per-user language and time zone."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from leadbridge.core.roles import Perm
from leadbridge.web import context
from tests.factories import user

pytestmark = pytest.mark.django_db

PASSWORD = "Secret-pass-1"


def nav_keys(html: str) -> set[str]:
    import re

    return set(re.findall(r'data-nav="([a-z_]+)"', html))


def exists(url_name: str) -> bool:
    try:
        reverse(url_name)
    except NoReverseMatch:
        return False
    return True


def test_login_with_csrf_and_logout() -> None:
    user("sales", username="anna")
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/")
    assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in page.content.decode()
    assert client.post("/login/", {"username": "anna", "password": PASSWORD}).status_code == 403  # no token
    token = client.cookies["csrftoken"].value
    bad = client.post("/login/", {"username": "anna", "password": "wrong", "csrfmiddlewaretoken": token})
    assert bad.status_code == 200 and "alert-error" in bad.content.decode()
    ok = client.post(
        "/login/", {"username": "anna", "password": PASSWORD, "csrfmiddlewaretoken": token}, follow=True
    )
    assert ok.redirect_chain[-1][0] == "/contacts/"
    assert 'data-testid="user-menu"' in ok.content.decode()
    token = client.cookies["csrftoken"].value
    out = client.post("/logout/", {"csrfmiddlewaretoken": token})
    assert out.status_code == 302 and out["Location"] == "/login/"
    assert client.get("/contacts/").status_code == 302


def test_navigation_depends_on_role(client: Client) -> None:
    everyone = {"contacts", "companies", "segments", "settings"}  # Settings: at least one's own API tokens
    expected = {
        "admin": everyone
        | {"inquiries", "campaigns", "quality", "import", "product_issues", "audit", "capture_settings"},
        # Sales work the inbox and read campaigns (their sales scripts).
        "sales": everyone | {"inbox", "campaigns"},
        "sales_head": everyone
        | {
            "inbox",
            "inquiries",
            "campaigns",
            "product_issues",
            "capture_settings",
            "quality",
            "import",
            "audit",
        },
        "marketing": everyone | {"inquiries", "campaigns", "capture_settings", "import", "product_issues"},
        "guest": everyone | {"inquiries", "campaigns", "product_issues"},
        "data_quality": everyone | {"quality", "import"},
        "director": everyone
        | {"inquiries", "campaigns", "quality", "import", "product_issues", "audit", "capture_settings"},
    }
    available = {key for key, _label, name, _perms in context.NAV if exists(name)}
    for role, keys in expected.items():
        client.force_login(user(role, username=f"u_{role}"))
        html = client.get("/contacts/").content.decode()
        assert nav_keys(html) == keys & available, (role, nav_keys(html) ^ (keys & available))
        assert {"contacts", "companies"} <= nav_keys(html)


def test_navigation_skips_pages_that_do_not_exist_yet(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        context, "NAV", [*context.NAV, ("future", "Future", "web:not_built_yet", (Perm.CONTACT_VIEW,))]
    )
    client.force_login(user("admin"))
    response = client.get("/contacts/")
    assert response.status_code == 200 and "future" not in nav_keys(response.content.decode())
    assert response.context["can"]["contact_edit"] is True
    assert response.context["can"]["user_manage"] is True


def test_language_switch_is_saved_on_the_user(client: Client) -> None:
    u = user("sales", username="ivan")
    client.force_login(u)
    assert ">Contacts<" in client.get("/contacts/").content.decode()
    response = client.post("/account/", {"language": "ru", "next": "/contacts/"})
    assert response.status_code == 302 and response["Location"] == "/contacts/"
    u.refresh_from_db()
    assert u.language == "ru"
    html = client.get("/contacts/").content.decode()
    assert 'lang="ru"' in html and ">Контакты<" in html and "Настройки сохранены." in html
    # A foreign `next` is not followed.
    response = client.post("/account/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/account/"


def test_time_zone_is_saved_and_bad_values_are_inline_errors(client: Client) -> None:
    u = user("sales", username="tz")
    client.force_login(u)
    page = client.get("/account/").content.decode()
    assert 'value="Europe/Moscow"' in page
    response = client.post("/account/", {"timezone": "Mars/Olympus", "language": "en"})
    assert response.status_code == 422 and "Unknown time zone" in response.content.decode()
    response = client.post("/account/", {"timezone": "Europe/Moscow", "language": "xx"})
    assert response.status_code == 422 and "Unsupported language" in response.content.decode()
    u.refresh_from_db()
    assert (u.language, u.timezone) == ("", "")
    assert client.post("/account/", {"timezone": "Asia/Tokyo", "language": "en"}).status_code == 302
    u.refresh_from_db()
    assert (u.language, u.timezone) == ("en", "Asia/Tokyo")
    assert "Asia/Tokyo" in client.get("/account/").content.decode()


def test_account_needs_login_and_csrf() -> None:
    assert Client().get("/account/").status_code == 302
    client = Client(enforce_csrf_checks=True)
    client.force_login(user("guest", username="g"))
    assert client.post("/account/", {"language": "ru"}).status_code == 403
