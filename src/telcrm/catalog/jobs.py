"""TMF620 importJob and exportJob: the catalog in and out of JSON files (ADR 14).

A job is a row (``catalog_job``) created by the request and run after it commits by the job
runner (``telcrm.worker.catalog_jobs``), one transaction per job. Files are only ever read from
and written to the configured job directory: a job never fetches a URL.

The file format (``application/json``) is a JSON array of catalog documents exactly as the GET
endpoints return them, without ``href``. An import keeps each document's id, so it can be run
again: a document whose id is new is created through the catalog service, one stored with the
same content is skipped, one stored with other content is changed through the service (every
rule of ADR 5 applies). An invalid document fails the whole job and nothing of it is kept.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import orjson
from sqlalchemy import select

from telcrm.catalog import policy, repository
from telcrm.catalog.service import PRICE_FIELDS, SERVICES
from telcrm.kit import audit, references
from telcrm.kit.auth import Caller, Context
from telcrm.kit.documents import DocumentStore
from telcrm.kit.errors import Conflict, DomainError, ValidationFailed
from telcrm.kit.ids import new_id
from telcrm.kit.outbox import emit, job_signal
from telcrm.kit.query import ListQuery, parse_list_query
from telcrm.models import CatalogJob

Doc = dict[str, Any]
# Checks a document against the API's schema for ``kind`` (supplied by the edge: the spec is the API's).
Check = Callable[[str, Doc], None]

NOT_STARTED, RUNNING, SUCCEEDED, FAILED = "Not Started", "Running", "Succeeded", "Failed"  # JobStateType
JSON = "application/json"
# What others refer to comes first, so references resolve (and are checked) as they are made.
ORDER = ("ProductSpecification", "ProductOfferingPrice", "Category", "ProductOffering", "Catalog")
COLLECTIONS = {kind[0].lower() + kind[1:]: kind for kind in ORDER}
# Attributes of a job only the server sets; values a client sends are ignored.
SERVER_SET = frozenset({"id", "href", "status", "creationDate", "completionDate", "errorLog", "summary"})
EXPORT_LIMIT = 1_000_000  # an export is not paged: it holds everything that matches


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ----- files --------------------------------------------------------------------------------------
def resolve_file(job_dir: Path, url: Any) -> Path:
    """The file ``url`` names: a ``file:`` URL or a path (relative ones from the job directory),
    which must lie inside ``job_dir`` once links are followed. Nothing else is ever accepted."""
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed("url names a file in the job directory (a file: URL or a path)", field="url")
    text = url.strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise ValidationFailed("url is not a URL", field="url") from None
    scheme = parts.scheme.lower()
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise ValidationFailed("url: a file: URL names a local file, file:///path", field="url")
        raw = unquote(parts.path)
    elif scheme == "":
        raw = text
    else:
        raise ValidationFailed(
            f"url: {scheme}: URLs are never fetched; name a file: URL or a path inside the job directory",
            field="url",
        )
    try:
        base = job_dir.resolve()
        named = Path(raw)
        target = (named if named.is_absolute() else base / named).resolve()
    except (OSError, ValueError, RuntimeError):
        raise ValidationFailed("url is not a usable file name", field="url") from None
    if target != base and base not in target.parents:
        raise ValidationFailed(f"url must name a file inside the job directory {base}", field="url")
    return target


def _is(path: Path, test: Callable[[Path], bool]) -> bool:
    try:
        return test(path)
    except (OSError, ValueError):
        return False


def read_documents(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationFailed(f"the file {path.name} cannot be read: {exc.strerror}", field="url") from None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(f"the file {path.name} is not JSON: {exc}", field="url") from None


def write_documents(path: Path, docs: list[Doc]) -> None:
    """Written whole or not at all: to a partial file first, renamed over ``path`` when complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(orjson.dumps(docs, option=orjson.OPT_INDENT_2))
    os.replace(partial, path)


# ----- what a job names ---------------------------------------------------------------------------
def collection(path: Any) -> str | None:
    """The resource kind ``path`` names (``productOffering``, ``/productCatalogManagement/v4/productOffering``),
    or None for the whole catalog (absent or empty)."""
    if path is None:
        return None
    if not isinstance(path, str):
        raise ValidationFailed("path names a catalog collection such as productOffering", field="path")
    last = path.strip().rstrip("/").rpartition("/")[2]
    if not last:
        return None
    if last not in COLLECTIONS:
        raise ValidationFailed(f"path must name one of {', '.join(COLLECTIONS)} (or be empty)", field="path")
    return COLLECTIONS[last]


def content_type(value: Any) -> str:
    if value is None or value == "":
        return JSON
    if not isinstance(value, str) or value.split(";")[0].strip().lower() != JSON:
        raise ValidationFailed(f"contentType: only {JSON} files are imported and exported", field="contentType")
    return JSON


def export_query(query: Any) -> ListQuery:
    """``query`` as a list query (``lifecycleStatus=active&name=...``, as on GET): every match, in order."""
    if query is None or query == "":
        return ListQuery(limit=EXPORT_LIMIT)
    if not isinstance(query, str):
        raise ValidationFailed("query is a TMF filter such as lifecycleStatus=active", field="query")
    try:
        params = parse_qsl(query.strip().lstrip("?"), keep_blank_values=True)
        parsed = parse_list_query(params, default_limit=EXPORT_LIMIT, max_limit=EXPORT_LIMIT)
    except ValidationFailed as exc:
        raise ValidationFailed(f"query: {exc.message}", field="query") from None
    except ValueError:
        raise ValidationFailed("query is a TMF filter such as lifecycleStatus=active", field="query") from None
    parsed.offset, parsed.limit = 0, EXPORT_LIMIT
    return parsed


# ----- import and export --------------------------------------------------------------------------
def _kind_of(doc: Doc) -> str | None:
    for attr in ("@type", "@baseType"):
        named = doc.get(attr)
        if isinstance(named, str) and named in SERVICES:
            return named
    return None


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


def replacing_patch(before: Any, after: Any) -> Any:
    """The merge patch that turns ``before`` into ``after`` (attributes ``after`` lacks become null)."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return after
    patch: Doc = {k: None for k in before if k not in after}
    for key, value in after.items():
        if key not in before or before[key] != value:
            patch[key] = replacing_patch(before.get(key), value)
    return patch


async def import_documents(
    ctx: Context, docs: Any, *, only: str | None = None, check: Check | None = None, job_id: str | None = None
) -> dict[str, int]:
    """Create, change or skip each document (see the module); returns how many of each. Catalogs
    the import changed, directly or through their categories, get a CatalogBatchEvent (correlated
    with ``job_id``)."""
    if not isinstance(docs, list):
        raise ValidationFailed("an import file is a JSON array of catalog documents", field="url")
    items: list[tuple[str, str, Doc]] = []
    seen: set[str] = set()
    for i, doc in enumerate(docs):
        where = f"document {i + 1} of the file"
        if not isinstance(doc, dict):
            raise ValidationFailed(f"{where} is not an object", field="@type")
        kind = _kind_of(doc)
        if kind is None:
            raise ValidationFailed(f"{where}: @type must be one of {', '.join(ORDER)}", field="@type")
        id_ = doc.get("id")
        if not isinstance(id_, str) or not 1 <= len(id_) <= 40 or not id_.strip():
            raise ValidationFailed(
                f"{where} ({kind}): id is required, 1 to 40 characters (an import keeps ids)", field="id"
            )
        if only is not None and kind != only:
            raise ValidationFailed(f"{kind} {id_}: this job imports {only} only (its path)", field="@type")
        if id_ in seen:
            raise ValidationFailed(f"{kind} {id_} is in the file twice", field="id")
        seen.add(id_)
        items.append((kind, id_, {k: v for k, v in _strip_nulls(doc).items() if k not in ("id", "href")}))
    items.sort(key=lambda item: ORDER.index(item[0]))
    stored = await repository.documents(ctx, list(seen))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    changed: set[str] = set()
    for kind, id_, data in items:
        try:
            outcome = await _import_one(ctx, kind, id_, data, stored.get(id_), check)
        except DomainError as exc:
            raise type(exc)(f"{kind} {id_}: {exc.message}", field=exc.field, status=exc.status) from None
        counts[outcome] += 1
        if outcome != "unchanged":
            changed.add(id_)
    if changed:
        await batch_events(ctx, changed, job_id)
    return counts


def _ref_ids(value: Any) -> set[str]:
    refs = value if isinstance(value, list) else [value]
    return {r["id"] for r in refs if isinstance(r, dict) and isinstance(r.get("id"), str)}


async def batch_events(ctx: Context, changed: set[str], job_id: str | None) -> None:
    """TMF620 CatalogBatchEvent, one per catalog touched by a batch of changes: the catalog itself,
    a category it lists (or one of their subcategories), or an offering in one of those categories,
    changed itself or through its specification or prices. Each event carries the catalog as it
    now is, and the job as its ``correlationId``."""
    offerings = await export_documents(ctx, only="ProductOffering")
    touched = set(changed)
    for offering in offerings:
        uses = _ref_ids(offering.get("productSpecification")) | _ref_ids(offering.get("productOfferingPrice"))
        if uses & changed:
            touched.add(offering["id"])
    categories = {c["id"]: c for c in await export_documents(ctx, only="Category")}

    def reaches(category_id: str, seen: set[str]) -> bool:
        if category_id in seen or category_id not in categories:
            return category_id in touched
        seen.add(category_id)
        category = categories[category_id]
        if category_id in touched or _ref_ids(category.get("productOffering")) & touched:
            return True
        return any(reaches(sub, seen) for sub in _ref_ids(category.get("subCategory")))

    for catalog in await export_documents(ctx, only="Catalog"):
        if catalog["id"] in touched or any(reaches(c, set()) for c in _ref_ids(catalog.get("category"))):
            await emit(
                ctx,
                api=SERVICES["Catalog"].api,
                event_type="CatalogBatchEvent",
                resource_type="catalog",
                resource=catalog,
                extra={"correlationId": job_id} if job_id else None,
            )


async def _import_one(ctx: Context, kind: str, id_: str, data: Doc, before: Doc | None, check: Check | None) -> str:
    service = SERVICES[kind]
    found = await references.resolve(ctx, id_)
    if found is not None and found.kind != kind:
        raise Conflict(f"the id is taken by a {found.kind}", field="id")
    if before is None:
        if check is not None:
            check(kind, data)
        await service.create(ctx, data, fixed_id=id_)
        return "created"
    wanted = {**data, "id": id_}
    wanted.setdefault("@type", kind)
    wanted.setdefault("lifecycleStatus", "inDesign")
    if wanted == before:
        return "unchanged"
    if kind == "ProductOfferingPrice" and before.get("lifecycleStatus") == "active":
        changed = [f for f in PRICE_FIELDS if wanted.get(f) != before.get(f)]
        if changed:
            raise Conflict(
                f"{changed[0]} differs from the active price held here: an import makes no price versions "
                "(PATCH the price, ADR 5)",
                field=changed[0],
            )

    def check_merged(merged: Doc) -> None:
        if check is not None:
            check(kind, {k: v for k, v in merged.items() if k not in ("id", "href")})

    await service.patch(ctx, id_, replacing_patch(before, wanted), check_merged)
    return "updated"


async def export_documents(ctx: Context, *, only: str | None = None, query: ListQuery | None = None) -> list[Doc]:
    """The catalog documents (of one kind, or all in import order) that match ``query``."""
    out: list[Doc] = []
    for kind in [only] if only else ORDER:
        service = SERVICES[kind]
        await service.authorize(ctx, "list", None, None)
        rows, _ = await service.store.list(ctx, query or ListQuery(limit=EXPORT_LIMIT))
        out += [{k: v for k, v in service.document(r).items() if k != "href"} for r in rows]
    return out


# ----- the jobs as TMF resources --------------------------------------------------------------------
def _caller_doc(caller: Caller) -> Doc:
    return {"id": caller.id, "kind": caller.kind, "name": caller.name, "roles": sorted(caller.roles)}


def caller_of(job: CatalogJob) -> Caller:
    """Who created ``job``: it runs as them (their roles when they created it)."""
    who = job.requested_by
    return Caller(id=who["id"], kind=who["kind"], name=who["name"], roles=frozenset(who["roles"]))


class JobService:
    """ImportJob or ExportJob: create (validated, then run after commit), list, read, delete."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        self.store = DocumentStore(CatalogJob, kind=type_name, scoped=False)

    async def create(self, ctx: Context, data: Doc, job_dir: Path) -> Doc:
        policy.check(ctx, "create")
        named = data.get("@type")
        if named in ("ImportJob", "ExportJob") and named != self.type_name:
            raise ValidationFailed(f"@type {named} is not a {self.type_name}", field="@type")
        job_id = new_id()
        collection(data.get("path"))
        doc: Doc = {k: v for k, v in data.items() if k not in SERVER_SET}
        doc["contentType"] = content_type(data.get("contentType"))
        if self.type_name == "ImportJob":
            target = resolve_file(job_dir, data.get("url"))
            if not _is(target, Path.is_file):
                raise ValidationFailed(f"url: there is no file {target.name} in the job directory", field="url")
        else:
            export_query(data.get("query"))
            if data.get("url") in (None, ""):
                target = job_dir.resolve() / f"export-{job_id}.json"
            else:
                target = resolve_file(job_dir, data["url"])
                if _is(target, Path.is_dir):
                    target = target / f"export-{job_id}.json"
                elif _is(target, Path.exists):
                    raise ValidationFailed(f"url: {target.name} exists; an export never overwrites a file", field="url")
        doc.update(id=job_id, url=target.as_uri(), status=NOT_STARTED, creationDate=_now())
        doc.setdefault("@type", self.type_name)
        row = CatalogJob(
            id=job_id,
            body=doc,
            version=1,
            kind=self.type_name,
            status=NOT_STARTED,
            file_path=str(target),
            requested_by=_caller_doc(ctx.caller),
        )
        ctx.uow.session.add(row)
        await ctx.uow.flush()
        self._audit(ctx, job_id, "create", None, doc)
        ctx.uow.after_commit(job_signal.notify)
        return doc

    async def list(self, ctx: Context, query: ListQuery) -> tuple[list[Doc], int]:
        policy.check(ctx, "list")
        rows, total = await self.store.list(ctx, query)
        return [r.body for r in rows], total

    async def get(self, ctx: Context, id_: str) -> Doc:
        policy.check(ctx, "read")
        return (await self.store.get(ctx, id_, label=self.type_name)).body

    async def delete(self, ctx: Context, id_: str) -> None:
        """The job's record (not its file). A job being run cannot be deleted until it ends."""
        policy.check(ctx, "delete")
        stmt = self.store.base(ctx).where(CatalogJob.id == id_).with_for_update(skip_locked=True)
        row = (await ctx.uow.session.execute(stmt)).scalar_one_or_none()
        if row is None:
            await self.store.get(ctx, id_, label=self.type_name)  # 404 when there is no such job
            raise Conflict(f"{self.type_name} {id_} is running; delete it once it has ended", field="status")
        body = row.body
        await ctx.uow.session.delete(row)
        await ctx.uow.flush()
        self._audit(ctx, id_, "delete", body, None)

    def _audit(self, ctx: Context, id_: str, action: str, before: Doc | None, after: Doc | None) -> None:
        audit.record(
            ctx, entity_type=self.type_name, entity_id=id_, customer_id=None, action=action, before=before, after=after
        )


imports = JobService("ImportJob")
exports = JobService("ExportJob")


# ----- running ----------------------------------------------------------------------------------------
MAX_STARTS = 3  # a job left Running this many times (its run killed the process) is failed


async def start_next(ctx: Context) -> str | None:
    """Claim the oldest job waiting to run (or left ``Running`` by a process that died: its lock went
    with it) and mark it ``Running``; None when there is none. A job that was already started
    ``MAX_STARTS`` times without ending is failed instead (its id is still returned)."""
    stmt = (
        select(CatalogJob)
        .where(CatalogJob.status.in_((NOT_STARTED, RUNNING)))
        .order_by(CatalogJob.created_at, CatalogJob.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    row = (await ctx.uow.session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return None
    if row.starts >= MAX_STARTS:
        _finish(row, FAILED, error=f"the server stopped {row.starts} times while running this job: not tried again")
        return row.id
    row.starts += 1
    if row.status != RUNNING:
        row.status, row.body, row.version = RUNNING, {**row.body, "status": RUNNING}, row.version + 1
    return row.id


async def lock_running(ctx: Context, job_id: str, *, wait: bool = False) -> CatalogJob | None:
    """The running job ``job_id``, locked for this transaction; None if it is not running, or (unless
    ``wait``) if another runner has it."""
    stmt = (
        select(CatalogJob)
        .where(CatalogJob.id == job_id, CatalogJob.status == RUNNING)
        .with_for_update(skip_locked=not wait)
    )
    return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()


def _finish(row: CatalogJob, status: str, *, error: str | None = None, summary: Doc | None = None) -> None:
    now = datetime.now(UTC)
    body = {**row.body, "status": status, "completionDate": _now()}
    if error is not None:
        body["errorLog"] = error[:4000]
    if summary is not None:
        body["summary"] = summary
    row.body, row.status, row.completed_at, row.version = body, status, now, row.version + 1


async def execute(ctx: Context, row: CatalogJob, check: Check | None) -> None:
    """Run ``row`` in ``ctx``'s transaction (the job's caller) and mark it ``Succeeded``; a
    DomainError leaves the transaction to be rolled back and the job to be failed."""
    path = Path(row.file_path)
    only = collection(row.body.get("path"))
    if row.kind == "ImportJob":
        docs = await asyncio.to_thread(read_documents, path)
        summary: Doc = await import_documents(ctx, docs, only=only, check=check, job_id=row.id)
    else:
        docs = await export_documents(ctx, only=only, query=export_query(row.body.get("query")))
        await asyncio.to_thread(write_documents, path, docs)
        summary = {"exported": len(docs)}
    _finish(row, SUCCEEDED, summary=summary)


async def fail(ctx: Context, job_id: str, error: str) -> None:
    row = await lock_running(ctx, job_id, wait=True)
    if row is not None:
        _finish(row, FAILED, error=error)


def error_log(exc: DomainError) -> str:
    if exc.field and exc.field not in exc.message:
        return f"{exc.message} (field {exc.field})"
    return exc.message
