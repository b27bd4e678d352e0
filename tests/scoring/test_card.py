"""The contact card's "Score" section explains the score: rules, points, times, decay, latest."""

from __future__ import annotations

import datetime as dt

from django.test import Client
from django.urls import reverse
from django.utils import translation

from leadbridge.core import clock
from leadbridge.scoring.services import decay_apply, rule_delete, settings_update
from tests.factories import user
from tests.scoring.conftest import NOW, hit, rule, run


def _card(contact, *, language: str = "en") -> str:
    client = Client()
    admin = user("admin", username="card_admin")
    if language != "en":
        admin.language = language
        admin.save(update_fields=["language"])
    client.force_login(admin)
    response = client.get(
        reverse("web:contact_detail", args=[contact.pk]), headers={"accept-language": language}
    )
    assert response.status_code == 200
    return response.content.decode()


def test_card_explains_the_score(person) -> None:
    settings_update(actor=None, data={"decay_mode": "points", "decay_amount": 5, "decay_days": 10})
    contact, v = person()
    rule(name="Pricing page", source="pageview", condition='path ~ "/pricing"', points=20)
    gone = rule(name="Old rule", source="pageview", points=1)
    rule(name="Directors", kind="fit", condition='job_title = "CEO"', points=15)
    hit(v, url="https://shop.example/pricing")
    hit(v, url="https://shop.example/pricing")
    run()
    rule_delete(actor=None, rule_id=gone.pk)
    with clock.frozen(NOW + dt.timedelta(days=11)):
        decay_apply()
    html = _card(contact)
    assert 'id="score"' in html
    assert 'data-testid="score-value">35<' in html
    assert 'data-band="warm"' in html
    assert "Pricing page" in html and "+40" in html
    assert "Decay (no activity)" in html and "-5" in html
    assert "warm from 30, hot from 60" in html
    assert "Old rule" not in html  # deleted with its points


def test_card_without_points(person) -> None:
    contact, _v = person()
    html = _card(contact)
    assert "No points yet" in html
    assert 'data-band="cold"' in html


def test_card_in_russian(person) -> None:
    contact, v = person()
    rule(name="Просмотры", source="pageview", points=70)
    hit(v)
    run()
    with translation.override("ru"):
        html = _card(contact, language="ru")
    assert "Горячий" in html
    assert "тёплый от 30, горячий от 60" in html
    assert "Последние баллы" in html
