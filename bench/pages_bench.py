"""Contact list and contact card latency through `leadbridge serve`, next to the raw database.

    python bench/pages_bench.py [--sqlite DIR] [--postgres URL] [--requests 200] [--deep-pages 20]
        [--users bench_admin,bench_sales01] [--inspect] [--out FILE]

For each database given (a LEADBRIDGE_DATA_DIR holding a generated SQLite file, and/or a
PostgreSQL URL; default: $LEADBRIDGE_DATA_DIR and $DATABASE_URL when set), this starts
`leadbridge serve --no-worker --port <free>` against it, logs in through the login form (CSRF and
all) as each user, and times with httpx, one request at a time:

  list_first    /contacts/
  list_deep     the page reached by following "Next" --deep-pages times
  list_tag      /contacts/?tag=<most popular tag>   list_tag_rare  ?tag=<a rare tag>
  list_stage    /contacts/?stage=mql                list_q_name    ?q=<a common surname>
  list_q_email  ?q=<an existing email>              list_q_phone   ?q=<an existing phone>
  card          /contacts/<random visible id>/

Each page kind reports p50/p95 and `server_cpu_ms` (CPU time of the server processes per
request, read from /proc: it barely moves when other jobs share the machine). Beside each page it
times the same data queries hand-written in SQL on a direct connection (`raw`), so the page/raw
ratio holds on a noisy machine. A page kind still running after 60 s stops early (>= 20
samples). `--inspect` also runs every page once in-process with Django's test client and reports
the query count, the slowest queries and their query plans. Prints one JSON document (and writes it to --out).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import platform
import random
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = os.environ.get("BENCH_PASSWORD", "bench-pass-2026")  # what bench/generate.py sets
TARGET_P95_MS = 150.0
COMMON_SURNAME = "Smith"

# --- statistics ---------------------------------------------------------------------------------


def summary(samples: list[float]) -> dict[str, Any]:
    ms = sorted(s * 1000 for s in samples)
    if not ms:
        return {"n": 0}

    def pct(p: float) -> float:
        return round(ms[min(len(ms) - 1, max(0, round(p * len(ms)) - 1))], 2)

    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": pct(0.95),
        "max_ms": round(ms[-1], 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


BUDGET_S = 60.0  # per page kind: a very slow page stops after this long (with at least MIN_SAMPLES)
MIN_SAMPLES = 20


def timed(fn: Callable[[], Any], n: int, warmup: int = 5) -> list[float]:
    for _ in range(min(warmup, n)):
        fn()
    out: list[float] = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
        if len(out) >= MIN_SAMPLES and time.perf_counter() - start > BUDGET_S:
            break
    return out


# --- the raw side: the same data queries, hand-written -------------------------------------------


class Raw:
    """A direct DB-API connection and the SQL the list page and the card run."""

    def __init__(self, kind: str, target: str) -> None:
        self.kind = kind
        self.conn: Any
        if kind == "sqlite":
            self.conn = sqlite3.connect(str(Path(target) / "leadbridge.sqlite3"), isolation_level=None)
            self.conn.execute("PRAGMA cache_size=-64000")  # what the app's connections use
            self.mark = "?"
        else:
            import psycopg

            self.conn = psycopg.connect(target, autocommit=True)
            self.mark = "%s"

    def q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self.mark != "?":
            sql = sql.replace("?", self.mark)
        return list(self.conn.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.q(sql, params)
        return rows[0][0] if rows else None

    # -- visibility: sales see their own and their team's contacts
    def visibility(self, user: dict[str, Any]) -> tuple[str, list[Any]]:
        """What `Contact.objects.visible_to(user)` adds: sales see their own and their team's contacts,
        as a literal list of owner ids (the team's members), like the app does."""
        if user["role"] not in {"sales", "presales"}:
            return "", []
        owners = {user["id"]}
        if user["team_id"]:
            owners |= {
                r[0] for r in self.q("SELECT id FROM accounts_user WHERE team_id = ?", [user["team_id"]])
            }
        ids = sorted(owners)
        return f" AND c.owner_id IN ({','.join('?' * len(ids))})", ids

    def like(self, column: str, insensitive: bool) -> str:
        # Django's lookups: SQLite LIKE ... ESCAPE; PostgreSQL UPPER(col::text) LIKE UPPER(%s) for i*.
        if self.kind == "sqlite":
            return f"{column} LIKE ? ESCAPE '\\'"
        return f"UPPER({column}::text) LIKE UPPER(?)" if insensitive else f"{column}::text LIKE ?"

    def list_page(
        self, user: dict[str, Any], *, where: str = "", params: Sequence[Any] = (), before: int | None = None
    ) -> int:
        vis, vparams = self.visibility(user)
        sql = (
            "SELECT c.*, ou.*, co.* FROM contacts_contact c "
            "LEFT JOIN accounts_user ou ON ou.id = c.owner_id "
            "LEFT JOIN contacts_company co ON co.id = c.company_id "
            "WHERE c.merged_into_id IS NULL AND c.erased_at IS NULL" + vis + where
        )
        args = [*vparams, *params]
        if before is not None:
            sql += " AND c.id < ?"
            args.append(before)
        rows = self.q(sql + " ORDER BY c.id DESC LIMIT 51", args)
        ids = [r[0] for r in rows[:50]]
        if ids:
            marks = ",".join("?" * len(ids))
            self.q(
                "SELECT ct.*, t.* FROM contacts_contacttag ct JOIN contacts_tag t ON t.id = ct.tag_id "
                f"WHERE ct.contact_id IN ({marks})",
                ids,
            )
        # The filter bar: tags (first 500 by key) and owners.
        self.q("SELECT * FROM contacts_tag ORDER BY key LIMIT 500")
        self.q("SELECT * FROM accounts_user WHERE is_active ORDER BY username")
        return len(rows)

    def card(self, user: dict[str, Any], contact_id: int) -> None:
        vis, vparams = self.visibility(user)
        row = self.q(
            "SELECT c.*, ou.*, co.*, m.* FROM contacts_contact c "
            "LEFT JOIN accounts_user ou ON ou.id = c.owner_id "
            "LEFT JOIN contacts_company co ON co.id = c.company_id "
            "LEFT JOIN contacts_contact m ON m.id = c.merged_into_id "
            "WHERE c.id = ?" + vis + " ORDER BY c.id LIMIT 1",
            [contact_id, *vparams],
        )
        if not row:
            raise SystemExit(f"pages_bench: contact {contact_id} not visible to {user['username']}")
        cid = [contact_id]
        self.q(
            "SELECT ct.*, t.* FROM contacts_contacttag ct JOIN contacts_tag t ON t.id = ct.tag_id "
            "WHERE ct.contact_id = ?",
            cid,
        )
        self.q("SELECT * FROM contacts_contactpoint WHERE contact_id = ?", cid)
        self.q("SELECT * FROM contacts_consent WHERE contact_id = ?", cid)
        self.q("SELECT * FROM contacts_specialdate WHERE contact_id = ?", cid)
        self.q("SELECT * FROM contacts_customfield WHERE entity = 'contact' ORDER BY entity, position, id")
        self.q(
            "SELECT a.*, u.* FROM contacts_activity a LEFT JOIN accounts_user u ON u.id = a.actor_id "
            "WHERE a.contact_id = ? ORDER BY a.id DESC LIMIT 21",
            cid,
        )
        self.q(
            "SELECT s.*, u.* FROM contacts_stagechange s LEFT JOIN accounts_user u ON u.id = s.actor_id "
            "WHERE s.contact_id = ? ORDER BY s.occurred_at DESC, s.id DESC LIMIT 30",
            cid,
        )
        self.q(
            "SELECT n.*, u.* FROM contacts_note n LEFT JOIN accounts_user u ON u.id = n.author_id "
            "WHERE n.contact_id = ? ORDER BY n.created_at DESC, n.id DESC LIMIT 20",
            cid,
        )
        self.q(
            "SELECT g.*, l.*, u.* FROM contacts_merge g JOIN contacts_contact l ON l.id = g.loser_id "
            "LEFT JOIN accounts_user u ON u.id = g.actor_id WHERE g.winner_id = ? ORDER BY g.merged_at DESC LIMIT 20",
            cid,
        )

    def close(self) -> None:
        self.conn.close()


# --- the server -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def db_env(kind: str, target: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    if kind == "sqlite":
        env["LEADBRIDGE_DATA_DIR"] = target
    else:
        env["DATABASE_URL"] = target
        # Only the secret key and the server log land here; the data is in PostgreSQL.
        env["LEADBRIDGE_DATA_DIR"] = env.get("LEADBRIDGE_DATA_DIR") or tempfile.mkdtemp(prefix="lb_pages_")
    env["DEBUG"] = "0"
    return env


class Server:
    def __init__(self, env: dict[str, str], workers: int, threads: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("leadbridge")
        cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "leadbridge.cli"]
        cmd += [
            "serve",
            "--no-worker",
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ]
        self.log = Path(env["LEADBRIDGE_DATA_DIR"]) / f"serve-{self.port}.log"
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"pages_bench: leadbridge serve exited; see {self.log}")
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise SystemExit(f"pages_bench: leadbridge serve did not answer in 60 s; see {self.log}")

    def _tree(self) -> dict[int, tuple[int, int]]:
        """pid -> (parent pid, utime + stime ticks) for this server and its descendants.

        gunicorn starts its own session, so the process group does not cover it; the
        parent links do.
        """
        procs: dict[int, tuple[int, int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                procs[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
            except (OSError, IndexError, ValueError):
                continue
        mine = {self.proc.pid}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _) in procs.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    grew = True
        return {pid: procs[pid] for pid in mine if pid in procs}

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's processes (gunicorn master + workers), from /proc.

        Unlike wall time this barely moves when other work shares the machine; on SQLite it
        includes the database work, on PostgreSQL the database backends are separate processes.
        """
        return sum(ticks for _, ticks in self._tree().values()) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """Stop gunicorn (its master, which stops its workers) and then the `leadbridge serve` wrapper."""
        if self.proc.poll() is not None:
            return
        for pid, (ppid, _) in self._tree().items():
            if ppid == self.proc.pid:
                os.kill(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def login(base: str, username: str, password: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    page = client.get("/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if page.status_code != 200 or not token:
        raise SystemExit(f"pages_bench: no login form at {base}/login/ ({page.status_code})")
    resp = client.post(
        "/login/",
        data={"csrfmiddlewaretoken": token[1], "username": username, "password": password, "next": ""},
        headers={"Referer": base + "/login/"},
    )
    if resp.status_code != 302:
        raise SystemExit(f"pages_bench: login as {username} failed ({resp.status_code})")
    return client


NEXT_LINK = re.compile(r'<a[^>]*rel="next"[^>]*href="([^"]+)"')


def next_url(page_html: str) -> str | None:
    m = NEXT_LINK.search(page_html)
    if not m:
        return None
    href = html.unescape(m[1])
    return href if href.startswith("/") else "/contacts/" + href


def cursor_id(url: str) -> int | None:
    m = re.search(r"cursor=([^&]+)", url)
    if not m:
        return None
    raw = unquote(m[1])
    values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return int(values[0])


# --- one database ---------------------------------------------------------------------------------


def bench_database(kind: str, target: str, args: argparse.Namespace) -> dict[str, Any]:
    raw = Raw(kind, target)
    rng = random.Random(args.seed)
    contacts = int(raw.one("SELECT count(*) FROM contacts_contact"))
    max_id = int(raw.one("SELECT max(id) FROM contacts_contact") or 0)
    popular_tag = raw.one("SELECT t.key FROM contacts_tag t WHERE t.id = (SELECT min(id) FROM contacts_tag)")
    rare_tag = raw.one("SELECT key FROM contacts_tag ORDER BY id DESC LIMIT 1 OFFSET 100")
    sample = raw.q("SELECT email, phone FROM contacts_contact WHERE id = ?", [max(1, max_id // 3)])
    email, phone = sample[0] if sample else ("", "")
    tag_counts = {
        t: raw.one(
            "SELECT count(*) FROM contacts_contacttag ct JOIN contacts_tag t ON t.id = ct.tag_id WHERE t.key = ?",
            [t],
        )
        for t in (popular_tag, rare_tag)
    }
    server = Server(db_env(kind, target), args.workers, args.threads)
    result: dict[str, Any] = {
        "database": kind,
        "contacts": contacts,
        "tag_counts": tag_counts,
        "server": {"workers": args.workers, "threads": args.threads},
        "users": [],
    }
    try:
        for username in args.users:
            urow = raw.q(
                "SELECT id, username, role, team_id FROM accounts_user WHERE username = ?", [username]
            )
            if not urow:
                raise SystemExit(f"pages_bench: no user {username!r}; run bench/generate.py first")
            user = dict(zip(("id", "username", "role", "team_id"), urow[0], strict=True))
            vis, vparams = raw.visibility(user)
            visible = [
                r[0]
                for r in raw.q(
                    "SELECT c.id FROM contacts_contact c LEFT JOIN accounts_user ou ON ou.id = c.owner_id "
                    "WHERE c.id - (c.id / 97) * 97 = 3" + vis + " ORDER BY c.id",
                    vparams,
                )
            ]
            card_ids = [rng.choice(visible) for _ in range(args.requests)]
            client = login(server.base, username, PASSWORD)
            try:
                result["users"].append(
                    bench_user(client, server, raw, user, card_ids, args, popular_tag, rare_tag, email, phone)
                )
            finally:
                client.close()
    finally:
        server.stop()
        raw.close()
    if args.inspect:
        result["inspect"] = inspect(kind, target, args, popular_tag, rare_tag, email, phone)
    return result


def bench_user(
    client: httpx.Client,
    server: Server,
    raw: Raw,
    user: dict[str, Any],
    card_ids: list[int],
    args: argparse.Namespace,
    popular_tag: str,
    rare_tag: str,
    email: str,
    phone: str,
) -> dict[str, Any]:
    n = args.requests
    errors: dict[str, int] = {}

    def get(name: str, url: str) -> Callable[[], Any]:
        def run() -> httpx.Response:
            resp = client.get(url)
            if resp.status_code != 200:
                errors[name] = errors.get(name, 0) + 1
            return resp

        return run

    # Walk "Next" to the deep page (timing each step), then time that page on its own.
    url: str | None = "/contacts/"
    walk: list[float] = []
    deep = "/contacts/"
    for _ in range(args.deep_pages):
        t = time.perf_counter()
        resp = client.get(url or "/contacts/")
        walk.append(time.perf_counter() - t)
        url = next_url(resp.text)
        if url is None:
            break
        deep = url
    deep_before = cursor_id(deep)

    pages: dict[str, str] = {
        "list_first": "/contacts/",
        "list_deep": deep,
        "list_tag": f"/contacts/?tag={popular_tag}",
        "list_tag_rare": f"/contacts/?tag={rare_tag}",
        "list_stage": "/contacts/?stage=mql",
        "list_q_name": f"/contacts/?q={COMMON_SURNAME}",
        "list_q_email": f"/contacts/?q={email}",
        "list_q_phone": "/contacts/?q=" + phone.replace("+", "%2B"),
    }
    tag_exists = (
        " AND EXISTS (SELECT 1 FROM contacts_contacttag ct JOIN contacts_tag t ON t.id = ct.tag_id "
        "WHERE ct.contact_id = c.id AND t.key = ?)"
    )
    word = COMMON_SURNAME
    raw_calls: dict[str, Callable[[], Any]] = {
        "list_first": lambda: raw.list_page(user),
        "list_deep": lambda: raw.list_page(user, before=deep_before),
        "list_tag": lambda: raw.list_page(user, where=tag_exists, params=[popular_tag]),
        "list_tag_rare": lambda: raw.list_page(user, where=tag_exists, params=[rare_tag]),
        "list_stage": lambda: raw.list_page(user, where=" AND c.stage = ?", params=["mql"]),
        "list_q_name": lambda: raw.list_page(
            user,
            where=f" AND ({raw.like('c.name', True)} OR {raw.like('c.email', False)} OR {raw.like('c.last_name', True)})",
            params=[f"%{word}%", f"{word.lower()}%", f"{word}%"],
        ),
        "list_q_email": lambda: raw.list_page(
            user, where=f" AND {raw.like('c.email', False)}", params=[f"{email}%"]
        ),
        "list_q_phone": lambda: raw.list_page(user, where=" AND c.phone = ?", params=[phone]),
    }
    out: dict[str, Any] = {
        "user": user["username"],
        "role": user["role"],
        "pages": {},
        "raw": {},
        "ratio_p50": {},
    }

    def page(fn: Callable[[], Any]) -> dict[str, Any]:
        for _ in range(min(5, n)):
            fn()
        cpu = server.cpu_seconds()
        samples = timed(fn, n, warmup=0)
        stats = summary(samples)
        stats["server_cpu_ms"] = round((server.cpu_seconds() - cpu) * 1000 / len(samples), 1)
        return stats

    for name, page_url in pages.items():
        out["pages"][name] = page(get(name, page_url))
        out["raw"][name] = summary(timed(raw_calls[name], n))
    ids = iter(card_ids * 3)
    out["pages"]["card"] = page(lambda: get("card", f"/contacts/{next(ids)}/")())
    ids2 = iter(card_ids * 3)
    out["raw"]["card"] = summary(timed(lambda: raw.card(user, next(ids2)), n))
    out["deep_walk"] = {"pages": len(walk), **summary(walk), "url": deep}
    for name, page in out["pages"].items():
        base = out["raw"][name].get("p50_ms") or 0
        out["ratio_p50"][name] = round(page["p50_ms"] / base, 1) if base else None
    out["errors"] = errors
    out["over_target"] = [k for k, v in out["pages"].items() if v.get("p95_ms", 0) > TARGET_P95_MS]
    return out


# --- --inspect: query counts and plans, in-process ----------------------------------------------


def inspect(
    kind: str, target: str, args: argparse.Namespace, popular_tag: str, rare_tag: str, email: str, phone: str
) -> Any:
    payload = json.dumps(
        {
            "users": args.users,
            "tag": popular_tag,
            "rare_tag": rare_tag,
            "email": email,
            "phone": phone,
            "kind": kind,
        }
    )
    proc = subprocess.run(
        [sys.executable, __file__, "--_inspect-child", payload],
        cwd=ROOT, env=db_env(kind, target), capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        return {"error": proc.stderr[-2000:]}
    return json.loads(proc.stdout)


def inspect_child(payload: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from leadbridge.accounts.models import User

    settings.ALLOWED_HOSTS = ["*"]
    p = json.loads(payload)
    report: dict[str, Any] = {}
    for username in p["users"]:
        user = User.objects.get(username=username)
        client = Client()
        client.force_login(user)
        some = client.get("/contacts/")
        first_id = re.search(r'data-contact-id="(\d+)"', some.content.decode())
        urls = {
            "list_first": "/contacts/",
            "list_tag": f"/contacts/?tag={p['tag']}",
            "list_tag_rare": f"/contacts/?tag={p['rare_tag']}",
            "list_stage": "/contacts/?stage=mql",
            "list_q_name": f"/contacts/?q={COMMON_SURNAME}",
            "list_q_email": f"/contacts/?q={p['email']}",
            "list_q_phone": "/contacts/?q=" + p["phone"].replace("+", "%2B"),
            "card": f"/contacts/{first_id[1] if first_id else 1}/",
        }
        per: dict[str, Any] = {}
        for name, url in urls.items():
            client.get(url)  # warm
            with CaptureQueriesContext(connection) as ctx:
                t = time.perf_counter()
                resp = client.get(url)
                total = time.perf_counter() - t
            queries = sorted(ctx.captured_queries, key=lambda q: -float(q["time"]))
            top = []
            for q in queries[:2]:
                plan = explain(connection, q["sql"], p["kind"])
                top.append({"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:1500], "plan": plan})
            per[name] = {
                "status": resp.status_code,
                "ms": round(total * 1000, 1),
                "queries": len(ctx.captured_queries),
                "sql_ms": round(sum(float(q["time"]) for q in ctx.captured_queries) * 1000, 1),
                "slowest": top,
            }
        report[username] = per
    sys.stdout.write(json.dumps(report, ensure_ascii=False))


def explain(connection: Any, sql: str, kind: str) -> list[str]:
    if not sql.lstrip().upper().startswith("SELECT"):
        return []
    with connection.cursor() as cur:
        if kind == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + sql)
            return [str(r[-1]) for r in cur.fetchall()]
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return [str(r[0]) for r in cur.fetchall()]


# --- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_inspect-child"]:
        inspect_child(argv[1])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sqlite", metavar="DIR", help="LEADBRIDGE_DATA_DIR holding a generated leadbridge.sqlite3"
    )
    p.add_argument("--postgres", metavar="URL", help="postgres://... of a generated database")
    p.add_argument("--requests", type=int, default=200, help="timed requests per page kind")
    p.add_argument("--deep-pages", type=int, default=20)
    p.add_argument("--users", default="bench_admin,bench_sales01")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers for leadbridge serve")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--inspect", action="store_true", help="also report query counts and plans per page")
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    args.users = [u.strip() for u in args.users.split(",") if u.strip()]
    targets: list[tuple[str, str]] = []
    sqlite_dir = args.sqlite or (os.environ.get("LEADBRIDGE_DATA_DIR") if not args.postgres else None)
    if sqlite_dir and (Path(sqlite_dir) / "leadbridge.sqlite3").exists():
        targets.append(("sqlite", str(Path(sqlite_dir).resolve())))
    pg = args.postgres or (os.environ.get("DATABASE_URL") if not args.sqlite else None)
    if pg and urlparse(pg).scheme.startswith("postgres"):
        targets.append(("postgresql", pg))
    if not targets:
        p.error("nothing to benchmark: give --sqlite DIR and/or --postgres URL of a generated database")
    load_start = round(os.getloadavg()[0], 2)
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "platform": platform.platform(),
        },
        "requests_per_page": args.requests,
        "target_p95_ms": TARGET_P95_MS,
        "results": [bench_database(kind, target, args) for kind, target in targets],
    }
    # Other work on the machine inflates wall times; server_cpu_ms and the raw ratio hold up better.
    out["load_average_1m"] = {"start": load_start, "end": round(os.getloadavg()[0], 2)}
    text = json.dumps(out, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
