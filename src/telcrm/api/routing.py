"""The routers of the API: FastAPI's, with a quick answer for paths outside their prefix."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.routing import Match
from starlette.types import Scope


class PrefixRouter(APIRouter):
    """An ``APIRouter`` that answers "no match" at once for a path outside its ``prefix``.

    FastAPI tries the included routers one after the other and, inside each, every route's
    pattern: an order placed at /tmf-api/productOrderingManagement went through some hundred
    patterns of the routers before it on every request (~0.3 ms of CPU, ADR 10). The prefix test
    only skips routers that cannot match; which route matches is unchanged."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if self.prefix:
            path: str = scope.get("path", "")
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            if not path.startswith(self.prefix):
                return Match.NONE, {}
        return super().matches(scope)
