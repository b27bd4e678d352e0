"""Inbound webhook providers: one module per call-tracking / chat service.

`POST /capture/inquiry/<name>` loads `leadbridge/capture/providers/<name>.py`. A provider module
defines

    def parse(payload: Mapping[str, Any]) -> InquiryData

turning the service's JSON (already decoded to a dict) into the one shape `inquiry_capture`
takes, or raising `PayloadError` with field errors. Adding a service means copying
`generic.py` and changing the mapping; nothing else needs to know about it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Protocol, cast

from leadbridge.core.errors import FieldError

INQUIRY_KINDS = ("call", "chat", "callback", "email")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass
class InquiryData:
    """One inbound inquiry as a provider understood it (the arguments of `inquiry_capture`)."""

    kind: str
    external_id: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    occurred_at: dt.datetime | None = None
    page_url: str = ""
    referrer: str = ""
    visitor_uid: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    click_ids: dict[str, str] = field(default_factory=dict)
    dialog: list[dict[str, str]] | None = None
    transcript: str = ""
    recording_url: str = ""
    duration_seconds: int | None = None
    tracking_number: str = ""


class PayloadError(Exception):
    """The payload cannot be mapped; each error names the payload key at fault."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class Provider(Protocol):
    def parse(self, payload: Mapping[str, Any]) -> InquiryData: ...


def load(name: str) -> Provider | None:
    """The provider module called `name`, or None when there is no such provider."""
    if not _NAME.match(name):
        return None
    module_name = f"{__name__}.{name}"
    if importlib.util.find_spec(module_name) is None:
        return None
    module: ModuleType = importlib.import_module(module_name)
    if not callable(getattr(module, "parse", None)):
        return None
    return cast(Provider, module)
