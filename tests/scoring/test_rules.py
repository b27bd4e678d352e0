"""Rule validation (services) and the condition evaluator."""

from __future__ import annotations

import pytest

from leadbridge.core.errors import Forbidden, ValidationFailed
from leadbridge.scoring.conditions import evaluate
from leadbridge.scoring.services import rule_create, rule_update, settings_update
from tests.factories import user
from tests.scoring.conftest import rule


def _errors(exc: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, str]:
    return {e.field: e.message for e in exc.value.errors}


def test_condition_is_stored_in_canonical_form() -> None:
    r = rule(source="pageview", condition="url~'/pricing'  AND  NOT referrer exists", points=1)
    assert r.condition == 'url ~ "/pricing" and not referrer exists'


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"source": "pageview", "condition": "url ~ /x"}, "condition", "Position 6"),
        ({"source": "pageview", "condition": "emial = x"}, "condition", "unknown field 'emial'"),
        ({"source": "pageview", "condition": "url = a and tag:vip"}, "condition", "Position 12"),
        ({"source": "pageview", "condition": "kind = visit"}, "condition", "unknown value 'visit'"),
        ({"source": "pageview", "condition": "props = 1"}, "condition", "unknown field 'props'"),
        ({"source": "inquiry", "condition": "url ~ x"}, "condition", "unknown field 'url'"),
        ({"source": "pageview", "event_name": "signup"}, "event_name", "Only for rules on"),
        ({"source": "touch", "channel": "carrier_pigeon"}, "channel", "No channel"),
        ({"source": "inquiry", "class_kind": "vip"}, "class_kind", "Choose one of"),
        ({"source": "pageview", "cap_points": 10}, "cap_days", "both"),
        ({"source": "pageview", "frequency": "once", "cap_points": 5, "cap_days": 7}, "cap_points", "once"),
        ({"source": "pageview", "points": 0}, "points", "at least one point"),
        ({"source": "webinar"}, "source", "Choose one of"),
        ({"source": "pageview", "colour": "red"}, "colour", "Unknown field"),
    ],
)
def test_behaviour_rule_errors(data: dict, field: str, message: str) -> None:
    data = {"name": "r", "kind": "behaviour", "points": 5, **data}
    with pytest.raises(ValidationFailed) as exc:
        rule_create(actor=None, data=data)
    assert message in _errors(exc)[field]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({}, "condition", "needs a contact filter"),
        ({"condition": "score > 10"}, "condition", "cannot depend on the score"),
        ({"condition": "band = hot"}, "condition", "cannot depend on the score"),
        ({"condition": "job_title ~ director", "source": "pageview"}, "source", "leave this empty"),
        ({"condition": "nosuchfield = 1"}, "condition", "Position 0"),
    ],
)
def test_fit_rule_errors(data: dict, field: str, message: str) -> None:
    data = {"name": "fit", "kind": "fit", "points": 5, **data}
    with pytest.raises(ValidationFailed) as exc:
        rule_create(actor=None, data=data)
    assert message in _errors(exc)[field]


def test_only_marketing_directors_and_admins_manage_rules() -> None:
    with pytest.raises(Forbidden):
        rule_create(
            actor=user("sales"), data={"name": "x", "kind": "behaviour", "source": "pageview", "points": 1}
        )
    created = rule_create(
        actor=user("marketing"), data={"name": "x", "kind": "behaviour", "source": "pageview", "points": 1}
    )
    with pytest.raises(Forbidden):
        settings_update(actor=user("sales_head"), data={"hot_threshold": 90})
    with pytest.raises(Forbidden):
        rule_update(actor=user("guest"), rule_id=created.pk, data={"points": 2})


def test_update_is_partial_and_kind_is_fixed() -> None:
    r = rule(source="event", event_name="signup", points=5)
    r = rule_update(actor=None, rule_id=r.pk, data={"points": 7, "cap_points": 20, "cap_days": 7})
    assert (r.points, r.event_name, r.cap_points, r.cap_days) == (7, "signup", 20, 7)
    with pytest.raises(ValidationFailed):
        rule_update(actor=None, rule_id=r.pk, data={"kind": "fit"})
    r = rule_update(
        actor=None, rule_id=r.pk, data={"frequency": "once", "cap_points": None, "cap_days": None}
    )
    assert r.frequency == "once"


def test_settings_validation() -> None:
    with pytest.raises(ValidationFailed) as exc:
        settings_update(actor=None, data={"warm_threshold": 50, "hot_threshold": 40})
    assert "hot_threshold" in _errors(exc)
    with pytest.raises(ValidationFailed) as exc:
        settings_update(actor=None, data={"decay_mode": "percent", "decay_amount": 150})
    assert "decay_amount" in _errors(exc)
    s = settings_update(actor=None, data={"decay_mode": "points", "decay_amount": 5, "decay_days": 14})
    assert (s.decay_mode, s.decay_amount, s.decay_days) == ("points", 5, 14)


HIT = {
    "kind": "event",
    "url": "https://shop.example/pricing?plan=pro",
    "title": "Pricing",
    "referrer": "",
    "name": "signup",
    "props": '{"plan": "pro", "seats": 12, "trial": true, "company": {"size": "50-200"}}',
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("name = signup", True),
        ("name = SIGNUP", False),  # text = is exact
        ('url ~ "PRICING"', True),  # ~ ignores case
        ("path = /pricing", False),  # a bare word cannot hold '/': quoted below
        ('path = "/pricing"', True),
        ("host = shop.example", True),
        ("referrer exists", False),
        ("not referrer exists", True),
        ("referrer != x", True),  # a missing value is not x
        ("props.plan in (pro, team)", True),
        ("props.plan not in (pro, team)", False),
        ("props.seats > 10 and props.seats <= 12", True),
        ("props.seats between 13 and 20", False),
        ("props.trial = true", True),
        ('props.company.size = "50-200"', True),
        ("props.missing = null", True),
        ("props.missing exists", False),
        ('props.plan !~ "pr"', False),
        ("kind = event or kind = pixel", True),
        ("kind in (pageview, pixel)", False),
    ],
)
def test_condition_semantics(condition: str, expected: bool) -> None:
    if condition == "path = /pricing":
        with pytest.raises(ValidationFailed):
            evaluate(condition, source="event", row=HIT)
        return
    assert evaluate(condition, source="event", row=HIT) is expected
