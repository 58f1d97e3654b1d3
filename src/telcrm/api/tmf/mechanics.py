"""TMF API mechanics written once: bodies in, documents out, fields, paging headers, errors."""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from fastapi import Request
from fastapi.responses import Response

from telcrm.kit.errors import DomainError, ValidationFailed

JSON_TYPES = ("application/json", "application/merge-patch+json")
ALWAYS_KEPT = ("id", "href", "@type")
MAX_BODY = 1_000_000


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _int64(text: str) -> int:
    value = int(text)  # more than 4300 digits raise ValueError here
    if not -(2**63) <= value < 2**63:
        raise ValueError("integer out of the 64-bit range")
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_strings(value: Any, depth: int = 0) -> None:
    if depth > 32:
        raise ValidationFailed("the JSON body is nested too deeply", field="body")
    if isinstance(value, str):
        if "\x00" in value:
            raise ValidationFailed("strings must not contain NUL characters", field="body")
    elif isinstance(value, dict):
        for k, v in value.items():
            if "\x00" in k:
                raise ValidationFailed("attribute names must not contain NUL characters", field="body")
            _check_strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_strings(v, depth + 1)


async def read_json(request: Request, *, allowed: tuple[str, ...] = ("application/json",)) -> Any:
    """The request body as JSON, or a 400/415 TMF error naming what is wrong."""
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type not in allowed:
        raise UnsupportedMediaType(f"content type must be one of {', '.join(allowed)}", field="Content-Type")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise ValidationFailed("the body is larger than 1 MB", field="body")
    try:
        value = json.loads(raw, parse_float=_finite_float, parse_int=_int64, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ValidationFailed(f"the body is not valid JSON: {exc}", field="body") from None
    _check_strings(value)
    return value


async def read_object(request: Request, *, allowed: tuple[str, ...] = ("application/json",)) -> dict[str, Any]:
    value = await read_json(request, allowed=allowed)
    if not isinstance(value, dict):
        raise ValidationFailed("the body must be a JSON object", field="body")
    return value


class UnsupportedMediaType(DomainError):
    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


def parse_fields(fields: str | None) -> set[str] | None:
    if fields is None or fields.strip() in ("", "*"):
        return None
    if "\x00" in fields:
        raise ValidationFailed("fields must not contain NUL characters", field="fields")
    return {f.strip().split(".")[0] for f in fields.split(",") if f.strip()}


def project(doc: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
    if fields is None:
        return doc
    return {k: v for k, v in doc.items() if k in fields or k in ALWAYS_KEPT}


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=orjson.dumps(content), status_code=status, headers=headers, media_type="application/json")


def error_body(status: int, code: str, reason: str, message: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "reason": reason,
        "message": message,
        "status": str(status),
        "@type": "Error",
    }
    if field:
        body["@type"] = "FieldError"
        body["@baseType"] = "Error"
        body["field"] = field
    return body


def error_response(status: int, code: str, reason: str, message: str, field: str | None = None) -> Response:
    return json_response(error_body(status, code, reason, message, field), status=status)
