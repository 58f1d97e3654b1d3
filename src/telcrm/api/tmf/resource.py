"""One function gives a TMF resource its five operations with the common mechanics.

Every resource router is built here: list (filtering, ``fields``, ``offset``/``limit``,
``X-Total-Count``/``X-Result-Count``), create (spec validation, 201 + ``Location``), read,
merge-patch (both content types), delete (204). Services receive and return TMF documents
without ``href``; hrefs are the edge's business.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, reading, settings, transaction
from telcrm.api.routing import PrefixRouter
from telcrm.api.tmf.mechanics import JSON_TYPES, json_response, parse_fields, project, read_object
from telcrm.api.tmf.spec import TmfSpec
from telcrm.kit.auth import Caller, Context
from telcrm.kit.errors import ValidationFailed
from telcrm.kit.query import ListQuery, parse_list_query

Doc = dict[str, Any]


class ResourceService(Protocol):
    async def list(self, ctx: Context, query: ListQuery) -> tuple[list[Doc], int]: ...
    async def get(self, ctx: Context, id_: str) -> Doc: ...
    async def create(self, ctx: Context, data: Doc) -> Doc: ...
    async def patch(self, ctx: Context, id_: str, patch: Doc, check: Callable[[Doc], None]) -> Doc: ...
    async def delete(self, ctx: Context, id_: str) -> None: ...


@dataclass
class TmfApi:
    name: str  # the event "api" name, e.g. "party"
    base: str  # e.g. "/tmf-api/party/v4"
    spec: TmfSpec
    title: str

    def __post_init__(self) -> None:
        self.router = PrefixRouter(prefix=self.base, tags=[self.title])

    def href(self, request: Request, path: str, id_: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{self.base}/{path}/{id_}"


def _error_responses(spec: TmfSpec, *codes: int) -> dict[int | str, dict[str, Any]]:
    return {
        code: {"description": "TMF Error", "content": {"application/json": {"schema": spec.ref("Error")}}}
        for code in codes
    }


def _strip_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    return value


@runtime_checkable
class Capturing(Protocol):
    """A service whose creation is idempotent: ``capture`` returns the document and whether it is new."""

    async def capture(self, ctx: Context, data: Doc, key: str | None) -> tuple[Doc, bool]: ...


class _Routes:
    """Registers an operation on the router only when the resource offers it."""

    def __init__(self, router: PrefixRouter, operations: frozenset[str]) -> None:
        self.router, self.operations = router, operations

    def _add(self, method: str, operation: str, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        if operation not in self.operations:
            return lambda endpoint: endpoint
        return getattr(self.router, method)(path, **kwargs)  # type: ignore[no-any-return]

    def get(self, operation: str, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self._add("get", operation, path, **kwargs)

    def post(self, operation: str, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self._add("post", operation, path, **kwargs)

    def patch(self, operation: str, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self._add("patch", operation, path, **kwargs)

    def delete(self, operation: str, path: str, **kwargs: Any) -> Callable[[Any], Any]:
        return self._add("delete", operation, path, **kwargs)


# Every resource type served, so that no endpoint accepts another's @type (filled by add_resource).
RESOURCE_TYPES: set[str] = set()


OPERATIONS = frozenset({"list", "create", "retrieve", "patch", "delete"})


def add_resource(
    api: TmfApi,
    path: str,
    type_name: str,
    service: ResourceService,
    operations: frozenset[str] = OPERATIONS,
    *,
    on_created: Callable[[Context, Doc], Awaitable[Doc]] | None = None,
) -> None:
    """The operations the spec gives the resource (all five unless ``operations`` says fewer);
    a ``Capturing`` service also honours ``Idempotency-Key`` on create. ``on_created`` adds
    attributes to a create's answer only (not stored), e.g. likely duplicates of a new customer."""
    capture = service.capture if isinstance(service, Capturing) else None
    spec, router = api.spec, api.router
    RESOURCE_TYPES.add(type_name)
    read_only = spec.read_only(type_name) | {"id", "href"}
    create_schema = f"{type_name}_Create"
    update_schema = f"{type_name}_Update" if f"{type_name}_Update" in spec.definitions else create_schema

    def check_type(doc: Doc) -> None:
        # @type may name a subclass, but not another resource of the API (an Organization at /individual)
        named = doc.get("@type")
        if isinstance(named, str) and named != type_name and (named in spec.definitions or named in RESOURCE_TYPES):
            raise ValidationFailed(f"@type {named} is not a {type_name}", field="@type")

    def render(request: Request, doc: Doc, fields: set[str] | None = None) -> Doc:
        out = {"href": api.href(request, path, doc["id"]), **doc}
        return project(out, fields)

    def body_doc(schema: str, content_types: tuple[str, ...]) -> dict[str, Any]:
        return {
            "requestBody": {
                "required": True,
                "content": {ct: {"schema": spec.ref(schema)} for ct in content_types},
            }
        }

    route = _Routes(router, operations)

    @route.get(
        "list",
        f"/{path}",
        name=f"list{type_name}",
        summary=f"List or find {type_name} objects",
        responses={
            200: {"content": {"application/json": {"schema": {"type": "array", "items": spec.ref(type_name)}}}},
            **_error_responses(spec, 400, 401, 403),
        },
    )
    async def list_resources(
        request: Request,
        caller: Caller = Depends(current_caller),
        fields: str | None = Query(None, description="Comma-separated attributes to return"),
        offset: int | None = Query(None, ge=0, description="First item to return"),
        limit: int | None = Query(None, ge=0, le=1000, description="Items per page"),
    ) -> Response:
        cfg = settings(request)
        query = parse_list_query(
            list(request.query_params.multi_items()),
            default_limit=cfg.default_page_size,
            max_limit=cfg.max_page_size,
        )
        selected = parse_fields(fields)
        async with reading(request, caller) as ctx:
            docs, total = await service.list(ctx, query)
        items = [render(request, d, selected) for d in docs]
        return json_response(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})

    @route.post(
        "create",
        f"/{path}",
        name=f"create{type_name}",
        summary=f"Create a {type_name}",
        status_code=201,
        openapi_extra=body_doc(create_schema, ("application/json",)),
        responses={
            201: {"content": {"application/json": {"schema": spec.ref(type_name)}}},
            **(
                {
                    200: {
                        "description": "The order first captured with this key",
                        "content": {"application/json": {"schema": spec.ref(type_name)}},
                    }
                }
                if capture is not None
                else {}
            ),
            **_error_responses(spec, 400, 401, 403, 409),
        },
    )
    async def create_resource(request: Request, caller: Caller = Depends(current_caller)) -> Response:
        data = await read_object(request)
        for key in ("id", "href"):
            if key in data:
                raise ValidationFailed(f"{key} is assigned by the server", field=key)
        spec.validate(create_schema, data)
        check_type(data)
        first = True
        extra: Doc = {}
        if capture is not None:
            # idempotent creation (TMF622 orders): a repeated Idempotency-Key answers 200 with the first
            idem = request.headers.get("idempotency-key")
            if idem is not None and not 1 <= len(idem) <= 200:
                raise ValidationFailed("Idempotency-Key is 1 to 200 characters", field="Idempotency-Key")
            async with transaction(request, caller) as ctx:
                doc, first = await capture(ctx, data, idem)
        else:
            async with transaction(request, caller) as ctx:
                doc = await service.create(ctx, data)
                extra = await on_created(ctx, doc) if on_created is not None else {}
        out = {**render(request, doc), **extra}
        return json_response(out, status=201 if first else 200, headers={"Location": out["href"]})

    @route.get(
        "retrieve",
        f"/{path}/{{id}}",
        name=f"retrieve{type_name}",
        summary=f"Retrieve a {type_name} by id",
        responses={
            200: {"content": {"application/json": {"schema": spec.ref(type_name)}}},
            **_error_responses(spec, 400, 401, 403, 404),
        },
    )
    async def get_resource(
        id: str,
        request: Request,
        caller: Caller = Depends(current_caller),
        fields: str | None = Query(None, description="Comma-separated attributes to return"),
    ) -> Response:
        selected = parse_fields(fields)
        async with reading(request, caller) as ctx:
            doc = await service.get(ctx, id)
        return json_response(render(request, doc, selected))

    @route.patch(
        "patch",
        f"/{path}/{{id}}",
        name=f"patch{type_name}",
        summary=f"Update a {type_name} (JSON merge patch)",
        openapi_extra=body_doc(update_schema, JSON_TYPES),
        responses={
            200: {"content": {"application/json": {"schema": spec.ref(type_name)}}},
            **_error_responses(spec, 400, 401, 403, 404, 409),
        },
    )
    async def patch_resource(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
        patch = await read_object(request, allowed=JSON_TYPES)
        for key in sorted(read_only & set(patch)):
            raise ValidationFailed(f"{key} cannot be changed", field=key)
        spec.validate(update_schema, _strip_nulls(patch), partial=True)
        check_type(patch)

        def check(merged: Doc) -> None:
            spec.validate(create_schema, {k: v for k, v in merged.items() if k not in read_only})

        async with transaction(request, caller) as ctx:
            doc = await service.patch(ctx, id, patch, check)
        return json_response(render(request, doc))

    @route.delete(
        "delete",
        f"/{path}/{{id}}",
        name=f"delete{type_name}",
        summary=f"Delete a {type_name}",
        status_code=204,
        responses=_error_responses(spec, 400, 401, 403, 404, 409),
    )
    async def delete_resource(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
        async with transaction(request, caller) as ctx:
            await service.delete(ctx, id)
        return Response(status_code=204)
