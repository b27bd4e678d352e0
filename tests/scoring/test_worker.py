"""The worker end to end: a rule queues the scoring tick, `leadbridge worker --once` runs it,
the tick queues its successor for later and the worker exits."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from leadbridge.cli import main
from leadbridge.core.ticks import STALE
from leadbridge.scoring.models import ScoringCursor
from leadbridge.scoring.tasks import ensure_scheduled
from tests.scoring.conftest import band_changes, hit, rule, score

TICK = "leadbridge.scoring.tasks.run_scoring_tick"


@pytest.fixture(autouse=True)
def keep_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The worker closes "old" connections between tasks; in a test that would close the
    # connection holding the test's transaction (the worker otherwise runs as it does in production).
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)


def _ticks(status: str) -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=TICK, status=status))


def test_worker_scores_hits_and_keeps_the_tick_going(person, django_capture_on_commit_callbacks) -> None:
    contact, v = person()
    with django_capture_on_commit_callbacks(execute=True):
        rule(source="pageview", points=35)
    assert len(_ticks("READY")) == 1
    hit(v)
    hit(v)
    assert main(["worker", "--once"]) == 0
    assert score(contact) == 70
    assert band_changes(contact) == [{"from": "cold", "to": "hot", "score": 70}]
    assert len(_ticks("SUCCESSFUL")) == 1
    (successor,) = _ticks("READY")
    assert successor.run_after > timezone.now()  # waits for the interval: --once exited
    assert ScoringCursor.objects.get(stream="tick").run_at == successor.run_after


def test_ensure_scheduled_starts_one_chain_and_restarts_a_dead_one() -> None:
    assert ensure_scheduled() is True
    assert ensure_scheduled() is False
    assert len(_ticks("READY")) == 1
    ScoringCursor.objects.filter(stream="tick").update(
        run_at=timezone.now() - STALE - dt.timedelta(seconds=1)
    )
    assert ensure_scheduled() is True
    assert len(_ticks("READY")) == 2


def test_backlog_queues_the_next_tick_at_once(person, settings) -> None:
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "SCORING_BATCH": 1, "SCORING_TICK_BUDGET": 0}
    contact, v = person()
    rule(source="pageview", points=1)
    for _ in range(3):
        hit(v)
    ensure_scheduled()
    assert main(["worker", "--once"]) == 0  # one batch per tick, each queues the next at once
    assert score(contact) == 3
