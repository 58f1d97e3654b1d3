"""TMF620 ``/importJob`` and ``/exportJob``: create (201, run after commit), list, retrieve, delete (ADR 14)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Query, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, reading, settings, transaction
from telcrm.api.tmf.mechanics import json_response, parse_fields, project, read_object
from telcrm.api.tmf.resource import TmfApi, _error_responses
from telcrm.catalog import jobs
from telcrm.kit.auth import Caller
from telcrm.kit.errors import ValidationFailed
from telcrm.kit.query import parse_list_query

Doc = dict[str, Any]


def add_jobs(api: TmfApi) -> None:
    _add(api, "importJob", jobs.imports)
    _add(api, "exportJob", jobs.exports)


def _add(api: TmfApi, path: str, service: jobs.JobService) -> None:
    spec, router, type_name = api.spec, api.router, service.type_name
    schema = f"{type_name}_Create"

    def render(request: Request, doc: Doc, fields: set[str] | None = None) -> Doc:
        return project({"href": api.href(request, path, doc["id"]), **doc}, fields)

    @router.get(
        f"/{path}",
        name=f"list{type_name}",
        summary=f"List or find {type_name} objects",
        responses={
            200: {"content": {"application/json": {"schema": {"type": "array", "items": spec.ref(type_name)}}}},
            **_error_responses(spec, 400, 401, 403),
        },
    )
    async def list_jobs(
        request: Request,
        caller: Caller = Depends(current_caller),
        fields: str | None = Query(None, description="Comma-separated attributes to return"),
        offset: int | None = Query(None, ge=0, description="First item to return"),
        limit: int | None = Query(None, ge=0, le=1000, description="Items per page"),
    ) -> Response:
        cfg = settings(request)
        query = parse_list_query(
            list(request.query_params.multi_items()), default_limit=cfg.default_page_size, max_limit=cfg.max_page_size
        )
        selected = parse_fields(fields)
        async with reading(request, caller) as ctx:
            docs, total = await service.list(ctx, query)
        items = [render(request, d, selected) for d in docs]
        return json_response(items, headers={"X-Total-Count": str(total), "X-Result-Count": str(len(items))})

    @router.post(
        f"/{path}",
        name=f"create{type_name}",
        summary=f"Create a {type_name}: it runs once this request has committed",
        status_code=201,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": spec.ref(schema)}}}
        },
        responses={
            201: {"content": {"application/json": {"schema": spec.ref(type_name)}}},
            **_error_responses(spec, 400, 401, 403),
        },
    )
    async def create_job(request: Request, caller: Caller = Depends(current_caller)) -> Response:
        data = await read_object(request)
        for key in ("id", "href"):
            if key in data:
                raise ValidationFailed(f"{key} is assigned by the server", field=key)
        # an export may leave url out: the server names the file (ADR 14)
        spec.validate(schema, data if "url" in data or type_name == "ImportJob" else {**data, "url": ""})
        async with transaction(request, caller) as ctx:
            doc = await service.create(ctx, data, settings(request).jobs_dir)
        out = render(request, doc)
        return json_response(out, status=201, headers={"Location": out["href"]})

    @router.get(
        f"/{path}/{{id}}",
        name=f"retrieve{type_name}",
        summary=f"Retrieve a {type_name} by id",
        responses={
            200: {"content": {"application/json": {"schema": spec.ref(type_name)}}},
            **_error_responses(spec, 400, 401, 403, 404),
        },
    )
    async def get_job(
        id: str,
        request: Request,
        caller: Caller = Depends(current_caller),
        fields: str | None = Query(None, description="Comma-separated attributes to return"),
    ) -> Response:
        selected = parse_fields(fields)
        async with reading(request, caller) as ctx:
            doc = await service.get(ctx, id)
        return json_response(render(request, doc, selected))

    @router.delete(
        f"/{path}/{{id}}",
        name=f"delete{type_name}",
        summary=f"Delete a {type_name} (its record; not the file)",
        status_code=204,
        responses=_error_responses(spec, 400, 401, 403, 404, 409),
    )
    async def delete_job(id: str, request: Request, caller: Caller = Depends(current_caller)) -> Response:
        async with transaction(request, caller) as ctx:
            await service.delete(ctx, id)
        return Response(status_code=204)
