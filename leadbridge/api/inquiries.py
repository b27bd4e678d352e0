"""/inquiries: the feed, capture through the API, classification, review and dispute resolution."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import ContactRef, Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.capture.models import Inquiry, InquiryKind, InquiryReview
from leadbridge.capture.selectors import inquiry_get, inquiry_list, junk_share, unclassified_queue
from leadbridge.capture.services import (
    inquiry_capture,
    inquiry_classify,
    inquiry_first_response,
    inquiry_resolve,
    inquiry_review,
    site_by_key,
)
from leadbridge.core import clock
from leadbridge.core.errors import FieldError, NotFound, ServiceError, field_error

router = Router(tags=["inquiries"])


# --- output ---------------------------------------------------------------------------------


class CampaignRef(Schema):
    id: int
    name: str


class InquiryOut(Schema):
    id: int
    kind: str
    occurred_at: dt.datetime
    contact: ContactRef
    channel: str | None = Field(description="Channel key, e.g. paid_search")
    campaign: CampaignRef | None
    source: str = Field(description="utm_source")
    medium: str = Field(description="utm_medium")
    landing_page: str
    click_ids: dict[str, str] = Field(description='As received, e.g. {"gclid": "..."}')
    class_: str | None = Field(
        serialization_alias="class", description="Inquiry class key; null while unclassified"
    )
    manager: str | None = Field(description="Username of the manager handling it")
    is_repeat: bool
    review_status: str = Field(description='"", confirmed, disputed or resolved')
    first_response_at: dt.datetime | None

    @staticmethod
    def resolve_contact(obj: Inquiry) -> dict[str, Any]:
        return {"id": obj.contact_id, "name": obj.contact.display_name}

    @staticmethod
    def resolve_channel(obj: Inquiry) -> str | None:
        return obj.touch.channel.key if obj.touch_id and obj.touch else None

    @staticmethod
    def resolve_campaign(obj: Inquiry) -> dict[str, Any] | None:
        campaign = obj.touch.campaign if obj.touch_id and obj.touch and obj.touch.campaign_id else None
        return {"id": campaign.pk, "name": campaign.name} if campaign is not None else None

    @staticmethod
    def resolve_source(obj: Inquiry) -> str:
        return obj.touch.source if obj.touch_id and obj.touch else ""

    @staticmethod
    def resolve_medium(obj: Inquiry) -> str:
        return obj.touch.medium if obj.touch_id and obj.touch else ""

    @staticmethod
    def resolve_landing_page(obj: Inquiry) -> str:
        return obj.touch.landing_page if obj.touch_id and obj.touch else ""

    @staticmethod
    def resolve_click_ids(obj: Inquiry) -> dict[str, str]:
        return dict(obj.touch.click_ids or {}) if obj.touch_id and obj.touch else {}

    @staticmethod
    def resolve_class_(obj: Inquiry) -> str | None:
        return obj.cls.key if obj.cls_id and obj.cls else None

    @staticmethod
    def resolve_manager(obj: Inquiry) -> str | None:
        return obj.manager.username if obj.manager_id and obj.manager else None


class InquiryPage(Schema):
    items: list[InquiryOut]
    next: str | None


class QueueItemOut(InquiryOut):
    age_seconds: int = Field(description="How long it has waited for a class")

    @staticmethod
    def resolve_age_seconds(obj: Inquiry) -> int:
        return int(obj.age.total_seconds())


class QueuePage(Schema):
    items: list[QueueItemOut]
    next: str | None


class ReviewOut(Schema):
    action: str
    actor: str | None
    from_class: str | None
    to_class: str | None
    comment: str
    created_at: dt.datetime

    @staticmethod
    def resolve_actor(obj: InquiryReview) -> str | None:
        return obj.actor.username if obj.actor_id and obj.actor else None

    @staticmethod
    def resolve_from_class(obj: InquiryReview) -> str | None:
        return obj.from_class.key if obj.from_class_id and obj.from_class else None

    @staticmethod
    def resolve_to_class(obj: InquiryReview) -> str | None:
        return obj.to_class.key if obj.to_class_id and obj.to_class else None


class DialogLine(Schema):
    from_: str = Field(alias="from")
    text: str
    at: str


class InquiryDetailOut(InquiryOut):
    subject: str
    message: str
    fields: dict[str, Any] = Field(
        description="Submitted fields that are neither contact fields nor the message"
    )
    dialog: list[DialogLine]
    transcript: str
    recording_url: str
    duration_seconds: int | None
    tracking_number: str
    provider: str
    external_id: str
    site: str | None = Field(description="Name of the site it came from")
    campaign_name: str = Field(description="utm_campaign as received")
    term: str
    content: str
    referrer: str
    sales_script: str = Field(description="The campaign's talking points for sales")
    classified_at: dt.datetime | None
    classified_by: str | None
    history: list[ReviewOut] = Field(description="Every classification, review and resolution, oldest first")

    @staticmethod
    def resolve_site(obj: Inquiry) -> str | None:
        return obj.site.name if obj.site_id and obj.site else None

    @staticmethod
    def resolve_campaign_name(obj: Inquiry) -> str:
        return obj.touch.campaign_name if obj.touch_id and obj.touch else ""

    @staticmethod
    def resolve_term(obj: Inquiry) -> str:
        return obj.touch.term if obj.touch_id and obj.touch else ""

    @staticmethod
    def resolve_content(obj: Inquiry) -> str:
        return obj.touch.content if obj.touch_id and obj.touch else ""

    @staticmethod
    def resolve_referrer(obj: Inquiry) -> str:
        return obj.touch.referrer if obj.touch_id and obj.touch else ""

    @staticmethod
    def resolve_sales_script(obj: Inquiry) -> str:
        campaign = obj.touch.campaign if obj.touch_id and obj.touch and obj.touch.campaign_id else None
        return campaign.sales_script if campaign is not None else ""

    @staticmethod
    def resolve_classified_by(obj: Inquiry) -> str | None:
        return obj.classified_by.username if obj.classified_by_id and obj.classified_by else None

    @staticmethod
    def resolve_history(obj: Inquiry) -> list[InquiryReview]:
        return list(obj.reviews.all())


class JunkRowOut(Schema):
    key: str | None
    classified: int
    junk: int
    share: float = Field(description="junk ÷ classified, 0..1")


class JunkShareOut(Schema):
    by: str
    rows: list[JunkRowOut]


# --- input ----------------------------------------------------------------------------------


class InquiryFilters(Schema):
    channel: str = Field("", max_length=32, description="Channel key")
    campaign: str = Field("", max_length=255, description="Campaign id or utm_campaign")
    class_: str = Field("", alias="class", max_length=64, description='Class key, or "none" for unclassified')
    kind: InquiryKind | None = None
    date_from: dt.date | None = Field(None, alias="from", description="Received on or after this day")
    date_to: dt.date | None = Field(None, alias="to", description="Received on or before this day")
    unclassified: bool = False
    manager: str = Field("", max_length=150, description="Username or user id")
    contact_id: Id | None = None


class DialogLineIn(Schema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field("", alias="from", max_length=120)
    text: str = Field("", max_length=20000)
    at: str = Field("", max_length=40)


class InquiryIn(Schema):
    """An inquiry to record, as a form, call-tracking or chat service would send it."""

    model_config = ConfigDict(extra="forbid")

    kind: InquiryKind
    fields: dict[str, Any] = Field(
        description="Contact fields (name, email, phone, company, ...), `message`, `subject` "
        "and any other submitted values (kept with the inquiry)"
    )
    site_key: str | None = Field(None, max_length=32, description="The site it came from, if any")
    page_url: str = Field("", max_length=10000)
    referrer: str = Field("", max_length=10000)
    visitor_id: str = Field("", max_length=64, description="The tracker's visitor id, to link earlier visits")
    utm: dict[str, str] | None = Field(None, description="source, medium, campaign, term, content")
    click_ids: dict[str, str] | None = Field(None, description="gclid, yclid, fbclid, msclkid as received")
    occurred_at: dt.datetime | None = None
    idempotency_key: str = Field(
        "", max_length=128, description="A retry with the same key records nothing new"
    )
    provider: str = Field("", max_length=40)
    external_id: str = Field("", max_length=128, description="The provider's id; unique per provider")
    dialog: list[DialogLineIn] | None = None
    transcript: str = ""
    recording_url: str = Field("", max_length=2000)
    duration_seconds: int | None = Field(None, ge=0, le=7 * 86400)
    tracking_number: str = Field("", max_length=32)


class ClassifyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    class_: str = Field(alias="class", max_length=64, description="Inquiry class key")
    comment: str = ""


class ReviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(description="confirm or dispute (a dispute needs a comment)")
    comment: str = ""


class ResolveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    class_: str = Field(alias="class", max_length=64, description="The class that stands")
    comment: str = ""


class FirstResponseIn(Schema):
    model_config = ConfigDict(extra="forbid")

    at: dt.datetime | None = Field(None, description="When the manager first answered; now if omitted")


# --- helpers --------------------------------------------------------------------------------

# Service fields that are InquiryIn keys; every other field a service names sits in `fields`.
_TOP_LEVEL = set(InquiryIn.model_fields) - {"fields"} | {"visitor_id"}


@contextmanager
def _located_capture() -> Iterator[None]:
    try:
        yield
    except ServiceError as exc:
        exc.errors = [
            FieldError(
                f"body.{e.field}"
                if e.field.split("[")[0] in _TOP_LEVEL or e.field == "fields"
                else f"body.fields.{e.field}",
                e.message,
            )
            for e in exc.errors
        ]
        raise


def _detail(request: HttpRequest, inquiry: Inquiry) -> Inquiry:
    try:
        return inquiry_get(user=actor(request), inquiry_id=inquiry.pk)
    except NotFound:
        return inquiry


# --- endpoints ------------------------------------------------------------------------------


@router.get("", response={200: InquiryPage, **errors(*BASE, 403)}, by_alias=True)
def list_inquiries(request: HttpRequest, page: Query[PageParams], filters: Query[InquiryFilters]) -> Any:
    """Inquiries you may see, newest first (sales: their own and their team's)."""
    with located("query"):
        return inquiry_list(
            user=actor(request),
            channel=filters.channel,
            campaign=filters.campaign or None,
            class_key=filters.class_,
            kind=filters.kind.value if filters.kind else "",
            date_from=filters.date_from,
            date_to=filters.date_to,
            unclassified=filters.unclassified,
            manager=filters.manager or None,
            contact_id=filters.contact_id,
            cursor=page.cursor,
            limit=page.limit,
        )


@router.post(
    "", response={200: InquiryDetailOut, 201: InquiryDetailOut, **errors(*WITH_BODY, 403, 404)}, by_alias=True
)
def create_inquiry(request: HttpRequest, payload: InquiryIn) -> Any:
    """Record an inquiry (201), or answer a replay of one already recorded (200, same inquiry):
    same `idempotency_key` (per site), or same `provider` + `external_id`."""
    site = None
    if payload.site_key:
        site = site_by_key(payload.site_key)
        if site is None:
            raise NotFound(_("No active site with this site_key"))
    with _located_capture():
        inquiry, created = inquiry_capture(
            actor=actor(request),
            kind=payload.kind.value,
            site=site,
            fields=payload.fields,
            page_url=payload.page_url,
            referrer=payload.referrer,
            visitor_uid=payload.visitor_id,
            utm=payload.utm,
            click_ids=payload.click_ids,
            occurred_at=payload.occurred_at,
            idempotency_key=payload.idempotency_key,
            provider=payload.provider,
            external_id=payload.external_id,
            dialog=[line.model_dump(by_alias=True) for line in payload.dialog] if payload.dialog else None,
            transcript=payload.transcript,
            recording_url=payload.recording_url,
            duration_seconds=payload.duration_seconds,
            tracking_number=payload.tracking_number,
        )
    return Status(201 if created else 200, _detail(request, inquiry))


@router.get("/unclassified", response={200: QueuePage, **errors(*BASE, 403)}, by_alias=True)
def list_unclassified(request: HttpRequest, page: Query[PageParams]) -> Any:
    """Inquiries waiting for a class, oldest first, with how long each has waited."""
    with located("query"):
        return unclassified_queue(user=actor(request), cursor=page.cursor, limit=page.limit)


@router.get("/junk-share", response={200: JunkShareOut, **errors(*BASE, 403)})
def get_junk_share(
    request: HttpRequest,
    by: str = "channel",
    date_from: dt.date | None = Query(None, alias="from"),  # noqa: B008
    date_to: dt.date | None = Query(None, alias="to"),  # noqa: B008
) -> Any:
    """Junk share (junk ÷ classified inquiries) by channel, campaign, source or landing_page."""
    with located("query"):
        rows = junk_share(user=actor(request), by=by, date_from=date_from, date_to=date_to)
    return {"by": by, "rows": rows}


@router.get("/{inquiry_id}", response={200: InquiryDetailOut, **errors(*BASE, 403, 404)}, by_alias=True)
def get_inquiry(request: HttpRequest, inquiry_id: Id) -> Any:
    """One inquiry with its dialog, where it came from, the campaign's sales script and its class history."""
    return inquiry_get(user=actor(request), inquiry_id=inquiry_id)


@router.post(
    "/{inquiry_id}/classify",
    response={200: InquiryDetailOut, **errors(*WITH_BODY, 403, 404, 409)},
    by_alias=True,
)
def classify_inquiry(request: HttpRequest, inquiry_id: Id, payload: ClassifyIn) -> Any:
    """Set the class (sales: only inquiries of their own or their team)."""
    with located("body"):
        inquiry = inquiry_classify(
            actor=actor(request), inquiry_id=inquiry_id, class_key=payload.class_, comment=payload.comment
        )
    return _detail(request, inquiry)


@router.post(
    "/{inquiry_id}/review",
    response={200: InquiryDetailOut, **errors(*WITH_BODY, 403, 404, 409)},
    by_alias=True,
)
def review_inquiry(request: HttpRequest, inquiry_id: Id, payload: ReviewIn) -> Any:
    """Marketing confirm the class, or dispute it with a comment (the head of sales decides)."""
    with located("body"):
        inquiry = inquiry_review(
            actor=actor(request), inquiry_id=inquiry_id, action=payload.action, comment=payload.comment
        )
    return _detail(request, inquiry)


@router.post(
    "/{inquiry_id}/resolve",
    response={200: InquiryDetailOut, **errors(*WITH_BODY, 403, 404, 409)},
    by_alias=True,
)
def resolve_inquiry(request: HttpRequest, inquiry_id: Id, payload: ResolveIn) -> Any:
    """The head of sales decides a disputed class."""
    with located("body"):
        inquiry = inquiry_resolve(
            actor=actor(request), inquiry_id=inquiry_id, class_key=payload.class_, comment=payload.comment
        )
    return _detail(request, inquiry)


@router.post(
    "/{inquiry_id}/first-response",
    response={200: InquiryDetailOut, **errors(*WITH_BODY, 403, 404)},
    by_alias=True,
)
def first_response(request: HttpRequest, inquiry_id: Id, payload: FirstResponseIn) -> Any:
    """Record the manager's first reply or call back (the earliest one counts)."""
    at = payload.at
    if at is not None and at.tzinfo is None:
        raise field_error("body.at", _("Give a time zone, e.g. 2026-03-01T10:15:00Z"))
    with located("body"):
        inquiry = inquiry_first_response(actor=actor(request), inquiry_id=inquiry_id, at=at or clock.now())
    return _detail(request, inquiry)
