"""The agent desktop: sign-in, the one search box, the customer page and its live updates."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from telcrm.customer import service as customers
from telcrm.customer import view
from telcrm.identity import service as identity
from telcrm.kit import live
from telcrm.kit.auth import STAFF_ROLES, Caller
from telcrm.kit.errors import Forbidden, Unauthenticated
from telcrm.kit.query import ListQuery
from telcrm.ordering import service as ordering
from telcrm.search import service as search
from telcrm.web import i18n, names
from telcrm.web.deps import (
    LANG_COOKIE,
    SESSION_COOKIE,
    check_csrf,
    database,
    reading,
    settings,
    use_locale,
    web_caller,
)
from telcrm.web.i18n import gettext_ as _
from telcrm.web.render import is_htmx, render

router = APIRouter(include_in_schema=False)

PAGE = 20
HEARTBEAT_SECONDS = 15.0


def staff_only(caller: Caller) -> None:
    """The desktop is for staff and dealers; a self-service customer has the web hall."""
    if caller.kind == "customer" or not (caller.roles & (STAFF_ROLES | {"dealer"})):
        raise Forbidden(_("This screen is for staff. Customers use the web hall."))


async def desk_caller(request: Request) -> Caller:
    caller = await web_caller(request)
    staff_only(caller)
    return caller


def _safe_next(target: str | None, default: str) -> str:
    """Only a path on this site: never redirect a login to another host."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    return target


def home_for(caller: Caller) -> str:
    return "/hall" if caller.kind == "customer" else "/desk"


@router.get("/")
async def root(request: Request) -> Response:
    try:
        caller = await web_caller(request)
    except Exception:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(home_for(caller), status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    use_locale(request)
    return render(request, "login.html", next=_safe_next(next, ""), error=None, username="")


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),
) -> Response:
    use_locale(request)
    if not username or not password:
        return render(
            request, "login.html", status=400, next=next, username=username,
            error=_("Enter your username and password."),
        )  # fmt: skip
    try:
        async with database(request).unit_of_work() as uow:
            token, caller = await identity.login(
                uow.session, username[:200], password[:1000], settings(request).session_hours
            )
    except Unauthenticated:
        return render(
            request, "login.html", status=401, next=next, username=username,
            error=_("Unknown username or wrong password."),
        )  # fmt: skip
    response = RedirectResponse(_safe_next(next, home_for(caller)), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=settings(request).environment == "production",
        max_age=settings(request).session_hours * 3600,
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    await web_caller(request)
    check_csrf(request, (await request.form()).get("_csrf"))
    token = request.cookies.get(SESSION_COOKIE, "")
    async with database(request).unit_of_work() as uow:
        await identity.logout(uow.session, token)
    request.app.state.token_cache.clear()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def choose_language(code: str, request: Request, back: str | None = None) -> Response:
    chosen = i18n.choose(code)
    if back is None and (referer := request.headers.get("referer")):
        parts = urlsplit(referer)
        if parts.netloc == request.url.netloc:
            back = parts.path + (f"?{parts.query}" if parts.query else "")
    response = RedirectResponse(_safe_next(back, "/"), status_code=303)
    response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/desk")
async def desk_home(request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    portfolio: list[dict[str, Any]] = []
    total = 0
    async with reading(request, caller, "web") as ctx:
        if not caller.scope.everything:  # an account manager's portfolio, a dealer's customers
            portfolio, total = await customers.customers.list(
                ctx, ListQuery(offset=0, limit=50, sort=[(("name",), False)])
            )
        held, held_total = await ordering.orders.held(ctx, 20)
        await names.name_offerings(ctx, held)
    return render(
        request, "desk/home.html", portfolio=portfolio, portfolio_total=total, held=held, held_total=held_total, q=""
    )


@router.get("/desk/search")
async def desk_search(
    request: Request,
    q: str = Query("", max_length=100),
    page: int = Query(1, ge=1, le=500),
    caller: Caller = Depends(desk_caller),
) -> Response:
    q = q.strip()
    items: list[dict[str, Any]] = []
    total = 0
    if q:
        async with reading(request, caller, "web") as ctx:
            items, total = await search.search_customers(ctx, q, (page - 1) * PAGE, PAGE)
        if len(items) == 1 and page == 1 and total == 1 and not is_htmx(request):
            return RedirectResponse(f"/desk/customers/{quote(items[0]['id'])}", status_code=303)
    template = "desk/_results.html" if is_htmx(request) else "desk/search.html"
    pages = max(1, -(-total // PAGE))
    return render(request, template, q=q, items=items, total=total, page=page, pages=pages)


async def customer_view(request: Request, caller: Caller, customer_id: str) -> dict[str, Any]:
    async with reading(request, caller, "web") as ctx:
        data: dict[str, Any] = orjson.loads(await view.customer_360_json(ctx, customer_id))
        await names.name_offerings(ctx, data["orders"])
    return data


@router.get("/desk/customers/{customer_id}")
async def customer_page(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    data = await customer_view(request, caller, customer_id)
    template = "desk/_customer_body.html" if is_htmx(request) else "desk/customer.html"
    return render(request, template, v=data, customer_id=customer_id)


async def stream(request: Request, topics: list[str]) -> AsyncIterator[bytes]:
    """Server-sent events: ``changed`` whenever a committed change touches ``topics``."""
    async with live.subscribe(topics) as queue:
        yield b"retry: 3000\n\n"
        while True:
            try:
                touched = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            await asyncio.sleep(0.15)  # a burst of commits (an order and its work orders): one reload
            while not queue.empty():
                touched = touched | queue.get_nowait()
            yield b"event: changed\ndata: " + " ".join(sorted(touched)).encode() + b"\n\n"


def sse(request: Request, topics: list[str]) -> StreamingResponse:
    return StreamingResponse(
        stream(request, topics),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/desk/customers/{customer_id}/live")
async def customer_live(customer_id: str, request: Request, caller: Caller = Depends(desk_caller)) -> Response:
    async with reading(request, caller, "web") as ctx:
        await customers.customers.get(ctx, customer_id)  # 404 when unknown or out of the caller's scope
    return sse(request, [live.customer_topic(customer_id)])
