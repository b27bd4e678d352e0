"""Demo scoring rules (`leadbridge demo`): what a flower shop's marketer would set up first. The
worker scores the demo shop's hits with them once it runs (`leadbridge serve` starts one)."""

from __future__ import annotations

from typing import Any

from leadbridge.scoring.models import ScoringRule
from leadbridge.scoring.services import rule_create

RULES: list[dict[str, Any]] = [
    {
        "kind": "behaviour",
        "name": "Visited a page",
        "source": "pageview",
        "points": 1,
        "cap_points": 10,
        "cap_days": 7,
    },
    {
        "kind": "behaviour",
        "name": "Looked at prices",
        "source": "pageview",
        "condition": 'path ~ "/pricing"',
        "points": 5,
        "cap_points": 15,
        "cap_days": 7,
    },
    {
        "kind": "behaviour",
        "name": "Added to cart",
        "source": "event",
        "event_name": "cart_add",
        "points": 8,
        "cap_points": 24,
        "cap_days": 7,
    },
    {"kind": "behaviour", "name": "Bought", "source": "event", "event_name": "purchase", "points": 20},
    {
        "kind": "behaviour",
        "name": "Signed up",
        "source": "event",
        "event_name": "signup",
        "points": 15,
        "frequency": "once",
    },
    {"kind": "fit", "name": "Qualified by sales", "condition": "stage >= sql", "points": 20},
]


def load_scoring_demo() -> int:
    """The demo rules (nothing when any rule exists already); how many were created."""
    if ScoringRule.objects.exists():
        return 0
    for data in RULES:
        rule_create(actor=None, data=data)
    return len(RULES)
