"""The `leadbridge` command: thin adapters over services (parse, call, print).

Every command exits 0 on success, and non-zero with a one-line reason on stderr on failure.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
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
    from leadbridge.capture.setup import ensure_defaults as ensure_capture_defaults
    from leadbridge.contacts.setup import ensure_defaults
    from leadbridge.marketing.setup import ensure_defaults as ensure_marketing_defaults

    ensure_defaults()
    ensure_marketing_defaults()
    ensure_capture_defaults()
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
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import transaction

    from leadbridge.accounts.models import User
    from leadbridge.accounts.services import team_get_or_create, user_create
    from leadbridge.capture.setup import ensure_defaults as ensure_capture_defaults
    from leadbridge.contacts.demo import DEMO_PASSWORD, DEMO_USERS, demo_loaded, load_demo
    from leadbridge.contacts.setup import ensure_defaults
    from leadbridge.core.roles import ROLE_LABELS, role_of
    from leadbridge.marketing.setup import ensure_defaults as ensure_marketing_defaults

    call_command("migrate", interactive=False, verbosity=0)
    ensure_defaults()
    ensure_marketing_defaults()
    ensure_capture_defaults()
    # The demo's users are created here, through the accounts services: the contacts layer,
    # where the demo data lives, may not import accounts (ARCHITECTURE.md layers).
    lines: list[str] = []
    users: list[dict[str, Any]] = []
    with transaction.atomic():
        password_hash = ""
        was_loaded = demo_loaded()
        for spec in DEMO_USERS:
            user = User.objects.filter(username__iexact=spec.username).first()
            note = "  (an existing account: its own password)" if user and not was_loaded else ""
            if user is None:
                team = team_get_or_create(name=spec.team) if spec.team else None
                user = user_create(
                    username=spec.username,
                    role=spec.role,
                    email=spec.email,
                    first_name=spec.first_name,
                    last_name=spec.last_name,
                    team=team,
                    language=spec.language,
                )
                # One hash for all nine: hashing is deliberately slow (~1 s each).
                password_hash = password_hash or make_password(DEMO_PASSWORD)
                user.password = password_hash
                user.save(update_fields=["password"])
            team_name = f", {user.team.name}" if user.team else ""
            label = f"{ROLE_LABELS[role_of(user)]} ({user.get_full_name()}{team_name})"
            lines.append(f"  {user.username:<12}{label}{note}")
            users.append({"username": user.username, "role": user.role, "own_password": bool(note)})
        summary = load_demo(contacts=args.contacts)
        if summary["loaded"]:
            extra = _demo_marketing()
            summary["counts"].update(extra)
            summary["lines"].append(
                f"A tracked shop with {extra['visitors']} visitors ({extra['linked_visitors']} of them contacts) "
                f"and {extra['tracking_hits']} page views and events, {extra['scoring_rules']} scoring rules, "
                f"{extra['segments']} saved segments; the worker scores the hits once it runs."
            )
    lines[:0] = [
        *summary["lines"],
        f"Start the app with `leadbridge serve` (`make demo` does) and open {args.url}",
        f"Log in with the password {DEMO_PASSWORD!r} as one of:",
    ]
    summary.update(lines=lines, url=args.url, password=DEMO_PASSWORD, users=users)
    if args.format == "json":
        _print_json(summary)
    else:
        print("\n".join(lines))
    return 0


def _demo_marketing() -> dict[str, int]:
    """The demo's tracked shop, scoring rules and saved segments (apps above contacts)."""
    from leadbridge.accounts.models import User
    from leadbridge.capture.demo import load_capture_demo
    from leadbridge.scoring.demo import load_scoring_demo
    from leadbridge.segments.demo import load_segments_demo

    tracked = load_capture_demo()
    marketer = User.objects.filter(username="marketing").first()
    return {
        "visitors": tracked["visitors"],
        "linked_visitors": tracked["linked"],
        "tracking_hits": tracked["hits"],
        "scoring_rules": load_scoring_demo(),
        "segments": load_segments_demo(actor=marketer),
    }


def cmd_site_create(args: argparse.Namespace) -> int:
    from leadbridge.capture.services import site_create

    site = site_create(actor=None, name=args.name, origins=args.origin or [])
    if args.format == "json":
        _print_json({"site_key": site.key, "id": site.pk, "name": site.name, "origins": site.origins})
    else:
        print(site.key)
    return 0


def cmd_events_prune(args: argparse.Namespace) -> int:
    from leadbridge.capture.retention import events_prune

    result = events_prune(
        actor=None, older_than_days=args.older_than, rollup=not args.no_rollup, dry_run=args.dry_run
    )
    if args.format == "json":
        _print_json(result)
    else:
        verb = "would delete" if args.dry_run else "deleted"
        print(f"{verb} {result['deleted']} tracking hits older than {result['cutoff']}")
    return 0


def cmd_events_rollup(args: argparse.Namespace) -> int:
    from leadbridge.capture.contact_days import advance

    result = advance(budget=None, wait=True)
    if args.format == "json":
        _print_json(result)
    else:
        print(f"rolled up {result['ids']} event ids in {result['batches']} batches")
    return 0


def cmd_scoring_recompute(args: argparse.Namespace) -> int:
    from leadbridge.scoring.services import scores_recompute
    from leadbridge.scoring.tasks import ensure_scheduled

    shown = [-1]

    def progress(done: int, total: int) -> None:
        # About twenty lines for any size, on stderr: stdout stays the result.
        step = total // 20 or 1
        if done // step != shown[0] or done >= total:
            shown[0] = done // step
            sys.stderr.write(f"recomputed contacts up to #{done} of {total}\n")

    summary = scores_recompute(actor=None, batch=args.batch, progress=None if args.quiet else progress)
    ensure_scheduled()
    if args.format == "json":
        _print_json(summary)
    else:
        print(
            f"{summary['contacts']} contacts: {summary['entries']} ledger entries, "
            f"{summary['crossings']} band changes, {summary['fit_changes']} fit changes"
        )
    return 0


def cmd_scoring_run(args: argparse.Namespace) -> int:
    from leadbridge.scoring.services import scoring_tick
    from leadbridge.scoring.tasks import ensure_scheduled

    summary = scoring_tick(budget=None if args.all else 5.0)
    while args.all and summary.get("backlog"):
        summary = scoring_tick()
    ensure_scheduled()
    if args.format == "json":
        _print_json(summary)
    else:
        parts = [
            f"{name}: {summary[name]['ids']} rows"
            for name in ("events", "touches", "inquiries", "reviews", "identify")
        ]
        print(", ".join(parts) + (" (more left)" if summary.get("backlog") else ""))
    return 0


def _die_with_parent() -> None:
    """In a child: get SIGTERM when `leadbridge serve` dies, even by SIGKILL (Linux only)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _spawn(cmd: list[str]) -> subprocess.Popen[bytes]:
    # Own session: a terminal's Ctrl-C reaches `serve` only, which then stops each child once.
    return subprocess.Popen(cmd, start_new_session=True, preexec_fn=_die_with_parent)  # noqa: S603


def _stop_children(procs: list[subprocess.Popen[bytes]], *, timeout: float) -> None:
    """SIGTERM to all at once (graceful for gunicorn and the worker), SIGKILL after `timeout` s."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cmd_serve(args: argparse.Namespace) -> int:
    import signal
    from pathlib import Path

    from django.conf import settings
    from gunicorn.config import Config

    # Whitenoise warns on every start when STATIC_ROOT is absent; static files come from the apps.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    bind = f"{args.host}:{args.port}"
    cmd = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", bind]
    cmd += ["--workers", str(args.workers), "--threads", str(args.threads)]
    cmd += ["--graceful-timeout", "5"]
    if args.access_log:
        # Unset, gunicorn skips access logging; pointed at /dev/null it still formats every
        # line (~0.15 ms of CPU per request, measured with a one-line WSGI app).
        cmd += ["--access-logfile", "-"]
    if "control_socket_disable" in Config().settings:
        # One fixed control socket in $HOME would make two instances on one machine collide.
        cmd.append("--no-control-socket")

    # SIGINT/SIGTERM stop both children and wait for them: no orphan survives a stop.
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    children: list[subprocess.Popen[bytes]] = []
    try:
        if not args.no_worker:
            # Dev convenience: one worker beside the web server, so background work just happens.
            children.append(_spawn([sys.executable, "-m", "leadbridge.cli", "worker"]))
        web = _spawn(cmd)
        children.append(web)
        print(f"LeadBridge on http://{args.host}:{args.port}/", flush=True)
        worker_reported = False
        while not received and web.poll() is None:
            if not worker_reported and len(children) == 2 and children[0].poll() is not None:
                code = children[0].returncode
                sys.stderr.write(f"leadbridge: the background worker exited with code {code}\n")
                worker_reported = True
            time.sleep(0.2)
    finally:
        _stop_children(children, timeout=15)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received or web.returncode == 0:
        return 0
    sys.stderr.write(f"leadbridge: the web server exited with code {web.returncode}\n")
    return web.returncode


def cmd_worker(args: argparse.Namespace) -> int:
    from django.core.management import call_command

    from leadbridge.capture.tasks import ensure_scheduled as capture_chain
    from leadbridge.scoring.tasks import ensure_scheduled as scoring_chain

    # The periodic chains start with the first worker (and again if they died with one).
    capture_chain()
    scoring_chain()

    options: dict[str, Any] = {"queue_name": "*", "interval": args.interval, "reload": False}
    if args.once:
        # Everything due now, then exit: no random start-up delay (it only spreads out many
        # long-running workers), and the caller's signal handlers come back afterwards.
        options.update(batch=True, startup_delay=False)
    import signal

    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        call_command("db_worker", **options)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return 0


def _import_spend(
    args: argparse.Namespace, mapping: dict[str, str], defaults: dict[str, str]
) -> dict[str, Any]:
    from pathlib import Path

    from leadbridge.contacts.csvio import CsvFile
    from leadbridge.marketing.services import spend_import

    path = Path(args.file)
    if not path.is_file():
        raise FileNotFoundError(2, "No such file", str(path))
    with CsvFile(path) as source:
        return spend_import(
            actor=None,
            source=source,
            mapping=mapping,
            defaults=defaults,
            dry_run=args.dry_run,
            file_name=path.name,
        )


def cmd_import(args: argparse.Namespace) -> int:
    from leadbridge.contacts.importer import import_file, parse_pairs

    mapping = parse_pairs(args.map or [], option="--map")
    defaults = parse_pairs(args.set or [], option="--set")
    try:
        if args.kind == "spend":
            summary = _import_spend(args, mapping, defaults)
        else:
            summary = import_file(
                kind=args.kind,
                path=args.file,
                mapping=mapping,
                defaults=defaults,
                dry_run=args.dry_run,
                actor=None,
            )
    except (FileNotFoundError, IsADirectoryError):
        raise CliError(f"file not found: {args.file}") from None
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    if args.format == "json":
        _print_json(summary)
        return 0
    print(
        f"{summary['rows']} rows: created {summary['created']}, updated {summary['updated']}, "
        f"unchanged {summary['unchanged']}, skipped {summary['skipped']}"
        + (" (dry run: nothing saved)" if args.dry_run else "")
    )
    if summary["ignored_columns"]:
        print("ignored columns: " + ", ".join(summary["ignored_columns"]))
    for kind, names in summary["created_refs"].items():
        print(f"new {kind}: " + ", ".join(names))
    for err in summary["errors"][:50]:
        print(f"  row {err['row']}: {err['field']}: {err['message']}")
    more = len(summary["errors"]) - 50 + summary.get("errors_omitted", 0)
    if more > 0:
        print(f"  ... and {more} more errors (use --format json for all of them)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from leadbridge.contacts.exporter import export

    contacts = _segment_contacts(args.segment) if args.segment else None
    export(kind=args.kind, contacts=contacts, fmt=args.format, out=sys.stdout)
    return 0


def _segment_contacts(ref: str) -> Any:
    """The contacts of a saved segment (by name or id), or of filter text when no segment has that name."""
    from leadbridge.core.errors import NotFound
    from leadbridge.segments.compiler import queryset
    from leadbridge.segments.selectors import search_compiled, segment_compiled, segment_find

    try:
        segment = segment_find(user=None, ref=ref)
    except NotFound:
        return queryset(search_compiled(user=None, text=ref, field="segment"))
    return queryset(segment_compiled(user=None, segment=segment))


def cmd_segment(args: argparse.Namespace) -> int:
    """`segment count|list EXPR`: the segment language (plain words search name, email, phone)."""
    from leadbridge.segments.compiler import count, queryset
    from leadbridge.segments.selectors import search_compiled

    compiled = search_compiled(user=None, text=args.expr, field="expr")
    if args.action == "count":
        found = count(compiled)
        if args.format == "json":
            _print_json({"count": found})
        else:
            print(found)
        return 0
    fields = ("id", "name", "email", "phone", "stage", "score")
    rows = list(queryset(compiled).order_by("id").values(*fields)[: max(0, args.limit)])
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

    site = sub.add_parser("site", help="manage tracked sites").add_subparsers(dest="action", required=True)
    p = site.add_parser("create", help="register a tracked site and print its public site key")
    p.add_argument("--name", required=True)
    p.add_argument("--origin", action="append", required=True, metavar="URL", help="allowed origin (repeat)")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_site_create)

    events = sub.add_parser("events", help="tracking hits").add_subparsers(dest="action", required=True)
    p = events.add_parser(
        "prune", help="roll old tracking hits up into daily totals and delete them (touches stay)"
    )
    p.add_argument("--older-than", type=int, required=True, metavar="DAYS", help="keep this many days")
    p.add_argument("--no-rollup", action="store_true", help="delete without keeping daily totals")
    p.add_argument("--dry-run", action="store_true", help="count only")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_events_prune)

    p = events.add_parser(
        "rollup",
        help="roll new tracking hits up per contact and day now (the worker does it every few seconds)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_events_rollup)

    scoring = sub.add_parser("scoring", help="lead scoring").add_subparsers(dest="action", required=True)
    p = scoring.add_parser(
        "recompute", help="rebuild every contact's score from the tracked history with the current rules"
    )
    p.add_argument("--batch", type=int, default=1000, help="contacts per transaction")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_scoring_recompute)
    p = scoring.add_parser("run", help="score what arrived now, as the worker does (and what is due)")
    p.add_argument("--all", action="store_true", help="until nothing is left, however long it takes")
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(func=cmd_scoring_run)

    p = sub.add_parser("demo", help="load a realistic demo data set (idempotent)")
    p.add_argument("--contacts", type=int, default=2000)
    p.add_argument("--url", default="http://127.0.0.1:8000/", help="where the app will be served")
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
    p.add_argument(
        "--segment", help="a saved segment's name or id; otherwise read as a filter (the segment language)"
    )
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    p.set_defaults(func=cmd_export)

    seg = sub.add_parser("segment", help="evaluate a filter expression").add_subparsers(
        dest="action", required=True
    )
    for action in ("count", "list"):
        p = seg.add_parser(action, help=f"{action} the contacts matching a filter expression")
        p.add_argument("expr", help='e.g. "tag:beach and (tag:forest or tag:income) and not tag:investor"')
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
