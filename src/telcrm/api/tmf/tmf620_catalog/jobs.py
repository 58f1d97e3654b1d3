"""TMF620 ``/importJob`` and ``/exportJob``: create (201, run after commit), list, retrieve, delete (ADR 14)."""

from __future__ import annotations

from typing import Any, cast

from fastapi import Depends, Request
from fastapi.responses import Response

from telcrm.api.deps import current_caller, settings, transaction
from telcrm.api.tmf.mechanics import json_response, project, read_object
from telcrm.api.tmf.resource import ResourceService, TmfApi, _error_responses, add_resource
from telcrm.catalog import jobs
from telcrm.kit.auth import Caller
from telcrm.kit.errors import ValidationFailed

Doc = dict[str, Any]


def add_jobs(api: TmfApi) -> None:
    _add(api, "importJob", jobs.imports)
    _add(api, "exportJob", jobs.exports)


def _add(api: TmfApi, path: str, service: jobs.JobService) -> None:
    """List, retrieve and delete are any resource's (``add_resource``); create is the job's own:
    it is always new (201), names its file in the job directory, and an export may leave out
    ``url``."""
    spec, router, type_name = api.spec, api.router, service.type_name
    schema = f"{type_name}_Create"
    # a job service has no patch and its create takes the job directory: only these three are used
    add_resource(api, path, type_name, cast(ResourceService, service), frozenset({"list", "retrieve", "delete"}))

    def render(request: Request, doc: Doc, fields: set[str] | None = None) -> Doc:
        return project({"href": api.href(request, path, doc["id"]), **doc}, fields)

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
