"""Defaults that `leadbridge init` ensures exist (idempotent)."""

from __future__ import annotations

from typing import Any


def ensure_defaults() -> dict[str, Any]:
    # Later apps (channels, classes, pipelines) add their defaults here through their own setup.
    return {}
