"""Runs TMF620 import and export jobs after the request that created them commits (ADR 14).

A round claims the oldest waiting job (``FOR UPDATE SKIP LOCKED``, so several server processes
may run it), marks it ``Running`` and commits; then runs it in one transaction that holds the
job's row lock and marks it ``Succeeded`` as it commits. A job that fails is rolled back whole
and marked ``Failed`` with its ``errorLog``. A process killed mid-job leaves it ``Running`` and
unlocked: the next round (here or in another process, or after a restart) runs it again, which
an import, being idempotent, survives; an export writes its file again.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from telcrm.api.tmf.spec import CATALOG
from telcrm.catalog import jobs
from telcrm.kit.auth import SYSTEM_CALLER, Context
from telcrm.kit.db import Database
from telcrm.kit.errors import DomainError
from telcrm.kit.outbox import job_signal
from telcrm.worker.rounds import run_rounds

log = logging.getLogger(__name__)


def check_document(kind: str, doc: dict[str, Any]) -> None:
    """A catalog document as the API's POST would take it: the spec's ``<kind>_Create``."""
    CATALOG.validate(f"{kind}_Create", {k: v for k, v in doc.items() if k not in ("id", "href")})


async def run_next(db: Database, check: jobs.Check | None = check_document) -> bool:
    """Run the oldest waiting job; False when none waits (or another runner holds it)."""
    async with db.unit_of_work() as uow:
        job_id = await jobs.start_next(Context(uow=uow, caller=SYSTEM_CALLER, channel="worker"))
    if job_id is None:
        return False
    error: str | None = None
    try:
        async with db.unit_of_work() as uow:
            row = await jobs.lock_running(Context(uow=uow, caller=SYSTEM_CALLER, channel="worker"), job_id)
            if row is None:
                return True
            ctx = Context(uow=uow, caller=jobs.caller_of(row), channel="worker")
            await jobs.execute(ctx, row, check)
    except DomainError as exc:
        error = jobs.error_log(exc)
    except Exception as exc:  # recorded on the job: a job that cannot run must not be retried forever
        log.exception("catalog job %s failed", job_id)
        error = f"the job failed: {type(exc).__name__}: {str(exc)[:500]}"
    if error is not None:
        async with db.unit_of_work() as uow:
            await jobs.fail(Context(uow=uow, caller=SYSTEM_CALLER, channel="worker"), job_id, error)
    log.info("catalog job %s %s", job_id, "failed: " + error if error else "succeeded")
    return True


async def run_due(db: Database, check: jobs.Check | None = check_document) -> int:
    """Run every waiting job, one after another; how many were run."""
    done = 0
    while await run_next(db, check):
        done += 1
    return done


class CatalogJobRunner:
    def __init__(self, db: Database, *, interval: float = 5.0) -> None:
        self.db = db
        self.interval = interval

    async def run_forever(self) -> None:
        await run_rounds(job_signal.event(), self._round, self.interval)

    async def _round(self) -> None:
        await run_due(self.db)


async def import_file(db: Database, path: Path, *, only: str | None = None) -> dict[str, int]:
    """``telcrm catalog import``: what an importJob does, here and now, as the system (one transaction)."""
    docs = await asyncio.to_thread(jobs.read_documents, path)
    async with db.unit_of_work() as uow:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="cli")
        return await jobs.import_documents(ctx, docs, only=only, check=check_document)


async def export_file(db: Database, path: Path, *, only: str | None = None, query: str | None = None) -> int:
    """``telcrm catalog export``: what an exportJob does, here and now; how many documents were written."""
    async with db.read_only() as uow:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="cli")
        docs = await jobs.export_documents(ctx, only=only, query=jobs.export_query(query))
    await asyncio.to_thread(jobs.write_documents, path, docs)
    return len(docs)
