"""The FastAPI application: routers registered explicitly, errors in the TMF shape."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

import telcrm
from telcrm import web
from telcrm.api import auth, customers, orders, provisioning, resolution
from telcrm.api.tmf.mechanics import error_response, json_response
from telcrm.api.tmf.resource import TmfApi
from telcrm.api.tmf.spec import ACCOUNT, CATALOG, CUSTOMER, INVENTORY, ORDERING, PARTY, PARTY_ROLE
from telcrm.api.tmf.tmf620_catalog import router as tmf620
from telcrm.api.tmf.tmf622_ordering import router as tmf622
from telcrm.api.tmf.tmf629_customer import router as tmf629
from telcrm.api.tmf.tmf632_party import router as tmf632
from telcrm.api.tmf.tmf637_inventory import router as tmf637
from telcrm.api.tmf.tmf666_account import router as tmf666
from telcrm.api.tmf.tmf669_party_role import router as tmf669
from telcrm.identity.service import TokenCache
from telcrm.kit import cache, live
from telcrm.kit.db import Database
from telcrm.kit.embedded import resolve_database_url
from telcrm.kit.errors import DomainError, ValidationFailed
from telcrm.kit.settings import Settings, get_settings
from telcrm.worker.catalog_jobs import CatalogJobRunner
from telcrm.worker.dispatcher import Dispatcher
from telcrm.worker.provisioning import WorkOrderSender

log = logging.getLogger(__name__)

TMF_APIS: list[TmfApi] = [tmf632.api, tmf629.api, tmf666.api, tmf669.api, tmf620.api, tmf637.api, tmf622.api]
# Where each event resource lives, for hrefs in events: (api name, event key) -> path.
RESOURCE_PATHS = {
    ("party", "individual"): "individual",
    ("party", "organization"): "organization",
    ("customer", "customer"): "customer",
    ("customer", "user"): None,
    ("partyRole", "partyRole"): "partyRole",
    ("account", "billingAccount"): "billingAccount",
    ("account", "partyAccount"): "partyAccount",
    ("account", "settlementAccount"): "settlementAccount",
    ("account", "financialAccount"): "financialAccount",
    ("productCatalog", "catalog"): "catalog",
    ("productCatalog", "category"): "category",
    ("productCatalog", "productSpecification"): "productSpecification",
    ("productCatalog", "productOffering"): "productOffering",
    ("productCatalog", "productOfferingPrice"): "productOfferingPrice",
    ("productInventory", "product"): "product",
    ("productOrdering", "productOrder"): "productOrder",
    ("productOrdering", "cancelProductOrder"): "cancelProductOrder",
}


def href_builder(base_url: str):  # type: ignore[no-untyped-def]
    bases = {api.name: api.base for api in TMF_APIS}

    def href_for(api: str, resource_type: str, id_: str) -> str | None:
        path = RESOURCE_PATHS.get((api, resource_type))
        if path is None or api not in bases:
            return None
        return f"{base_url.rstrip('/')}{bases[api]}/{path}/{id_}"

    return href_for


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if db is None:
            url = resolve_database_url(settings.database_url, settings.data_dir)
            app.state.db = Database(url, pool_size=settings.db_pool_size)
        if settings.db_pool_warm:
            await app.state.db.warm(min(settings.db_pool_warm, app.state.db.keep))
        # this process's copies of the catalog and hub subscriptions, kept while it listens (kit.cache)
        listening = asyncio.create_task(cache.listen(app.state.db.url))
        # committed changes told to open screens (server-sent events, kit.live)
        watching = asyncio.create_task(live.listen(app.state.db.url))
        # and the topics of this process's commits sent to every process's listener (kit.live, ADR 16)
        telling = asyncio.create_task(live.tell(app.state.db.url))
        task = None
        if settings.run_dispatcher:
            dispatcher = Dispatcher(
                app.state.db,
                href_builder(settings.base_url),
                max_attempts=settings.delivery_max_attempts,
                timeout=settings.delivery_timeout_seconds,
                interval=settings.sweeper_interval_seconds,
            )
            task = asyncio.create_task(dispatcher.run_forever())
            sender = WorkOrderSender(
                app.state.db,
                settings.provisioning_url,
                f"{settings.base_url.rstrip('/')}/api/provisioning/workOrderResults",
                batch=settings.work_order_batch,
                interval=settings.sweeper_interval_seconds,
                resend_after=settings.work_order_resend_seconds,
                linger=settings.work_order_linger_seconds,
            )
            sending = asyncio.create_task(sender.run_forever())
            # TMF620 import and export jobs, run after the request that created them commits (ADR 14)
            running_jobs = asyncio.create_task(
                CatalogJobRunner(app.state.db, interval=settings.sweeper_interval_seconds).run_forever()
            )
        # Everything allocated at start-up lives as long as the process: keep it out of the
        # collector's way, so full collections stay short and rare (request latency tails). A request
        # allocates thousands of short-lived objects, nearly all freed by reference counting: a young
        # generation of 20,000 (not 700) spares most collections (server CPU per order -9%, ADR 10).
        gc.collect()
        gc.freeze()
        gc.set_threshold(20_000, 50, 100)
        try:
            yield
        finally:
            for listener in (listening, watching):
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            if task is not None:
                for running in (task, sending, running_jobs):
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await running
                await dispatcher.close()
                await sender.close()
            # last: what the loops above committed while stopping is still told
            telling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await telling
            if db is None:
                await app.state.db.dispose()

    app = FastAPI(
        title="telcrm",
        version=telcrm.__version__,
        description="Customer-centric support system for telecom operators: TM Forum Open APIs "
        "(TMF632 Party, TMF629 Customer, TMF666 Account, TMF669 Party Role, TMF620 Product Catalog, "
        "TMF637 Product Inventory, TMF622 Product Ordering), "
        "customer 360 and search. "
        "Authenticate with `Authorization: Bearer <API key or session token>`.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    # provisioning's result reports are applied one at a time in this process (api.provisioning)
    app.state.result_intake = asyncio.Lock()
    app.state.token_cache = TokenCache(settings.auth_cache_seconds)
    if db is not None:
        app.state.db = db

    # Registered explicitly, the busiest first (routes are matched in order).
    app.include_router(customers.router)
    for api in TMF_APIS:
        app.include_router(api.router)
    app.include_router(orders.router)
    app.include_router(orders.numbers_router)
    app.include_router(provisioning.router)
    app.include_router(auth.router)
    app.include_router(resolution.router)
    web.install(app)  # the agent desktop and the web hall

    @app.get("/health", tags=["Health"], summary="Liveness and database check (no authentication)")
    async def health(request: Request) -> Response:
        try:
            async with request.app.state.db.sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # the point of a health check is to report this, not to fail
            return json_response({"status": "unavailable", "database": str(exc)[:200]}, status=503)
        return json_response({"status": "ok", "version": telcrm.__version__})

    _install_error_handlers(app)
    _install_openapi(app)
    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if web.handles(request):
            return web.error_page(request, exc)
        reason = {
            400: "Bad Request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not Found",
            409: "Conflict",
            415: "Unsupported Media Type",
        }.get(exc.status, "Error")
        response = error_response(exc.status, exc.code, reason, exc.message, exc.field)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        loc = [str(p) for p in first.get("loc", []) if p not in ("query", "path", "body", "header")]
        field = ".".join(loc) or "request"
        if web.handles(request):
            return web.error_page(request, ValidationFailed(f"{field}: {first.get('msg', 'invalid')}", field=field))
        return error_response(400, "INVALID_VALUE", "Bad Request", f"{field}: {first.get('msg', 'invalid')}", field)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if web.handles(request):
            return web.error_page(request, DomainError(str(exc.detail), field=None, status=exc.status_code))
        reasons = {404: "Not Found", 405: "Method Not Allowed"}
        return error_response(
            exc.status_code, str(exc.status_code), reasons.get(exc.status_code, "Error"), str(exc.detail)
        )

    # the same from SQLAlchemy and from the statements run on psycopg directly (kit.db.Prebuilt)
    async def data_error(request: Request, exc: Exception) -> Response:
        log.warning("database refused a value: %s", getattr(exc, "orig", exc))
        return error_response(400, "INVALID_VALUE", "Bad Request", "a value is out of the range the database accepts")

    async def integrity_error(request: Request, exc: Exception) -> Response:
        # a unique value taken by a request racing this one (the rules check it first)
        log.warning("database refused a write: %s", getattr(exc, "orig", exc))
        return error_response(409, "CONFLICT", "Conflict", "a value that must be unique was taken meanwhile; retry")

    for data_errors in (DataError, psycopg.DataError):
        app.add_exception_handler(data_errors, data_error)
    for integrity_errors in (IntegrityError, psycopg.IntegrityError):
        app.add_exception_handler(integrity_errors, integrity_error)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "INTERNAL_ERROR", "Internal Server Error", "the server failed; it has been logged")


def _install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for spec in (PARTY, CUSTOMER, ACCOUNT, PARTY_ROLE, CATALOG, INVENTORY, ORDERING):
            components.update(spec.openapi_schemas())
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
