"""CSV import pages: upload → map columns (with a preview) → run → result with downloadable errors.

The importer (`leadbridge.contacts.importer`) does all the work; these views only carry the
upload and the chosen mapping to it and show what it reports.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from leadbridge.contacts import importer, selectors
from leadbridge.contacts.models import ImportJob
from leadbridge.core.errors import FieldError, ServiceError, ValidationFailed
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm
from leadbridge.web.adapters import field_errors, is_partial, service_errors

DEFAULT_ROWS = 3  # "set a value for every row" inputs shown on the mapping form
MAX_DEFAULT_ROWS = 50
SHOWN_ERRORS = 50
DELIMITER_NAMES = {
    ",": gettext_lazy("comma (,)"),
    ";": gettext_lazy("semicolon (;)"),
    "\t": gettext_lazy("tab"),
    "|": gettext_lazy("pipe (|)"),
}


def _errors(error: ServiceError) -> dict[str, str]:
    return {name: " ".join(messages) for name, messages in field_errors(error.errors).items()}


def _kinds() -> list[tuple[str, str]]:
    labels = {"contacts": _("Contacts"), "leads": _("Leads (inquiries)")}
    return [(k, labels.get(k, k)) for k in importer.FIELDS]


@require_http_methods(["GET", "POST"])
@login_required
@service_errors
def import_start(request: HttpRequest) -> HttpResponse:
    require(request.user, Perm.CONTACT_IMPORT)
    error: ServiceError | None = None
    if request.method == "POST":
        kind = request.POST.get("kind", "")
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise ValidationFailed([FieldError("file", _("Choose a CSV file to upload"))])
            job = importer.import_job_create(actor=request.user, kind=kind, upload=upload)
        except (ValidationFailed, ServiceError) as exc:
            if exc.status in (403, 404):
                raise
            error = exc
        else:
            return redirect("web:import_map", job_id=job.pk)
    context = {
        "kinds": _kinds(),
        "kind": request.POST.get("kind", "contacts"),
        "errors": _errors(error) if error else {},
        "error_detail": error.detail if error and not error.errors else "",
        "recent": list(selectors.import_job_list(user=request.user, limit=10)),
    }
    return render(request, "web/imports/start.html", context, status=error.status if error else 200)


def _sniff(job: ImportJob) -> dict[str, Any]:
    sniff = (job.summary or {}).get("sniff") or {}
    return sniff if isinstance(sniff, dict) else {}


def _map_context(
    request: HttpRequest,
    job: ImportJob,
    *,
    chosen: dict[int, str] | None = None,
    defaults: list[tuple[str, str]] | None = None,
    dry_run: bool = False,
    error: ServiceError | None = None,
) -> dict[str, Any]:
    sniff = _sniff(job)
    header: list[str] = [str(h) for h in sniff.get("header") or []]
    suggested: dict[str, str] = sniff.get("suggested_mapping") or {}
    targets = importer.target_fields(job.kind)
    preview = [list(row) + [""] * (len(header) - len(row)) for row in sniff.get("preview") or []]
    columns = []
    for i, name in enumerate(header):
        value = chosen.get(i, "") if chosen is not None else suggested.get(name, "")
        columns.append(
            {"index": i, "name": name, "value": value, "samples": [r[i] for r in preview[:3] if i < len(r)]}
        )
    rows = list(defaults or [])
    rows += [("", "")] * max(0, DEFAULT_ROWS - len(rows))
    delimiter = str(sniff.get("delimiter", ""))
    return {
        "job": job,
        "encoding": sniff.get("encoding", ""),
        "delimiter": DELIMITER_NAMES.get(delimiter, delimiter),
        "header": header,
        "preview": preview,
        "columns": columns,
        "targets": targets,
        "default_rows": rows,
        "dry_run": dry_run,
        "errors": _errors(error) if error else {},
        "error_messages": [e.message for e in error.errors if e.field != "defaults"] if error else [],
        "error_detail": error.detail if error and not error.errors else "",
        "started": job.status != ImportJob.Status.UPLOADED,
    }


@require_http_methods(["GET", "POST"])
@login_required
@service_errors
def import_map(request: HttpRequest, job_id: int) -> HttpResponse:
    job = importer.import_job_get(actor=request.user, job_id=job_id)
    if request.method == "GET":
        return render(request, "web/imports/map.html", _map_context(request, job))
    header = [str(h) for h in _sniff(job).get("header") or []]
    chosen = {i: request.POST.get(f"map_{i}", "").strip() for i in range(len(header))}
    mapping = {name: chosen[i] for i, name in enumerate(header)}
    defaults_rows = [
        (request.POST.get(f"set_field_{i}", "").strip(), request.POST.get(f"set_value_{i}", "").strip())
        for i in range(MAX_DEFAULT_ROWS)
        if f"set_field_{i}" in request.POST
    ]
    defaults_rows = [(f, v) for f, v in defaults_rows if v]
    dry_run = bool(request.POST.get("dry_run"))
    try:
        missing = [
            FieldError("defaults", _("Choose the field for the value “%(value)s”") % {"value": v})
            for f, v in defaults_rows
            if not f
        ]
        fields = [f for f, _v in defaults_rows if f]
        missing += [
            FieldError("defaults", _("“%(field)s” is given two values") % {"field": f})
            for f in sorted({f for f in fields if fields.count(f) > 1})
        ]
        if missing:
            raise ValidationFailed(missing)
        job = importer.import_job_start(
            actor=request.user,
            job_id=job.pk,
            mapping=mapping,
            defaults=dict(defaults_rows),
            dry_run=dry_run,
        )
    except ServiceError as exc:
        if exc.status in (403, 404):
            raise
        context = _map_context(
            request, job, chosen=chosen, defaults=defaults_rows, dry_run=dry_run, error=exc
        )
        return render(request, "web/imports/map.html", context, status=exc.status)
    return redirect("web:import_detail", job_id=job.pk)


def _result_context(job: ImportJob) -> dict[str, Any]:
    summary = job.summary or {}
    running = job.status == ImportJob.Status.RUNNING
    failed = job.status == ImportJob.Status.FAILED
    progress = summary.get("progress") or {}
    percent = None
    if running and progress.get("total_bytes"):
        percent = min(100, int(100 * (progress.get("bytes") or 0) / progress["total_bytes"]))
    counts_from = progress if running else summary
    errors = [] if failed else list(summary.get("errors") or [])
    error_count = len(errors) + int(summary.get("errors_omitted") or 0)
    return {
        "job": job,
        "summary": summary,
        "running": running,
        "queued": running and not progress,
        "failed": failed,
        "done": job.status == ImportJob.Status.DONE,
        "failure_errors": (summary.get("errors") or []) if failed else [],
        "percent": percent,
        "rows": counts_from.get("rows"),
        "counts": [
            ("created", _("Created"), counts_from.get("created")),
            ("updated", _("Updated"), counts_from.get("updated")),
            ("unchanged", _("Unchanged"), counts_from.get("unchanged")),
            ("skipped", _("Skipped"), counts_from.get("skipped")),
        ],
        "errors": errors[:SHOWN_ERRORS],
        "error_count": error_count,
        "more_errors": max(0, error_count - SHOWN_ERRORS),
    }


@require_GET
@login_required
@service_errors
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = importer.import_job_get(actor=request.user, job_id=job_id)
    context = _result_context(job)
    if is_partial(request):
        return render(request, "web/imports/_status.html", context)
    return render(request, "web/imports/detail.html", context)


@require_GET
@login_required
@service_errors
def import_errors_csv(request: HttpRequest, job_id: int) -> HttpResponse:
    job = importer.import_job_get(actor=request.user, job_id=job_id)
    response = HttpResponse(importer.import_job_errors_csv(job), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response
