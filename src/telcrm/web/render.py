"""Jinja2 rendering for the screens: one environment, translated strings, shared page context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, Environment, FileSystemLoader, select_autoescape

from telcrm.web import i18n

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
HTMX = "htmx-2.0.11.min.js"
HTMX_SSE = "htmx-ext-sse-2.2.4.min.js"


def _gettext(message: str) -> str:
    return i18n.catalog(i18n.current.get()).gettext(message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.catalog(i18n.current.get()).ngettext(singular, plural, n)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["money"] = i18n.money
    env.filters["number"] = i18n.number
    env.filters["when"] = i18n.when
    env.globals["LOCALES"] = i18n.LOCALES
    env.globals["domain_message"] = i18n.domain_message
    env.globals["HTMX"] = HTMX
    env.globals["HTMX_SSE"] = HTMX_SSE
    return env


ENV = _environment()


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered in the reader's language, with the page's common values."""
    if hasattr(request.state, "locale"):
        i18n.current.set(request.state.locale)
    page = {
        "request": request,
        "caller": getattr(request.state, "caller", None),
        "csrf": getattr(request.state, "csrf", ""),
        "lang": i18n.current.get(),
        "html_lang": i18n.html_lang(),
        "htmx": is_htmx(request),
        **context,
    }
    html = ENV.get_template(template).render(page)
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})
