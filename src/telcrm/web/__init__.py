"""The screens: the agent desktop (``/desk``) and the web self-service hall (``/hall``).

Server-rendered Jinja2 + HTMX over the same services as the API, with the same permission rules
(ADR 13). ``install(app)`` adds the routes, the static files and the HTML error pages.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from telcrm.kit.errors import DomainError
from telcrm.web import customers, desk, hall, ordering
from telcrm.web.deps import LoginRequired, use_locale
from telcrm.web.render import STATIC, is_htmx, render

PREFIXES = ("/desk", "/hall", "/login", "/logout", "/lang")


def handles(request: Request) -> bool:
    """Whether ``request`` is for a screen (answered in HTML), not for the API."""
    path = request.url.path
    return path == "/" or path.startswith(PREFIXES)


def error_page(request: Request, exc: DomainError) -> Response:
    use_locale(request)
    if is_htmx(request):  # shown in place of the part that asked
        return render(request, "_error.html", status=exc.status, error=exc)
    return render(request, "error.html", status=exc.status, error=exc)


def install(app: FastAPI) -> None:
    app.include_router(customers.router)  # before desk: /desk/customers/new is not a customer id
    app.include_router(desk.router)
    app.include_router(ordering.router)
    app.include_router(hall.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        login = f"/login?next={quote(target)}"
        if is_htmx(request):
            return Response(status_code=401, headers={"HX-Redirect": login})
        if request.url.path.endswith("/live"):
            return Response(status_code=401)
        return RedirectResponse(login, status_code=303)

    @app.exception_handler(hall.NotACustomer)
    async def not_a_customer(request: Request, exc: hall.NotACustomer) -> Response:
        if request.url.path.endswith("/live"):
            return Response(status_code=403)
        if is_htmx(request):
            return Response(status_code=403, headers={"HX-Redirect": "/desk"})
        return RedirectResponse("/desk", status_code=303)
