"""TMF list queries: paging, attribute filtering and sorting over a resource's JSON document.

Filters follow the TMF630 guidelines: ``attr=value`` (``a,b`` means either), nested names
(``engagedParty.id``, which also reaches into arrays such as ``relatedParty.id``), and the
operators ``.gt .gte .lt .lte .eq .ne`` (also written ``attr[gt]=``). They compile to one
SQL/JSON path predicate on the ``body`` column, so any attribute can be filtered on without
per-resource code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, cast, literal, not_
from sqlalchemy.dialects.postgresql import JSONPATH

from telcrm.kit.errors import ValidationFailed

RESERVED = frozenset({"fields", "offset", "limit", "sort", "expand", "depth"})
OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "==", "ne": "!="}
_NAME = re.compile(r"^[@A-Za-z_][A-Za-z0-9_@\-]{0,63}$")
_NUMBER = re.compile(r"^-?(0|[1-9][0-9]{0,17})(\.[0-9]{1,18})?$")


@dataclass(frozen=True)
class Filter:
    path: tuple[str, ...]
    op: str
    values: tuple[str, ...]


@dataclass
class ListQuery:
    offset: int = 0
    limit: int = 20
    filters: list[Filter] = field(default_factory=list)
    sort: list[tuple[tuple[str, ...], bool]] = field(default_factory=list)  # (path, descending)


def _path(name: str, param: str) -> tuple[str, ...]:
    parts = tuple(name.split("."))
    if len(parts) > 6 or not all(_NAME.match(p) for p in parts):
        raise ValidationFailed(f"{param!r} is not an attribute name this API can filter on", field=param)
    return parts


def _int(value: str, param: str, low: int, high: int) -> int:
    if not re.fullmatch(r"[0-9]{1,9}", value):
        raise ValidationFailed(f"{param} must be a whole number from {low} to {high}", field=param)
    number = int(value)
    if not low <= number <= high:
        raise ValidationFailed(f"{param} must be a whole number from {low} to {high}", field=param)
    return number


def parse_list_query(
    params: list[tuple[str, str]], *, default_limit: int, max_limit: int, offset_limit: int = 10_000_000
) -> ListQuery:
    query = ListQuery(limit=default_limit)
    for raw_name, value in params:
        if "\x00" in raw_name or "\x00" in value:
            raise ValidationFailed("query parameters must not contain NUL characters", field=raw_name)
        if raw_name == "offset":
            query.offset = _int(value, "offset", 0, offset_limit)
        elif raw_name == "limit":
            query.limit = _int(value, "limit", 0, max_limit)
        elif raw_name == "sort":
            for item in filter(None, value.split(",")):
                desc = item.startswith("-")
                query.sort.append((_path(item.lstrip("+-"), "sort"), desc))
        elif raw_name in RESERVED:
            continue
        else:
            name, op = raw_name, "eq"
            bracket = re.fullmatch(r"(.+)\[(gt|gte|lt|lte|eq|ne)\]", name)
            if bracket:
                name, op = bracket.group(1), bracket.group(2)
            else:
                head, _, tail = name.rpartition(".")
                if head and tail in OPERATORS:
                    name, op = head, tail
            values = tuple(value.split(",")) if op in ("eq", "ne") else (value,)
            query.filters.append(Filter(_path(name, raw_name), op, values))
    return query


def _literals(value: str) -> list[str]:
    out = [json.dumps(value)]
    if _NUMBER.match(value):
        out.append(value)
    if value in ("true", "false"):
        out.append(value)
    return out


def jsonpath_for(f: Filter) -> str:
    path = "$" + "".join("." + json.dumps(p) for p in f.path)
    if f.op in ("eq", "ne"):
        conds = [f"@ == {lit}" for v in f.values for lit in _literals(v)]
    else:
        value = f.values[0]
        lit = value if _NUMBER.match(value) else json.dumps(value)
        conds = [f"@ {OPERATORS[f.op]} {lit}"]
    return f"{path} ? ({' || '.join(conds)})"


def filter_clause(body: Any, f: Filter) -> ColumnElement[bool]:
    clause: ColumnElement[bool] = body.op("@?")(cast(literal(jsonpath_for(f)), JSONPATH))
    return not_(clause) if f.op == "ne" else clause
