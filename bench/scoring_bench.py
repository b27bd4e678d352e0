"""Lead scoring throughput: tracking hits scored per second by the worker's code path, next to
the raw database doing the same writes, on SQLite and PostgreSQL.

    python bench/scoring_bench.py [--sqlite DIR] [--postgres URL] [--events 1000000]
        [--contacts 50000] [--visitors 100000] [--linked 0.5] [--days 30] [--batch 20000]
        [--seed 42] [--only sqlite|postgres] [--no-recompute] [--out FILE]

Each database is fresh and done in its own child process: `--sqlite DIR` (default: a new temp
dir) holds leadbridge.sqlite3; `--postgres URL` (default postgres://postgres@127.0.0.1:5432/
lb_scoring_bench) is DROPPED and created again. Never point it at a database you want to keep.

1. Data: migrate and the default channels; `--contacts` contacts; `--events` tracking hits of
   `--visitors` visitors over `--days` days, written through capture's bulk path
   (`capture.services.plain_hits_store`, 20,000 hits a call) in time order, so ids grow with
   time as when the tracker stores them: 70 % page views (catalog, products, pricing, blog,
   careers, some landing pages with utm_medium=email), 22 % custom events (add_to_cart, signup,
   download with props {"type": ...}, search), 8 % pixel hits. `--linked` of the visitors
   belong to contacts (some contacts have two), the rest stay anonymous.
2. Eight rules, the mix a marketer sets up: any page view +1 (cap 20 / 7 days), pricing pages
   +5 (cap 25 / 7d), careers pages -10 (once), add_to_cart +3 (cap 15 / 7d), signup +25
   (once), whitepaper downloads +10 (cap 30 / 30d, a condition on props), pixel hits +2 (cap
   10 / 7d), email landings +4 (cap 12 / 7d, a condition on the url); bands warm 30, hot 60.
3. `scoring`: `scoring.streams.streams_run()`, the code the worker's tick runs, over all the
   hits in batches of `--batch` ids (each one transaction: the scoring lock, one SELECT of the
   batch's hits of linked visitors, the ledger's cap/once state for the batch's contacts, one
   INSERT of the entries, the bands read, one UPDATE ... RETURNING of scores and bands, the band
   activities, the cursor). hits/s = hits passed / wall seconds. SCORING_SAFE_LAG is 0 here: the
   horizon only delays work on PostgreSQL, it costs nothing.
4. `raw`: the same batches with the same statements, the entries precomputed (the ledger the
   scoring run wrote, split by batch): SELECT of the batch's hits, INSERT of its entries, bands
   read, UPDATE of its scores, INSERT of its activities, cursor UPDATE, one transaction per
   batch. What is left between the two is the Python side: matching rules, conditions, caps.
5. `recompute` (unless --no-recompute): `scores_recompute()` over every contact (contacts/s,
   hits/s); the ledger it rebuilds must give every contact the score the stream gave it.
6. `decay`: `decay_apply()` with 10 % after 7 days, run 40 days after the data ends.

Prints one JSON document (and writes it to --out). The 1-minute load average is recorded: the
machine may be shared.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import child_env, fresh_postgres, run_child, setup_django

DEFAULT_PG = "postgres://postgres@127.0.0.1:5432/lb_scoring_bench"
END = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
ORIGIN = "https://flora-shop.example"
CHUNK = 20_000

RULES: list[dict[str, Any]] = [
    {"name": "Any page view", "source": "pageview", "points": 1, "cap_points": 20, "cap_days": 7},
    {
        "name": "Pricing",
        "source": "pageview",
        "condition": 'path ~ "/pricing"',
        "points": 5,
        "cap_points": 25,
        "cap_days": 7,
    },
    {
        "name": "Careers",
        "source": "pageview",
        "condition": 'path ~ "/careers"',
        "points": -10,
        "frequency": "once",
    },
    {
        "name": "Add to cart",
        "source": "event",
        "event_name": "add_to_cart",
        "points": 3,
        "cap_points": 15,
        "cap_days": 7,
    },
    {"name": "Signup", "source": "event", "event_name": "signup", "points": 25, "frequency": "once"},
    {
        "name": "Whitepaper",
        "source": "event",
        "event_name": "download",
        "condition": "props.type = whitepaper",
        "points": 10,
        "cap_points": 30,
        "cap_days": 30,
    },
    {"name": "Email opened", "source": "pixel", "points": 2, "cap_points": 10, "cap_days": 7},
    {
        "name": "Email landing",
        "source": "pageview",
        "condition": 'url ~ "utm_medium=email"',
        "points": 4,
        "cap_points": 12,
        "cap_days": 7,
    },
]
PAGES = [
    "/",
    "/catalog",
    "/catalog/roses",
    "/catalog/tulips",
    "/cart",
    "/blog/care-tips",
    "/search?q=roses",
] + [f"/product/{i}" for i in range(1, 60)]


# --- the parent --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", type=Path)
    parser.add_argument("--postgres", default=DEFAULT_PG)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--contacts", type=int, default=50_000)
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--linked", type=float, default=0.5)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--batch", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-recompute", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    passthrough = [
        f"--events={args.events}",
        f"--contacts={args.contacts}",
        f"--visitors={args.visitors}",
        f"--linked={args.linked}",
        f"--days={args.days}",
        f"--batch={args.batch}",
        f"--seed={args.seed}",
        *(["--no-recompute"] if args.no_recompute else []),
        "--child",
    ]
    results: dict[str, Any] = {"args": {k: str(v) for k, v in vars(args).items() if k != "child"}}
    script = Path(__file__).resolve()
    if args.only in (None, "sqlite"):
        data_dir = args.sqlite or Path(tempfile.mkdtemp(prefix="lb_scoring_bench_"))
        db = data_dir / "leadbridge.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        results["sqlite"] = run_child(script, passthrough, child_env(data_dir=data_dir, database_url=None))
        _save(args.out, results)
    if args.only in (None, "postgres"):
        fresh_postgres(args.postgres)
        data_dir = Path(tempfile.mkdtemp(prefix="lb_scoring_bench_pg_"))
        results["postgres"] = run_child(
            script, passthrough, child_env(data_dir=data_dir, database_url=args.postgres)
        )
        _save(args.out, results)
    print(json.dumps(results, indent=2))


def _save(out: Path | None, results: dict[str, Any]) -> None:
    if out is not None:
        out.write_text(json.dumps(results, indent=2), encoding="utf-8")


# --- the child: one database --------------------------------------------------------------------


def child(args: argparse.Namespace) -> dict[str, Any]:
    setup_django()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "SCORING_SAFE_LAG": 0, "SCORING_BATCH": args.batch}
    call_command("migrate", interactive=False, verbosity=0)
    from leadbridge.capture.setup import ensure_defaults as capture_defaults
    from leadbridge.marketing.setup import ensure_defaults as marketing_defaults

    marketing_defaults()
    capture_defaults()
    result: dict[str, Any] = {
        "database": connection.vendor,
        "load_average_1m_start": round(os.getloadavg()[0], 2),
    }
    result["data"] = generate(args)
    result["scoring"], ledger = score_run()
    result["raw"] = raw_run(ledger, args.batch)
    result["raw"]["scoring_over_raw"] = round(result["scoring"]["seconds"] / result["raw"]["seconds"], 2)
    if not args.no_recompute:
        result["recompute"] = recompute_run()
    result["decay"] = decay_run()
    result["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    return result


def generate(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection, transaction

    from leadbridge.capture.models import EventKind, TrackingEvent, Visitor
    from leadbridge.capture.services import plain_hits_store, site_create
    from leadbridge.contacts.models import Contact

    rng = random.Random(args.seed)
    started = time.perf_counter()
    now = END
    Contact.objects.bulk_create(
        [
            Contact(name=f"Bench {i}", email=f"bench{i}@example.com", created_at=now, updated_at=now)
            for i in range(args.contacts)
        ],
        batch_size=5000,
    )
    contact_ids = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
    site = site_create(actor=None, name="Bench shop", origins=[ORIGIN])
    uids = [f"bench-visitor-{i:07d}" for i in range(args.visitors)]
    # Hits go out in time order; some visitors are busy (many hits), most come a few times.
    span = args.days * 86400
    start_time = END - dt.timedelta(days=args.days)
    events = 0
    kinds = {"pageview": 0, "event": 0, "pixel": 0}
    with transaction.atomic():
        for chunk_start in range(0, args.events, CHUNK):
            n = min(CHUNK, args.events - chunk_start)
            offset = span * chunk_start / args.events
            items = []
            for j in range(n):
                at = start_time + dt.timedelta(seconds=offset + span * j / args.events)
                uid = uids[int(len(uids) * rng.random() ** 2)]
                roll = rng.random()
                if roll < 0.70:
                    r = rng.random()
                    if r < 0.06:
                        path = "/pricing"
                    elif r < 0.08:
                        path = "/careers"
                    elif r < 0.11:
                        path = "/?utm_source=newsletter&utm_medium=email&utm_campaign=june"
                    else:
                        path = rng.choice(PAGES)
                    row = (int(EventKind.PAGEVIEW), at, ORIGIN + path, "Цветы: " + path, "", "", None)
                    kinds["pageview"] += 1
                elif roll < 0.92:
                    r = rng.random()
                    if r < 0.5:
                        name, props = (
                            "add_to_cart",
                            {"sku": rng.randint(1, 500), "price": rng.randint(500, 9000)},
                        )
                    elif r < 0.53:
                        name, props = "signup", None
                    elif r < 0.65:
                        name, props = (
                            "download",
                            {"type": rng.choice(["whitepaper", "price_list", "catalog"])},
                        )
                    else:
                        name, props = "search", {"q": rng.choice(["розы", "тюльпаны", "пионы"])}
                    pj = json.dumps(props, ensure_ascii=False) if props else None
                    row = (int(EventKind.EVENT), at, ORIGIN + "/catalog", "", "", name, pj)
                    kinds["event"] += 1
                else:
                    row = (int(EventKind.PIXEL), at, ORIGIN + "/email/open", "", "", "", None)
                    kinds["pixel"] += 1
                items.append((site.pk, uid, row))
            plain_hits_store(items)
            events += n
        visitor_ids = list(Visitor.objects.filter(site=site).order_by("pk").values_list("pk", flat=True))
        linked = visitor_ids[: int(len(visitor_ids) * args.linked)]
        rng.shuffle(linked)
        pairs = [(contact_ids[i % len(contact_ids)], vid) for i, vid in enumerate(linked)]
        with connection.cursor() as cursor:
            cursor.executemany(f"UPDATE {Visitor._meta.db_table} SET contact_id = %s WHERE id = %s", pairs)
    seconds = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    linked_events = TrackingEvent.objects.filter(visitor__contact__isnull=False).count()
    return {
        "contacts": len(contact_ids),
        "visitors": len(visitor_ids),
        "linked_visitors": len(linked),
        "events": events,
        "events_of_linked_visitors": linked_events,
        "kinds": kinds,
        "seconds": round(seconds, 1),
    }


def create_rules() -> None:
    from leadbridge.scoring.services import rule_create, settings_update

    settings_update(actor=None, data={"warm_threshold": 30, "hot_threshold": 60})
    for data in RULES:
        rule_create(actor=None, data={"kind": "behaviour", **data})


def score_run() -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    from django.db import connection

    from leadbridge.contacts.models import Activity, Contact
    from leadbridge.scoring.models import ScoreEntry
    from leadbridge.scoring.streams import streams_run

    create_rules()
    started = time.perf_counter()
    results = streams_run()
    seconds = time.perf_counter() - started
    events = results["events"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT contact_id, rule_id, source_kind, source_id, points, occurred_at FROM {ScoreEntry._meta.db_table} ORDER BY id"
        )
        ledger = list(cursor.fetchall())
    total = sum(r[4] for r in ledger)
    scores = sum(Contact.objects.values_list("score", flat=True))
    assert total == scores, (total, scores)
    bands = {b: Contact.objects.filter(band=b).count() for b in ("cold", "warm", "hot")}
    return (
        {
            "seconds": round(seconds, 2),
            "hits": events.ids,
            "hits_per_s": round(events.ids / seconds),
            "batches": events.batches,
            "matches": events.matches,
            "entries": events.entries,
            "band_changes": Activity.objects.filter(kind="score_band_changed").count(),
            "bands": bands,
            "points_total": total,
        },
        ledger,
    )


def raw_run(ledger: list[tuple[Any, ...]], span: int) -> dict[str, Any]:
    """The same writes by hand: per batch the hits SELECT, the entries INSERT, the bands read,
    the scores UPDATE ... RETURNING, the activities INSERT, the cursor UPDATE."""
    from django.db import connection, transaction

    from leadbridge.capture.models import TrackingEvent
    from leadbridge.contacts.models import Activity, Contact
    from leadbridge.scoring.engine import RuleBook, scoring_lock
    from leadbridge.scoring.models import ScoreEntry, ScoringCursor
    from leadbridge.scoring.streams import events_sql

    contacts, entries, activities = Contact._meta.db_table, ScoreEntry._meta.db_table, Activity._meta.db_table
    band_changes = list(
        Activity.objects.filter(kind="score_band_changed").values_list("contact_id", "payload")
    )
    # Reset what scoring wrote.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {entries}")
        cursor.execute(f"DELETE FROM {activities} WHERE kind = 'score_band_changed'")
        cursor.execute(f"UPDATE {contacts} SET score = 0, band = 'cold'")
    top = TrackingEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    by_batch: dict[int, list[tuple[Any, ...]]] = {}
    for row in ledger:
        by_batch.setdefault((row[3] - 1) // span, []).append(row)
    changes_by_batch: dict[int, list[tuple[int, Any]]] = {}
    # Activities are spread over the batches like the entries (their exact batch matters little).
    batches = max(1, (top + span - 1) // span)
    for i, change in enumerate(band_changes):
        changes_by_batch.setdefault(i * batches // max(1, len(band_changes)), []).append(change)
    pg = connection.vendor == "postgresql"
    adapt = connection.ops.adapt_datetimefield_value
    # The hits SELECT exactly as the stream builds it (the columns the rules read, their kinds).
    select = events_sql(RuleBook.load())
    started = time.perf_counter()
    for b in range(batches):
        after, upto = b * span, min((b + 1) * span, top)
        rows = by_batch.get(b, [])
        deltas: dict[int, int] = {}
        for r in rows:
            deltas[r[0]] = deltas.get(r[0], 0) + r[4]
        ids = sorted(deltas)
        with transaction.atomic(), connection.cursor() as cursor:
            scoring_lock()  # the same lock (and, on PostgreSQL, JIT off) as a scoring batch
            cursor.execute(select, [after, upto])
            cursor.fetchall()
            if rows:
                values = [(r[0], r[1], r[2], r[3], r[4], adapt(r[5]) if not pg else r[5]) for r in rows]
                cols = "(contact_id, rule_id, source_kind, source_id, points, occurred_at)"
                if pg:
                    with cursor.cursor.copy(f"COPY {entries} {cols} FROM STDIN") as copy:
                        for row in values:
                            copy.write_row(row)
                    cursor.execute(
                        f"SELECT id, band FROM {contacts} WHERE id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE",
                        [_array(ids)],
                    )
                    cursor.fetchall()
                    cursor.execute(
                        f"UPDATE {contacts} AS c SET score = c.score + d.delta, band = CASE WHEN c.score + d.delta >= 60 "
                        "THEN 'hot' WHEN c.score + d.delta >= 30 THEN 'warm' ELSE 'cold' END "
                        "FROM unnest(%s::bigint[], %s::int[]) AS d(id, delta) WHERE c.id = d.id RETURNING c.id, c.score, c.band",
                        [_array(ids), _array(deltas[i] for i in ids)],
                    )
                else:
                    cursor.executemany(
                        f"INSERT INTO {entries} {cols} VALUES (%s, %s, %s, %s, %s, %s)", values
                    )
                    cursor.execute(
                        f"SELECT id, band FROM {contacts} WHERE id IN (SELECT value FROM json_each(%s))",
                        [json.dumps(ids)],
                    )
                    cursor.fetchall()
                    cursor.execute(
                        f"UPDATE {contacts} SET score = {contacts}.score + d.delta, band = CASE WHEN {contacts}.score + d.delta >= 60 "
                        f"THEN 'hot' WHEN {contacts}.score + d.delta >= 30 THEN 'warm' ELSE 'cold' END FROM (SELECT "
                        "json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS delta FROM json_each(%s)) AS d "
                        f"WHERE {contacts}.id = d.id RETURNING {contacts}.id, {contacts}.score, {contacts}.band",
                        [json.dumps([[i, deltas[i]] for i in ids])],
                    )
                cursor.fetchall()
            changes = changes_by_batch.get(b, [])
            if changes:
                Activity.objects.bulk_create(
                    [
                        Activity(contact_id=c, kind="score_band_changed", payload=p, occurred_at=END)
                        for c, p in changes
                    ]
                )
            ScoringCursor.objects.filter(stream="events").update(position=upto)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "hits_per_s": round(top / seconds),
        "entries": len(ledger),
        "batches": batches,
    }


def _array(values: Any) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def recompute_run() -> dict[str, Any]:
    from leadbridge.contacts.models import Contact
    from leadbridge.scoring.services import scores_recompute

    before = dict(Contact.objects.values_list("pk", "score"))
    started = time.perf_counter()
    summary = scores_recompute(actor=None, batch=1000)
    seconds = time.perf_counter() - started
    after = dict(Contact.objects.values_list("pk", "score"))
    differ = sum(1 for k in before if before[k] != after[k])
    from leadbridge.capture.models import TrackingEvent

    hits = TrackingEvent.objects.count()
    return {
        "seconds": round(seconds, 2),
        "contacts_per_s": round(summary["contacts"] / seconds),
        "hits_per_s": round(hits / seconds),
        "entries": summary["entries"],
        "contacts_whose_score_differs_from_the_stream": differ,
    }


def decay_run() -> dict[str, Any]:
    from leadbridge.core import clock
    from leadbridge.scoring.services import decay_apply, settings_update

    settings_update(actor=None, data={"decay_mode": "percent", "decay_amount": 10, "decay_days": 7})
    with clock.frozen(END + dt.timedelta(days=40)):
        started = time.perf_counter()
        summary = decay_apply()
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), **summary}


if __name__ == "__main__":
    main()
