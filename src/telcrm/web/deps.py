"""Plumbing of the screens: the signed-in caller (a session cookie), CSRF, language, transactions.

The session cookie holds the same kind of session token the API's login hands out (identity
service), so a screen and the API authenticate one way and revoke one way. The cookie is
HttpOnly and SameSite=Lax; every form and HTMX request that changes something also carries a
CSRF token derived from the session token (an HMAC), which a third-party page cannot know.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request

from telcrm.identity import service as identity
from telcrm.kit.auth import Caller, Context, hash_secret
from telcrm.kit.db import Database
from telcrm.kit.errors import Forbidden, Unauthenticated
from telcrm.kit.settings import Settings
from telcrm.web import i18n

SESSION_COOKIE = "telcrm_session"
LANG_COOKIE = "telcrm_lang"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "x-csrf-token"


class LoginRequired(Exception):
    """No valid session: the screens answer with the login page (HTMX: a redirect header)."""


def database(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def use_locale(request: Request) -> str:
    """The reader's language: ``?lang=``, else the cookie, else simplified Chinese."""
    code = i18n.choose(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))
    i18n.current.set(code)
    request.state.locale = code
    return code


async def web_caller(request: Request) -> Caller:
    use_locale(request)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired
    cache = request.app.state.token_cache
    caller = cache.get(hash_secret(token))
    if caller is None:
        try:
            async with database(request).sessions() as session:
                caller = await identity.authenticate(session, token, cache)
        except Unauthenticated as exc:
            raise LoginRequired from exc
    request.state.caller = caller
    request.state.csrf = csrf_for(token)
    return caller  # type: ignore[no-any-return]


def csrf_for(token: str) -> str:
    return hmac.new(token.encode("utf-8"), b"telcrm-csrf", hashlib.sha256).hexdigest()[:40]


def check_csrf(request: Request, form_value: object = None) -> None:
    """Refuse a change whose CSRF token (form field or header) is not this session's."""
    expected = getattr(request.state, "csrf", None)
    sent = request.headers.get(CSRF_HEADER) or (form_value if isinstance(form_value, str) else None)
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise Forbidden("the form is out of date or came from another site; reload the page", field=CSRF_FIELD)


@asynccontextmanager
async def reading(request: Request, caller: Caller, channel: str) -> AsyncIterator[Context]:
    async with database(request).read_only() as uow:
        yield Context(uow=uow, caller=caller, channel=channel)


@asynccontextmanager
async def transaction(request: Request, caller: Caller, channel: str) -> AsyncIterator[Context]:
    """One screen action, one transaction: committed when the block ends, rolled back on error."""
    async with database(request).unit_of_work() as uow:
        yield Context(uow=uow, caller=caller, channel=channel)


def channel_for(caller: Caller) -> str:
    """The channel recorded with a change made on a screen (audit, order channel)."""
    if caller.kind == "customer":
        return "webHall"
    if caller.kind == "dealer":
        return "dealer"
    if caller.has("account_manager"):
        return "accountManager"
    if caller.has("clerk"):
        return "hall"
    return "callCenter"
