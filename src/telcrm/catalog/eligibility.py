"""Who may buy an offering: a pure function for the ordering capability (ADR 5).

An offering restricts its buyers with three TMF620 reference lists, all optional (absent or
empty means "no restriction"):

- ``marketSegment``: refs whose ``id`` is a customer category (``individual``, ``group``,
  ``dealer``, ``employee``, ``operator``). Refs with other ids (a marketing system's segments)
  are kept but do not restrict here.
- ``place``: refs naming provinces, by ``name`` (``广东省``, ``广东`` or ``Guangdong``) or ``id``;
  ``省``/``市``/``自治区`` suffixes and case do not matter.
- ``channel``: refs naming sales channels by ``id`` or ``name`` (``hall``, ``webHall``,
  ``callCenter``, ``dealer``, ...), checked only when the caller says which channel sells.

Besides those, an offering is sold only while ``lifecycleStatus`` is ``active``, ``isSellable``
is not ``false`` and ``validFor`` covers the moment of sale.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from telcrm.kit.timestamps import parse_timestamp

# The customer domain's categories (customer.service.CATEGORIES), repeated to keep the catalog free of it.
CUSTOMER_CATEGORIES = frozenset({"individual", "group", "dealer", "employee", "operator"})

_SUFFIXES = re.compile(r"(省|市|特别行政区|壮族自治区|回族自治区|维吾尔自治区|自治区|province|shi|sheng)$")


def province_key(name: str) -> str:
    key = re.sub(r"\s+", "", name).casefold()
    return _SUFFIXES.sub("", key) or key


def _refs(doc: dict[str, Any], attr: str) -> list[dict[str, Any]]:
    return [r for r in doc.get(attr) or [] if isinstance(r, dict)]


def eligible(
    offering: dict[str, Any],
    customer_category: str | None,
    province: str | None,
    *,
    channel: str | None = None,
    at: datetime | None = None,
) -> tuple[bool, str]:
    """Whether a customer of ``customer_category`` in ``province`` may buy ``offering`` (a TMF document)."""
    name = offering.get("name") or offering.get("id")
    status = offering.get("lifecycleStatus")
    if status != "active":
        return False, f"{name} is not on sale (lifecycleStatus {status})"
    if offering.get("isSellable") is False:
        return False, f"{name} is sold only as part of a bundle"
    moment = at or datetime.now(UTC)
    period = offering.get("validFor") or {}
    start, end = parse_timestamp(period.get("startDateTime")), parse_timestamp(period.get("endDateTime"))
    if start is not None and moment < start:
        return False, f"{name} is on sale from {period['startDateTime']}"
    if end is not None and moment >= end:
        return False, f"{name} was on sale until {period['endDateTime']}"
    segments = [r["id"] for r in _refs(offering, "marketSegment") if r.get("id") in CUSTOMER_CATEGORIES]
    if segments and customer_category not in segments:
        return False, f"{name} is only for {' and '.join(segments)} customers"
    places = _refs(offering, "place")
    if places:
        keys = {province_key(str(r[k])) for r in places for k in ("id", "name") if r.get(k)}
        if province is None or province_key(province) not in keys:
            where = ", ".join(str(r.get("name") or r.get("id")) for r in places)
            return False, f"{name} is only sold in {where}"
    channels = _refs(offering, "channel")
    if channel is not None and channels:
        keys = {str(r[k]).casefold() for r in channels for k in ("id", "name") if r.get(k)}
        if channel.casefold() not in keys:
            return False, f"{name} is not sold through {channel}"
    return True, "eligible"
