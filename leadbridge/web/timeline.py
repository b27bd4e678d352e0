"""How timeline rows (Activity) read on the contact card: a title and a few lines of detail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from leadbridge.contacts.models import Activity, Stage

TITLES: dict[str, str | Promise] = {
    "contact_created": _("Contact created"),
    "contact_updated": _("Details changed"),
    "stage_changed": _("Stage changed"),
    "tags_changed": _("Tags changed"),
    "note_added": _("Note added"),
    "contact_merged": _("Contact merged in"),
    "merge_undone": _("Merge undone"),
    "consent_changed": _("Consent changed"),
    "contact_erased": _("Personal data erased"),
    "quality_item_merged": _("Data-quality record merged"),
    "inquiry_received": _("Inquiry received"),
    "inquiry_classified": _("Inquiry classified"),
    "inquiry_reviewed": _("Class confirmed by marketing"),
    "inquiry_resolved": _("Class dispute resolved"),
    "inquiry_responded": _("First response to an inquiry"),
    "visitor_identified": _("Website visitor identified"),
}
STAGES = dict(Stage.choices)


@dataclass
class TimelineEntry:
    activity: Activity
    title: str | Promise
    lines: list[str] = field(default_factory=list)
    icon: str = "dot"


def _short(value: Any) -> str:
    text = "—" if value in (None, "", [], {}) else str(value)
    return text if len(text) <= 120 else text[:119] + "…"


def describe(activity: Activity) -> TimelineEntry:
    p: dict[str, Any] = activity.payload if isinstance(activity.payload, dict) else {}
    kind = activity.kind
    entry = TimelineEntry(
        activity=activity, title=TITLES.get(kind, kind.replace("_", " ").capitalize()), icon=kind
    )
    lines = entry.lines
    if kind == "contact_updated":
        before, after = p.get("before") or {}, p.get("after") or {}
        for key in after:
            lines.append(f"{key}: {_short(before.get(key))} → {_short(after.get(key))}")
    elif kind == "stage_changed":
        lines.append(
            f"{STAGES.get(p.get('from', ''), p.get('from', ''))} → {STAGES.get(p.get('to', ''), p.get('to', ''))}"
        )
        if p.get("reason"):
            lines.append(str(p["reason"]))
    elif kind == "tags_changed":
        if p.get("added"):
            lines.append("+ " + ", ".join(map(str, p["added"])))
        if p.get("removed"):
            lines.append("- " + ", ".join(map(str, p["removed"])))
    elif kind == "note_added":
        lines.append(_short(p.get("excerpt")))
    elif kind == "contact_merged":
        loser = p.get("loser") or {}
        name = loser.get("name") or loser.get("email") or loser.get("phone") or ""
        lines.append(f"#{p.get('loser_id')} {name}".strip())
    elif kind == "merge_undone":
        other = p.get("loser_id") or p.get("winner_id")
        lines.append(f"#{other}")
    elif kind == "consent_changed":
        lines.append(f"{p.get('channel')}: {p.get('from')} → {p.get('to')}")
    elif kind == "contact_erased":
        lines.append(_short(p.get("reason")))
    elif kind == "inquiry_received":
        where = " / ".join(str(p[k]) for k in ("channel", "campaign", "source") if p.get(k))
        lines.append(f"#{p.get('inquiry_id')} {p.get('kind', '')}" + (f" · {where}" if where else ""))
        if p.get("is_repeat"):
            lines.append(str(_("Repeat inquiry")))
        if p.get("excerpt"):
            lines.append(_short(p["excerpt"]))
    elif kind in {"inquiry_classified", "inquiry_resolved"}:
        change = f"{p['from']} → {p.get('to')}" if p.get("from") else str(p.get("to") or "")
        lines.append(f"#{p.get('inquiry_id')} {change}")
        if p.get("comment"):
            lines.append(_short(p["comment"]))
    elif kind == "inquiry_reviewed":
        if str(p.get("action", "")).startswith("disput"):
            entry.title = _("Class disputed by marketing")
        lines.append(f"#{p.get('inquiry_id')} {p.get('class') or ''}".strip())
        if p.get("comment"):
            lines.append(_short(p["comment"]))
    elif kind == "inquiry_responded":
        seconds = int(p.get("seconds") or 0)
        lines.append(
            f"#{p.get('inquiry_id')} " + str(_("after %(minutes)s min") % {"minutes": seconds // 60})
        )
    elif kind == "visitor_identified":
        lines.append(str(p.get("via") or ""))
    elif kind == "contact_created":
        if p.get("source"):
            lines.append(str(p["source"]))
    else:
        lines.extend(f"{k}: {_short(v)}" for k, v in list(p.items())[:6])
    return entry
