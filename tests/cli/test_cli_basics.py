"""The basic `leadbridge` commands: init, user create, token create, serve, worker.

In-process tests call `leadbridge.cli.main([...])` on the real test database; `serve` and
`worker --once` run as real subprocesses against a throw-away SQLite data dir.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from leadbridge.accounts.models import ApiToken, User
from leadbridge.accounts.services import token_authenticate
from leadbridge.cli import main

ROOT = Path(__file__).resolve().parents[2]


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    return lines[0]


# --- init ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_init_twice_succeeds(capsys):
    assert main(["init"]) == 0
    assert main(["init"]) == 0
    out = capsys.readouterr()
    assert out.out.count("database ready") == 2
    assert out.err == ""


# --- user create -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_user_create_prints_json_and_the_user_can_log_in(capsys):
    code = main(
        [
            "user",
            "create",
            "--username",
            "marta",
            "--role",
            "marketing",
            "--password",
            "Long-enough-9",
            "--email",
            "marta@example.test",
            "--format",
            "json",
        ]
    )
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    user = User.objects.get(username="marta")
    assert data == {"id": user.pk, "username": "marta", "role": "marketing"}
    assert user.email == "marta@example.test"
    assert user.check_password("Long-enough-9")


@pytest.mark.django_db
def test_user_create_with_a_team(capsys):
    assert main(["user", "create", "--username", "ivan", "--role", "sales", "--team", "Продажи Россия"]) == 0
    assert "ivan" in capsys.readouterr().out
    assert User.objects.get(username="ivan").team.name == "Продажи Россия"


@pytest.mark.django_db
def test_user_create_with_an_unknown_role_names_it_and_creates_nothing(capsys):
    code = main(["user", "create", "--username", "bob", "--role", "overlord"])
    assert code == 1
    out = capsys.readouterr()
    line = one_line(out.err)
    assert line.startswith("leadbridge:")
    assert "overlord" in line and "role" in line
    assert out.out == ""
    assert not User.objects.filter(username="bob").exists()


@pytest.mark.django_db
def test_user_create_with_a_taken_username_fails(capsys):
    assert main(["user", "create", "--username", "anna", "--role", "sales"]) == 0
    capsys.readouterr()
    code = main(["user", "create", "--username", "ANNA", "--role", "guest"])
    assert code == 1
    assert "anna" in one_line(capsys.readouterr().err).lower()
    assert User.objects.filter(username__iexact="anna").count() == 1
    assert User.objects.get(username="anna").role == "sales"


@pytest.mark.django_db
def test_user_create_with_a_weak_password_fails(capsys):
    assert main(["user", "create", "--username", "weak", "--role", "sales", "--password", "123"]) == 1
    assert "password" in one_line(capsys.readouterr().err)
    assert not User.objects.filter(username="weak").exists()


# --- token create ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_token_create_prints_a_token_that_authenticates_and_is_stored_hashed(capsys):
    main(["user", "create", "--username", "api", "--role", "marketing"])
    capsys.readouterr()
    assert main(["token", "create", "--username", "api"]) == 0
    raw = capsys.readouterr().out.strip()
    assert raw and "\n" not in raw
    assert token_authenticate(raw) == User.objects.get(username="api")
    row = ApiToken.objects.get()
    stored = [str(v) for v in ApiToken.objects.values().get().values()]
    assert raw not in stored, "the clear token must not be stored"
    assert row.token_hash != raw and len(row.token_hash) == 64


@pytest.mark.django_db
def test_token_create_json(capsys):
    main(["user", "create", "--username", "api", "--role", "admin"])
    capsys.readouterr()
    assert main(["token", "create", "--username", "api", "--name", "zapier", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert token_authenticate(data["token"]).username == "api"
    assert ApiToken.objects.get().name == "zapier"


@pytest.mark.django_db
def test_token_create_for_an_unknown_user_fails(capsys):
    assert main(["token", "create", "--username", "nobody"]) == 1
    out = capsys.readouterr()
    assert "nobody" in one_line(out.err)
    assert out.out == ""
    assert not ApiToken.objects.exists()


# --- serve and worker as real processes ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sqlite_env(tmp_path_factory):
    """Environment of a fresh install: its own SQLite data dir, initialised with `leadbridge init`."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    env["LEADBRIDGE_DATA_DIR"] = str(tmp_path_factory.mktemp("install") / "data")
    init = subprocess.run(
        [sys.executable, "-m", "leadbridge.cli", "init"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert init.returncode == 0, init.stderr
    return env


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own local server
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("flags", "stop"),
    [(["--no-worker"], signal.SIGTERM), ([], signal.SIGINT)],
    ids=["no-worker-sigterm", "with-worker-sigint"],
)
def test_serve_answers_healthz_and_stops_cleanly(sqlite_env, flags, stop):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadbridge.cli", "serve", "--port", str(port), "--workers", "1", *flags],
        env=sqlite_env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200, f"serve did not answer; exit code {proc.poll()}"
        assert get(f"http://127.0.0.1:{port}/login/") == 200
        children = children_of(proc.pid)
        assert len(children) == (1 if flags else 2)  # gunicorn (+ the worker)
        proc.send_signal(stop)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
        assert f"http://127.0.0.1:{port}/" in output
        time.sleep(0.2)
        assert not [c for c in children if alive(c)], "a child of serve outlived it"
    finally:
        if proc.poll() is None:
            for child in children_of(proc.pid):
                os.kill(child, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=10)


def test_serve_writes_buffered_pixel_hits_when_stopped(sqlite_env):
    """Pixel hits wait in each web process's write-behind buffer (here for a whole minute): a
    normal stop writes every one of them before the process ends."""
    import sqlite3

    made = subprocess.run(
        [sys.executable, "-m", "leadbridge.cli", "site", "create", "--name", "Buffered", "--origin",
         "https://buffered.example", "--format", "json"],
        env=sqlite_env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["site_key"]
    port = free_port()
    env = {**sqlite_env, "CAPTURE_PIXEL_FLUSH_MS": "60000", "CAPTURE_RATE_IP": "100000/m"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "leadbridge.cli", "serve", "--port", str(port), "--workers", "2", "--no-worker"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    database = Path(sqlite_env["LEADBRIDGE_DATA_DIR"]) / "leadbridge.sqlite3"

    def stored() -> int:
        with sqlite3.connect(database) as db:
            return int(
                db.execute(
                    "SELECT count(*) FROM capture_trackingevent e JOIN capture_visitor v ON v.id = e.visitor_id "
                    "JOIN capture_site s ON s.id = v.site_id WHERE s.key = ?",
                    [key],
                ).fetchone()[0]
            )

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                time.sleep(0.2)
        for i in range(40):
            assert (
                get(
                    f"http://127.0.0.1:{port}/t/p.gif?k={key}&v=buffered-{i % 4:04d}&u=https%3A%2F%2Fbuffered.example%2F{i}"
                )
                == 200
            )
        assert stored() == 0  # still in the buffers
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, output
        assert stored() == 40
    finally:
        if proc.poll() is None:
            for child in children_of(proc.pid):
                os.kill(child, signal.SIGKILL)
            proc.kill()
            proc.wait(timeout=10)


def test_worker_once_does_the_due_work_and_exits(sqlite_env):
    done = subprocess.run(
        [sys.executable, "-m", "leadbridge.cli", "worker", "--once"],
        env=sqlite_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
