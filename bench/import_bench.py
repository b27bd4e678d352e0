"""Import benchmark: `import_file` rows/s next to a raw insert of the same rows, per database.

    python bench/import_bench.py [--rows 100000] [--invalid 0.03] [--seed 7]
        [--pg-url postgres://postgres@127.0.0.1:5432/lb_bench_import] [--only sqlite|postgresql]
        [--profile DIR]

Writes one CSV file of realistic contacts (Russian, English and Polish names; unique emails and
phones typed the way people type them: "+7 916 123-45-67", "8 (916) ...", "+44 7700 ...";
companies, job titles, cities, 0-2 tags; `--invalid` of the rows carry a broken email, phone or
birthday). Then, for each database, in a fresh interpreter and a freshly created database:

1. raw: the same rows, already in memory, inserted into the contact table in one transaction
   with `executemany` (SQLite) or `COPY` (PostgreSQL), no validation; then the table is emptied;
2. import: `import_file(kind="contacts")` of the file: reading, encoding/delimiter detection,
   validation, dedupe lookups, contacts + tags + companies + stage history + timeline + DQ items;
3. rerun: the same file again: every row matches a contact and nothing changes;
4. raw_all_rows: every row the import stored (contacts, stage history, timeline, tag links,
   companies, tags, data-quality items) read back, deleted and inserted again by the raw
   database in one transaction: the ceiling for any importer that stores the same rows.

Prints one JSON document: seconds and rows/s per step, the ratio raw/import, the summary counts and
the peak memory of the child. `--profile DIR` writes cProfile stats of the import step there.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import child_env, fresh_postgres, peak_rss_mb, run_child, setup_django
from bench.generate import LOCALES, ascii_slug, pl_female, ru_female

HEADER = [
    "First name",
    "Last name",
    "Email",
    "Phone",
    "Company",
    "Job title",
    "City",
    "Country",
    "Birthday",
    "Tags",
]
TAGS = ["newsletter", "webinar", "expo-2026", "vip", "b2b", "partner", "florist", "retail", "cold", "hot"]
COMPANY_WORDS = [
    "Альфа",
    "Вектор",
    "Ромашка",
    "Acme",
    "Northwind",
    "Globex",
    "Orbis",
    "Polmar",
    "Wisła",
    "Baltic",
]
COMPANY_KINDS = ["ООО", "АО", "Ltd", "LLC", "Sp. z o.o.", "GmbH"]


def phone_text(locale: str, seq: int, rng: random.Random) -> str:
    """A unique valid number for `seq`, written the way people write it."""
    if locale == "ru":
        n = (seq * 7_368_787 + 1_234_567) % 1_000_000_000
        d = f"9{n:09d}"
        style = rng.random()
        if style < 0.4:
            return f"+7 {d[:3]} {d[3:6]}-{d[6:8]}-{d[8:]}"
        if style < 0.7:
            return f"8 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}"
        return f"7{d}"
    if locale == "en":
        d = f"7{['1', '3', '4', '5', '8'][seq % 5]}{(seq // 5 * 7_368_787 + 4_321) % 100_000_000:08d}"
        return f"+44 {d[:4]} {d[4:]}" if rng.random() < 0.7 else f"+44 (0){d[:4]} {d[4:]}"
    prefixes = ["50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"]
    d = f"{prefixes[seq % 12]}{(seq // 12 * 736_883 + 12_345) % 10_000_000:07d}"
    return f"+48 {d[:3]} {d[3:6]} {d[6:]}" if rng.random() < 0.7 else f"+48{d}"


def generate_csv(path: Path, *, rows: int, invalid: float, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    companies = [f"{rng.choice(COMPANY_KINDS)} {rng.choice(COMPANY_WORDS)} {i}" for i in range(300)]
    seqs = {"ru": 0, "en": 0, "pl": 0}
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(rows):
            loc = LOCALES[0] if (r := rng.random()) < 0.5 else LOCALES[1] if r < 0.8 else LOCALES[2]
            seq = seqs[loc.key]
            seqs[loc.key] += 1
            female = rng.random() < 0.5
            first = rng.choice(loc.female if female else loc.male)
            last = rng.choice(loc.last)
            if female and loc.key == "ru":
                last = ru_female(last)
            elif female and loc.key == "pl":
                last = pl_female(last)
            email = f"{ascii_slug(first)}.{ascii_slug(last)}.{i}@{loc.free_mail[i % len(loc.free_mail)]}"
            if rng.random() < 0.2:
                email = email.title()  # people type capitals; the importer lower-cases
            phone = phone_text(loc.key, seq, rng)
            birthday = (
                f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
                if rng.random() < 0.3
                else ""
            )
            if rng.random() < invalid:
                bad += 1
                kind = rng.random()
                if kind < 0.4:
                    email = email.replace("@", " at ")
                elif kind < 0.8:
                    phone = phone[: len(phone) // 2]
                else:
                    birthday = "2999-01-01"
            city = rng.choice(loc.cities)[0]
            tags = "; ".join(rng.sample(TAGS, k=rng.choice([0, 0, 1, 1, 2])))
            company = rng.choice(companies) if rng.random() < 0.7 else ""
            title = rng.choice(
                ["CEO", "Buyer", "Менеджер по закупкам", "Marketing Manager", "Właściciel", ""]
            )
            writer.writerow([first, last, email, phone, company, title, city, loc.country, birthday, tags])
    return {"rows": rows, "invalid": bad}


# --- the child: one database ------------------------------------------------------------------


def raw_insert(path: Path) -> tuple[int, float]:
    """Insert the file's rows as they are into the contact table; seconds for the insert only."""
    from django.db import connection, transaction

    from leadbridge.contacts.models import Contact
    from leadbridge.core import clock

    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        rows = list(reader)
    provided = ["first_name", "last_name", "name", "email", "phone", "job_title", "city", "country"]
    now = clock.now()
    fields = {f.column: f for f in Contact._meta.concrete_fields if not f.primary_key}
    extra = [c for c in fields if c not in provided]
    defaults = []
    for column in extra:
        f = fields[column]
        value = now if column in {"created_at", "updated_at"} else f.get_default()
        defaults.append(f.get_db_prep_save(value, connection))
    table = Contact._meta.db_table
    columns = provided + extra
    data = [
        (r[0], r[1], f"{r[0]} {r[1]}", r[2][:254], r[3][:32], r[5], r[6], r[7][:2], *defaults) for r in rows
    ]
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", data)
    seconds = time.perf_counter() - start
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {table} RESTART IDENTITY CASCADE")
        else:
            cursor.execute(f"DELETE FROM {table}")
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
    return len(data), seconds


def raw_rewrite() -> tuple[int, int, float]:
    """The import's whole write, done by the raw database: every row the import stored (contacts,
    stage changes, timeline, tag links, extra emails/phones, companies, tags, data-quality items)
    is read back, deleted, and inserted again in one transaction with `executemany` / `COPY`.
    Returns (contacts, rows, seconds of the insert)."""
    from django.db import connection, transaction

    from leadbridge.contacts.models import (
        Activity,
        Company,
        Contact,
        ContactPoint,
        ContactTag,
        DataQualityItem,
        StageChange,
        Tag,
    )

    models = [Company, Tag, Contact, StageChange, Activity, ContactTag, ContactPoint, DataQualityItem]
    saved: list[tuple[str, list[str], list[tuple[Any, ...]]]] = []
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(f"SELECT * FROM {table}")
            columns = [c[0] for c in cursor.description]
            saved.append((table, columns, list(cursor.fetchall())))
    contacts = len(saved[2][2])
    with transaction.atomic(), connection.cursor() as cursor:
        for table, _, _ in reversed(saved):
            cursor.execute(f"DELETE FROM {table}")
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for table, columns, data in saved:
            if not data:
                continue
            names = ", ".join(connection.ops.quote_name(c) for c in columns)
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in data:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", data)
    return contacts, sum(len(d) for _, _, d in saved), time.perf_counter() - start


def child(args: argparse.Namespace) -> None:
    setup_django()
    from django.core.management import call_command
    from django.db import connection

    from leadbridge.contacts.importer import import_file

    call_command("migrate", interactive=False, verbosity=0)
    path = Path(args.csv)
    n_raw, raw_s = raw_insert(path)

    def run() -> dict[str, Any]:
        return import_file(kind="contacts", path=path, mapping={}, defaults={}, dry_run=False, actor=None)

    profiler = cProfile.Profile(time.process_time) if args.profile else None
    start, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    summary = run()
    if profiler:
        profiler.disable()
    import_s, import_cpu = time.perf_counter() - start, time.process_time() - cpu
    start = time.perf_counter()
    again = run()
    rerun_s = time.perf_counter() - start
    all_contacts, all_rows, all_s = raw_rewrite()
    if profiler:
        out = Path(args.profile) / f"import-{connection.vendor}.prof"
        profiler.dump_stats(out)
        pstats.Stats(str(out), stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    rows = summary["rows"]
    print(
        json.dumps(
            {
                "database": connection.vendor,
                "rows": rows,
                "raw_insert": {"seconds": round(raw_s, 2), "rows_per_s": round(n_raw / raw_s)},
                "import": {
                    "seconds": round(import_s, 2),
                    "cpu_seconds": round(import_cpu, 2),
                    "rows_per_s": round(rows / import_s),
                },
                "rerun": {"seconds": round(rerun_s, 2), "rows_per_s": round(rows / rerun_s)},
                "raw_over_import": round((n_raw / raw_s) / (rows / import_s), 1),
                # The import's whole write (contacts + history + links) by the raw database:
                # the ceiling for any importer that stores the same rows.
                "raw_all_rows": {
                    "table_rows": all_rows,
                    "seconds": round(all_s, 2),
                    "contacts": all_contacts,
                    "rows_per_s": round(rows / all_s),  # file rows per second, like "import"
                },
                "raw_all_over_import": round(import_s / all_s, 1),
                "summary": {k: summary[k] for k in ("created", "updated", "unchanged", "skipped")}
                | {"errors": len(summary["errors"]), "rerun_unchanged": again["unchanged"]},
                "peak_rss_mb": peak_rss_mb(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--invalid", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/lb_bench_import")
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--profile", help="directory for cProfile stats of the import step")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    with tempfile.TemporaryDirectory(prefix="lb-import-bench-") as tmp:
        work = Path(tmp)
        csv_path = work / "contacts.csv"
        start = time.perf_counter()
        generated = generate_csv(csv_path, rows=args.rows, invalid=args.invalid, seed=args.seed)
        report: dict[str, Any] = {
            "command": " ".join(["python", "bench/import_bench.py", *sys.argv[1:]]),
            "file": {**generated, "mb": round(csv_path.stat().st_size / 2**20, 1),
                     "generated_s": round(time.perf_counter() - start, 1)},
        }  # fmt: skip
        child_args = ["--child", "--csv", str(csv_path)] + (
            ["--profile", args.profile] if args.profile else []
        )
        script = Path(__file__).resolve()
        if args.only in (None, "sqlite"):
            env = child_env(data_dir=work / "sqlite", database_url=None)
            report["sqlite"] = run_child(script, child_args, env)
        if args.only in (None, "postgresql"):
            fresh_postgres(args.pg_url)
            env = child_env(data_dir=work / "pg", database_url=args.pg_url)
            report["postgresql"] = run_child(script, child_args, env)
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
