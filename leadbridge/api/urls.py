"""The REST API v1: one router per resource, token auth, one JSON error shape."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern, URLResolver
from ninja import NinjaAPI, Router

from leadbridge.api import companies, contacts, custom_fields, merges, notes, quality, tags
from leadbridge.api.auth import TokenAuth
from leadbridge.api.campaigns import router as campaigns_router
from leadbridge.api.channels import router as channels_router
from leadbridge.api.channels import rules_router as channel_rules_router
from leadbridge.api.errors import MEANING, install
from leadbridge.api.inquiries import router as inquiries_router
from leadbridge.api.inquiry_classes import router as inquiry_classes_router
from leadbridge.api.parsing import StrictJSONParser, json_not_allowed, limit_body_size
from leadbridge.api.scoring import contact_router as contact_score_router
from leadbridge.api.scoring import router as scoring_router
from leadbridge.api.segments import router as segments_router
from leadbridge.api.sites import router as sites_router
from leadbridge.api.spend import router as spend_router
from leadbridge.core.errors import NotFound

_DESCRIPTION = (
    "LeadBridge REST API. Authenticate with `Authorization: Bearer <token>` "
    "(`leadbridge token create --username U`).\n\n"
    'Errors are JSON: `{"detail": "...", "errors": [{"field": "body.email", "message": "..."}]}`; '
    "a field path starts with where the value came from (`body`, `query`, `path`, `header`).\n\n"
    + "\n".join(f"- {code}: {text}" for code, text in sorted(MEANING.items()))
    + '\n\nLists are cursor-paginated: `{"items": [...], "next": "cursor-or-null"}`; '
    "pass `next` back as `cursor` (`limit` 1-200, default 50)."
)


class LeadBridgeAPI(NinjaAPI):
    @property
    def urls(self) -> tuple[list[URLPattern | URLResolver], str, str]:
        patterns, app_name, namespace = super().urls
        return [json_not_allowed(p) for p in patterns], app_name, namespace


api = LeadBridgeAPI(
    title="LeadBridge API",
    version="1",
    description=_DESCRIPTION,
    urls_namespace="api",
    auth=TokenAuth(),
    parser=StrictJSONParser(),
)
install(api)
api.add_decorator(limit_body_size, mode="view")

api.add_router("/contacts", contacts.router)
api.add_router("/companies", companies.router)
api.add_router("/tags", tags.router)
api.add_router("/custom-fields", custom_fields.router)
api.add_router("", notes.router)
api.add_router("/quality", quality.router)
api.add_router("/merges", merges.router)
api.add_router("/inquiries", inquiries_router)
api.add_router("/inquiry-classes", inquiry_classes_router)
api.add_router("/sites", sites_router)
api.add_router("/channels", channels_router)
api.add_router("/channel-rules", channel_rules_router)
api.add_router("/campaigns", campaigns_router)
api.add_router("/spend", spend_router)
api.add_router("/segments", segments_router)
api.add_router("/scoring", scoring_router)
api.add_router("", contact_score_router)

# Last: unknown paths under /api/v1/ answer a JSON 404 instead of the HTML page.
_fallback = Router()


@_fallback.api_operation(
    ["GET", "POST", "PUT", "PATCH", "DELETE"], "/{path:path}", auth=None, include_in_schema=False
)
def unknown_path(request: HttpRequest, path: str) -> Any:
    raise NotFound(f"No API endpoint at /api/v1/{path}")


api.add_router("", _fallback)
