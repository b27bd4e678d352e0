"""Write paths of the marketing app, plus the two reads capture runs per hit/inquiry.

Every function takes keyword arguments, checks the actor's role, writes an audit entry and
raises `leadbridge.core.errors` on bad input. `actor=None` means the system (CLI, imports,
capture) where a function allows it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, Literal, Protocol

from django.db import IntegrityError, transaction
from django.db.models import Max, ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from leadbridge.core import clock
from leadbridge.core.audit import audit_record, diff
from leadbridge.core.errors import Conflict, FieldError, NotFound, ValidationFailed, field_error
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm
from leadbridge.marketing import rules as rule_cache
from leadbridge.marketing import values as V
from leadbridge.marketing.models import (
    Campaign,
    CampaignType,
    Channel,
    ChannelRule,
    RuleOp,
    Spend,
    SpendSource,
)

# Channels the resolver falls back to; they cannot be deleted, renamed to another key or
# switched off.
BUILT_IN_CHANNELS = frozenset({rule_cache.DIRECT, rule_cache.UNKNOWN})
UTM_CAMPAIGN_MAX = 255


# --- the hot path: channel and campaign for a hit / an inquiry ---------------------------------


def resolve_channel(
    *, utm: Mapping[str, str], referrer: str, click_ids: Mapping[str, str], landing_page: str = ""
) -> Channel:
    """The channel for a visit: the first active rule that matches, else `direct` when nothing
    is known about the source, else `unknown`.

    `utm` keys are source, medium, campaign, term, content (`utm_`-prefixed keys work too).
    No database query while the cached rules are current (see `marketing.rules`). The returned
    Channel is shared by every caller of this process: read it, do not change it.
    """
    subject = rule_cache.subject_for(
        utm=utm, referrer=referrer, click_ids=click_ids, landing_page=landing_page
    )
    return rule_cache.rule_set().resolve(subject)


def normalise_utm_campaign(value: Any) -> str:
    text = V.text(value if isinstance(value, str) else str(value or ""), max_length=10_000)
    return text.lower()[:UTM_CAMPAIGN_MAX]


def campaign_for(
    *, utm_campaign: str, channel: Channel | None = None, create: bool = False, actor: Any = None
) -> Campaign | None:
    """The campaign whose `utm_campaign` this is (case-insensitive), or None.

    `create=True` creates an unknown one as a `notification` campaign named after the value
    (imports and capture do, so that no tagged traffic is lost); two processes creating the
    same one at once end with one campaign.
    """
    key = normalise_utm_campaign(utm_campaign)
    if not key:
        return None
    found = Campaign.objects.filter(utm_campaign=key).first()
    if found is not None or not create:
        return found
    name = V.text(utm_campaign, max_length=10_000)[:200] or key[:200]
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(
                name=name,
                type=CampaignType.NOTIFICATION,
                channel=channel,
                utm_campaign=key,
                currency=V.default_currency(),
            )
    except IntegrityError:
        return Campaign.objects.filter(utm_campaign=key).first()
    audit_record(
        actor=actor,
        action="campaign.create",
        object_type="campaign",
        object_id=campaign.pk,
        after={"name": name, "utm_campaign": key, "channel": channel.key if channel else None, "auto": True},
    )
    return campaign


# --- helpers ----------------------------------------------------------------------------------


def _collect(errors: list[FieldError], name: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except V.Invalid as exc:
        errors.append(FieldError(name, str(exc)))
        return None


def _unknown_fields(data: Mapping[str, Any], allowed: set[str]) -> list[FieldError]:
    return [FieldError(k, _("Unknown field")) for k in data if k not in allowed]


def channel_by_ref(ref: Any) -> Channel | None:
    """A channel by instance, id or key (case-insensitive); None when there is none."""
    if ref is None or ref == "":
        return None
    if isinstance(ref, Channel):
        return ref
    if isinstance(ref, int) and not isinstance(ref, bool):
        return Channel.objects.filter(pk=ref).first()
    if isinstance(ref, str):
        return Channel.objects.filter(key=ref.strip().lower()).first()
    return None


def _channel_ref(ref: Any, errors: list[FieldError], field: str = "channel") -> Channel | None:
    if ref is None or ref == "":
        return None
    channel = channel_by_ref(ref)
    if channel is None:
        errors.append(FieldError(field, _("No channel %(channel)s") % {"channel": repr(str(ref)[:40])}))
    return channel


def _snapshot(obj: Any, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n in names:
        value = getattr(obj, f"{n}_id") if n == "channel" else getattr(obj, n)
        out[n] = str(value) if isinstance(value, (Decimal, dt.date)) else value
    return out


def _apply_update(
    obj: Any,
    values: Mapping[str, Any],
    *,
    actor: Any,
    action: str,
    snapshot: Callable[[Any], dict[str, Any]],
    save: Callable[[], None] | None = None,
) -> bool:
    """Set `values` on `obj`; when that changes anything, stamp `updated_at`, save (through `save`
    when the caller maps a database error), and audit only what changed under `action`
    ("<object type>.update"). Returns whether anything changed."""
    before = snapshot(obj)
    for k, v in values.items():
        setattr(obj, k, v)
    b, a = diff(before, snapshot(obj))
    if not a:
        return False
    obj.updated_at = clock.now()
    (save or obj.save)()
    audit_record(
        actor=actor,
        action=action,
        object_type=action.split(".")[0],
        object_id=obj.pk,
        before=b,
        after=a,
    )
    return True


# --- channels ---------------------------------------------------------------------------------

CHANNEL_FIELDS = {"key", "name", "position", "is_active"}


def _clean_channel(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    errors = _unknown_fields(data, CHANNEL_FIELDS)
    out: dict[str, Any] = {}
    if "key" in data or not partial:
        key = _collect(errors, "key", V.text, data.get("key"), max_length=32)
        if key is not None:
            key = key.lower()
            if not key:
                errors.append(FieldError("key", _("A key is required")))
            elif V.key_from_name(key) != key:
                errors.append(FieldError("key", _("Use lower-case letters, digits and _ only")))
            else:
                out["key"] = key
    if "name" in data or not partial:
        name = _collect(errors, "name", V.text, data.get("name"), max_length=100)
        if name == "" and not partial and out.get("key"):
            name = out["key"].replace("_", " ").capitalize()
        if name == "":
            errors.append(FieldError("name", _("A name is required")))
        elif name is not None:
            out["name"] = name
    if data.get("position") not in (None, ""):
        try:
            out["position"] = int(data["position"])
        except (TypeError, ValueError):
            errors.append(FieldError("position", _("Must be a whole number")))
    if "is_active" in data:
        active = _collect(errors, "is_active", V.boolean, data["is_active"])
        if active is not None:
            out["is_active"] = active
    if errors:
        raise ValidationFailed(errors)
    return out


@transaction.atomic
def channel_create(*, actor: Any, data: Mapping[str, Any]) -> Channel:
    require(actor, Perm.CHANNEL_MANAGE)
    values = _clean_channel(data, partial=False)
    if Channel.objects.filter(key=values["key"]).exists():
        detail = _("Channel %(key)s exists") % {"key": repr(values["key"])}
        raise Conflict(detail, [FieldError("key", _("Already exists"))])
    if "position" not in values:
        values["position"] = (Channel.objects.aggregate(m=Max("position"))["m"] or 0) + 10
    channel = Channel.objects.create(**values)
    audit_record(
        actor=actor, action="channel.create", object_type="channel", object_id=channel.pk, after=values
    )
    rule_cache.rules_changed()
    return channel


@transaction.atomic
def channel_update(*, actor: Any, channel_id: int, data: Mapping[str, Any]) -> Channel:
    require(actor, Perm.CHANNEL_MANAGE)
    channel = Channel.objects.select_for_update().filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(_("Channel not found"))
    values = _clean_channel(data, partial=True)
    if channel.key in BUILT_IN_CHANNELS:
        if values.get("key", channel.key) != channel.key:
            message = _("%(key)s is built in: its key cannot change") % {"key": repr(channel.key)}
            raise field_error("key", message)
        if values.get("is_active") is False:
            message = _("%(key)s is built in: it cannot be switched off") % {"key": repr(channel.key)}
            raise field_error("is_active", message)
    if "key" in values and Channel.objects.filter(key=values["key"]).exclude(pk=channel.pk).exists():
        detail = _("Channel %(key)s exists") % {"key": repr(values["key"])}
        raise Conflict(detail, [FieldError("key", _("Already exists"))])
    fields = list(values)
    if _apply_update(
        channel, values, actor=actor, action="channel.update", snapshot=lambda c: _snapshot(c, fields)
    ):
        rule_cache.rules_changed()
    return channel


@transaction.atomic
def channel_delete(*, actor: Any, channel_id: int) -> None:
    """Delete an unused channel; one with rules, campaigns, spend or touches can only be switched off."""
    require(actor, Perm.CHANNEL_MANAGE)
    channel = Channel.objects.select_for_update().filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(_("Channel not found"))
    if channel.key in BUILT_IN_CHANNELS:
        raise Conflict(_("%(key)s is built in and cannot be deleted") % {"key": repr(channel.key)})
    if channel.rules.exists() or channel.campaigns.exists():
        raise Conflict(_("The channel is used by rules or campaigns; switch it off instead"))
    before = _snapshot(channel, ["key", "name"])
    try:
        with transaction.atomic():
            channel.delete()
    except ProtectedError:
        raise Conflict(_("The channel has spend or touches; switch it off instead")) from None
    audit_record(
        actor=actor, action="channel.delete", object_type="channel", object_id=channel_id, before=before
    )
    rule_cache.rules_changed()


@transaction.atomic
def channel_move(*, actor: Any, channel_id: int, direction: Literal["up", "down"]) -> Channel:
    """Swap a channel with its neighbour in the display order (positions renumbered 10, 20, ...)."""
    require(actor, Perm.CHANNEL_MANAGE)
    if direction not in ("up", "down"):
        raise field_error("direction", _("Must be 'up' or 'down'"))
    ordered = list(Channel.objects.select_for_update().order_by("position", "id"))
    index = next((i for i, c in enumerate(ordered) if c.pk == channel_id), None)
    if index is None:
        raise NotFound(_("Channel not found"))
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(ordered):
        ordered[index], ordered[other] = ordered[other], ordered[index]
        audit_record(
            actor=actor,
            action="channel.move",
            object_type="channel",
            object_id=channel_id,
            after={"direction": direction},
        )
    now = clock.now()
    for i, channel in enumerate(ordered):
        position = (i + 1) * 10
        if channel.position != position:
            Channel.objects.filter(pk=channel.pk).update(position=position, updated_at=now)
            channel.position = position
    rule_cache.rules_changed()
    return ordered[other if 0 <= other < len(ordered) else index]


# --- channel rules ------------------------------------------------------------------------------

RULE_FIELDS = {"channel", "field", "op", "value", "field2", "op2", "value2", "position", "is_active"}
RULE_SNAPSHOT = ["channel", "field", "op", "value", "field2", "op2", "value2", "position", "is_active"]


def _clean_rule(data: Mapping[str, Any], *, current: ChannelRule | None) -> dict[str, Any]:
    errors = _unknown_fields(data, RULE_FIELDS)
    out: dict[str, Any] = {}
    partial = current is not None
    if "channel" in data or not partial:
        channel = _channel_ref(data.get("channel"), errors)
        if channel is None and not any(e.field == "channel" for e in errors):
            errors.append(FieldError("channel", _("A channel is required")))
        elif channel is not None:
            out["channel"] = channel
    for name, limit in (
        ("field", 20),
        ("op", 10),
        ("value", 4000),
        ("field2", 20),
        ("op2", 10),
        ("value2", 4000),
    ):
        if name in data or (not partial and name in ("field", "op")):
            value = _collect(errors, name, V.text, data.get(name), max_length=limit)
            if value is not None:
                out[name] = value if name.startswith("value") else value.lower()
    if data.get("position") not in (None, ""):
        try:
            out["position"] = int(data["position"])
        except (TypeError, ValueError):
            errors.append(FieldError("position", _("Must be a whole number")))
    if "is_active" in data:
        active = _collect(errors, "is_active", V.boolean, data["is_active"])
        if active is not None:
            out["is_active"] = active

    def merged(name: str) -> str:
        if name in out:
            return str(out[name])
        return str(getattr(current, name)) if current is not None else ""

    errors += rule_cache.condition_errors(merged("field"), merged("op"), merged("value"))
    if merged("field2") or merged("op2") or merged("value2"):
        if not merged("field2"):
            errors.append(FieldError("field2", _("Choose the field of the second condition (or clear it)")))
        else:
            errors += rule_cache.condition_errors(
                merged("field2"), merged("op2") or RuleOp.EXISTS, merged("value2"), suffix="2"
            )
    if errors:
        raise ValidationFailed(errors)
    if not merged("field2"):
        out.update(field2="", op2="", value2="")
    elif not merged("op2"):
        out["op2"] = RuleOp.EXISTS
    return out


def _renumber_rules() -> None:
    for i, rule in enumerate(ChannelRule.objects.select_for_update().order_by("position", "id")):
        position = (i + 1) * 10
        if rule.position != position:
            ChannelRule.objects.filter(pk=rule.pk).update(position=position, updated_at=clock.now())


@transaction.atomic
def channel_rule_create(*, actor: Any, data: Mapping[str, Any]) -> ChannelRule:
    """Add a rule; without a position it goes last (just before nothing: rules are tried in order)."""
    require(actor, Perm.CHANNEL_MANAGE)
    values = _clean_rule(data, current=None)
    if "position" not in values:
        values["position"] = (ChannelRule.objects.aggregate(m=Max("position"))["m"] or 0) + 10
    now = clock.now()
    rule = ChannelRule.objects.create(**values, created_at=now, updated_at=now)
    audit_record(
        actor=actor,
        action="channel_rule.create",
        object_type="channel_rule",
        object_id=rule.pk,
        after=_snapshot(rule, RULE_SNAPSHOT),
    )
    rule_cache.rules_changed()
    return rule


def _rule_for_update(rule_id: int) -> ChannelRule:
    rule = ChannelRule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("Channel rule not found"))
    return rule


@transaction.atomic
def channel_rule_update(*, actor: Any, rule_id: int, data: Mapping[str, Any]) -> ChannelRule:
    require(actor, Perm.CHANNEL_MANAGE)
    rule = _rule_for_update(rule_id)
    values = _clean_rule(data, current=rule)
    if _apply_update(
        rule,
        values,
        actor=actor,
        action="channel_rule.update",
        snapshot=lambda r: _snapshot(r, RULE_SNAPSHOT),
    ):
        rule_cache.rules_changed()
    return rule


@transaction.atomic
def channel_rule_delete(*, actor: Any, rule_id: int) -> None:
    require(actor, Perm.CHANNEL_MANAGE)
    rule = _rule_for_update(rule_id)
    before = _snapshot(rule, RULE_SNAPSHOT)
    rule.delete()
    audit_record(
        actor=actor,
        action="channel_rule.delete",
        object_type="channel_rule",
        object_id=rule_id,
        before=before,
    )
    rule_cache.rules_changed()


@transaction.atomic
def channel_rule_move(*, actor: Any, rule_id: int, direction: Literal["up", "down"]) -> ChannelRule:
    """Swap a rule with its neighbour above or below (positions renumbered 10, 20, ...)."""
    require(actor, Perm.CHANNEL_MANAGE)
    if direction not in ("up", "down"):
        raise field_error("direction", _("Must be 'up' or 'down'"))
    _rule_for_update(rule_id)
    _renumber_rules()
    ordered = list(ChannelRule.objects.order_by("position", "id"))
    index = next(i for i, r in enumerate(ordered) if r.pk == rule_id)
    other = index - 1 if direction == "up" else index + 1
    rule = ordered[index]
    if 0 <= other < len(ordered):
        neighbour = ordered[other]
        now = clock.now()
        old = rule.position
        ChannelRule.objects.filter(pk=rule.pk).update(position=neighbour.position, updated_at=now)
        ChannelRule.objects.filter(pk=neighbour.pk).update(position=old, updated_at=now)
        audit_record(
            actor=actor,
            action="channel_rule.move",
            object_type="channel_rule",
            object_id=rule.pk,
            before={"position": old},
            after={"position": neighbour.position},
        )
        rule.position = neighbour.position
    rule_cache.rules_changed()
    return rule


# --- campaigns ----------------------------------------------------------------------------------

CAMPAIGN_FIELDS = {
    "name",
    "type",
    "channel",
    "utm_campaign",
    "starts_on",
    "ends_on",
    "budget",
    "currency",
    "sales_script",
    "is_active",
}
CAMPAIGN_SNAPSHOT = sorted(CAMPAIGN_FIELDS)


def _clean_campaign(data: Mapping[str, Any], *, current: Campaign | None) -> dict[str, Any]:
    errors = _unknown_fields(data, CAMPAIGN_FIELDS)
    partial = current is not None
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        name = _collect(errors, "name", V.text, data.get("name"), max_length=200)
        if name == "":
            errors.append(FieldError("name", _("A name is required")))
        elif name is not None:
            out["name"] = name
    if "type" in data or not partial:
        kind = data.get("type") or CampaignType.NOTIFICATION
        if kind not in CampaignType.values:
            message = _("One of: %(choices)s") % {"choices": ", ".join(CampaignType.values)}
            errors.append(FieldError("type", message))
        else:
            out["type"] = kind
    if "channel" in data:
        out["channel"] = _channel_ref(data.get("channel"), errors)
    if "utm_campaign" in data:
        raw = data.get("utm_campaign")
        value = _collect(errors, "utm_campaign", V.text, raw, max_length=UTM_CAMPAIGN_MAX)
        if value is not None:
            out["utm_campaign"] = value.lower()
    for name in ("starts_on", "ends_on"):
        if name in data:
            parsed = _collect(errors, name, V.date, data.get(name))
            if not any(e.field == name for e in errors):
                out[name] = parsed
    if "budget" in data:
        budget = _collect(errors, "budget", V.amount, data.get("budget"), allow_blank=True)
        if not any(e.field == "budget" for e in errors):
            out["budget"] = budget
    if "currency" in data or not partial:
        code = _collect(errors, "currency", V.currency, data.get("currency"))
        if code is not None:
            out["currency"] = code
    if "sales_script" in data:
        script = _collect(
            errors, "sales_script", V.text, data.get("sales_script"), max_length=20_000, multiline=True
        )
        if script is not None:
            out["sales_script"] = script
    if "is_active" in data:
        active = _collect(errors, "is_active", V.boolean, data["is_active"])
        if active is not None:
            out["is_active"] = active
    starts = out.get("starts_on", current.starts_on if current else None)
    ends = out.get("ends_on", current.ends_on if current else None)
    if starts and ends and ends < starts:
        errors.append(FieldError("ends_on", _("Ends before it starts")))
    if errors:
        raise ValidationFailed(errors)
    utm = out.get("utm_campaign")
    if utm:
        clash = Campaign.objects.filter(utm_campaign=utm)
        if current is not None:
            clash = clash.exclude(pk=current.pk)
        other = clash.first()
        if other is not None:
            names = {"utm": repr(utm), "name": repr(other.name)}
            raise Conflict(
                _("utm_campaign %(utm)s belongs to campaign %(name)s") % names,
                [FieldError("utm_campaign", _("Already used by %(name)s") % names)],
            )
    return out


def _campaign_snapshot(campaign: Campaign) -> dict[str, Any]:
    snap = _snapshot(campaign, CAMPAIGN_SNAPSHOT)
    if snap.get("sales_script") and len(snap["sales_script"]) > 500:
        snap["sales_script"] = snap["sales_script"][:500] + "…"
    return snap


@transaction.atomic
def campaign_create(*, actor: Any, data: Mapping[str, Any]) -> Campaign:
    require(actor, Perm.CAMPAIGN_MANAGE)
    values = _clean_campaign(data, current=None)
    try:
        with transaction.atomic():
            campaign = Campaign.objects.create(**values)
    except IntegrityError:
        raise Conflict(
            _("utm_campaign is taken"), [FieldError("utm_campaign", _("Already used by another campaign"))]
        ) from None
    audit_record(
        actor=actor,
        action="campaign.create",
        object_type="campaign",
        object_id=campaign.pk,
        after=_campaign_snapshot(campaign),
    )
    return campaign


@transaction.atomic
def campaign_update(*, actor: Any, campaign_id: int, data: Mapping[str, Any]) -> Campaign:
    require(actor, Perm.CAMPAIGN_MANAGE)
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(_("Campaign not found"))
    values = _clean_campaign(data, current=campaign)

    def save() -> None:
        try:
            with transaction.atomic():
                campaign.save()
        except IntegrityError:
            raise Conflict(
                _("utm_campaign is taken"),
                [FieldError("utm_campaign", _("Already used by another campaign"))],
            ) from None

    _apply_update(
        campaign, values, actor=actor, action="campaign.update", snapshot=_campaign_snapshot, save=save
    )
    return campaign


# --- spend --------------------------------------------------------------------------------------

Outcome = Literal["created", "updated", "unchanged"]


def _campaign_ref(ref: Any, errors: list[FieldError]) -> Campaign | None:
    if ref is None or ref == "":
        return None
    if isinstance(ref, Campaign):
        return ref
    found: Campaign | None = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        found = Campaign.objects.filter(pk=ref).first()
    elif isinstance(ref, str):
        found = campaign_for(utm_campaign=ref) or Campaign.objects.filter(name__iexact=ref.strip()).first()
    if found is None:
        errors.append(
            FieldError("campaign", _("No campaign %(campaign)s") % {"campaign": repr(str(ref)[:60])})
        )
    return found


def _spend_upsert(
    *,
    actor: Any,
    date: dt.date,
    channel: Channel,
    campaign: Campaign | None,
    amount: Decimal,
    currency: str,
    source: str,
) -> tuple[Spend, Outcome, dict[str, Any] | None]:
    """The upsert itself (no permission check, no audit); the caller holds a transaction."""
    lookup = {"date": date, "channel": channel, "campaign": campaign}
    existing = Spend.objects.select_for_update().filter(**lookup).first()
    if existing is None:
        try:
            with transaction.atomic():
                spend = Spend.objects.create(
                    **lookup,
                    amount=amount,
                    currency=currency,
                    source=source,
                    created_by_id=getattr(actor, "pk", None),
                )
            return spend, "created", None
        except IntegrityError:
            # Someone recorded the same day at the same moment: update theirs.
            existing = Spend.objects.select_for_update().filter(**lookup).first()
            if existing is None:
                raise
    if existing.amount == amount and existing.currency == currency:
        return existing, "unchanged", None
    before = {"amount": str(existing.amount), "currency": existing.currency, "source": existing.source}
    existing.amount, existing.currency, existing.source = amount, currency, source
    existing.updated_at = clock.now()
    existing.save(update_fields=["amount", "currency", "source", "updated_at"])
    return existing, "updated", before


def _clean_spend(
    *, date: Any, channel: Any, campaign: Any, amount: Any, currency: Any
) -> tuple[dt.date, Channel, Campaign | None, Decimal, str]:
    errors: list[FieldError] = []
    day = _collect(errors, "date", V.date, date)
    if day is None and not any(e.field == "date" for e in errors):
        errors.append(FieldError("date", _("A date is required")))
    camp = _campaign_ref(campaign, errors)
    chan = _channel_ref(channel, errors)
    if chan is None and not any(e.field == "channel" for e in errors):
        if camp is not None and camp.channel_id:
            chan = camp.channel
        else:
            errors.append(FieldError("channel", _("A channel is required")))
    money = _collect(errors, "amount", V.amount, amount)
    code = _collect(errors, "currency", V.currency, currency, default=camp.currency if camp else "")
    if errors:
        raise ValidationFailed(errors)
    assert day is not None and chan is not None and money is not None and code is not None
    return day, chan, camp, money, code


@transaction.atomic
def spend_record(
    *,
    actor: Any,
    date: Any,
    channel: Any,
    campaign: Any = None,
    amount: Any,
    currency: Any = "",
    source: str = SpendSource.MANUAL,
) -> tuple[Spend, Outcome]:
    """Set the spend of one channel (and campaign) on one day; recording the same again changes nothing.

    `channel` is a Channel, id or key; `campaign` a Campaign, id, utm_campaign or name (or None);
    blank currency = the campaign's, else DEFAULT_CURRENCY. Returns the row and what happened.
    """
    if actor is not None:
        require(actor, Perm.SPEND_MANAGE)
    if source not in SpendSource.values:
        raise field_error("source", _("One of: %(choices)s") % {"choices": ", ".join(SpendSource.values)})
    day, chan, camp, money, code = _clean_spend(
        date=date, channel=channel, campaign=campaign, amount=amount, currency=currency
    )
    spend, outcome, before = _spend_upsert(
        actor=actor, date=day, channel=chan, campaign=camp, amount=money, currency=code, source=source
    )
    if outcome != "unchanged":
        audit_record(
            actor=actor,
            action="spend.record",
            object_type="spend",
            object_id=spend.pk,
            before=before,
            after={
                "date": day.isoformat(),
                "channel": chan.key,
                "campaign": camp.pk if camp else None,
                "amount": str(money),
                "currency": code,
                "source": source,
            },
        )
    return spend, outcome


# --- spend import ---------------------------------------------------------------------------------


class CsvRecord(Protocol):
    row: int
    values: list[str] | None
    error: str


class CsvSource(Protocol):
    """An open CSV file: `contacts.csvio.CsvFile` is one (the adapters open it; this layer may
    not import contacts)."""

    header: list[str]
    encoding: str
    delimiter: str

    def records(self) -> Iterator[Any]: ...


SPEND_FIELDS = ["date", "channel", "campaign", "amount", "currency", "utm_source", "utm_medium"]
_SPEND_SYNONYMS = {
    "date": ("date", "day", "дата", "день", "data"),
    "channel": ("channel", "канал", "kanał", "source channel"),
    "campaign": ("campaign", "кампания", "рекламная кампания", "utm_campaign", "kampania"),
    "amount": ("amount", "spend", "cost", "sum", "сумма", "расход", "затраты", "стоимость", "koszt", "kwota"),
    "currency": ("currency", "валюта", "waluta"),
    "utm_source": ("utm_source", "source", "источник"),
    "utm_medium": ("utm_medium", "medium", "тип трафика"),
}
_SPEND_LOOKUP = {name.lower(): field for field, names in _SPEND_SYNONYMS.items() for name in names}
MAX_REPORTED_ERRORS = 10_000


def _spend_plan(
    header: list[str], mapping: Mapping[str, str], defaults: Mapping[str, str]
) -> tuple[list[tuple[int, str]], dict[str, str], list[str]]:
    """(column index, field) pairs, the mapping used, and the ignored columns."""
    errors: list[FieldError] = []
    for target in [*mapping.values(), *defaults]:
        if target not in SPEND_FIELDS:
            message = _("Not a spend field; fields: %(fields)s") % {"fields": ", ".join(SPEND_FIELDS)}
            errors.append(FieldError(target, message))
    missing = [src for src in mapping if src not in header]
    for src in missing:
        errors.append(FieldError("--map", _("No column %(column)s in the file") % {"column": repr(src)}))
    if errors:
        raise ValidationFailed(errors, detail=_("Invalid mapping"))
    columns: list[tuple[int, str]] = []
    used: dict[str, str] = {}
    ignored: list[str] = []
    for index, name in enumerate(header):
        target = mapping.get(name) or _SPEND_LOOKUP.get(name.strip().lower()) or ""
        if target and target not in used.values() and target not in defaults:
            columns.append((index, target))
            used[name] = target
        else:
            ignored.append(name)
    present = set(used.values()) | set(defaults)
    lacking = [f for f in ("date", "amount") if f not in present]
    if lacking:
        no_column = _("No %(field)s column (map one with --map COLUMN=%(name)s)")
        raise ValidationFailed(
            [FieldError("file", no_column % {"field": repr(f), "name": f}) for f in lacking],
            detail=_("The file lacks required columns"),
        )
    return columns, used, ignored


@transaction.atomic
def spend_import(
    *,
    actor: Any,
    source: CsvSource,
    mapping: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    dry_run: bool = False,
    file_name: str = "",
) -> dict[str, Any]:
    """Import spend rows (date, channel, campaign, amount, currency) from an open CSV file.

    Bad rows are reported with their row number and skipped, never abort the import. A channel
    or campaign named in the file that does not exist is created (listed in `created_refs`); a
    blank channel is the campaign's, else resolved by the channel rules from utm_source /
    utm_medium columns, else `unknown`. Re-importing the same file changes nothing.
    """
    if actor is not None:
        require(actor, Perm.SPEND_MANAGE)
    mapping = dict(mapping or {})
    defaults = dict(defaults or {})
    columns, used, ignored = _spend_plan(source.header, mapping, defaults)
    counts = {"rows": 0, "created": 0, "updated": 0, "unchanged": 0, "skipped": 0}
    errors: list[dict[str, Any]] = []
    omitted = 0
    created_refs: dict[str, list[str]] = {"channels": [], "campaigns": []}
    channels: dict[str, Channel] = {}
    campaigns: dict[str, Campaign] = {}
    column_of = {f: source.header[i] for i, f in columns}

    def report(row: int, field: str, message: str) -> None:
        nonlocal omitted
        if len(errors) >= MAX_REPORTED_ERRORS:
            omitted += 1
            return
        entry = {"row": row, "field": field, "message": message}
        if field in column_of:
            entry["column"] = column_of[field]
        errors.append(entry)

    def channel_named(name: str, row: int) -> Channel | None:
        key = name.strip().lower()
        if key in channels:
            return channels[key]
        channel = Channel.objects.filter(key=key).first() or Channel.objects.filter(name__iexact=key).first()
        if channel is None:
            slug = V.key_from_name(name)
            if not slug:
                message = _("Cannot make a channel key from %(name)s") % {"name": repr(name[:40])}
                report(row, "channel", message)
                return None
            channel = Channel.objects.filter(key=slug).first()
            if channel is None:
                position = (Channel.objects.aggregate(m=Max("position"))["m"] or 0) + 10
                channel = Channel.objects.create(key=slug, name=name.strip()[:100], position=position)
                created_refs["channels"].append(slug)
                rule_cache.rules_changed()
        channels[key] = channel
        return channel

    def campaign_named(name: str, channel: Channel | None) -> Campaign | None:
        key = name.strip().lower()
        if key in campaigns:
            return campaigns[key]
        campaign = (
            campaign_for(utm_campaign=name) or Campaign.objects.filter(name__iexact=name.strip()).first()
        )
        if campaign is None:
            campaign = campaign_for(utm_campaign=name, channel=channel, create=True, actor=actor)
            if campaign is not None:
                created_refs["campaigns"].append(campaign.name)
        if campaign is not None:
            campaigns[key] = campaign
        return campaign

    width = len(source.header)
    for record in source.records():
        counts["rows"] += 1
        if record.values is None:
            report(record.row, "row", record.error)
            counts["skipped"] += 1
            continue
        if len(record.values) > width and any(v.strip() for v in record.values[width:]):
            counted = {"count": len(record.values), "width": width}
            report(record.row, "row", _("%(count)s values for %(width)s columns") % counted)
            counts["skipped"] += 1
            continue
        row = dict(defaults)
        for index, field in columns:
            if index < len(record.values) and record.values[index].strip():
                row[field] = record.values[index]
        row_errors: list[FieldError] = []
        try:
            day = V.date(row.get("date"))
            if day is None:
                row_errors.append(FieldError("date", _("A date is required")))
        except V.Invalid as exc:
            row_errors.append(FieldError("date", str(exc)))
        try:
            money = V.amount(row.get("amount"))
        except V.Invalid as exc:
            row_errors.append(FieldError("amount", str(exc)))
        try:
            V.currency(row.get("currency"))
        except V.Invalid as exc:
            row_errors.append(FieldError("currency", str(exc)))
        for name, limit in (("channel", 100), ("campaign", UTM_CAMPAIGN_MAX)):
            if len(row.get(name, "").strip()) > limit:
                message = ngettext("At most %(limit)d character", "At most %(limit)d characters", limit)
                row_errors.append(FieldError(name, message % {"limit": limit}))
        if row_errors:
            for err in row_errors:
                report(record.row, err.field, err.message)
            counts["skipped"] += 1
            continue
        channel: Channel | None = None
        if row.get("channel", "").strip():
            channel = channel_named(row["channel"], record.row)
            if channel is None:
                counts["skipped"] += 1
                continue
        campaign = campaign_named(row["campaign"], channel) if row.get("campaign", "").strip() else None
        if channel is None:
            if campaign is not None and campaign.channel_id:
                channel = campaign.channel
            else:
                utm = {"source": row.get("utm_source", ""), "medium": row.get("utm_medium", "")}
                channel = resolve_channel(utm=utm, referrer="", click_ids={})
                if channel.key == rule_cache.DIRECT:
                    channel = channel_by_ref(rule_cache.UNKNOWN) or channel
        code = V.currency(row.get("currency"), default=campaign.currency if campaign else "")
        assert day is not None and money is not None and channel is not None
        _spend, outcome, _before = _spend_upsert(
            actor=actor,
            date=day,
            channel=channel,
            campaign=campaign,
            amount=money,
            currency=code,
            source=SpendSource.IMPORT,
        )
        counts[outcome] += 1

    summary: dict[str, Any] = {
        "created": counts["created"],
        "updated": counts["updated"],
        "skipped": counts["skipped"],
        "errors": errors,
        "created_refs": {k: v for k, v in created_refs.items() if v},
        "unchanged": counts["unchanged"],
        "rows": counts["rows"],
        "encoding": source.encoding,
        "delimiter": source.delimiter,
        "mapping": used,
        "defaults": defaults,
        "ignored_columns": ignored,
        "dry_run": dry_run,
    }
    if omitted:
        summary["errors_omitted"] = omitted
    if dry_run:
        transaction.set_rollback(True)
        rule_cache.clear_cache()
    else:
        audit_record(
            actor=actor,
            action="spend.import",
            object_type="import",
            after={
                k: summary[k] for k in ("rows", "created", "updated", "unchanged", "skipped", "created_refs")
            }
            | {"file": file_name},
        )
    return summary
