"""Storage of resources kept as TMF documents: scoped reads, lists, merge-patch."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError

from telcrm.kit import audit
from telcrm.kit.auth import Context
from telcrm.kit.errors import Conflict, NotFound
from telcrm.kit.ids import new_id
from telcrm.kit.outbox import emit
from telcrm.kit.query import ListQuery, filter_clause

M = TypeVar("M")

MISSING = object()

DEFERRED_WRITES = "documents.deferred_writes"


@contextmanager
def deferred_writes(ctx: Context, on: bool = True) -> Iterator[None]:
    """Within the block, documents with ``direct_writes`` are written at commit
    (``UnitOfWork.defer_write``), with the others of their table in one statement, instead of one
    statement each now. For steps that read none of those rows back from the database in the
    same transaction (a capture, a result batch's orders and new products); ``on=False`` turns it
    off for an inner step that does (a bundle's products, checked against their components)."""
    before = ctx.extra.get(DEFERRED_WRITES, False)
    ctx.extra[DEFERRED_WRITES] = on
    try:
        yield
    finally:
        ctx.extra[DEFERRED_WRITES] = before


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class DocumentStore(Generic[M]):
    """Scoped reads of one model; ``kind`` narrows a shared table (e.g. Individual in party)."""

    def __init__(self, model: type[M], *, kind: str | None = None, scoped: bool = True) -> None:
        self.model = model
        self.kind = kind
        self.scoped = scoped

    def base(self, ctx: Context) -> Select[tuple[M]]:
        model: Any = self.model
        stmt = select(model)
        if self.kind is not None:
            stmt = stmt.where(model.kind == self.kind)
        if self.scoped:
            clause = ctx.caller.scope.clause(model)
            if clause is not None:
                stmt = stmt.where(clause)
        return stmt

    async def find(self, ctx: Context, id_: str, *, for_update: bool = False) -> M | None:
        model: Any = self.model
        stmt = self.base(ctx).where(model.id == id_)
        if for_update:
            stmt = stmt.with_for_update()
        return (await ctx.uow.session.execute(stmt)).scalar_one_or_none()  # type: ignore[no-any-return]

    async def get(self, ctx: Context, id_: str, *, for_update: bool = False, label: str = "resource") -> M:
        row = await self.find(ctx, id_, for_update=for_update)
        if row is None:
            raise NotFound(f"{label} {id_} not found", field="id")
        return row

    async def list(
        self, ctx: Context, query: ListQuery, *, extra: Sequence[ColumnElement[bool]] = ()
    ) -> tuple[list[M], int]:
        model: Any = self.model
        stmt = self.base(ctx)
        for clause in extra:
            stmt = stmt.where(clause)
        for f in query.filters:
            stmt = stmt.where(filter_clause(model.body, f))
        session = ctx.uow.session
        total = (await session.execute(select(func.count()).select_from(stmt.subquery()))).scalar_one()
        order: list[Any] = [
            (model.body[list(path)].desc() if desc else model.body[list(path)].asc()) for path, desc in query.sort
        ]
        order += [model.created_at, model.id]
        rows = (await session.execute(stmt.order_by(*order).offset(query.offset).limit(query.limit))).scalars().all()
        return list(rows), int(total)


class DocumentService(Generic[M]):
    """Create, read, list, merge-patch and delete a TMF resource with audit and events.

    Domain services subclass this and fill in the rules through the hooks: ``authorize``
    (policy), ``prepare`` (validate and normalise the document; return the column values),
    ``after_write`` (search keys, denormalised scope), ``before_delete`` and
    ``check_transition`` (lifecycle). The mechanics (locking, versioning, audit, events) are
    the same for every resource and live only here.
    """

    api: str  # event api name ("party")
    type_name: str  # "Individual"
    event_key: str  # key of the resource inside event payloads ("individual")
    state_attr: str | None = "status"
    events: frozenset[str] = frozenset({"Create", "AttributeValueChange", "StateChange", "Delete"})
    audit_type: str = ""
    # True: ``create`` leaves the new row to the session's next flush, so that steps of the same
    # transaction that move it on (an order going straight into fulfilment) write it once. The
    # subclass must flush before anything refers to the row; its ``after_write`` must not need it.
    defer_insert: bool = False
    # True: rows are written with plain statements (UnitOfWork.write_object) instead of the
    # session's flush; for the documents of the busy paths (ADR 10)
    direct_writes: bool = False

    def __init__(self, store: DocumentStore[M]) -> None:
        self.store = store

    # ----- hooks -------------------------------------------------------------------------
    async def authorize(self, ctx: Context, action: str, row: M | None, doc: dict[str, Any] | None) -> None:
        return None

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: M | None) -> dict[str, Any]:
        return {}

    async def after_write(self, ctx: Context, row: M, before: dict[str, Any] | None) -> None:
        return None

    async def after_events(self, ctx: Context, row: M, before: dict[str, Any] | None) -> None:
        """Runs after a create or change has been audited and its events emitted (follow-up events)."""
        return None

    async def before_delete(self, ctx: Context, row: M) -> None:
        return None

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: dict[str, Any]) -> None:
        return None

    def new_id(self) -> str:
        return new_id()

    def customer_of(self, row: M) -> str | None:
        return getattr(row, "customer_id", None)

    # ----- operations --------------------------------------------------------------------
    async def list(self, ctx: Context, query: ListQuery) -> tuple[list[dict[str, Any]], int]:
        await self.authorize(ctx, "list", None, None)
        rows, total = await self.store.list(ctx, query)
        return [self.document(r) for r in rows], total

    async def get(self, ctx: Context, id_: str) -> dict[str, Any]:
        row = await self.store.get(ctx, id_, label=self.type_name)
        await self.authorize(ctx, "read", row, None)
        return self.document(row)

    def document(self, row: M) -> dict[str, Any]:
        return row.body  # type: ignore[attr-defined, no-any-return]

    async def create(self, ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
        await self.authorize(ctx, "create", None, data)
        doc = dict(data)
        doc["id"] = await self._allocate_id(ctx)
        doc.setdefault("@type", self.type_name)
        columns = await self.prepare(ctx, doc, None)
        model: Any = self.store.model
        if self.store.kind is not None:
            columns.setdefault("kind", self.store.kind)
        row = model(id=doc["id"], body=doc, version=1, **columns)
        if not self.defer_insert:
            await self.write(ctx, row)
        elif not self.direct_writes:
            ctx.uow.session.add(row)  # the session's next flush writes it
        await self.after_write(ctx, row, None)
        self._audit(ctx, row, "create", None, doc)
        await self._emit(ctx, "Create", row, doc)
        await self.after_events(ctx, row, None)
        return doc

    async def _allocate_id(self, ctx: Context) -> str:
        return self.new_id()

    async def patch(self, ctx: Context, id_: str, patch: dict[str, Any], check: Any = None) -> dict[str, Any]:
        row: Any = await self.store.get(ctx, id_, for_update=True, label=self.type_name)
        await self.authorize(ctx, "update", row, patch)
        before: dict[str, Any] = row.body
        merged = merge_patch(before, patch)
        merged["id"] = row.id
        merged.setdefault("@type", before.get("@type", self.type_name))
        if check is not None:
            check(merged)
        state = self.state_attr
        if state is not None and before.get(state) != merged.get(state):
            self.check_transition(ctx, before.get(state), merged.get(state), merged)
        columns = await self.prepare(ctx, merged, row)
        await self._store(ctx, row, merged, columns)
        await self.after_write(ctx, row, before)
        await self._changed(ctx, row, before, merged)
        await self.after_events(ctx, row, before)
        return merged

    async def rewrite(self, ctx: Context, row: M, doc: dict[str, Any], columns: dict[str, Any]) -> dict[str, Any]:
        """Store a document the domain itself has moved on (no authorize/prepare): audit and events
        as for a patch. For internal steps such as order fulfilment, on a row the caller has locked."""
        before: dict[str, Any] = row.body  # type: ignore[attr-defined]
        await self._store(ctx, row, doc, columns)
        await self.after_write(ctx, row, before)
        await self._changed(ctx, row, before, doc)
        await self.after_events(ctx, row, before)
        return doc

    async def _store(self, ctx: Context, row: Any, doc: dict[str, Any], columns: dict[str, Any]) -> None:
        for key, value in columns.items():
            setattr(row, key, value)
        row.body = doc
        row.version = row.version + 1
        await self.write(ctx, row)

    async def write(self, ctx: Context, row: Any) -> None:
        """Store the row's new or changed values now (at commit within ``deferred_writes``)."""
        if self.direct_writes:
            if ctx.extra.get(DEFERRED_WRITES):
                ctx.uow.defer_write(row)
            else:
                await ctx.uow.write_object(row)
        else:
            ctx.uow.session.add(row)
            await ctx.uow.flush()

    async def _changed(self, ctx: Context, row: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
        if after == before:
            return
        state = self.state_attr
        self._audit(ctx, row, "update", before, after)
        others = {k for k in set(before) | set(after) if before.get(k) != after.get(k)} - {state}
        if others:
            await self._emit(ctx, "AttributeValueChange", row, after)
        if state is not None and before.get(state) != after.get(state):
            await self._emit(ctx, "StateChange", row, after)

    async def delete(self, ctx: Context, id_: str) -> None:
        row: Any = await self.store.get(ctx, id_, for_update=True, label=self.type_name)
        await self.authorize(ctx, "delete", row, None)
        await self.before_delete(ctx, row)
        body = row.body
        await ctx.uow.session.delete(row)
        try:
            await ctx.uow.flush()
        except IntegrityError:
            raise Conflict(
                f"{self.type_name} {id_} is still referenced by other records; change its status instead",
                field="id",
            ) from None
        self._audit(ctx, row, "delete", body, None)
        await self._emit(ctx, "Delete", row, body)

    # ----- shared --------------------------------------------------------------------------
    def _audit(self, ctx: Context, row: Any, action: str, before: Any, after: Any) -> None:
        audit.record(
            ctx,
            entity_type=self.audit_type or self.type_name,
            entity_id=row.id,
            customer_id=self.customer_of(row),
            action=action,
            before=before,
            after=after,
        )

    async def _emit(self, ctx: Context, kind: str, row: Any, doc: dict[str, Any]) -> None:
        if kind not in self.events:
            return
        await emit(
            ctx,
            api=self.api,
            event_type=f"{self.type_name}{kind}Event",
            resource_type=self.event_key,
            resource=doc,
            customer_id=self.customer_of(row),
        )
