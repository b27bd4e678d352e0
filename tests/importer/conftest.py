from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from leadbridge.contacts.importer import import_file


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    """Write text (or bytes) to a file: `csv_file("a,b\\n1,2\\n", encoding="cp1251")`."""
    counter = {"n": 0}

    def make(content: str | bytes, *, encoding: str = "utf-8", name: str | None = None) -> Path:
        counter["n"] += 1
        path = tmp_path / (name or f"file{counter['n']}.csv")
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return make


@pytest.fixture
def run() -> Callable[..., dict[str, Any]]:
    """`run(path, kind="contacts", mapping={}, defaults={}, dry_run=False, actor=None)`."""

    def do(
        path: Path,
        *,
        kind: str = "contacts",
        mapping: dict[str, str] | None = None,
        defaults: dict[str, str] | None = None,
        dry_run: bool = False,
        actor: Any = None,
    ) -> dict[str, Any]:
        return import_file(
            kind=kind,
            path=path,
            mapping=mapping or {},
            defaults=defaults or {},
            dry_run=dry_run,
            actor=actor,
        )

    return do


def errors_by_row(summary: dict[str, Any]) -> dict[int, list[tuple[str, str]]]:
    out: dict[int, list[tuple[str, str]]] = {}
    for err in summary["errors"]:
        out.setdefault(err["row"], []).append((err["field"], err["message"]))
    return out
