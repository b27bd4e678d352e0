"""Demo data of the capture app (`leadbridge demo`): a tracked flower shop whose visitors browse,
fill carts and buy over the last 60 days, a sixth of the demo contacts among them, so that
behaviour segments, lead scoring and the contact card's visits have something to show.

Hits go through capture's own bulk path (`plain_hits_store`) in time order, as the tracker
would have stored them; visitors are then linked to their contacts. The worker rolls them up
for behaviour filters and scores them within seconds of `leadbridge serve` (filters read what
is not rolled up yet from the hits themselves, so nothing waits for it).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

from leadbridge.capture.models import EventKind, Site, TrackingEvent, Visitor
from leadbridge.capture.services import plain_hits_store, site_create
from leadbridge.contacts.models import Contact
from leadbridge.core import clock

SITE_NAME = "Demo flower shop"
ORIGIN = "https://flowers.example"
PAGES = {
    "/": "Flowers with delivery",
    "/catalog": "Catalog",
    "/catalog/roses": "Roses",
    "/catalog/tulips": "Tulips",
    "/catalog/peonies": "Peonies",
    "/pricing": "Prices and delivery",
    "/delivery": "Delivery zones",
    "/blog/care-tips": "How to keep cut flowers fresh",
    "/cart": "Your cart",
    "/checkout": "Checkout",
}
PRODUCTS = [("rose-red-25", 3900), ("tulip-mix-15", 2100), ("peony-pink-9", 4500), ("bouquet-spring", 3200)]
CHUNK = 5_000


def _visit(rng: random.Random, start: dt.datetime) -> list[tuple[Any, ...]]:
    """One visit's hits: (kind, at, url, title, referrer, name, props JSON)."""
    path = ["/"] if rng.random() < 0.6 else []
    path += rng.sample(
        ["/catalog", "/catalog/roses", "/catalog/tulips", "/catalog/peonies", "/blog/care-tips"],
        rng.randint(1, 3),
    )
    if rng.random() < 0.35:
        path += ["/pricing"] + (["/delivery"] if rng.random() < 0.5 else [])
    rows: list[tuple[Any, ...]] = []
    at = start
    for page in path:
        rows.append((int(EventKind.PAGEVIEW), at, ORIGIN + page, PAGES[page], "", "", None))
        at += dt.timedelta(seconds=rng.randint(20, 150))
    if rng.random() < 0.3:
        sku, price = rng.choice(PRODUCTS)
        props = json.dumps({"sku": sku, "amount": price})
        rows.append((int(EventKind.EVENT), at, ORIGIN + "/cart", PAGES["/cart"], "", "cart_add", props))
        rows.append((int(EventKind.PAGEVIEW), at, ORIGIN + "/cart", PAGES["/cart"], "", "", None))
        if rng.random() < 0.4:  # most carts are abandoned
            at += dt.timedelta(seconds=rng.randint(60, 400))
            rows.append((int(EventKind.PAGEVIEW), at, ORIGIN + "/checkout", PAGES["/checkout"], "", "", None))
            rows.append(
                (int(EventKind.EVENT), at, ORIGIN + "/checkout", PAGES["/checkout"], "", "purchase", props)
            )
    if rng.random() < 0.05:
        rows.append((int(EventKind.EVENT), at, ORIGIN + "/", PAGES["/"], "", "signup", None))
    return rows


def load_capture_demo(*, seed: int = 42, days: int = 60) -> dict[str, int]:
    """The demo shop and its visitors' hits (nothing when the shop exists already)."""
    if Site.objects.filter(name=SITE_NAME).exists():
        return {"visitors": 0, "linked": 0, "hits": 0}
    rng = random.Random(seed)
    site = site_create(actor=None, name=SITE_NAME, origins=[ORIGIN])
    now = clock.now().replace(microsecond=0)
    contacts = list(Contact.objects.alive().exclude(email="").order_by("id").values_list("id", flat=True))
    linked = rng.sample(contacts, min(len(contacts), max(20, len(contacts) // 6)))
    anonymous = max(10, len(linked) * 2 // 3)
    owners: dict[str, int] = {}
    items: list[tuple[int, str, tuple[Any, ...]]] = []
    for n in range(len(linked) + anonymous):
        uid = f"demo-{n:05d}"
        if n < len(linked):
            owners[uid] = linked[n]
        # Some visitors come back often (the warm and hot leads), most once or twice.
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 5, 8])):
            start = now - dt.timedelta(seconds=rng.randint(600, days * 86_400))
            items += [(site.pk, uid, row) for row in _visit(rng, start)]
    items.sort(key=lambda item: item[2][1])
    for offset in range(0, len(items), CHUNK):
        plain_hits_store(items[offset : offset + CHUNK])
    by_uid = dict(Visitor.objects.filter(site=site).values_list("uid", "pk"))
    for uid, contact_id in owners.items():
        Visitor.objects.filter(pk=by_uid[uid]).update(contact_id=contact_id)
    return {
        "visitors": len(by_uid),
        "linked": len(owners),
        "hits": TrackingEvent.objects.filter(visitor_id__in=by_uid.values()).count(),
    }
