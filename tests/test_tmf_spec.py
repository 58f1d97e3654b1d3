"""The fast validator (jsonschema-rs) decides only "valid"; it must never accept a body the
jsonschema validator refuses, nor refuse one it accepts. Checked on every ``_Create`` and
``_Update`` definition we validate against, with each property given values of every JSON type."""

from __future__ import annotations

from typing import Any

import pytest

from telcrm.api.tmf.spec import ACCOUNT, CATALOG, CUSTOMER, INVENTORY, ORDERING, PARTY, PARTY_ROLE, TmfSpec
from telcrm.kit.errors import ValidationFailed

SPECS = (PARTY, CUSTOMER, ACCOUNT, PARTY_ROLE, CATALOG, INVENTORY, ORDERING)
ODD_VALUES: tuple[Any, ...] = (
    None,
    True,
    7,
    -1.5,
    "",
    "text",
    "2026-11-22T10:00:00Z",
    "2026-11-22",
    "2026-13-45T99:00:00Z",
    "yesterday",
    [],
    [{}],
    ["text"],
    {},
    {"id": "x"},
    {"startDateTime": "not a date"},
)


def definitions() -> list[tuple[TmfSpec, str]]:
    return [
        (spec, name)
        for spec in SPECS
        for name in sorted(spec.definitions)
        if name.endswith(("_Create", "_Update")) and spec.fast(name) is not None
    ]


def instances(spec: TmfSpec, name: str) -> list[Any]:
    properties = spec.definitions[name].get("properties", {})
    required = spec.definitions[name].get("required", [])
    base = {attr: "x" for attr in required}
    out: list[Any] = [{}, base, [], "text", None, {**base, "unknownAttribute": [1, 2]}]
    for attr in properties:
        out += [{**base, attr: value} for value in ODD_VALUES]
    return out


@pytest.mark.parametrize(("spec", "name"), definitions(), ids=lambda v: v if isinstance(v, str) else v.prefix)
def test_the_fast_validator_agrees_with_jsonschema(spec: TmfSpec, name: str) -> None:
    slow = spec.validator(name)
    fast = spec.fast(name)
    checked = accepted = 0
    for instance in instances(spec, name):
        expected = not any(True for _ in slow.iter_errors(instance))
        assert fast.is_valid(instance) == expected, (name, instance)
        checked += 1
        accepted += expected
    assert checked > 6 and accepted < checked


def test_validate_still_names_the_field_when_the_fast_path_says_no() -> None:
    body = {"productOrderItem": [{"id": "1", "action": "add"}], "requestedStartDate": "soon"}
    with pytest.raises(ValidationFailed) as refused:
        ORDERING.validate("ProductOrder_Create", body)
    assert refused.value.field == "requestedStartDate"
    assert "date-time" in refused.value.message
    ORDERING.validate("ProductOrder_Create", {**body, "requestedStartDate": "2026-12-01T08:00:00+08:00"})
