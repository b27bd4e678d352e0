"""The `leadbridge` command: thin adapters over services (parse, call, print).

Every command exits 0 on success, and non-zero with a one-line reason on stderr on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

Handler = Callable[[argparse.Namespace], int]


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


class CliError(Exception):
    """A failure to report as one line on stderr with exit code 1 (or `code`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


# --- commands ------------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from leadbridge.contacts.setup import ensure_defaults

    ensure_defaults()
    print("database ready")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from leadbridge.accounts.models import Team
    from leadbridge.accounts.services import team_get_or_create, user_create

    team: Team | None = team_get_or_create(name=args.team) if args.team else None
    user = user_create(
        username=args.username, role=args.role, password=args.password, email=args.email or "", team=team
    )
    if args.format == "json":
        _print_json({"id": user.pk, "username": user.username, "role": user.role})
    else:
        print(f"created user {user.username} ({user.role})")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from leadbridge.accounts.models import User
    from leadbridge.accounts.services import token_create

    user = User.objects.filter(username__iexact=args.username).first()
    if user is None:
        raise CliError(f"no user {args.username!r}")
    raw = token_create(user=user, name=args.name or "")
    if args.format == "json":
        _print_json({"token": raw})
    else:
        print(raw)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from leadbridge.contacts.demo import load_demo

    summary = load_demo(contacts=args.contacts)
    if args.format == "json":
        _print_json(summary)
    else:
        for line in summary.get("lines", []):
            print(line)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import subprocess

    worker: subprocess.Popen[bytes] | None = None
    if not args.no_worker:
        # Dev convenience: one worker beside the web server, so background work just happens.
        worker = subprocess.Popen([sys.executable, "-m", "leadbridge.cli", "worker"])  # noqa: S603
    cmd = [
        sys.executable, "-m", "gunicorn", "config.wsgi:application",
        "--bind", f"{args.host}:{args.port}",
        "--workers", str(args.workers), "--threads", str(args.threads),
        "--access-logfile", "-" if args.access_log else "/dev/null",
        "--graceful-timeout", "5",
    ]
    print(f"LeadBridge on http://{args.host}:{args.port}/", flush=True)
    try:
        return subprocess.call(cmd)  # noqa: S603
    except KeyboardInterrupt:
        return 0
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=10)


def cmd_worker(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    options: dict[str, Any] = {"queue_name": "*", "interval": args.interval, "reload": False}
    if args.once:
        options["batch"] = True
    call_command("db_worker", **options)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from leadbridge.contacts.importer import import_file, parse_pairs

    mapping = parse_pairs(args.map or [], option="--map")
    defaults = parse_pairs(args.set or [], option="--set")
    summary = import_file(
        kind=args.kind, path=args.file, mapping=mapping, defaults=defaults, dry_run=args.dry_run, actor=None
    )
    if args.format == "json":
        _print_json(summary)
    else:
        print(
            f"created {summary['created']}, updated {summary['updated']}, skipped {summary['skipped']}, "
            f"errors {len(summary['errors'])}" + (" (dry run: nothing saved)" if args.dry_run else "")
        )
        for err in summary["errors"][:50]:
            print(f"  row {err['row']}: {err['field']}: {err['message']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from leadbridge.contacts.exporter import export

    export(kind=args.kind, segment=args.segment, fmt=args.format, out=sys.stdout)
    return 0


def cmd_segment(args: argparse.Namespace) -> int:
    from leadbridge.contacts.models import Contact
    from leadbridge.contacts.simple_filter import apply_simple_filter

    qs = apply_simple_filter(Contact.objects.alive(), args.expr)
    if args.action == "count":
        count = qs.count()
        if args.format == "json":
            _print_json({"count": count})
        else:
            print(count)
        return 0
    rows = list(qs.order_by("id").values("id", "name", "email", "phone", "stage", "score")[: args.limit])
    if args.format == "json":
        _print_json({"items": rows})
    else:
        for r in rows:
            print(f"{r['id']}\t{r['name']}\t{r['email']}\t{r['phone']}\t{r['stage']}")
    return 0


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadbridge", description="LeadBridge CRM")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init", help="create or migrate the database and defaults (idempotent)")
    p.set_defaults(func=cmd_init)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    p = user.add_parser("create", help="create a user")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True)
    p.add_argument("--password")
    p.add_argument("--email")
    p.add_argument("--team")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_user_create)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    p = token.add_parser("create", help="create an API token and print it")
    p.add_argument("--username", required=True)
    p.add_argument("--name")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_token_create)

    p = sub.add_parser("demo", help="load a realistic demo data set (idempotent)")
    p.add_argument("--contacts", type=int, default=2000)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="run the web app (and a worker)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--no-worker", action="store_true", help="do not start a background worker beside it")
    p.add_argument("--access-log", action="store_true")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("worker", help="run background work")
    p.add_argument("--once", action="store_true", help="do everything due now and exit")
    p.add_argument("--interval", type=float, default=1.0)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("import", help="import a CSV file")
    p.add_argument("kind", choices=["contacts", "leads", "deals", "spend"])
    p.add_argument("file")
    p.add_argument("--map", action="append", metavar="SRC=DST")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="export records")
    p.add_argument("kind", choices=["contacts"])
    p.add_argument("--segment")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.set_defaults(func=cmd_export)

    seg = sub.add_parser("segment", help="evaluate a filter expression").add_subparsers(dest="action", required=True)
    for action in ("count", "list"):
        p = seg.add_parser(action)
        p.add_argument("expr")
        p.add_argument("--format", choices=["text", "json"], default="text")
        p.add_argument("--limit", type=int, default=100)
        p.set_defaults(func=cmd_segment)

    p = sub.add_parser("manage", help="run a Django management command", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda a: _manage(a.rest))
    return parser


def _manage(rest: list[str]) -> int:
    from django.core.management import execute_from_command_line

    execute_from_command_line(["leadbridge manage", *rest])
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_django()
    from leadbridge.core.errors import ServiceError

    try:
        return int(args.func(args) or 0)
    except CliError as exc:
        sys.stderr.write(f"leadbridge: {exc}\n")
        return exc.code
    except ServiceError as exc:
        sys.stderr.write(f"leadbridge: {exc}\n")
        return 1
    except FileNotFoundError as exc:
        sys.stderr.write(f"leadbridge: file not found: {exc.filename}\n")
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
