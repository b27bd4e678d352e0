"""Background tasks of the contacts app (django.tasks): thin shells over services.

`leadbridge worker` runs them (django-tasks-db's database backend; see config/settings.py).
Arguments are plain JSON values; every task is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from django.tasks import task


@task
def run_import_job(job_id: int) -> dict[str, Any]:
    """Run an import job queued by `importer.import_job_start`."""
    from leadbridge.contacts.importer import import_job_run

    job = import_job_run(job_id=job_id)
    return {"job_id": job_id, "status": job.status if job is not None else "missing"}
