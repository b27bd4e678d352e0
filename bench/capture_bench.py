"""Tracking ingestion over real HTTP (`leadbridge serve --no-worker`), next to the raw insert rate.

    python bench/capture_bench.py [--sqlite] [--postgres URL] [--clients 4] [--batches 600]
        [--pixels 6000] [--workers 2] [--threads 4] [--only pixel] [--keep-data] [--out FILE]

For each database (default: SQLite in a fresh temporary data dir, and PostgreSQL at
$BENCH_PG_URL or postgres://postgres@127.0.0.1:5432/lb_capture_bench, recreated), this runs
`leadbridge init`, registers a site with `leadbridge site create`, starts `leadbridge serve
--no-worker` and drives it with --clients threads, each with its own keep-alive connection:

  events   POST /t/events, batches of 50 hits (page views, ~10% custom events with props, one
           batch in 20 opening with a landing page view that carries UTM + an external
           referrer, so visit touches and channel rules are exercised), visitors drawn from a
           pool of 2,000 (new and returning)        target >= 5,000 events/s
  pixel    GET /t/p.gif?k=&v=&u=&r=                 target >= 800 hits/s
  ceiling  GET /t/lb.js answered 304: what the same server does per second when a request
           does no work at all through gunicorn + Django's full middleware stack (the tracking
           endpoints skip most of it: config/wsgi.py), to read the others against

Rate limits stay on (set far above the load) so their cache round-trips are measured too.
Every response is checked (status, "stored" counts) and the table's row count must equal what
the server said it stored. Beside each, the same event rows go straight into the table on a
direct connection: SQLite `executemany`, PostgreSQL `COPY` and `executemany`, both in one
transaction and in transactions of 50 rows (what one HTTP batch costs). `server_cpu_ms`
(CPU time of the gunicorn processes per request, from /proc; on PostgreSQL also `db_cpu_ms`, its
backends') moves less than the rates when other jobs share the machine. Prints one JSON document (and writes it to --out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, child_env, fresh_postgres
from bench.pages_bench import Server

ORIGIN = "https://bench.example"
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
EVENTS_TARGET = 5000.0
PIXEL_TARGET = 800.0
BATCH = 50
COLUMNS = ("visitor_id", "kind", "occurred_at", "url", "title", "referrer", "name", "props")
SOURCES = [
    ("google", "cpc", "spring", "https://www.google.com/"),
    ("yandex", "cpc", "brand", "https://yandex.ru/"),
    ("vk", "social", "promo", "https://vk.com/"),
    ("newsletter", "email", "march", ""),
]


# --- the load ---------------------------------------------------------------------------------------


def make_hits(rng: random.Random, n: int, *, landing: bool) -> list[dict[str, Any]]:
    now_ms = int(time.time() * 1000)
    hits: list[dict[str, Any]] = []
    page = rng.randrange(1, 5000)
    for i in range(n):
        if i == 0 and landing:
            source, medium, campaign, ref = rng.choice(SOURCES)
            query = urlencode({"utm_source": source, "utm_medium": medium, "utm_campaign": campaign})
            hits.append(
                {
                    "type": "pageview",
                    "url": f"{ORIGIN}/offer/{page}?{query}",
                    "title": "Spring offer - Bench Shop",
                    "referrer": ref,
                    "utm": {"source": source, "medium": medium, "campaign": campaign},
                    "ts": now_ms,
                }
            )
        elif rng.random() < 0.1:
            hits.append(
                {
                    "type": "event",
                    "name": rng.choice(["cart_add", "video_play", "scroll_75", "faq_open"]),
                    "url": f"{ORIGIN}/catalog/item-{page}",
                    "props": {"sku": f"SKU-{rng.randrange(10_000)}", "price": rng.randrange(100, 100_000)},
                    "ts": now_ms,
                }
            )
        else:
            nxt = rng.randrange(1, 5000)
            hits.append(
                {
                    "type": "pageview",
                    "url": f"{ORIGIN}/catalog/item-{nxt}?color=blue&size=m",
                    "title": f"Item {nxt} - Catalog - Bench Shop",
                    "referrer": f"{ORIGIN}/catalog/item-{page}",
                    "ts": now_ms,
                }
            )
            page = nxt
    return hits


def visitor_pool(rng: random.Random, n: int = 2000) -> list[str]:
    return [f"{rng.getrandbits(128):032x}" for _ in range(n)]


def event_batches(rng: random.Random, key: str, visitors: list[str], count: int) -> list[bytes]:
    return [
        json.dumps(
            {
                "site_key": key,
                "visitor_id": rng.choice(visitors),
                "hits": make_hits(rng, BATCH, landing=i % 20 == 0),
            }
        ).encode()
        for i in range(count)
    ]


def pixel_urls(rng: random.Random, key: str, visitors: list[str], count: int) -> list[str]:
    return [
        "/t/p.gif?"
        + urlencode(
            {
                "k": key,
                "v": rng.choice(visitors),
                "u": f"{ORIGIN}/nojs/page-{rng.randrange(5000)}",
                "r": f"{ORIGIN}/nojs/",
            }
        )
        for _ in range(count)
    ]


class Client:
    """A keep-alive HTTP/1.1 connection from the standard library: the load generator shares the
    machine's two cores with the server, and http.client costs ~0.4 ms of CPU a request where
    httpx costs ~1.4 ms (measured here), so the server gets the CPU it would get in production."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, path: str, body: bytes | None = None, ctype: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        headers = {"User-Agent": UA, "Origin": ORIGIN}
        if ctype:
            headers["Content-Type"] = ctype
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            # The server closed a kept-alive connection: one retry on a new one.
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def close(self) -> None:
        self.conn.close()


def drive(port: int, clients: int, jobs: list[Any], send: Any) -> dict[str, Any]:
    """Run `send(client, job) -> stored` over `jobs` from `clients` threads; wall time and latencies."""
    shares = [jobs[i::clients] for i in range(clients)]
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stored = [0] * clients
    errors: list[str] = []
    start_gate = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        client = Client(port)
        start_gate.wait()
        for job in shares[i]:
            t = time.perf_counter()
            try:
                stored[i] += send(client, job)
            except Exception as exc:  # a failed request is a result, not a crash
                errors.append(str(exc)[:200])
            latencies[i].append(time.perf_counter() - t)
        client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    start_gate.wait()
    t0 = time.perf_counter()
    c0 = time.process_time()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - c0
    ms = sorted(x * 1000 for lat in latencies for x in lat)
    return {
        "requests": len(ms),
        "stored": sum(stored),
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(wall, 3),
        "client_cpu_ms_per_request": round(client_cpu * 1000 / max(1, len(ms)), 2),
        "p50_ms": round(statistics.median(ms), 2) if ms else None,
        "p95_ms": round(ms[min(len(ms) - 1, round(0.95 * len(ms)) - 1)], 2) if ms else None,
    }


def send_batch(client: Client, body: bytes) -> int:
    status, _headers, data = client.request("POST", "/t/events", body, "text/plain;charset=UTF-8")
    if status != 200:
        raise RuntimeError(f"/t/events {status}: {data[:120]!r}")
    stored = int(json.loads(data)["stored"])
    if stored != BATCH:
        raise RuntimeError(f"/t/events stored {stored} of {BATCH}")
    return stored


def send_pixel(client: Client, url: str) -> int:
    status, headers, data = client.request("GET", url)
    if status != 200 or headers.get("x-leadbridge-result") != "stored" or not data.startswith(b"GIF"):
        raise RuntimeError(f"pixel {status} {headers.get('x-leadbridge-result')}")
    return 1


# --- the raw side --------------------------------------------------------------------------------------


def raw_rows(rng: random.Random, visitor_ids: list[int], batches: int) -> list[tuple[Any, ...]]:
    """The rows the HTTP phase stored, as the service writes them (same sizes and shapes)."""
    now = dt.datetime.now(dt.UTC)
    rows = []
    for _ in range(batches):
        vid = rng.choice(visitor_ids)
        for hit in make_hits(rng, BATCH, landing=False):
            props = json.dumps(hit["props"], separators=(",", ":")) if "props" in hit else None
            kind = 2 if hit["type"] == "event" else 1
            rows.append(
                (
                    vid,
                    kind,
                    now,
                    hit["url"],
                    hit.get("title", ""),
                    hit.get("referrer", ""),
                    hit.get("name", ""),
                    props,
                )
            )
    return rows


def raw_sqlite(path: Path, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    sql = f"INSERT INTO capture_trackingevent ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    data = [(*r[:2], r[2].isoformat(sep=" "), *r[3:]) for r in rows]
    out: dict[str, Any] = {}
    t = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany(sql, data)
    conn.execute("COMMIT")
    out["executemany_one_tx_rows_per_s"] = round(len(data) / (time.perf_counter() - t))
    t = time.perf_counter()
    for i in range(0, len(data), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, data[i : i + BATCH])
        conn.execute("COMMIT")
    out["executemany_tx_per_50_rows_per_s"] = round(len(data) / (time.perf_counter() - t))
    conn.close()
    return out


def raw_postgres(url: str, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    import psycopg

    out: dict[str, Any] = {}
    cols = ", ".join(COLUMNS)
    with psycopg.connect(url) as conn:
        t = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY capture_trackingevent ({cols}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        conn.commit()
        out["copy_one_tx_rows_per_s"] = round(len(rows) / (time.perf_counter() - t))
        sql = f"INSERT INTO capture_trackingevent ({cols}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
        t = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(sql, rows)
        conn.commit()
        out["executemany_one_tx_rows_per_s"] = round(len(rows) / (time.perf_counter() - t))
        t = time.perf_counter()
        for i in range(0, len(rows), BATCH):
            with conn.cursor() as cur:
                cur.executemany(sql, rows[i : i + BATCH])
            conn.commit()
        out["executemany_tx_per_50_rows_per_s"] = round(len(rows) / (time.perf_counter() - t))
    return out


# --- one database -------------------------------------------------------------------------------------


def db_cpu_seconds(url: str | None) -> float:
    """CPU time used so far by the PostgreSQL backends serving `url`'s database (their process
    titles name it; a backend that exits in between takes its share along); 0 for SQLite,
    whose work is inside the server's own processes."""
    if not url:
        return 0.0
    name = f" {urlparse(url).path.lstrip('/')} ".encode()
    ticks = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            title = cmdline.read_bytes()
            if title.startswith(b"postgres: ") and name in title:
                fields = (cmdline.parent / "stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


class Db:
    def __init__(self, kind: str, data_dir: Path, url: str | None) -> None:
        self.kind, self.data_dir, self.url = kind, data_dir, url

    def q(self, sql: str) -> list[Any]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(str(self.data_dir / "leadbridge.sqlite3"))
            try:
                return list(conn.execute(sql).fetchall())
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(str(self.url)) as conn:
            return list(conn.execute(sql).fetchall())

    def table_bytes(self) -> int | None:
        if self.kind == "postgresql":
            return int(self.q("SELECT pg_total_relation_size('capture_trackingevent')")[0][0])
        try:
            rows = self.q(
                "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('capture_trackingevent', 'event_visitor_time')"
            )
        except sqlite3.OperationalError:  # SQLite built without dbstat
            return None
        return int(rows[0][0] or 0)


def leadbridge(env: dict[str, str], *args: str) -> str:
    exe = Path(sys.executable).with_name("leadbridge")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "leadbridge.cli"]
    done = subprocess.run([*cmd, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"capture_bench: leadbridge {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


def bench_database(kind: str, url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"lb_capture_{kind}_"))
    try:
        return _bench_database(kind, url, args, data_dir)
    finally:
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)


def _bench_database(kind: str, url: str | None, args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    if url:
        fresh_postgres(url)
    env = child_env(data_dir=data_dir, database_url=url)
    env.update(DEBUG="0", CAPTURE_RATE_IP="100000000/m", CAPTURE_RATE_SITE="100000000/m")
    env.update(dict(pair.split("=", 1) for pair in args.env or []))
    leadbridge(env, "init")
    key = json.loads(
        leadbridge(env, "site", "create", "--name", "Bench", "--origin", ORIGIN, "--format", "json")
    )["site_key"]
    db = Db(kind, data_dir, url)
    rng = random.Random(args.seed)
    visitors = visitor_pool(rng)
    warmup = event_batches(rng, key, visitors, 20)
    batches = event_batches(rng, key, visitors, args.batches)
    pixels = pixel_urls(rng, key, visitors, args.pixels)

    server = Server(env, args.workers, args.threads)
    result: dict[str, Any] = {
        "database": kind,
        "server": {"workers": args.workers, "threads": args.threads},
        "clients": args.clients,
    }
    if args.only == "pixel":
        warmup, batches = [], []
    try:
        if batches:
            drive(server.port, args.clients, warmup, send_batch)
            cpu0, db0 = server.cpu_seconds(), db_cpu_seconds(url)
            events = drive(server.port, args.clients, batches, send_batch)
            cpu1, db1 = server.cpu_seconds(), db_cpu_seconds(url)
            events["events_per_s"] = round(events["stored"] / events["seconds"])
            events["requests_per_s"] = round(events["requests"] / events["seconds"], 1)
            events["server_cpu_ms_per_request"] = round((cpu1 - cpu0) * 1000 / max(1, events["requests"]), 2)
            if url:
                events["db_cpu_ms_per_request"] = round((db1 - db0) * 1000 / max(1, events["requests"]), 2)
            events["target_events_per_s"] = EVENTS_TARGET
            events["meets_target"] = events["events_per_s"] >= EVENTS_TARGET and not events["errors"]
            result["events"] = events

        drive(server.port, args.clients, pixels[:200], send_pixel)
        cpu0, db0 = server.cpu_seconds(), db_cpu_seconds(url)
        pixel = drive(server.port, args.clients, pixels[200:], send_pixel)
        cpu1, db1 = server.cpu_seconds(), db_cpu_seconds(url)
        pixel["hits_per_s"] = round(pixel["stored"] / pixel["seconds"])
        pixel["server_cpu_ms_per_request"] = round((cpu1 - cpu0) * 1000 / max(1, pixel["requests"]), 2)
        if url:
            pixel["db_cpu_ms_per_request"] = round((db1 - db0) * 1000 / max(1, pixel["requests"]), 2)
        pixel["target_hits_per_s"] = PIXEL_TARGET
        pixel["meets_target"] = pixel["hits_per_s"] >= PIXEL_TARGET and not pixel["errors"]
        result["pixel"] = pixel

        # The same server answering a request that does no work (GET /t/lb.js with a matching
        # ETag: 304 after Django's whole middleware stack, which /t/events and the pixel skip).
        etag = Client(server.port).request("GET", "/t/lb.js")[1]["etag"]

        def send_304(client: Client, _job: int) -> int:
            client.conn.request("GET", "/t/lb.js", headers={"If-None-Match": etag, "User-Agent": UA})
            resp = client.conn.getresponse()
            resp.read()
            if resp.status != 304:
                raise RuntimeError(f"lb.js {resp.status}")
            return 1

        cpu0 = server.cpu_seconds()
        ceiling = drive(server.port, args.clients, list(range(len(pixels) - 200)), send_304)
        cpu1 = server.cpu_seconds()
        result["ceiling_304"] = {
            "requests_per_s": round(ceiling["stored"] / ceiling["seconds"]),
            "server_cpu_ms_per_request": round((cpu1 - cpu0) * 1000 / max(1, ceiling["requests"]), 2),
            "client_cpu_ms_per_request": ceiling["client_cpu_ms_per_request"],
            "p50_ms": ceiling["p50_ms"],
            "errors": ceiling["errors"],
        }
    finally:
        server.stop()

    expected = (len(warmup) + len(batches)) * BATCH + len(pixels)
    stored_rows = int(db.q("SELECT count(*) FROM capture_trackingevent")[0][0])
    size = db.table_bytes()
    result["table"] = {
        "rows": stored_rows,
        "rows_expected": expected,
        "nothing_lost": stored_rows == expected,
        "visitors": int(db.q("SELECT count(*) FROM capture_visitor")[0][0]),
        "visit_touches": int(db.q("SELECT count(*) FROM capture_touch")[0][0]),
        "bytes_per_event_with_index": round(size / stored_rows, 1) if size and stored_rows else None,
    }

    result["pixel"]["share_of_ceiling"] = round(
        result["pixel"]["hits_per_s"] / result["ceiling_304"]["requests_per_s"], 3
    )
    if not batches:
        return result
    visitor_ids = [int(r[0]) for r in db.q("SELECT id FROM capture_visitor")]
    rows = raw_rows(random.Random(args.seed + 1), visitor_ids, args.batches)
    raw = (
        raw_sqlite(data_dir / "leadbridge.sqlite3", rows)
        if kind == "sqlite"
        else raw_postgres(str(url), rows)
    )
    raw["rows"] = len(rows)
    result["raw_insert"] = raw
    best_raw = max(v for k, v in raw.items() if k.endswith("_per_s"))
    result["http_vs_raw"] = {
        "events_share_of_best_raw": round(result["events"]["events_per_s"] / best_raw, 3),
        "events_share_of_raw_tx_per_50": round(
            result["events"]["events_per_s"] / raw["executemany_tx_per_50_rows_per_s"], 3
        ),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sqlite", action="store_true", help="bench SQLite (default: both)")
    parser.add_argument(
        "--postgres", metavar="URL", help="bench this PostgreSQL database (dropped and recreated)"
    )
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batches", type=int, default=600, help="event batches of 50 (timed)")
    parser.add_argument("--pixels", type=int, default=6000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--only", choices=["pixel"], help="pixel: skip the event batches and the raw inserts (quick runs)"
    )
    parser.add_argument(
        "--env",
        action="append",
        metavar="NAME=VALUE",
        help="for the app, e.g. REDIS_URL=redis://127.0.0.1:6379/0",
    )
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the temporary data dir (SQLite file, logs)"
    )
    parser.add_argument("--out")
    args = parser.parse_args()

    targets: list[tuple[str, str | None]] = []
    if args.sqlite or not args.postgres:
        targets.append(("sqlite", None))
    pg = args.postgres or (
        None
        if args.sqlite
        else os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/lb_capture_bench")
    )
    if pg:
        targets.append(("postgresql", pg))
    doc = {
        "bench": "capture",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "batch_size": BATCH,
        "app_env": args.env or [],
        "results": [bench_database(kind, url, args) for kind, url in targets],
    }
    text = json.dumps(doc, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
