"""The TM Forum v4 specifications we implement, vendored verbatim in ``specs/``.

Request bodies are validated against the spec's own ``<Resource>_Create`` / ``_Update``
definitions, and the same definitions are published in our OpenAPI document, so the docs, the
validation and the spec cannot drift apart.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError

from telcrm.kit.errors import ValidationFailed

SPEC_DIR = Path(__file__).parent / "specs"

_formats = FormatChecker(formats=())


@_formats.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})?)?", value):
        raise ValueError("not an RFC 3339 date-time")
    datetime.fromisoformat(value.replace("z", "Z").replace("t", "T"))
    return True


@_formats.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        datetime.strptime(value, "%Y-%m-%d")
    return True


def _accepts(check: Any) -> Any:
    def accepts(value: str) -> bool:
        try:
            return bool(check(value))
        except ValueError:
            return False

    return accepts


def _any(value: str) -> bool:
    return True


# The same two formats for the fast validator; the others the specs use are not checked by either.
_RS_FORMATS = {"date-time": _accepts(_is_datetime), "date": _accepts(_is_date), "uri": _any, "float": _any}


class TmfSpec:
    """One API's Swagger 2.0 document."""

    def __init__(self, filename: str, prefix: str) -> None:
        self.doc: dict[str, Any] = json.loads((SPEC_DIR / filename).read_text(encoding="utf-8"))
        self.prefix = prefix  # e.g. "TMF632" to keep definition names apart in our OpenAPI
        self._validators: dict[str, Draft4Validator] = {}
        self._fast: dict[str, Any] = {}

    @property
    def definitions(self) -> dict[str, Any]:
        return self.doc["definitions"]  # type: ignore[no-any-return]

    def validator(self, name: str) -> Draft4Validator:
        if name not in self._validators:
            schema = {"$ref": f"#/definitions/{name}", "definitions": self.definitions}
            self._validators[name] = Draft4Validator(schema, format_checker=_formats)
        return self._validators[name]

    def fast(self, name: str) -> Any:
        """The same definition compiled by jsonschema-rs: about a hundred times faster on a valid body,
        so it decides "valid"; the jsonschema validator still finds and words what is wrong."""
        if name not in self._fast:
            schema = {"$ref": f"#/definitions/{name}", "definitions": self.definitions}
            try:
                self._fast[name] = jsonschema_rs.Draft4Validator(schema, formats=_RS_FORMATS, validate_formats=True)
            except Exception:  # a definition it cannot compile: the jsonschema validator alone
                self._fast[name] = None
        return self._fast[name]

    def validate(self, name: str, instance: Any, *, partial: bool = False) -> None:
        """Raise ValidationFailed naming the first offending field.

        ``partial`` is for a merge patch, which names only what changes: the top-level
        ``required`` lists some TMF v4 ``_Update`` definitions carry do not apply to it (the
        merged document is validated against ``_Create`` afterwards).
        """
        fast = self.fast(name)
        if fast is not None and fast.is_valid(instance):
            return  # valid in full, so valid as a partial too
        errors = sorted(
            (
                e
                for e in self.validator(name).iter_errors(instance)
                if not (partial and e.validator == "required" and not e.absolute_path)
            ),
            key=_error_order,
        )
        if errors:
            raise _as_failure(errors[0])

    def read_only(self, resource: str) -> set[str]:
        """Attributes of the full resource that ``_Update`` does not allow to be patched."""
        full = set(self.definitions[resource].get("properties", {}))
        update = set(self.definitions.get(f"{resource}_Update", {}).get("properties", {}))
        return full - update if update else set()

    def openapi_schemas(self) -> dict[str, Any]:
        """The definitions as OpenAPI 3 component schemas, names prefixed with the API number."""
        text = json.dumps(self.definitions).replace('"#/definitions/', f'"#/components/schemas/{self.prefix}_')
        converted: dict[str, Any] = json.loads(text)
        for schema in converted.values():
            if isinstance(schema.get("discriminator"), str):
                schema["discriminator"] = {"propertyName": schema["discriminator"]}
        return {f"{self.prefix}_{k}": v for k, v in converted.items()}

    def ref(self, name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{self.prefix}_{name}"}


def _error_order(error: SchemaError) -> tuple[int, str]:
    return (len(error.absolute_path), str(list(error.absolute_path)))


def field_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _as_failure(error: SchemaError) -> ValidationFailed:
    parts = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [name for name in error.validator_value if name not in error.instance]
        if missing:
            parts.append(missing[0])
            return ValidationFailed(f"{field_path(parts)} is required", field=field_path(parts))
    name = field_path(parts) or "body"
    if error.validator == "type":
        message = f"{name} must be of type {error.validator_value}"
    elif error.validator == "enum":
        message = f"{name} must be one of {', '.join(map(str, error.validator_value))}"
    elif error.validator == "format":
        message = f"{name} must be a valid {error.validator_value}"
    else:
        message = f"{name}: {error.message}"
    return ValidationFailed(message, field=name)


@cache
def spec(filename: str, prefix: str) -> TmfSpec:
    return TmfSpec(filename, prefix)


PARTY = spec("TMF632-PartyManagement-v4.0.0.json", "TMF632")
CUSTOMER = spec("TMF629-CustomerManagement-v4.0.0.json", "TMF629")
ACCOUNT = spec("TMF666-AccountManagement-v4.0.0.json", "TMF666")
PARTY_ROLE = spec("TMF669-PartyRole-v4.0.0.json", "TMF669")
CATALOG = spec("TMF620-ProductCatalog-v4.0.0.json", "TMF620")
INVENTORY = spec("TMF637-ProductInventory-v4.0.0.json", "TMF637")
ORDERING = spec("TMF622-ProductOrdering-v4.0.0.json", "TMF622")
# TMF637 v4 spells one ProductStatusType value "aborted " (trailing space). The vendored file stays
# verbatim; we also accept "aborted" and store the spec's literal in documents (ADR 7).
_statuses = INVENTORY.definitions["ProductStatusType"]["enum"]
if "aborted" not in _statuses:
    _statuses.append("aborted")
