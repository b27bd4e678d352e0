"""Demo saved segments (`leadbridge demo`), made by the demo's marketer: one of each kind of
question the language answers — behaviour, a cart left behind, score bands, stage with visits."""

from __future__ import annotations

from typing import Any

from leadbridge.segments.models import Segment
from leadbridge.segments.services import segment_create

SEGMENTS = [
    ("Looked at prices (30 days)", 'visited("/pricing*") within 30d', "Prospects comparing prices."),
    (
        "Abandoned carts (7 days)",
        'event("cart_add") within 7d and not event("purchase") within 7d',
        "Added to the cart this week and did not buy: a reminder works best within days.",
    ),
    ("Hot leads", "band = hot", "Scored hot by the scoring rules."),
    ("Engaged MQLs", "stage >= mql and visits >= 5 within 30d", "Qualified by marketing and still browsing."),
]


def load_segments_demo(*, actor: Any) -> int:
    """The demo segments (nothing when any segment exists already); how many were created."""
    if Segment.objects.exists():
        return 0
    for name, text, description in SEGMENTS:
        segment_create(actor=actor, name=name, filter=text, description=description)
    return len(SEGMENTS)
