"""Tracking events at scale: bulk load, bytes per event, a contact's sources/visits and timeline
through `leadbridge serve` next to the raw database, and pruning old hits.

    python bench/events_bench.py [--sqlite DIR] [--postgres URL] [--generate [N]] [--visitors 1000000]
        [--days 180] [--end YYYY-MM-DD] [--seed 42] [--reset] [--requests 200] [--user bench_admin]
        [--no-latency] [--prune [DAYS]] [--out FILE]

Runs against data sets made by `bench/generate.py` (contacts 1..C must exist; run `leadbridge
init` on them first so the capture tables and default channels exist). Databases are done one
after the other: a LEADBRIDGE_DATA_DIR holding leadbridge.sqlite3 and/or a PostgreSQL URL.

1. `--generate N` (default 10,000,000) bulk-loads N tracking events of --visitors visitors over
   --days days ending at --end (default: today, UTC): a flower shop's page views (catalog,
   products, cart, blog, search; Russian titles; landing pages with and without UTM and click
   ids, search/social/referral referrers, internal referrers after the landing page), ~6%
   custom events with small props, one `identify` hit per linked visitor. 20% of the visitors
   are linked to contacts (some contacts have two or three visitors), five heavy contacts have
   thousands of events over several visitors. Every session with a source (UTM, click id or an
   external referrer) gets a `visit` Touch (channel by the app's own rules), linked visitors'
   contacts get their ContactSource, visitors their first/last touch. Ids grow with time, as
   when the tracker stores them. Rows go in with `executemany` (SQLite) or `COPY` (PostgreSQL)
   with the tables' plain indexes dropped and rebuilt after; seeded, so both databases get the
   same rows. `--reset` empties the capture tables first (else the script refuses to add to
   existing events).
2. Sizes: bytes per event (table + its indexes; SQLite via dbstat, PostgreSQL via pg_table_size
   and pg_relation_size of each index), the same for visitors and touches, and the average
   UTF-8 bytes of the event's text columns.
3. Latency (unless --no-latency): `leadbridge serve --no-worker`, login through the form, then
   200 sequential httpx requests per kind: the contact card (which carries the "Sources and
   visits" block: touches and the 20 latest page views), the card's timeline partial
   (`/contacts/<id>/timeline/`, HX-Request) and the visit list on its own (`/contacts/<id>/visits/`,
   HX-Request: the first 50 hits; `visits_older`: the next 50, through the cursor the first page
   links to, for contacts that have more) for light (<= 3 events), typical (around the median
   of linked contacts) and the heaviest contact, plus an untracked contact's card as the
   baseline. Each with p50/p95 and `server_cpu_ms`, beside the same data queries hand-written
   on a direct connection (`raw_*`: card, sources block, visits, touches, timeline;
   `visits_in_list` is the first version's visits query, kept for comparison). Then, in a
   child process, the selectors themselves (`contact_sources`, `contact_visits`,
   `contact_touches`) in-process, with the query plan of the visits query.
4. `--prune [DAYS]` (default 90; last, it deletes about half the events): times
   `leadbridge events prune --older-than DAYS` and checks that Touch, ContactSource and Visitor
   rows are unchanged.

Prints one JSON document (and writes it to --out after every phase; a failed phase is recorded
there and ends that database). The 1-minute load average is recorded: the machine is shared,
and server CPU per request and the raw ratios hold up better than wall time.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, run_child
from bench.pages_bench import PASSWORD, Raw, Server, db_env, login, summary, timed

TARGET_P95_MS = 50.0
SITE_NAME = "Bench flower shop"
ORIGIN = "https://flora-shop.example"
DAY = 86400
CHUNK = 100_000  # events per write; a transaction commits every COMMIT_EVERY events
COMMIT_EVERY = 1_000_000
HEAVY_EVENTS = (1_500, 3_000, 6_000, 12_000, 24_000)  # per heavy contact, at 10M events
LINKED_SHARE = 0.2

# --- the shop --------------------------------------------------------------------------------------

CATEGORIES = [
    ("bouquets", "Букеты"), ("roses", "Розы"), ("tulips", "Тюльпаны"), ("peonies", "Пионы"),
    ("chrysanthemums", "Хризантемы"), ("plants", "Комнатные растения"), ("gifts", "Подарки и открытки"),
    ("wedding", "Свадебная флористика"), ("corporate", "Корпоративным клиентам"), ("sale", "Акции"),
]  # fmt: skip
PRODUCT_WORDS = [
    ("nezhnost", "Нежность"), ("vesenniy-vals", "Весенний вальс"), ("belaya-noch", "Белая ночь"),
    ("pervoe-svidanie", "Первое свидание"), ("solnechny", "Солнечный"), ("klassika", "Классика"),
    ("romantika", "Романтика"), ("lavanda", "Лавандовое поле"), ("rassvet", "Рассвет"),
    ("zefir", "Зефир"), ("malinovy-zakat", "Малиновый закат"), ("severnoe-siyanie", "Северное сияние"),
    ("letniy-sad", "Летний сад"), ("mechta", "Мечта"), ("shepot", "Шёпот"), ("aurora", "Аврора"),
]  # fmt: skip
BLOG = [
    ("kak-sohranit-buket", "Как сохранить букет свежим дольше"), ("cvety-na-8-marta", "Цветы на 8 марта: что дарить"),
    ("yazyk-cvetov", "Язык цветов: что означает ваш букет"), ("uhod-za-orhideey", "Уход за орхидеей дома"),
    ("svadebny-buket", "Как выбрать свадебный букет"), ("piony-sezon", "Когда сезон пионов"),
]  # fmt: skip
SEARCHES = ["пионы", "розы 101", "букет невесты", "тюльпаны", "доставка сегодня", "орхидея", "корзина цветов"]
INFO = [("/delivery/", "Доставка и оплата"), ("/contacts/", "Контакты"), ("/about/", "О магазине")]
EVENT_NAMES = [
    ("cart_add", 0.45), ("product_view", 0.2), ("checkout_start", 0.1), ("phone_click", 0.08),
    ("form_submit", 0.07), ("favorite_add", 0.06), ("video_play", 0.04),
]  # fmt: skip
CAMPAIGNS = {
    "google": ["spring_sale", "brand", "march8", "wedding", "peonies_2026", "corporate"],
    "yandex": ["brand", "bouquets_msk", "retarget", "black_friday"],
    "vk": ["promo_nov", "giveaway", "new_collection"],
    "facebook": ["retarget", "lookalike"],
    "newsletter": ["nov-digest", "oct-digest", "black-friday", "abandoned-cart", "birthday"],
}
TERMS = ["доставка цветов", "купить розы", "букет невесты", "пионы москва", "цветы недорого", ""]
REFERRALS = [
    "https://zen.yandex.ru/media/flowers/top-10-magazinov", "https://www.pinterest.com/",
    "https://otzovik.com/reviews/flora-shop/", "https://www.wedding-blog.example/ideas/bouquets",
    "https://flowers-rating.example/moscow", "https://2gis.ru/moscow/firm/70000001",
]  # fmt: skip
# Where a session comes from: (code, share of first sessions, share of returning sessions).
SOURCES = [
    ("direct", 0.30, 0.58), ("google_organic", 0.17, 0.10), ("yandex_organic", 0.10, 0.06),
    ("google_cpc", 0.10, 0.05), ("yandex_cpc", 0.08, 0.04), ("vk", 0.06, 0.03),
    ("facebook", 0.04, 0.02), ("telegram", 0.03, 0.02), ("email", 0.07, 0.08), ("referral", 0.05, 0.02),
]  # fmt: skip


def cumulative(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def page_pool(rng: random.Random, size: int = 30_000) -> list[tuple[str, str]]:
    """(url, title) drawn with the shop's traffic shape: products by Zipf popularity, catalog pages,
    home, cart and checkout, blog, search, info pages. Picking from the pool is one random()."""
    products = []
    for pid in range(1, 3001):
        slug, word = PRODUCT_WORDS[pid % len(PRODUCT_WORDS)]
        _cat_slug, cat = CATEGORIES[pid % len(CATEGORIES)]
        stems = 5 + pid % 97
        products.append(
            (
                f"{ORIGIN}/product/{slug}-{pid}/",
                f"{cat[:-1] if cat.endswith('ы') else cat} «{word}» {stems} шт. — купить с доставкой | Флора",
            )
        )
    product_cum = cumulative([1.0 / (rank**0.9) for rank in range(1, len(products) + 1)])
    kinds = cumulative([45, 22, 8, 6, 2, 6, 4, 4, 3])
    pool: list[tuple[str, str]] = []
    for _ in range(size):
        k = bisect.bisect_left(kinds, rng.random())
        if k == 0:
            pool.append(products[bisect.bisect_left(product_cum, rng.random())])
        elif k == 1:
            slug, cat = rng.choice(CATEGORIES)
            page = rng.choice(["", "", "", "?page=2", "?sort=price", "?page=3&sort=popular"])
            pool.append((f"{ORIGIN}/catalog/{slug}/{page}", f"{cat} — каталог | Флора"))
        elif k == 2:
            pool.append((f"{ORIGIN}/", "Флора — доставка цветов в Москве за 2 часа"))
        elif k == 3:
            pool.append((f"{ORIGIN}/cart/", "Корзина | Флора"))
        elif k == 4:
            pool.append((f"{ORIGIN}/checkout/", "Оформление заказа | Флора"))
        elif k == 5:
            slug, title = rng.choice(BLOG)
            pool.append((f"{ORIGIN}/blog/{slug}/", f"{title} — блог Флоры"))
        elif k == 6:
            q = rng.choice(SEARCHES)
            pool.append((f"{ORIGIN}/search/?q={quote(q)}", f"Поиск: {q} | Флора"))
        elif k == 7:
            path, title = rng.choice(INFO)
            pool.append((f"{ORIGIN}{path}", f"{title} | Флора"))
        else:
            slug, cat = rng.choice(CATEGORIES[:4])
            pool.append((f"{ORIGIN}/catalog/{slug}/?price_to=3000&color=white", f"{cat} — каталог | Флора"))
    return pool


def source_instance(code: str, rng: random.Random) -> dict[str, Any]:
    """One session's source: utm, click ids and the external referrer of its landing hit."""
    utm: dict[str, str] = {}
    clicks: dict[str, str] = {}
    referrer = ""
    if code == "google_organic":
        referrer = "https://www.google.com/"
    elif code == "yandex_organic":
        referrer = "https://yandex.ru/"
    elif code == "google_cpc":
        utm = {"source": "google", "medium": "cpc", "campaign": rng.choice(CAMPAIGNS["google"])}
        term = rng.choice(TERMS)
        if term:
            utm["term"] = term
        clicks = {"gclid": f"Cj0KCQiA{rng.getrandbits(192):048x}_BwE"}
        referrer = "https://www.google.com/"
    elif code == "yandex_cpc":
        utm = {"source": "yandex", "medium": "cpc", "campaign": rng.choice(CAMPAIGNS["yandex"])}
        if rng.random() < 0.5:
            utm["content"] = rng.choice(["ad1", "ad2", "banner_top"])
        clicks = {"yclid": str(rng.randrange(10**17, 10**19))}
        referrer = "https://yandex.ru/"
    elif code == "vk":
        utm = {"source": "vk", "medium": "social", "campaign": rng.choice(CAMPAIGNS["vk"])}
        referrer = "https://vk.com/"
    elif code == "facebook":
        utm = {"source": "facebook", "medium": "paid_social", "campaign": rng.choice(CAMPAIGNS["facebook"])}
        clicks = {"fbclid": f"IwAR{rng.getrandbits(300):075x}"}
        referrer = "https://l.instagram.com/"
    elif code == "telegram":
        referrer = "https://t.me/"
    elif code == "email":
        utm = {"source": "newsletter", "medium": "email", "campaign": rng.choice(CAMPAIGNS["newsletter"])}
    elif code == "referral":
        referrer = rng.choice(REFERRALS)
    return {"utm": utm, "click_ids": clicks, "referrer": referrer}


def channel_of(code: str, src: dict[str, Any]) -> str:
    """The key of the channel table built in generate_child: referral sites one by one."""
    return str(src["referrer"]) if code == "referral" else code


def landing_query(src: dict[str, Any]) -> str:
    pairs = [(f"utm_{k}", v) for k, v in src["utm"].items()] + list(src["click_ids"].items())
    return "&".join(f"{k}={quote(v)}" for k, v in pairs)


# --- the load (child process, one database) --------------------------------------------------------


class Stamp:
    """Epoch milliseconds to the text the backend stores for a datetime (UTC): Django writes
    microseconds on SQLite (`2026-11-22 10:15:03.123000`), COPY takes `...+00` on PostgreSQL."""

    def __init__(self, vendor: str) -> None:
        self.pg = vendor == "postgresql"
        self.days: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        sec, milli = divmod(ms, 1000)
        day, rem = divmod(sec, DAY)
        d = self.days.get(day)
        if d is None:
            d = self.days[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        h, rem = divmod(rem, 3600)
        frac = f".{milli:03d}" if milli else ""
        if self.pg:
            return f"{d} {h:02d}:{rem // 60:02d}:{rem % 60:02d}{frac}+00"
        return f"{d} {h:02d}:{rem // 60:02d}:{rem % 60:02d}{frac}{'000' if milli else ''}"


def plan_visitors(
    rng: random.Random, n_events: int, n_visitors: int, n_contacts: int
) -> tuple[array[int], dict[int, int], list[list[int]]]:
    """Events per visitor (exactly n_events in all), the visitor -> contact links, and the heavy
    contacts' visitor ids. Index 0 of the array is unused (visitor ids start at 1)."""
    scale = n_events / 10_000_000
    heavy_totals = [max(20, int(h * scale)) for h in HEAVY_EVENTS]
    mean = (n_events - sum(heavy_totals)) / n_visitors
    # A third of the visitors bounce (one or two hits); the rest is lognormal-shaped with a long tail.
    bounce_share, bounce_mean = 0.35, 1.3
    rest_mean = max(1.0, (mean - bounce_share * bounce_mean) / (1 - bounce_share))
    sigma = 1.1
    scale_rest = max(0.0, (rest_mean - 1) / (2.718281828 ** (sigma * sigma / 2)))
    per = array("I", [0]) * (n_visitors + 1)
    for v in range(1, n_visitors + 1):
        if rng.random() < bounce_share:
            per[v] = 1 if rng.random() < 0.7 else 2
        else:
            per[v] = min(3000, 1 + int(scale_rest * rng.lognormvariate(0, sigma) + 0.5))
    links: dict[int, int] = {}
    heavy: list[list[int]] = []
    pool = rng.sample(range(1, n_contacts + 1), min(n_contacts, int(n_visitors * LINKED_SHARE) + 10))
    heavy_contacts = pool[:5]
    heavy_visitors = rng.sample(range(1, n_visitors + 1), 5 * 6)
    used: set[int] = set()
    for i, (contact, total) in enumerate(zip(heavy_contacts, heavy_totals, strict=True)):
        vids = heavy_visitors[i * 6 : i * 6 + 2 + i % 5]  # 2..6 devices
        shares = [rng.random() + 0.3 for _ in vids]
        left = total
        for j, v in enumerate(vids):
            n = left if j == len(vids) - 1 else max(1, int(total * shares[j] / sum(shares)))
            per[v] = n
            left -= n
            links[v] = contact
            used.add(v)
        heavy.append(vids)
    # Exact total: nudge random ordinary visitors by one event.
    diff = n_events - sum(per)
    while diff:
        v = rng.randrange(1, n_visitors + 1)
        if v in used:
            continue
        if diff > 0 and per[v] < 3000:
            per[v] += 1
            diff -= 1
        elif diff < 0 and per[v] > 1:
            per[v] -= 1
            diff += 1
    # Linked visitors: 20% of all; one in seven is a second or third device of an earlier contact.
    contacts_iter = iter(pool[5:])
    recent: list[int] = []
    for v in range(1, n_visitors + 1):
        if v in used or rng.random() >= LINKED_SHARE:
            continue
        if recent and rng.random() < 1 / 7:
            links[v] = rng.choice(recent)
        else:
            contact = next(contacts_iter, None)
            if contact is None:
                break
            links[v] = contact
            recent.append(contact)
            if len(recent) > 1000:
                recent = recent[-500:]
    return per, links, heavy


def plan_sessions(
    rng: random.Random, per: array[int], links: dict[int, int], heavy: set[int], window: int
) -> list[int]:
    """Every session as one int, sorted by start: start second << 44 | visitor << 20 | hits << 1 |
    identify flag. Sorting ints keeps 3M sessions in ~120 MB."""
    sessions: list[int] = []
    for v in range(1, len(per)):
        left = per[v]
        sizes = []
        big = v in heavy
        while left:
            s = min(left, 1 + int(rng.expovariate(1 / (8.0 if big else 2.4))), 400)
            sizes.append(s)
            left -= s
        k = len(sizes)
        latest = window - 4 * 3600
        # The visitor's active span lies inside the window, so traffic is about even over time
        # (pruning at half the window removes about half the hits, as on a steady site).
        if big:
            span = latest - rng.randrange(0, window // 10)
        else:
            span = (
                min(latest - 1, int(DAY * (1 + rng.expovariate(1 / 30)) * min(k, 12) ** 0.5)) if k > 1 else 0
            )
        first = rng.randrange(0, latest - span)
        starts = [first, *sorted(first + rng.randrange(max(1, span)) for _ in range(k - 1))]
        ident = -1
        if v in links:
            ident = 0 if rng.random() < 0.3 or k == 1 else rng.randrange(k)
        for j, (start, size) in enumerate(zip(starts, sizes, strict=True)):
            sessions.append(start << 44 | v << 20 | size << 1 | (1 if j == ident else 0))
    sessions.sort()
    return sessions


def generate_child(payload: str) -> None:
    """Runs with the target database's settings: plans, writes and indexes; prints JSON."""
    p = json.loads(payload)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from bench.generate import Loader, model_columns
    from leadbridge.capture.attribution import Source
    from leadbridge.capture.models import ContactSource, EventRollup, Site, Touch, TrackingEvent, Visitor
    from leadbridge.contacts.models import Contact
    from leadbridge.marketing.models import Channel
    from leadbridge.marketing.services import resolve_channel

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    vendor = connection.vendor
    n_contacts = Contact.objects.count()
    if not n_contacts:
        raise SystemExit("events_bench: no contacts; run bench/generate.py and leadbridge init first")
    if Contact.objects.order_by("-id").values_list("id", flat=True).first() != n_contacts:
        raise SystemExit("events_bench: contact ids are not 1..N (not a bench/generate.py data set)")
    site, _ = Site.objects.get_or_create(name=SITE_NAME, defaults={"origins": [ORIGIN]})
    existing = TrackingEvent.objects.exists()
    tables = [m._meta.db_table for m in (TrackingEvent, Touch, Visitor, ContactSource, EventRollup)]
    # The channel of each kind of source, by the app's own rules (campaign values do not matter;
    # referral sites are resolved one by one: some of them are social networks).
    probe = random.Random(0)
    channels: dict[str, int] = {}
    for code, _first, _ret in SOURCES:
        if code == "direct":
            continue
        variants = [source_instance(code, probe)]
        if code == "referral":
            variants = [{"utm": {}, "click_ids": {}, "referrer": r} for r in REFERRALS]
        for src in variants:
            query = landing_query(src)
            landing = f"{ORIGIN}/catalog/roses/" + (f"?{query}" if query else "")
            source = Source(
                utm=src["utm"], click_ids=src["click_ids"], referrer=src["referrer"], landing_page=landing
            )
            assert source.carries_source, code
            channels[channel_of(code, src)] = resolve_channel(
                utm=src["utm"], referrer=src["referrer"], click_ids=src["click_ids"], landing_page=landing
            ).pk
    channel_keys = {code: Channel.objects.get(pk=pk).key for code, pk in channels.items()}
    connection.close()

    loader = Loader(vendor, connection.settings_dict)
    journal = ""
    try:
        if existing:
            if not p["reset"]:
                raise SystemExit(
                    "events_bench: tracking events exist; pass --reset to replace the capture data"
                )
            t = time.perf_counter()
            if vendor == "postgresql":
                loader.conn.execute(
                    "TRUNCATE " + ", ".join(f'"{x}"' for x in tables) + " RESTART IDENTITY CASCADE"
                )
            else:
                loader.begin()
                for x in tables:
                    loader.conn.execute(f'DELETE FROM "{x}"')
                marks = ",".join("?" * len(tables))
                loader.conn.execute(f"DELETE FROM sqlite_sequence WHERE name IN ({marks})", tables)
                loader.commit()
            timings["reset"] = time.perf_counter() - t
        if vendor == "sqlite":
            # A rollback journal on disk: new pages at the end of the file are not journaled, so the
            # load costs little more than with the journal in memory, and an interrupted load leaves
            # the data set intact. Needs no other connection on the file; WAL again at the end.
            journal = loader.conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
        size_before = loader.size_bytes()

        rng = random.Random(p["seed"])
        end_day = dt.date.fromisoformat(p["end"])
        end = int(dt.datetime(end_day.year, end_day.month, end_day.day, tzinfo=dt.UTC).timestamp())
        window = p["days"] * DAY
        start = end - window
        t = time.perf_counter()
        per, links, heavy = plan_visitors(rng, p["events"], p["visitors"], n_contacts)
        heavy_set = {v for vids in heavy for v in vids}
        sessions = plan_sessions(rng, per, links, heavy_set, window)
        timings["plan"] = time.perf_counter() - t

        loader.drop_secondary_indexes(tables)
        stamp = Stamp(vendor)
        pool = page_pool(rng)
        landing_pool = [pg for pg in pool if "/cart/" not in pg[0] and "/checkout/" not in pg[0]]
        src_codes = [s[0] for s in SOURCES]
        first_cum = cumulative([s[1] for s in SOURCES])
        return_cum = cumulative([s[2] for s in SOURCES])
        event_cum = cumulative([w for _n, w in EVENT_NAMES])
        ev_cols, ev_consts = model_columns(
            TrackingEvent,
            ["id", "visitor_id", "kind", "occurred_at", "url", "title", "referrer", "name", "props"],
        )
        t_cols, t_consts = model_columns(
            Touch,
            ["id", "contact_id", "visitor_id", "occurred_at", "kind", "channel_id", "source", "medium",
             "campaign_name", "term", "content", "landing_page", "referrer", "click_ids"],
        )  # fmt: skip
        n_vis = len(per) - 1
        seen = bytearray(n_vis + 1)
        first_seen = array("q", [0]) * (n_vis + 1)
        last_seen = array("q", [0]) * (n_vis + 1)
        v_first_touch = array("i", [0]) * (n_vis + 1)
        v_last_touch = array("i", [0]) * (n_vis + 1)
        c_touch: dict[int, list[int]] = {}  # contact -> [first touch id, last touch id]
        events: list[tuple[Any, ...]] = []
        touches: list[tuple[Any, ...]] = []
        counts = {"events": 0, "touches": 0, "pageviews": 0, "custom_events": 0, "identify": 0, "sessions": 0}
        write_s = 0.0
        event_id = touch_id = 0
        since_commit = 0
        rand = rng.random
        expo = rng.expovariate
        t_gen = time.perf_counter()
        loader.begin()

        def flush() -> None:
            nonlocal write_s
            tw = time.perf_counter()
            loader.write(TrackingEvent._meta.db_table, ev_cols, ev_consts, events)
            if touches:
                loader.write(Touch._meta.db_table, t_cols, t_consts, touches)
            write_s += time.perf_counter() - tw
            events.clear()
            touches.clear()

        for key in sessions:
            offset = key >> 44
            v = (key >> 20) & 0xFFFFFF
            hits = (key >> 1) & 0x7FFFF
            ident = key & 1
            returning = seen[v]
            seen[v] = 1
            # A visit's first hit is its landing page view; a one-hit identify session has none.
            ident_at = (1 + int(rand() * (hits - 1)) if hits > 1 else 0) if ident else -1
            code = src_codes[bisect.bisect_left(return_cum if returning else first_cum, rand())]
            if ident_at == 0:
                code = "direct"
            ms = (start + offset) * 1000 + int(rand() * 1000)
            contact = links.get(v)
            url, title = landing_pool[int(rand() * len(landing_pool))]
            referrer = ""
            if code != "direct":
                src = source_instance(code, rng)
                query = landing_query(src)
                landing = url
                if query:
                    url = url + ("&" if "?" in url else "?") + query
                referrer = src["referrer"]
                touch_id += 1
                utm = src["utm"]
                touches.append(
                    (
                        touch_id, contact, v, stamp(ms), "visit", channels[channel_of(code, src)], utm.get("source", ""),
                        utm.get("medium", ""), utm.get("campaign", ""), utm.get("term", ""),
                        utm.get("content", ""), landing, referrer,
                        json.dumps(src["click_ids"]) if src["click_ids"] else "{}",
                    )
                )  # fmt: skip
                if not v_first_touch[v]:
                    v_first_touch[v] = touch_id
                v_last_touch[v] = touch_id
                if contact is not None:
                    pair = c_touch.get(contact)
                    if pair is None:
                        c_touch[contact] = [touch_id, touch_id]
                    else:
                        pair[1] = touch_id
            if not first_seen[v]:
                first_seen[v] = ms
            prev_url = ""
            for i in range(hits):
                if i:
                    ms += 1000 + int(expo(1 / 45.0) * 1000)
                event_id += 1
                if i == ident_at:
                    events.append((event_id, v, 4, stamp(ms), "", "", "", "", None))
                    counts["identify"] += 1
                elif i and rand() < 0.1:
                    name = EVENT_NAMES[bisect.bisect_left(event_cum, rand())][0]
                    if name in ("cart_add", "favorite_add", "product_view"):
                        props = (
                            f'{{"sku":"FL-{int(rand() * 3000) + 1}","price":{(int(rand() * 60) + 10) * 100}'
                        )
                        props += ',"qty":1}' if name == "cart_add" else "}"
                    elif name == "checkout_start":
                        props = f'{{"items":{1 + int(expo(1.0))},"total":{(int(rand() * 200) + 15) * 100}}}'
                    elif name == "form_submit":
                        props = '{"form":"callback"}'
                    else:
                        props = None
                    events.append((event_id, v, 2, stamp(ms), "", "", "", name, props))
                    counts["custom_events"] += 1
                else:
                    if i:
                        prev_url = url
                        url, title = pool[int(rand() * len(pool))]
                        referrer = prev_url
                    events.append((event_id, v, 1, stamp(ms), url, title, referrer, "", None))
                    counts["pageviews"] += 1
            last_seen[v] = ms
            counts["sessions"] += 1
            since_commit += hits
            if len(events) >= CHUNK:
                flush()
            if since_commit >= COMMIT_EVERY:
                flush()
                loader.commit()
                loader.begin()
                since_commit = 0
        flush()
        counts["events"], counts["touches"] = event_id, touch_id
        gen_total = time.perf_counter() - t_gen
        timings["events_and_touches"] = gen_total
        timings["events_and_touches_db_write"] = write_s

        t = time.perf_counter()
        v_cols, v_consts = model_columns(
            Visitor,
            [
                "id",
                "site_id",
                "uid",
                "contact_id",
                "first_seen",
                "last_seen",
                "first_touch_id",
                "last_touch_id",
            ],
        )
        uid_rng = random.Random(p["seed"] + 1)
        counts["visitors"] = loader.write(
            Visitor._meta.db_table, v_cols, v_consts,
            (
                (v, site.pk, f"{uid_rng.getrandbits(128):032x}", links.get(v), stamp(first_seen[v]),
                 stamp(last_seen[v]), v_first_touch[v] or None, v_last_touch[v] or None)
                for v in range(1, n_vis + 1)
            ),
        )  # fmt: skip
        cs_cols, cs_consts = model_columns(
            ContactSource, ["contact_id", "first_touch_id", "lead_touch_id", "last_touch_id"]
        )
        counts["contact_sources"] = loader.write(
            ContactSource._meta.db_table, cs_cols, cs_consts,
            ((c, pair[0], None, pair[1]) for c, pair in sorted(c_touch.items())),
        )  # fmt: skip
        loader.commit()
        timings["visitors_and_sources"] = time.perf_counter() - t
        counts["linked_visitors"] = len(links)
        counts["linked_contacts"] = len(set(links.values()))
        t = time.perf_counter()
        loader.recreate_indexes()
        timings["indexes"] = time.perf_counter() - t
        t = time.perf_counter()
        loader.fix_sequences([TrackingEvent._meta.db_table, Touch._meta.db_table, Visitor._meta.db_table])
        if vendor == "sqlite":
            for x in tables:
                loader.conn.execute(f'ANALYZE "{x}"')
        else:
            loader.analyze(tables)
        timings["analyze"] = time.perf_counter() - t
        size_after = loader.size_bytes()
    finally:
        if vendor == "sqlite" and journal:
            loader.conn.execute("PRAGMA journal_mode=WAL")
        loader.close()
    timings["total"] = time.perf_counter() - t_start
    all_rows = counts["events"] + counts["touches"] + counts["visitors"] + counts["contact_sources"]
    load_s = timings["events_and_touches"] + timings["visitors_and_sources"] + timings["indexes"]
    out = {
        "database": vendor,
        "seed": p["seed"],
        "end": p["end"],
        "days": p["days"],
        "sqlite_journal_during_load": journal or None,
        "rows": counts,
        "heavy_contacts": [links[vids[0]] for vids in heavy],
        "channels": channel_keys,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "events_per_second": round(counts["events"] / timings["events_and_touches"]),
        "events_per_second_db_write_only": round(counts["events"] / max(write_s, 1e-9)),
        "rows_per_second_incl_indexes": round(all_rows / load_s),
        "cpu_seconds_this_process": round(time.process_time(), 1),
        "database_bytes": {"before": size_before, "after": size_after, "delta": size_after - size_before},
    }
    sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


# --- sizes ------------------------------------------------------------------------------------------


def sizes(raw: Raw) -> dict[str, Any]:
    """Bytes of each capture table (heap/b-tree) and its indexes, per row."""
    tables = ["capture_trackingevent", "capture_visitor", "capture_touch", "capture_contactsource"]
    out: dict[str, Any] = {}
    if raw.kind == "sqlite":
        per: dict[str, dict[str, Any]] = {
            t: {"table_bytes": 0, "index_bytes": 0, "indexes": {}} for t in tables
        }
        marks = ",".join("?" * len(tables))
        for tbl, typ, name in raw.q(
            f"SELECT tbl_name, type, name FROM sqlite_master WHERE tbl_name IN ({marks})", tables
        ):
            if typ not in ("table", "index"):
                continue
            # One b-tree at a time: dbstat reads only that tree's pages. (Its aggregate mode sums
            # in 32 bits and wraps above 2 GiB.)
            b = int(raw.one("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?", [name]))
            if typ == "table":
                per[tbl]["table_bytes"] += b
            else:
                per[tbl]["index_bytes"] += b
                per[tbl]["indexes"][name] = b
    else:
        per = {}
        for t in tables:
            heap = int(raw.one(f"SELECT pg_table_size('{t}')"))  # with TOAST and the free space map
            idx = raw.q(
                "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                f"WHERE i.indrelid = '{t}'::regclass"
            )
            per[t] = {"table_bytes": heap, "index_bytes": sum(int(b) for _n, b in idx), "indexes": dict(idx)}
    for t in tables:
        n = int(raw.one(f"SELECT count(*) FROM {t}"))
        total = per[t]["table_bytes"] + per[t]["index_bytes"]
        out[t] = {
            "rows": n,
            **per[t],
            "total_bytes": total,
            "bytes_per_row": round(total / n, 1) if n else None,
            "table_bytes_per_row": round(per[t]["table_bytes"] / n, 1) if n else None,
        }
    top = int(raw.one("SELECT coalesce(max(id), 0) FROM capture_trackingevent"))
    sample = sorted(random.Random(1).sample(range(1, top + 1), min(top, 20_000)))
    marks = ",".join("?" * len(sample))
    # PostgreSQL's length() of jsonb needs text; octet_length gives bytes on both.
    props = "octet_length(props::text)" if raw.kind != "sqlite" else "length(CAST(props AS BLOB))"
    avg = raw.q(
        "SELECT avg(octet_length(url)), avg(octet_length(title)), avg(octet_length(referrer)), "
        f"avg(octet_length(name)), avg(coalesce({props}, 0)) FROM capture_trackingevent WHERE id IN ({marks})"
        if raw.kind != "sqlite"
        else "SELECT avg(length(CAST(url AS BLOB))), avg(length(CAST(title AS BLOB))), avg(length(CAST(referrer AS BLOB))), "
        f"avg(length(CAST(name AS BLOB))), avg(coalesce({props}, 0)) FROM capture_trackingevent WHERE id IN ({marks})",
        sample,
    )[0]
    # UTF-8 bytes of the text columns (titles are Cyrillic: two bytes a letter).
    out["event_text_avg_bytes"] = dict(
        zip(
            ("url", "title", "referrer", "name", "props"), (round(float(a or 0), 1) for a in avg), strict=True
        )
    )
    return out


# --- latency ----------------------------------------------------------------------------------------


class EventsRaw(Raw):
    """The sources block's queries (capture.ui_selectors.contact_sources and the selectors it
    calls), hand-written; the card's other queries come from pages_bench.Raw.card."""

    def visits(self, contact_id: int, limit: int = 20, before: tuple[Any, int] | None = None) -> list[Any]:
        """The newest hits of the contact's visitors, as `capture.selectors.contact_visits` asks:
        a LATERAL join on PostgreSQL (each visitor's newest n by its index), the IN subquery on
        SQLite (whose IN + ORDER BY + LIMIT leaves each visitor after n rows); `before` = the
        (time, id) of the last hit shown, for the older pages."""
        if self.kind == "sqlite":
            bound, args = "", []
            if before is not None:
                bound = "AND occurred_at <= ? AND (occurred_at < ? OR id < ?) "
                args = [before[0], before[0], before[1]]
            return self.q(
                "SELECT * FROM capture_trackingevent WHERE visitor_id IN "
                f"(SELECT id FROM capture_visitor WHERE contact_id = ?) {bound}"
                "ORDER BY occurred_at DESC, id DESC LIMIT ?",
                [contact_id, *args, limit],
            )
        bound, args = "", []
        if before is not None:
            bound = "AND t.occurred_at <= ? AND (t.occurred_at < ? OR t.id < ?) "
            args = [before[0], before[0], before[1]]
        return self.q(
            "SELECT e.* FROM capture_visitor v CROSS JOIN LATERAL (SELECT * FROM capture_trackingevent t "
            f"WHERE t.visitor_id = v.id {bound}ORDER BY t.occurred_at DESC, t.id DESC LIMIT ?) e "
            "WHERE v.contact_id = ? ORDER BY e.occurred_at DESC, e.id DESC LIMIT ?",
            [*args, limit, contact_id, limit],
        )

    def event_columns(self) -> list[str]:
        if not hasattr(self, "_event_columns"):
            cur = self.conn.execute("SELECT * FROM capture_trackingevent LIMIT 0")
            self._event_columns = [d[0] for d in cur.description]
        return self._event_columns

    def visit_list(self, user: dict[str, Any], contact_id: int, older: bool = False) -> None:
        """`/contacts/<id>/visits/`: the contact under the user's visibility, then 51 hits (the
        page of 50 and whether there is more); `older`: the page after the first one."""
        self.contact_row(user, contact_id)
        before = None
        if older:
            first = self.visits(contact_id, 50)
            if len(first) < 50:
                return
            cols = self.event_columns()
            last = first[-1]
            before = (last[cols.index("occurred_at")], last[cols.index("id")])  # of the 50th hit
        self.visits(contact_id, 51, before)

    def visits_in_list(self, contact_id: int, limit: int = 20) -> list[Any]:
        """The first version's shape: visitor ids, then `visitor_id IN (...) ORDER BY occurred_at
        LIMIT n`; PostgreSQL reads and sorts every hit of the contact for it."""
        ids = [r[0] for r in self.q("SELECT id FROM capture_visitor WHERE contact_id = ?", [contact_id])]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self.q(
            f"SELECT * FROM capture_trackingevent WHERE visitor_id IN ({marks}) ORDER BY occurred_at DESC LIMIT ?",
            [*ids, limit],
        )

    def touches(self, contact_id: int, limit: int = 20, marks: bool = False) -> list[Any]:
        extra = ""
        params: list[Any] = []
        if marks:
            extra = "".join(
                f", (SELECT s.{c} FROM capture_contactsource s WHERE s.contact_id = ? LIMIT 1)"
                for c in ("first_touch_id", "lead_touch_id", "last_touch_id")
            )
            params = [contact_id] * 3
        return self.q(
            f"SELECT t.*, ch.*, cp.*{extra} FROM capture_touch t JOIN marketing_channel ch ON ch.id = t.channel_id "
            "LEFT JOIN marketing_campaign cp ON cp.id = t.campaign_id WHERE t.contact_id = ? "
            "ORDER BY t.occurred_at DESC, t.id DESC LIMIT ?",
            [*params, contact_id, limit],
        )

    def sources(self, contact_id: int) -> None:
        flags = self.q(
            "SELECT EXISTS(SELECT 1 FROM capture_touch WHERE contact_id = ?), "
            "EXISTS(SELECT 1 FROM capture_visitor WHERE contact_id = ?) FROM contacts_contact WHERE id = ? LIMIT 1",
            [contact_id, contact_id, contact_id],
        )
        has_touches, has_visitors = flags[0] if flags else (False, False)
        if has_visitors:
            self.visits(contact_id)
        if not has_touches:
            return
        rows = self.touches(contact_id, 21, marks=True)
        if rows:
            have = {r[0] for r in rows}
            missing = [x for x in rows[0][-3:] if x is not None and x not in have]
            if missing:
                m = ",".join("?" * len(missing))
                self.q(
                    "SELECT t.*, ch.*, cp.* FROM capture_touch t JOIN marketing_channel ch ON ch.id = t.channel_id "
                    f"LEFT JOIN marketing_campaign cp ON cp.id = t.campaign_id WHERE t.id IN ({m})",
                    missing,
                )

    def contact_row(self, user: dict[str, Any], contact_id: int) -> None:
        vis, vparams = self.visibility(user)
        self.q(
            "SELECT c.*, ou.*, co.*, m.* FROM contacts_contact c LEFT JOIN accounts_user ou ON ou.id = c.owner_id "
            "LEFT JOIN contacts_company co ON co.id = c.company_id LEFT JOIN contacts_contact m ON m.id = c.merged_into_id "
            "WHERE c.id = ?" + vis + " LIMIT 1",
            [contact_id, *vparams],
        )

    def timeline(self, user: dict[str, Any], contact_id: int) -> None:
        vis, vparams = self.visibility(user)
        self.q(
            "SELECT c.*, ou.*, co.*, m.* FROM contacts_contact c LEFT JOIN accounts_user ou ON ou.id = c.owner_id "
            "LEFT JOIN contacts_company co ON co.id = c.company_id LEFT JOIN contacts_contact m ON m.id = c.merged_into_id "
            "WHERE c.id = ?" + vis + " LIMIT 1",
            [contact_id, *vparams],
        )
        self.q(
            "SELECT a.*, u.* FROM contacts_activity a LEFT JOIN accounts_user u ON u.id = a.actor_id "
            "WHERE a.contact_id = ? ORDER BY a.id DESC LIMIT 21",
            [contact_id],
        )


def pick_contacts(raw: EventsRaw, rng: random.Random, per_group: int = 50) -> dict[str, Any]:
    """light / typical / heaviest linked contacts by their events, and untracked ones."""
    t = time.perf_counter()
    per_visitor = dict(raw.q("SELECT visitor_id, count(*) FROM capture_trackingevent GROUP BY visitor_id"))
    grouping_s = time.perf_counter() - t
    per_contact: dict[int, list[int]] = {}
    for vid, cid in raw.q("SELECT id, contact_id FROM capture_visitor WHERE contact_id IS NOT NULL"):
        entry = per_contact.setdefault(cid, [0, 0])
        entry[0] += int(per_visitor.get(vid, 0))
        entry[1] += 1
    touches = dict(
        raw.q(
            "SELECT contact_id, count(*) FROM capture_touch WHERE contact_id IS NOT NULL GROUP BY contact_id"
        )
    )
    if not per_contact:
        raise SystemExit("events_bench: no linked visitors; run with --generate first")
    counts = sorted(e[0] for e in per_contact.values())

    def pct(q: float) -> int:
        return counts[min(len(counts) - 1, int(q * len(counts)))]

    median = pct(0.5)
    ranked = sorted(per_contact.items(), key=lambda kv: (-kv[1][0], kv[0]))
    light = sorted(c for c, (n, _v) in per_contact.items() if n <= 3)
    typical = sorted(c for c, (n, _v) in per_contact.items() if median * 0.8 <= n <= median * 1.25 + 1)
    max_id = int(raw.one("SELECT max(id) FROM contacts_contact"))
    untracked: list[int] = []
    while len(untracked) < per_group:
        c = rng.randrange(1, max_id + 1)
        if c not in per_contact and c not in touches:
            untracked.append(c)

    def describe(ids: list[int]) -> dict[str, Any]:
        ev = [per_contact.get(c, [0, 0])[0] for c in ids]
        return {
            "contacts": len(ids),
            "events_min": min(ev),
            "events_max": max(ev),
            "visitors_max": max(per_contact.get(c, [0, 0])[1] for c in ids),
            "touches_max": max(int(touches.get(c, 0)) for c in ids),
        }

    groups = {
        "light": rng.sample(light, min(per_group, len(light))),
        "typical": rng.sample(typical, min(per_group, len(typical))),
        "heaviest": [ranked[0][0]],
        "untracked": untracked,
    }
    return {
        "groups": groups,
        "describe": {k: describe(v) for k, v in groups.items()},
        "events_per_linked_contact": {
            "contacts": len(counts),
            "p50": median,
            "p90": pct(0.9),
            "p99": pct(0.99),
            "max": counts[-1],
            "mean": round(statistics.fmean(counts), 1),
        },
        "heavy_top5": [
            {"contact": c, "events": n, "visitors": vv, "touches": int(touches.get(c, 0))}
            for c, (n, vv) in ranked[:5]
        ],
        "group_by_visitor_seconds": round(grouping_s, 2),
    }


def bench_latency(kind: str, target: str, args: argparse.Namespace, raw: EventsRaw) -> dict[str, Any]:
    rng = random.Random(args.seed)
    picked = pick_contacts(raw, rng)
    groups: dict[str, list[int]] = picked["groups"]
    urow = raw.q("SELECT id, username, role, team_id FROM accounts_user WHERE username = ?", [args.user])
    if not urow:
        raise SystemExit(f"events_bench: no user {args.user!r}; run bench/generate.py first")
    user = dict(zip(("id", "username", "role", "team_id"), urow[0], strict=True))
    server = Server(db_env(kind, target), args.workers, args.threads)
    n = args.requests
    pages: dict[str, Any] = {}
    raws: dict[str, Any] = {}
    errors: dict[str, int] = {}
    checks: dict[str, Any] = {}
    try:
        client = login(server.base, args.user, PASSWORD)
        try:

            def cycle(ids: list[int]) -> Iterator[int]:
                while True:
                    yield from ids

            def page(
                name: str,
                ids: list[int],
                path: str,
                headers: dict[str, str] | None = None,
                urls: dict[int, str] | None = None,
            ) -> None:
                it = cycle(ids)

                def run() -> None:
                    c = next(it)
                    resp = client.get(urls[c] if urls else path.format(c), headers=headers)
                    if resp.status_code != 200:
                        errors[name] = errors.get(name, 0) + 1

                for _ in range(min(5, n)):
                    run()
                cpu = server.cpu_seconds()
                samples = timed(run, n, warmup=0)
                stats = summary(samples)
                stats["server_cpu_ms"] = round((server.cpu_seconds() - cpu) * 1000 / len(samples), 1)
                pages[name] = stats

            def raw_time(name: str, ids: list[int], fn: Callable[[int], Any]) -> None:
                it = cycle(ids)
                raws[name] = summary(timed(lambda: fn(next(it)), n))

            for group, ids in groups.items():
                resp = client.get(f"/contacts/{ids[0]}/")
                body = resp.text
                checks[group] = {
                    "status": resp.status_code,
                    "visits_shown": body.count('data-testid="visit-url"'),
                    "touch_rows_shown": body.count("data-touch-id="),
                    "bytes": len(resp.content),
                }
                page(f"card_{group}", ids, "/contacts/{}/")
                raw_time(f"card_{group}", ids, lambda c: (raw.card(user, c), raw.sources(c)))
                if group == "untracked":
                    continue
                page(f"timeline_{group}", ids, "/contacts/{}/timeline/", {"HX-Request": "true"})
                raw_time(f"timeline_{group}", ids, lambda c: raw.timeline(user, c))
                # The visit list as its own request (the card's "older page views" partial).
                page(f"visits_{group}", ids, "/contacts/{}/visits/", {"HX-Request": "true"})
                raw_time(f"visits_{group}", ids, lambda c: raw.visit_list(user, c))
                older = []
                for c in ids:
                    link = re.search(
                        r'data-testid="visits-more"\s+href="([^"]+)"',
                        client.get(f"/contacts/{c}/visits/", headers={"HX-Request": "true"}).text,
                    )
                    if link:
                        older.append((c, link.group(1).replace("&amp;", "&")))
                if older:
                    urls = dict(older)
                    page(f"visits_older_{group}", list(urls), "{}", {"HX-Request": "true"}, urls=urls)
                    raw_time(
                        f"visits_older_{group}", list(urls), lambda c: raw.visit_list(user, c, older=True)
                    )
                raw_time(f"sources_{group}", ids, raw.sources)
                raw_time(f"visits_query_{group}", ids, raw.visits)
                raw_time(f"visits_in_list_{group}", ids, raw.visits_in_list)
                raw_time(f"touches_{group}", ids, raw.touches)
        finally:
            client.close()
    finally:
        server.stop()
    ratio = {
        name: round(stats["p50_ms"] / raws[name]["p50_ms"], 1) if raws.get(name, {}).get("p50_ms") else None
        for name, stats in pages.items()
    }
    return {
        "user": args.user,
        "picked": {k: v for k, v in picked.items() if k != "groups"},
        "contact_ids": {k: v[:10] for k, v in groups.items()},
        "pages": pages,
        "raw": raws,
        "ratio_p50": ratio,
        "checks": checks,
        "errors": errors,
        "over_target": [k for k, v in pages.items() if v.get("p95_ms", 0) > TARGET_P95_MS],
        "_groups": groups,
    }


def selectors_child(payload: str) -> None:
    """In-process timings of the selectors behind the card's sources block, and the plans."""
    p = json.loads(payload)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leadbridge.capture import selectors, ui_selectors

    n = p["requests"]
    out: dict[str, Any] = {}
    for group, ids in p["groups"].items():
        calls: dict[str, Callable[[int], Any]] = {
            "contact_sources": lambda c: ui_selectors.contact_sources(contact_id=c),
            "contact_visits": lambda c: selectors.contact_visits(contact=c, limit=20),
            "contact_touches": lambda c: list(selectors.contact_touches(contact=c, limit=20)),
        }
        res: dict[str, Any] = {}
        for name, fn in calls.items():
            it = iter(ids * (n // len(ids) + 10))
            res[name] = summary(timed(lambda fn=fn, it=it: fn(next(it)), n))  # type: ignore[misc]
        with CaptureQueriesContext(connection) as ctx:
            ui_selectors.contact_sources(contact_id=ids[0])
        res["queries"] = len(ctx.captured_queries)
        with CaptureQueriesContext(connection) as ctx:
            selectors.contact_visits(contact=ids[0], limit=20)
        if ctx.captured_queries:
            sql = ctx.captured_queries[-1]["sql"]
            with connection.cursor() as cur:
                if connection.vendor == "sqlite":
                    cur.execute("EXPLAIN QUERY PLAN " + sql)
                    plan = [str(r[-1]) for r in cur.fetchall()]
                else:
                    cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                    plan = [str(r[0]) for r in cur.fetchall()]
            res["visits_sql"] = sql[:600]
            res["visits_plan"] = plan
        out[group] = res
    sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")


# --- pruning ----------------------------------------------------------------------------------------


def prune(kind: str, target: str, days: int, raw: EventsRaw) -> dict[str, Any]:
    def state() -> dict[str, Any]:
        return {
            "events": int(raw.one("SELECT count(*) FROM capture_trackingevent")),
            "touches": int(raw.one("SELECT count(*) FROM capture_touch")),
            "touches_checksum": int(
                raw.one("SELECT coalesce(sum(id + coalesce(contact_id, 0)), 0) FROM capture_touch")
            ),
            "contact_sources": int(raw.one("SELECT count(*) FROM capture_contactsource")),
            "contact_sources_checksum": int(
                raw.one(
                    "SELECT coalesce(sum(contact_id + first_touch_id + last_touch_id), 0) FROM capture_contactsource"
                )
            ),
            "visitors": int(raw.one("SELECT count(*) FROM capture_visitor")),
            "rollups": int(raw.one("SELECT count(*) FROM capture_eventrollup")),
        }

    before = state()
    exe = Path(sys.executable).with_name("leadbridge")
    cmd = [str(exe), "events", "prune", "--older-than", str(days), "--format", "json"]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=ROOT, env=db_env(kind, target), capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t
    ru2 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"events_bench: prune failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    after = state()
    deleted = before["events"] - after["events"]
    rolled = after["rollups"] - before["rollups"]
    unchanged = all(
        before[k] == after[k] for k in before if k.startswith(("touches", "contact_sources", "visitors"))
    )
    hits = raw.one("SELECT coalesce(sum(hits), 0) FROM capture_eventrollup")
    return {
        "command": " ".join(cmd[1:]),
        "result": result,
        "seconds": round(wall, 1),
        "cli_cpu_seconds": round(ru2.ru_utime + ru2.ru_stime - ru.ru_utime - ru.ru_stime, 1),
        "deleted": deleted,
        "deleted_per_second": round(deleted / wall) if wall else None,
        "rollup_rows_written": rolled,
        "rollup_hits_total": int(hits),
        "rollup_hits_match_deleted": int(hits) == deleted,
        "before": before,
        "after": after,
        "attribution_unchanged": unchanged,
    }


# --- main -------------------------------------------------------------------------------------------


def bench_database(
    kind: str, target: str, args: argparse.Namespace, result: dict[str, Any], save: Callable[[], None]
) -> None:
    """The phases in order, each saved as it ends; a failed phase is recorded and ends this database
    (a later phase would measure a half-done state, and pruning must come after the latency runs)."""
    env = db_env(kind, target)
    result.update(database=kind, load_average_1m_start=round(os.getloadavg()[0], 2))
    phase = "load"
    raw: EventsRaw | None = None
    try:
        if args.generate:
            payload = {
                "events": args.generate, "visitors": args.visitors or max(100, args.generate // 10),
                "days": args.days, "end": args.end, "seed": args.seed, "reset": args.reset,
            }  # fmt: skip
            result["load"] = run_child(Path(__file__), ["--_generate-child", json.dumps(payload)], env)
            result["load"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
            save()
        raw = EventsRaw(kind, target)
        phase = "sizes"
        t = time.perf_counter()
        result["sizes"] = sizes(raw)
        result["sizes"]["seconds"] = round(time.perf_counter() - t, 1)
        save()
        if not args.no_latency:
            phase = "latency"
            lat = bench_latency(kind, target, args, raw)
            groups = lat.pop("_groups")
            result["latency"] = lat
            result["latency"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
            save()
            phase = "in_process"
            sel_groups = {k: v for k, v in groups.items() if k != "untracked"}
            result["in_process"] = run_child(
                Path(__file__),
                ["--_selectors-child", json.dumps({"groups": sel_groups, "requests": args.requests})],
                env,
            )
            save()
        if args.prune:
            phase = "prune"
            result["prune"] = prune(kind, target, args.prune, raw)
            result["prune"]["load_average_1m_end"] = round(os.getloadavg()[0], 2)
            save()
    except (SystemExit, Exception) as exc:  # recorded in the JSON; the next database still runs
        result["error"] = {"phase": phase, "message": str(exc)[-3000:]}
        save()
    finally:
        if raw is not None:
            raw.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_generate-child"]:
        generate_child(argv[1])
        return 0
    if argv[:1] == ["--_selectors-child"]:
        selectors_child(argv[1])
        return 0
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument(
        "--sqlite", metavar="DIR", help="LEADBRIDGE_DATA_DIR holding a generated leadbridge.sqlite3"
    )
    p.add_argument("--postgres", metavar="URL", help="postgres://... of a generated database")
    p.add_argument(
        "--generate", type=int, nargs="?", const=10_000_000, metavar="N", help="load N events first"
    )
    p.add_argument("--visitors", type=int, default=None, help="default: N / 10")
    p.add_argument("--days", type=int, default=180)
    p.add_argument(
        "--end", default=dt.datetime.now(dt.UTC).date().isoformat(), help="day after the last event (UTC)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--reset", action="store_true", help="replace existing capture data")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--user", default="bench_admin")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--no-latency", action="store_true")
    p.add_argument(
        "--prune", type=int, nargs="?", const=90, metavar="DAYS", help="prune last (deletes events)"
    )
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    targets: list[tuple[str, str]] = []
    if args.sqlite:
        if not (Path(args.sqlite) / "leadbridge.sqlite3").exists():
            p.error(f"no leadbridge.sqlite3 in {args.sqlite}")
        targets.append(("sqlite", str(Path(args.sqlite).resolve())))
    if args.postgres:
        if not urlparse(args.postgres).scheme.startswith("postgres"):
            p.error("--postgres wants a postgres:// URL")
        targets.append(("postgresql", args.postgres))
    if not targets:
        p.error("give --sqlite DIR and/or --postgres URL of a bench/generate.py data set")
    load_start = round(os.getloadavg()[0], 2)
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
        },
        "args": {k: v for k, v in vars(args).items() if k not in {"out"}},
        "target_p95_ms": TARGET_P95_MS,
        "results": [],
    }

    def save() -> None:
        out["load_average_1m"] = {"start": load_start, "end": round(os.getloadavg()[0], 2)}
        if args.out:
            Path(args.out).write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    # One database after the other: the machine has two cores.
    for kind, target in targets:
        result: dict[str, Any] = {}
        out["results"].append(result)
        bench_database(kind, target, args, result, save)
    save()
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 1 if any("error" in r for r in out["results"]) else 0


if __name__ == "__main__":
    sys.exit(main())
