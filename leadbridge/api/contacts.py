"""/contacts: list, create, read, edit (optimistic locking), erase, timeline, stages, tags."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from ninja.params import HeaderEx, P
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import CompanyRef, Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.contacts.models import Activity, Contact, Stage, StageChange
from leadbridge.contacts.selectors import (
    contact_get,
    contact_list,
    contact_stage_history,
    contact_timeline,
)
from leadbridge.contacts.services import (
    contact_create,
    contact_erase,
    contact_stage_change,
    contact_tags_change,
    contact_update,
)
from leadbridge.core.errors import FieldError, NotFound, ValidationFailed
from leadbridge.core.pagination import keyset_page
from leadbridge.segments.selectors import contact_search, full_rows

router = Router(tags=["contacts"])

Q_DOC = (
    "A filter in the segment language, e.g. `tag:beach and (tag:forest or tag:income) and not "
    'tag:investor`, `stage >= mql and score >= 40`, `email ~ "@example.com"`; plain words or a '
    'quoted phrase search name, email and phone (`anna`, `"Anna Smith"`, `anna@example.com`)'
)


# --- output ---------------------------------------------------------------------------------


class ConsentOut(Schema):
    channel: str
    status: str
    source: str
    changed_at: dt.datetime


class SpecialDateOut(Schema):
    label: str
    date: dt.date


class ContactOut(Schema):
    id: int
    name: str
    display_name: str
    first_name: str
    last_name: str
    email: str
    phone: str
    emails: list[str] = Field(description="Additional email addresses (the primary one is `email`)")
    phones: list[str] = Field(description="Additional phone numbers, E.164 (the primary one is `phone`)")
    company: CompanyRef | None
    owner: str | None = Field(description="Username of the owner")
    stage: str
    score: int
    external_id: str | None
    custom: dict[str, Any]
    tags: list[str]
    job_title: str
    street: str
    city: str
    region: str
    postal_code: str
    country: str
    birthday: dt.date | None
    ip_address: str | None
    geo_city: str
    geo_country: str
    created_at: dt.datetime
    updated_at: dt.datetime
    version: int = Field(description="Send it back on PATCH (or as If-Match) to detect concurrent edits")
    merged_into: int | None = Field(description="Id of the contact this one was merged into")
    erased_at: dt.datetime | None

    @staticmethod
    def resolve_tags(obj: Contact) -> list[str]:
        return [link.tag.name for link in obj.tag_links.all()]

    @staticmethod
    def resolve_emails(obj: Contact) -> list[str]:
        return [p.value for p in obj.points.all() if p.kind == "email"]

    @staticmethod
    def resolve_phones(obj: Contact) -> list[str]:
        return [p.value for p in obj.points.all() if p.kind == "phone"]

    @staticmethod
    def resolve_owner(obj: Contact) -> str | None:
        return obj.owner.username if obj.owner_id and obj.owner else None

    @staticmethod
    def resolve_merged_into(obj: Contact) -> int | None:
        return obj.merged_into_id


class ContactDetailOut(ContactOut):
    consents: list[ConsentOut]
    special_dates: list[SpecialDateOut]

    @staticmethod
    def resolve_consents(obj: Contact) -> list[Any]:
        return list(obj.consents.all())

    @staticmethod
    def resolve_special_dates(obj: Contact) -> list[Any]:
        return list(obj.special_dates.all())


class ContactPage(Schema):
    items: list[ContactOut]
    next: str | None


class ActivityOut(Schema):
    id: int
    kind: str
    actor: str | None
    payload: dict[str, Any]
    occurred_at: dt.datetime

    @staticmethod
    def resolve_actor(obj: Activity) -> str | None:
        return obj.actor.username if obj.actor_id and obj.actor else None


class ActivityPage(Schema):
    items: list[ActivityOut]
    next: str | None


class StageChangeOut(Schema):
    id: int
    from_stage: str
    to_stage: str
    actor: str | None
    reason: str
    occurred_at: dt.datetime

    @staticmethod
    def resolve_actor(obj: StageChange) -> str | None:
        return obj.actor.username if obj.actor_id and obj.actor else None


class StageChangePage(Schema):
    items: list[StageChangeOut]
    next: str | None


# --- input ----------------------------------------------------------------------------------


class ContactIn(Schema):
    """Contact fields. Values are checked and normalised by the same rules as the UI and import;
    unknown keys are an error (a typo must not vanish silently)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = Field(None, description="Primary email; lower-cased and validated")
    phone: str | None = Field(None, description="Primary phone; normalised to E.164")
    emails: list[str] | None = Field(None, description="Additional emails to add")
    phones: list[str] | None = Field(None, description="Additional phones to add")
    company: str | None = Field(None, description="Company name; created if it does not exist")
    owner: str | None = Field(None, description="Username of an active user")
    stage: Stage | None = None
    external_id: str | None = None
    custom: dict[str, Any] | None = Field(None, description="Values of custom fields by key")
    tags: list[str] | None = Field(None, description="Tag names (created if missing); on PATCH they replace")
    job_title: str | None = None
    street: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = Field(None, description="Two-letter ISO code")
    birthday: dt.date | None = None
    ip_address: str | None = None
    geo_city: str | None = None
    geo_country: str | None = None


class ContactPatch(ContactIn):
    """Only the keys sent are changed; `null` clears a value."""

    version: int | None = Field(None, description="The version you read; a stale one is a 409")
    reason: str | None = Field(None, description="Why the stage moves back, when `stage` does")


class StageIn(Schema):
    model_config = ConfigDict(extra="forbid")

    to_stage: Stage
    reason: str = ""


class TagsChangeIn(Schema):
    model_config = ConfigDict(extra="forbid")

    add: list[str] = Field(default_factory=list)
    remove: list[str] = Field(default_factory=list)


# --- helpers --------------------------------------------------------------------------------


def _shown(request: HttpRequest, contact: Contact) -> Contact:
    """The contact as the reader sees it (joined); a just-written one they cannot see stays as is."""
    try:
        return contact_get(user=actor(request), contact_id=contact.pk)
    except NotFound:
        return contact


_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


def _version_from(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    match = _IF_MATCH.match(if_match)
    if not match:
        raise ValidationFailed(
            [FieldError("header.If-Match", 'Send the contact version, e.g. If-Match: "3"')]
        )
    return int(match[1])


# --- endpoints ------------------------------------------------------------------------------


@router.get("", response={200: ContactPage, **errors(*BASE)})
def list_contacts(
    request: HttpRequest,
    page: Query[PageParams],
    q: str = Query("", max_length=10_000, description=Q_DOC),
    segment: str = Query("", max_length=200, description="A saved segment's id or name"),
    tag: str = "",
    stage: Stage | None = None,
    owner: str = "",
    company_id: Id | None = None,
) -> Any:
    """Contacts you may see, newest first, filtered by the segment language (`q`), a saved
    segment and the simple filters. A filter that cannot be read or compiled is a 400 naming
    `query.q` with the character `position` of the problem."""
    boxes: dict[str, Any] = {
        "user": actor(request),
        "tag": tag,
        "stage": stage.value if stage else "",
        "owner": owner,
        "company_id": company_id,
        "cursor": page.cursor,
        "limit": page.limit,
    }
    with located("query"):
        if not q.strip() and not segment.strip():
            return contact_list(**boxes, full=True)
        return contact_search(**boxes, q=q, segment=segment.strip() or None, contacts=full_rows())


@router.post("", response={201: ContactDetailOut, **errors(*WITH_BODY, 403, 409)})
def create_contact(request: HttpRequest, payload: ContactIn, allow_duplicate: bool = False) -> Any:
    """Create a contact. A likely duplicate (same email or phone) is a 409 naming the existing
    contact; send `allow_duplicate=true` to create it anyway."""
    data = {k: v for k, v in payload.model_dump(exclude_unset=True, mode="json").items() if v is not None}
    with located("body"):
        contact = contact_create(
            actor=actor(request), data=data, source="api", allow_duplicate=allow_duplicate
        )
    return Status(201, _shown(request, contact))


@router.get("/{contact_id}", response={200: ContactDetailOut, **errors(*BASE, 404)})
def get_contact(request: HttpRequest, contact_id: Id, response: HttpResponse) -> Any:
    contact = contact_get(user=actor(request), contact_id=contact_id)
    response["ETag"] = f'"{contact.version}"'
    return contact


@router.patch("/{contact_id}", response={200: ContactDetailOut, **errors(*WITH_BODY, 403, 404, 409)})
def update_contact(
    request: HttpRequest,
    contact_id: Id,
    payload: ContactPatch,
    response: HttpResponse,
    if_match: HeaderEx[str | None, P(alias="If-Match")] = None,
) -> Any:
    """Change the fields sent. Pass the `version` you read (in the body or as If-Match): if
    someone changed the contact since, you get a 409 instead of overwriting their edit."""
    data = payload.model_dump(exclude_unset=True, mode="json")
    version = data.pop("version", None)
    reason = data.pop("reason", None) or ""
    rename = {}
    if version is None:
        version = _version_from(if_match)
        rename = {"version": "header.If-Match"}
    with located("body", rename):
        contact = contact_update(
            actor=actor(request), contact_id=contact_id, data=data, expected_version=version, reason=reason
        )
    contact = _shown(request, contact)
    response["ETag"] = f'"{contact.version}"'
    return contact


@router.delete("/{contact_id}", response={204: None, **errors(*BASE, 403, 404)})
def erase_contact(request: HttpRequest, contact_id: Id, reason: str) -> Any:
    """Erase the contact's personal data (a data-subject request). The record and its history
    stay, without the personal data. `reason` is required."""
    with located("query"):
        contact_erase(actor=actor(request), contact_id=contact_id, reason=reason)
    return Status(204, None)


@router.get("/{contact_id}/timeline", response={200: ActivityPage, **errors(*BASE, 404)})
def get_timeline(request: HttpRequest, contact_id: Id, page: Query[PageParams]) -> Any:
    """Everything that happened to the contact, newest first."""
    contact = contact_get(user=actor(request), contact_id=contact_id)
    with located("query"):
        return contact_timeline(contact=contact, cursor=page.cursor, limit=page.limit)


@router.get("/{contact_id}/stage-history", response={200: StageChangePage, **errors(*BASE, 404)})
def get_stage_history(request: HttpRequest, contact_id: Id, page: Query[PageParams]) -> Any:
    contact = contact_get(user=actor(request), contact_id=contact_id)
    with located("query"):
        return keyset_page(contact_stage_history(contact=contact), cursor=page.cursor, limit=page.limit)


@router.post("/{contact_id}/stage", response={200: ContactDetailOut, **errors(*WITH_BODY, 403, 404)})
def change_stage(request: HttpRequest, contact_id: Id, payload: StageIn) -> Any:
    """Move the contact to another lifecycle stage. Moving back, or to disqualified/recycled,
    needs a `reason`."""
    with located("body", {"stage": "body.to_stage"}):
        contact = contact_stage_change(
            actor=actor(request),
            contact_id=contact_id,
            to_stage=payload.to_stage.value,
            reason=payload.reason,
        )
    return _shown(request, contact)


@router.post("/{contact_id}/tags", response={200: ContactDetailOut, **errors(*WITH_BODY, 403, 404)})
def change_tags(request: HttpRequest, contact_id: Id, payload: TagsChangeIn) -> Any:
    """Add and remove tags by name; unknown tags in `add` are created."""
    with located("body"):
        contact = contact_tags_change(
            actor=actor(request), contact_id=contact_id, add=payload.add, remove=payload.remove
        )
    return _shown(request, contact)
