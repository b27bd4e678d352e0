"""Segment filters on the 1M-contact data sets: compiled SQL next to hand-written SQL.

    python bench/segments_bench.py [--sqlite DIR] [--postgres URL] [--runs 15] [--out FILE]

For each database given (a LEADBRIDGE_DATA_DIR holding a generated SQLite file, and/or a
PostgreSQL URL; default: $LEADBRIDGE_DATA_DIR and $DATABASE_URL when set) a child process with
that database's settings times, sequentially, `--runs` times each (after one warm-up run):

  tags       `tag:a and (tag:b or tag:c) and not tag:d` with a, b, c, d the 2nd to 5th largest
             tags of the data set: compile, count (the compiled SQL) and four hand-written
             counts of the same question — EXISTS (semi/anti-joins driven by tag a; once joining
             contacts for the dead ones, once through the partial index of dead contacts),
             INTERSECT / EXCEPT of the per-tag id sets, and joins — with the ratio of the
             compiled count to the fastest of them (target: p50 <= 100 ms PostgreSQL / 150 ms SQLite, ratio <= 1.2);
             the compiled and hand-written counts run in turn within each round, so a busy
             moment of a shared machine costs them alike;
  visited    `visited("/checkout*") within 30d and stage >= lead` (the data set is a flower shop:
             no /pricing pages; `visited("/pricing*") ...` is timed too, it finds nobody but reads
             the same rows) — count, target p50 <= 300 ms; every behaviour count is also timed
             with the per-contact daily roll-up ignored (capture/contact_days.py: every hit read
             from the event table) and must give the same answer. Run `leadbridge events rollup`
             after generating events;
  page       the first page (50) of members of each benchmark filter: ids and the list rows
             (target <= 100 ms), and a sales manager's (team-limited) count and first page.

Each figure is p50/p95/max in ms; the query plans of the compiled counts are printed with
--explain. Prints one JSON document (and writes it to --out). Events are read with the time
window as an id range (see leadbridge/segments/behaviour.py): `now` is the real clock, so run
it within a few days of generating the events, or the 30-day window holds few hits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import child_env, run_child, setup_django  # noqa: E402


def summary(samples: list[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in samples)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))], 1),
        "max_ms": round(ms[-1], 1),
    }


def timed(fn: Callable[[], Any], runs: int) -> tuple[dict[str, Any], Any]:
    result = fn()  # warm-up (and the answer)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return summary(samples), result


def interleaved(fns: dict[str, Callable[[], Any]], runs: int) -> dict[str, tuple[dict[str, Any], Any]]:
    """Like timed() for several queries of one question, run in turn within each round: a busy
    moment of a shared machine then costs them all alike, so their ratio holds."""
    answers = {name: fn() for name, fn in fns.items()}  # warm-up (and the answers)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return {name: (summary(samples[name]), answers[name]) for name in fns}


# --- the child: one database -----------------------------------------------------------------------


def child(runs: int, explain: bool) -> dict[str, Any]:
    setup_django()
    from django.db import connection

    from leadbridge.capture import contact_days
    from leadbridge.contacts.models import Contact, Tag
    from leadbridge.contacts.selectors import ROW_COLUMNS
    from leadbridge.segments.compiler import compile_text, count, member_ids, page_sql

    def one(sql: str, params: list[Any] | tuple[Any, ...] = ()) -> Any:
        with connection.cursor() as cursor:
            cursor.execute(sql, list(params))
            return cursor.fetchone()[0]

    def plan(sql: str, params: list[Any] | tuple[Any, ...]) -> list[str]:
        prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        with connection.cursor() as cursor:
            cursor.execute(prefix + sql, list(params))
            return [" ".join(str(c) for c in row) for row in cursor.fetchall()]

    out: dict[str, Any] = {"vendor": connection.vendor}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tag_id, COUNT(*) FROM contacts_contacttag GROUP BY tag_id ORDER BY COUNT(*) DESC, tag_id LIMIT 5"
        )
        ranked = cursor.fetchall()
    ids = [row[0] for row in ranked[1:5]]
    keys = dict(Tag.objects.filter(pk__in=ids).values_list("pk", "key"))
    a, b, c, d = (keys[i] for i in ids)
    out["tags"] = {"a": a, "b": b, "c": c, "d": d, "links": {keys[i]: n for i, n in ranked[1:5]}}
    ta, tb, tc, td = ids

    # -- tag filter: compiled vs hand-written
    text = f"tag:{a} and (tag:{b} or tag:{c}) and not tag:{d}"
    compile_stats, compiled = timed(lambda: compile_text(text), runs)
    sql, params = compiled.ids_sql()
    alive = "c.merged_into_id IS NULL AND c.erased_at IS NULL"
    hand = {
        "exists": (
            "SELECT COUNT(*) FROM contacts_contacttag a JOIN contacts_contact c ON c.id = a.contact_id "
            f"WHERE a.tag_id = %s AND {alive} "
            "AND EXISTS (SELECT 1 FROM contacts_contacttag b WHERE b.contact_id = a.contact_id AND b.tag_id IN (%s, %s)) "
            "AND NOT EXISTS (SELECT 1 FROM contacts_contacttag d WHERE d.contact_id = a.contact_id AND d.tag_id = %s)",
            [ta, tb, tc, td],
        ),
        "intersect": (
            "SELECT COUNT(*) FROM (SELECT contact_id FROM contacts_contacttag WHERE tag_id = %s "
            "INTERSECT SELECT contact_id FROM contacts_contacttag WHERE tag_id IN (%s, %s) "
            "EXCEPT SELECT contact_id FROM contacts_contacttag WHERE tag_id = %s "
            "EXCEPT SELECT id FROM contacts_contact WHERE merged_into_id IS NOT NULL OR erased_at IS NOT NULL) x",
            [ta, tb, tc, td],
        ),
        # The EXISTS form as a hand-writer who knows the schema would write it: driven by tag a,
        # the dead contacts found through the partial index (segments_contact_dead) instead of a
        # join on every member's row.
        "exists_dead_index": (
            "SELECT COUNT(*) FROM contacts_contacttag a WHERE a.tag_id = %s "
            "AND EXISTS (SELECT 1 FROM contacts_contacttag b WHERE b.contact_id = a.contact_id AND b.tag_id IN (%s, %s)) "
            "AND NOT EXISTS (SELECT 1 FROM contacts_contacttag d WHERE d.contact_id = a.contact_id AND d.tag_id = %s) "
            "AND NOT EXISTS (SELECT 1 FROM contacts_contact x WHERE x.id = a.contact_id "
            "AND (x.merged_into_id IS NOT NULL OR x.erased_at IS NOT NULL))",
            [ta, tb, tc, td],
        ),
        "join": (
            "SELECT COUNT(DISTINCT a.contact_id) FROM contacts_contacttag a "
            "JOIN contacts_contacttag b ON b.contact_id = a.contact_id AND b.tag_id IN (%s, %s) "
            "JOIN contacts_contact c ON c.id = a.contact_id "
            "LEFT JOIN contacts_contacttag d ON d.contact_id = a.contact_id AND d.tag_id = %s "
            f"WHERE a.tag_id = %s AND d.contact_id IS NULL AND {alive}",
            [tb, tc, td, ta],
        ),
    }
    # The compiled count and the hand-written ones in turn, round after round (see interleaved).
    fns: dict[str, Callable[[], Any]] = {"compiled": lambda: count(compiled)}
    for name, (hsql, hparams) in hand.items():
        fns[name] = lambda s=hsql, p=hparams: one(s, p)
    measured = interleaved(fns, runs)
    count_stats, found = measured.pop("compiled")
    hand_stats: dict[str, Any] = {}
    for name, (stats, answer) in measured.items():
        hand_stats[name] = {**stats, "count": answer}
        assert answer == found, (name, answer, found)
    best = min(v["p50_ms"] for v in hand_stats.values())
    out["tag_filter"] = {
        "filter": text,
        "count": found,
        "compile": compile_stats,
        "compiled_count": count_stats,
        "hand": hand_stats,
        "ratio_to_best_hand": round(count_stats["p50_ms"] / best, 2) if best else None,
        "sql": sql,
    }
    if explain:
        out["tag_filter"]["plan"] = plan(f"SELECT COUNT(*) FROM ({sql}) x", params)

    # -- behaviour
    filters = {
        "tags": text,
        "visited_checkout": 'visited("/checkout*") within 30d and stage >= lead',
        "visited_pricing": 'visited("/pricing*") within 30d and stage >= lead',
        "visits": "visits >= 5 within 7d",
        "event": 'event("cart_add") within 30d',
    }
    out["filters"] = {}
    rows_qs = Contact.objects.select_related("company").only(*ROW_COLUMNS).prefetch_related("owner")
    for name, ftext in filters.items():
        entry: dict[str, Any] = {"filter": ftext}
        compile_stats, compiled = timed(lambda t=ftext: compile_text(t), max(3, runs // 3))
        entry["compile"] = compile_stats
        if name != "tags":
            entry["count"], entry["count_value"] = timed(lambda cc=compiled: count(cc), runs)
            # The same filter with the per-contact daily roll-up ignored (every hit read from
            # the event table, as before the roll-up existed): the answer must not change.
            real_position = contact_days.position
            contact_days.position = lambda: 0  # type: ignore[assignment]
            try:
                plain = compile_text(ftext)
            finally:
                contact_days.position = real_position  # type: ignore[assignment]
            stats, plain_value = timed(lambda cc=plain: count(cc), max(3, runs // 3))
            entry["count_events_only"] = stats
            assert plain_value == entry["count_value"], (name, plain_value, entry["count_value"])
            entry["rolled_up_to_id"] = real_position()
        page_stats, page = timed(lambda cc=compiled: member_ids(cc, limit=50), runs)
        entry["first_page_ids"] = page_stats
        entry["first_page_rows"], _rows = timed(
            lambda cc=compiled: list(rows_qs.filter(pk__in=member_ids(cc, limit=50))), runs
        )
        entry["page_size"] = len(page)
        if explain:
            psql = page_sql(compiled, limit=50)
            entry["page_plan"] = plan(psql.text, psql.params)
            if name != "tags":
                csql, cparams = compiled.ids_sql()
                entry["count_plan"] = plan(f"SELECT COUNT(*) FROM ({csql}) x", cparams)
        out["filters"][name] = entry

    # -- a sales manager (team-limited visibility)
    from leadbridge.accounts.models import User

    seller = User.objects.filter(role="sales", team__isnull=False).order_by("id").first()
    if seller is not None:
        compiled = compile_text(text, user=seller)
        stats, answer = timed(lambda: count(compiled), runs)
        page, _ = timed(lambda: member_ids(compiled, limit=50), runs)
        out["sales"] = {"user": seller.username, "count": {**stats, "value": answer}, "first_page_ids": page}
    return out


# --- the parent --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sqlite", help="LEADBRIDGE_DATA_DIR with leadbridge.sqlite3")
    p.add_argument("--postgres", help="postgres://... URL")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--explain", action="store_true")
    p.add_argument("--out")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.runs, args.explain), ensure_ascii=False, default=str))
        return 0
    sqlite_dir = args.sqlite or (None if args.postgres else os.environ.get("LEADBRIDGE_DATA_DIR"))
    postgres = args.postgres or (None if args.sqlite else os.environ.get("DATABASE_URL"))
    child_args = ["--child", "--runs", str(args.runs), *(["--explain"] if args.explain else [])]
    out: dict[str, Any] = {
        "bench": "segments",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_average_1m": {"start": round(os.getloadavg()[0], 2)},
    }
    script = Path(__file__).resolve()
    if sqlite_dir:
        env = child_env(data_dir=Path(sqlite_dir), database_url=None)
        out["sqlite"] = run_child(script, child_args, env)
    if postgres:
        # The data dir only holds the secret key and logs when the database is PostgreSQL.
        env = child_env(data_dir=Path(tempfile.mkdtemp(prefix="lb_segments_bench_")), database_url=postgres)
        out["postgresql"] = run_child(script, child_args, env)
    out["load_average_1m"]["end"] = round(os.getloadavg()[0], 2)
    text = json.dumps(out, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
