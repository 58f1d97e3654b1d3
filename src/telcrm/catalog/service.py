"""TMF620 product catalog: the rules (ADR 5).

One table holds the five resource kinds. Rules every kind shares: ``lifecycleStatus`` is one
of ``inDesign`` (the default), ``active``, ``retired``; a new item is ``inDesign`` or
``active``; ``retired`` is final; ``validFor`` starts before it ends; only ``inDesign`` items
can be deleted (anything that was ever on sale may be what a product was sold under).
References to catalog items are checked when they resolve here and kept as external otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from telcrm.catalog import policy, repository
from telcrm.catalog.eligibility import eligible
from telcrm.kit import cache, references
from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentService, DocumentStore, merge_patch
from telcrm.kit.errors import Conflict, InvalidTransition, ValidationFailed
from telcrm.kit.query import ListQuery
from telcrm.kit.timestamps import parse_timestamp
from telcrm.models import CatalogItem

__all__ = ["eligible"]

STATES = ("inDesign", "active", "retired")
TRANSITIONS = {"inDesign": {"active", "retired"}, "active": {"retired"}, "retired": set()}
PRICE_TYPES = ("oneTime", "recurring", "usage", "discount", "allowance")
PERIOD_TYPES = ("day", "week", "month", "year")
VALUE_TYPES = ("string", "integer", "number", "boolean", "object", "array")
# What a price is: changing one of these on an active price makes a new version (ADR 5).
PRICE_FIELDS = (
    "price",
    "priceType",
    "recurringChargePeriodType",
    "recurringChargePeriodLength",
    "percentage",
    "unitOfMeasure",
)
PARTY_KINDS = {"Individual", "Organization", "Customer", "PartyRole"}
# TMF620 v4 defines these events (none for importJob/exportJob); an import also sends CatalogBatchEvent (catalog.jobs).
SPEC_EVENTS = {
    "Catalog": frozenset({"Create", "Delete"}),
    "Category": frozenset({"Create", "Delete"}),
    "ProductSpecification": frozenset({"Create", "Delete"}),
    "ProductOffering": frozenset({"Create", "AttributeValueChange", "StateChange", "Delete"}),
    "ProductOfferingPrice": frozenset({"Create", "AttributeValueChange", "StateChange", "Delete"}),
}

Doc = dict[str, Any]


def _list(doc: Doc, attr: str) -> list[Any]:
    value = doc.get(attr)
    return value if isinstance(value, list) else []


def _period(doc: Doc) -> tuple[datetime | None, datetime | None]:
    period = doc.get("validFor") or {}
    start, end = parse_timestamp(period.get("startDateTime")), parse_timestamp(period.get("endDateTime"))
    if start is not None and end is not None and start >= end:
        raise ValidationFailed("validFor.startDateTime must be before validFor.endDateTime", field="validFor")
    return start, end


def _next_version(version: Any) -> str:
    match = re.match(r"\d+", str(version or "1"))
    return str(int(match.group()) + 1 if match else 2)


def _matches_type(value: Any, value_type: str) -> bool:
    if value_type == "string":
        return isinstance(value, str)
    if value_type == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if value_type == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if value_type == "boolean":
        return isinstance(value, bool)
    if value_type == "object":
        return isinstance(value, dict)
    return isinstance(value, list)


def check_characteristics(chars: list[Any]) -> None:
    """A specification's characteristics: known value types, values of that type, sane cardinality."""
    seen: set[str] = set()
    for i, char in enumerate(chars):
        field = f"productSpecCharacteristic[{i}]"
        name = char.get("name")
        if name is not None:
            if name in seen:
                raise ValidationFailed(f"{field}.name {name} is defined twice", field=f"{field}.name")
            seen.add(name)
        value_type = char.get("valueType")
        if value_type is not None and value_type not in VALUE_TYPES:
            raise ValidationFailed(
                f"{field}.valueType must be one of {', '.join(VALUE_TYPES)}", field=f"{field}.valueType"
            )
        low, high = char.get("minCardinality"), char.get("maxCardinality")
        if low is not None and low < 0:
            raise ValidationFailed(f"{field}.minCardinality cannot be negative", field=f"{field}.minCardinality")
        if low is not None and high is not None and low > high:
            raise ValidationFailed(f"{field}.minCardinality exceeds maxCardinality", field=f"{field}.minCardinality")
        for j, value in enumerate(char.get("productSpecCharacteristicValue") or []):
            vtype = value.get("valueType") or value_type
            if vtype is not None and vtype not in VALUE_TYPES:
                raise ValidationFailed(
                    f"{field}.productSpecCharacteristicValue[{j}].valueType must be one of {', '.join(VALUE_TYPES)}",
                    field=f"{field}.productSpecCharacteristicValue[{j}].valueType",
                )
            if "value" in value and vtype is not None and not _matches_type(value["value"], vtype):
                raise ValidationFailed(
                    f"{field}.productSpecCharacteristicValue[{j}].value is not of type {vtype}",
                    field=f"{field}.productSpecCharacteristicValue[{j}].value",
                )


def check_value_use(uses: list[Any], spec: Doc, field: str) -> None:
    """An offering's ``prodSpecCharValueUse`` names only characteristics and values ``spec`` defines."""
    defined = {c.get("name"): c for c in _list(spec, "productSpecCharacteristic") if isinstance(c, dict)}
    for i, use in enumerate(uses):
        name = use.get("name")
        if name is None:
            continue
        char = defined.get(name)
        if char is None:
            raise ValidationFailed(
                f"{field}[{i}].name {name} is not a characteristic of {spec.get('name') or spec.get('id')}",
                field=f"{field}[{i}].name",
            )
        allowed = [v.get("value") for v in char.get("productSpecCharacteristicValue") or [] if "value" in v]
        for j, value in enumerate(use.get("productSpecCharacteristicValue") or []):
            if "value" not in value:
                continue
            if allowed and value["value"] not in allowed:
                raise ValidationFailed(
                    f"{field}[{i}].productSpecCharacteristicValue[{j}].value {value['value']!r} is not a value "
                    f"{name} allows ({', '.join(map(str, allowed))})",
                    field=f"{field}[{i}].productSpecCharacteristicValue[{j}].value",
                )
            vtype = char.get("valueType")
            if not allowed and vtype in VALUE_TYPES and not _matches_type(value["value"], vtype):
                raise ValidationFailed(
                    f"{field}[{i}].productSpecCharacteristicValue[{j}].value is not of type {vtype}",
                    field=f"{field}[{i}].productSpecCharacteristicValue[{j}].value",
                )


def check_price(doc: Doc) -> None:
    price_type = doc.get("priceType")
    if price_type is not None and price_type not in PRICE_TYPES:
        raise ValidationFailed(f"priceType must be one of {', '.join(PRICE_TYPES)}", field="priceType")
    money = doc.get("price")
    if isinstance(money, dict):
        value = money.get("value")
        if value is not None and value < 0:
            raise ValidationFailed("price.value cannot be negative", field="price.value")
        unit = money.get("unit")
        if unit is not None and not re.fullmatch(r"[A-Z]{3}", unit):
            raise ValidationFailed("price.unit is an ISO 4217 currency code such as CNY", field="price.unit")
    period = doc.get("recurringChargePeriodType")
    if period is not None and period not in PERIOD_TYPES:
        raise ValidationFailed(
            f"recurringChargePeriodType must be one of {', '.join(PERIOD_TYPES)}", field="recurringChargePeriodType"
        )
    if price_type == "recurring" and period is None:
        raise ValidationFailed("a recurring price needs recurringChargePeriodType", field="recurringChargePeriodType")
    length = doc.get("recurringChargePeriodLength")
    if length is not None and length < 1:
        raise ValidationFailed("recurringChargePeriodLength is at least 1", field="recurringChargePeriodLength")
    percentage = doc.get("percentage")
    if percentage is not None and not 0 <= percentage <= 100:
        raise ValidationFailed("percentage must be between 0 and 100", field="percentage")
    if "priceTier" in doc or "timeOfDay" in doc:
        if price_type != "usage":
            name = "priceTier" if "priceTier" in doc else "timeOfDay"
            raise ValidationFailed(f"{name} is for usage prices", field=name)
        currency = money.get("unit") if isinstance(money, dict) else None
        check_tiers(doc.get("priceTier"), currency)
        check_time_of_day(doc.get("timeOfDay"), currency)


def _money(value: Any, field: str, currency: str | None) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("value"), int | float) or value["value"] < 0:
        raise ValidationFailed(f"{field} is an amount of money, not negative", field=f"{field}.value")
    if currency is not None and value.get("unit") != currency:
        raise ValidationFailed(f"{field} is in {value.get('unit')}, the price in {currency}", field=f"{field}.unit")


def check_tiers(tiers: Any, currency: str | None) -> None:
    """Usage tiers (telcrm extension ``priceTier``): contiguous from 0 in the price's unit of
    measure, each ``[fromQuantity, toQuantity)`` at its own rate; only the last may be open."""
    if tiers is None:
        return
    if not isinstance(tiers, list) or not tiers or not all(isinstance(t, dict) for t in tiers):
        raise ValidationFailed("priceTier lists the tiers, at least one", field="priceTier")
    expected: float = 0
    for i, tier in enumerate(tiers):
        field = f"priceTier[{i}]"
        low, high = tier.get("fromQuantity"), tier.get("toQuantity")
        if not isinstance(low, int | float) or low != expected:
            raise ValidationFailed(
                f"{field}.fromQuantity must be {expected:g}: tiers start at 0 and follow each other without gaps",
                field=f"{field}.fromQuantity",
            )
        if high is None:
            if i != len(tiers) - 1:
                raise ValidationFailed("only the last tier may be open-ended", field=f"{field}.toQuantity")
        elif not isinstance(high, int | float) or high <= low:
            raise ValidationFailed(f"{field}.toQuantity must be above fromQuantity", field=f"{field}.toQuantity")
        else:
            expected = high
        _money(tier.get("price"), f"{field}.price", currency)


def _minutes(value: Any, field: str) -> int:
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
        raise ValidationFailed(f"{field} is a time of day HH:MM", field=field)
    return int(value[:2]) * 60 + int(value[3:])


def check_time_of_day(windows: Any, currency: str | None) -> None:
    """Time-of-day rates (telcrm extension ``timeOfDay``): windows ``[startTime, endTime)`` in
    Beijing time that may wrap midnight and must not overlap; outside them ``price`` applies."""
    if windows is None:
        return
    if not isinstance(windows, list) or not windows or not all(isinstance(w, dict) for w in windows):
        raise ValidationFailed("timeOfDay lists the windows, at least one", field="timeOfDay")
    taken: list[tuple[int, int, int]] = []
    for i, window in enumerate(windows):
        field = f"timeOfDay[{i}]"
        start = _minutes(window.get("startTime"), f"{field}.startTime")
        end = _minutes(window.get("endTime"), f"{field}.endTime")
        if start == end:
            raise ValidationFailed(f"{field} is empty: startTime equals endTime", field=f"{field}.endTime")
        spans = [(start, end)] if start < end else [(start, 24 * 60), (0, end)]
        for low, high in spans:
            for other_low, other_high, j in taken:
                if low < other_high and other_low < high:
                    raise ValidationFailed(f"{field} overlaps timeOfDay[{j}]", field=f"{field}.startTime")
        taken += [(low, high, i) for low, high in spans]
        _money(window.get("price"), f"{field}.price", currency)


def check_bundle(doc: Doc) -> None:
    bundled = _list(doc, "bundledProductOffering")
    if doc.get("isBundle") is True and not bundled:
        raise ValidationFailed("a bundle (isBundle) lists its bundledProductOffering", field="bundledProductOffering")
    for i, item in enumerate(bundled):
        field = f"bundledProductOffering[{i}]"
        if doc.get("id") is not None and item.get("id") == doc.get("id"):
            raise ValidationFailed("an offering cannot bundle itself", field=f"{field}.id")
        option = item.get("bundledProductOfferingOption") or {}
        low, high = option.get("numberRelOfferLowerLimit"), option.get("numberRelOfferUpperLimit")
        default = option.get("numberRelOfferDefault")
        for attr, value in (("numberRelOfferLowerLimit", low), ("numberRelOfferUpperLimit", high)):
            if value is not None and value < 0:
                raise ValidationFailed(
                    f"{field}.bundledProductOfferingOption.{attr} cannot be negative",
                    field=f"{field}.bundledProductOfferingOption.{attr}",
                )
        if low is not None and high is not None and low > high:
            raise ValidationFailed(
                f"{field}.bundledProductOfferingOption.numberRelOfferLowerLimit exceeds numberRelOfferUpperLimit",
                field=f"{field}.bundledProductOfferingOption.numberRelOfferLowerLimit",
            )
        if default is not None and ((low is not None and default < low) or (high is not None and default > high)):
            raise ValidationFailed(
                f"{field}.bundledProductOfferingOption.numberRelOfferDefault is outside the limits",
                field=f"{field}.bundledProductOfferingOption.numberRelOfferDefault",
            )


class CatalogService(DocumentService[CatalogItem]):
    api = "productCatalog"
    state_attr = "lifecycleStatus"

    def __init__(self, store: DocumentStore[CatalogItem], type_name: str) -> None:
        super().__init__(store)
        self.type_name = type_name
        self.event_key = type_name[0].lower() + type_name[1:]
        self.events = SPEC_EVENTS[type_name]

    async def _copied(self, ctx: Context, key: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """What ``read()`` returns, from the process's copy under ``key`` (dropped with the catalog,
        kit.cache), else read and kept; read afresh in a transaction that changed the catalog."""
        pages = cache.shared(PAGES, max_entries=2_000)
        fresh = cache.changed_here(ctx, CACHE)
        hit = None if fresh else pages.get(key)
        if hit is not None:
            return hit
        mark = None if fresh else pages.mark()
        value = await read()
        pages.store(mark, key, value)
        return value

    async def list(self, ctx: Context, query: ListQuery) -> tuple[list[Doc], int]:
        """A page of the catalog: from the process's copy of recent pages, else the database.
        Browsing the catalog is most of what channels do with it."""
        await self.authorize(ctx, "list", None, None)

        async def read() -> list[Any]:
            rows, total = await self.store.list(ctx, query)
            return [[self.document(r) for r in rows], total]

        docs, total = await self._copied(ctx, f"{self.type_name}|{query!r}", read)
        return docs, total

    async def get(self, ctx: Context, id_: str) -> Doc:
        """One catalog item, from the process's copy as pages are (an offering's page is what a
        channel opens most after the list), else the database (an unknown id is not kept)."""
        await self.authorize(ctx, "read", None, None)
        one = super().get
        return await self._copied(ctx, f"{self.type_name}|id|{id_}", lambda: one(ctx, id_))  # type: ignore[no-any-return]

    # ----- hooks -------------------------------------------------------------------------
    async def authorize(self, ctx: Context, action: str, row: CatalogItem | None, doc: Doc | None) -> None:
        policy.check(ctx, action)

    async def create(self, ctx: Context, data: Doc, *, fixed_id: str | None = None) -> Doc:
        """``fixed_id`` is for reference catalogs loaded with well-known ids (the demo catalog)."""
        if fixed_id is not None:
            ctx = replace(ctx, extra={**ctx.extra, "catalog_id": fixed_id})
        return await super().create(ctx, data)

    async def _allocate_id(self, ctx: Context) -> str:
        return str(ctx.extra.get("catalog_id") or self.new_id())

    async def prepare(self, ctx: Context, doc: Doc, row: CatalogItem | None) -> Doc:
        status = doc.setdefault("lifecycleStatus", "inDesign")
        if status not in STATES:
            raise ValidationFailed(f"lifecycleStatus must be one of {', '.join(STATES)}", field="lifecycleStatus")
        if row is None and status == "retired":
            raise ValidationFailed("a new catalog item is inDesign or active", field="lifecycleStatus")
        start, end = _period(doc)
        await self.check_kind(ctx, doc)
        columns: Doc = {
            "name": str(doc.get("name", ""))[:400],
            "lifecycle_status": status,
            "valid_from": start,
            "valid_to": end,
        }
        if self.type_name == "ProductOfferingPrice":
            columns["price_type"] = doc.get("priceType")
        return columns

    async def check_kind(self, ctx: Context, doc: Doc) -> None:
        kind = self.type_name
        if kind in ("Catalog", "ProductSpecification"):
            for i, party in enumerate(_list(doc, "relatedParty")):
                await references.check(ctx, party, f"relatedParty[{i}]", PARTY_KINDS)
        if kind == "Catalog":
            await _refs(ctx, doc, "category", {"Category"})
        elif kind == "Category":
            parent = doc.get("parentId")
            if parent is not None:
                if parent == doc.get("id"):
                    raise ValidationFailed("a category cannot be its own parent", field="parentId")
                if doc.get("isRoot") is True:
                    raise ValidationFailed("a root category has no parentId", field="isRoot")
                await references.check(ctx, {"id": parent}, "parentId", {"Category"})
            await _refs(ctx, doc, "subCategory", {"Category"})
            await _refs(ctx, doc, "productOffering", {"ProductOffering"})
        elif kind == "ProductSpecification":
            check_characteristics(_list(doc, "productSpecCharacteristic"))
            await _refs(ctx, doc, "bundledProductSpecification", {"ProductSpecification"})
            await _refs(ctx, doc, "productSpecificationRelationship", {"ProductSpecification"})
        elif kind == "ProductOffering":
            check_bundle(doc)
            spec_ref = doc.get("productSpecification")
            found = await references.check(ctx, spec_ref, "productSpecification", {"ProductSpecification"})
            uses = _list(doc, "prodSpecCharValueUse")
            if found is not None and uses:
                spec_row = await repository.specifications.get(ctx, found.id, label="ProductSpecification")
                check_value_use(uses, spec_row.body, "prodSpecCharValueUse")
            for i, use in enumerate(uses):
                await references.check(
                    ctx,
                    use.get("productSpecification"),
                    f"prodSpecCharValueUse[{i}].productSpecification",
                    {"ProductSpecification"},
                )
            await _refs(ctx, doc, "productOfferingPrice", {"ProductOfferingPrice"})
            await _refs(ctx, doc, "category", {"Category"})
            await _refs(ctx, doc, "bundledProductOffering", {"ProductOffering"})
        elif kind == "ProductOfferingPrice":
            check_price(doc)
            await _refs(ctx, doc, "popRelationship", {"ProductOfferingPrice"})
            await _refs(ctx, doc, "bundledPopRelationship", {"ProductOfferingPrice"})

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: Doc) -> None:
        if new not in STATES:
            raise ValidationFailed(f"lifecycleStatus must be one of {', '.join(STATES)}", field="lifecycleStatus")
        if new not in TRANSITIONS.get(old, set()):
            raise InvalidTransition(f"a catalog item cannot go from {old} to {new}", field="lifecycleStatus")

    async def after_write(self, ctx: Context, row: CatalogItem, before: Doc | None) -> None:
        cache.changed(ctx, CACHE)

    async def before_delete(self, ctx: Context, row: CatalogItem) -> None:
        cache.changed(ctx, CACHE)
        if row.lifecycle_status != "inDesign":
            raise Conflict(
                f"{self.type_name} {row.id} is {row.lifecycle_status}: only items still in design can be deleted; "
                "retire it instead",
                field="lifecycleStatus",
            )

    # ----- price versions ----------------------------------------------------------------
    async def patch(self, ctx: Context, id_: str, patch: Doc, check: Any = None) -> Doc:
        if self.type_name != "ProductOfferingPrice":
            return await super().patch(ctx, id_, patch, check)
        row = await self.store.get(ctx, id_, for_update=True, label=self.type_name)
        await self.authorize(ctx, "update", row, patch)
        merged = merge_patch(row.body, patch)
        changed = [f for f in PRICE_FIELDS if merged.get(f) != row.body.get(f)]
        if changed and row.lifecycle_status == "retired":
            raise Conflict(f"a retired price is history: {changed[0]} cannot change", field=changed[0])
        if changed and row.lifecycle_status == "active":
            return await self._new_version(ctx, row, patch, merged, check)
        return await super().patch(ctx, id_, patch, check)

    async def _new_version(self, ctx: Context, row: CatalogItem, patch: Doc, merged: Doc, check: Any) -> Doc:
        """Close ``row`` and create its successor: what was sold under ``row`` keeps its price."""
        if merged.get("lifecycleStatus") != "active":
            raise ValidationFailed(
                "change the price of an active price or retire it, not both at once", field="lifecycleStatus"
            )
        asked: Doc = patch["validFor"] if isinstance(patch.get("validFor"), dict) else {}
        start_text = asked.get("startDateTime") or datetime.now(UTC).isoformat().replace("+00:00", "Z")
        start = parse_timestamp(start_text)
        if start is not None and row.valid_from is not None and start <= row.valid_from:
            raise ValidationFailed(
                "a new price version must start after the current one starts", field="validFor.startDateTime"
            )
        rels = [
            r for r in _list(merged, "popRelationship") if r.get("relationshipType") not in ("replaces", "replacedBy")
        ]
        successor: Doc = {k: v for k, v in merged.items() if k not in ("id", "href")}
        successor["validFor"] = {"startDateTime": start_text}
        if asked.get("endDateTime"):
            successor["validFor"]["endDateTime"] = asked["endDateTime"]
        successor["version"] = _next_version(row.body.get("version"))
        successor["popRelationship"] = [
            *rels,
            {"id": row.id, "name": row.name, "relationshipType": "replaces", "@referredType": self.type_name},
        ]
        if check is not None:
            check(successor)
        new = await self.create(ctx, successor)
        old_period = dict(row.body.get("validFor") or {})
        if row.valid_to is None or start is None or row.valid_to > start:
            old_period["endDateTime"] = start_text
        old_rels = [*_list(row.body, "popRelationship")]
        old_rels.append(
            {"id": new["id"], "name": new["name"], "relationshipType": "replacedBy", "@referredType": self.type_name}
        )
        version = row.body.get("version")
        closing: Doc = {"validFor": old_period, "lifecycleStatus": "retired", "popRelationship": old_rels}
        if version is None:
            closing["version"] = "1"
        await super().patch(ctx, row.id, closing)
        row.replaced_by = new["id"]
        await ctx.uow.flush()
        for offering in await repository.offerings_using_price(ctx, row.id):
            if offering.lifecycle_status == "retired":
                continue
            refs = []
            for ref in _list(offering.body, "productOfferingPrice"):
                if isinstance(ref, dict) and ref.get("id") == row.id:
                    ref = {k: v for k, v in ref.items() if k != "href"}
                    ref.update(id=new["id"], name=new["name"])
                refs.append(ref)
            await offerings.patch(ctx, offering.id, {"productOfferingPrice": refs})
        return new


async def _refs(ctx: Context, doc: Doc, attr: str, allowed: set[str]) -> None:
    for i, ref in enumerate(_list(doc, attr)):
        await references.check(ctx, ref, f"{attr}[{i}]", allowed)


catalogs = CatalogService(repository.catalogs, "Catalog")
categories = CatalogService(repository.categories, "Category")
specifications = CatalogService(repository.specifications, "ProductSpecification")
offerings = CatalogService(repository.offerings, "ProductOffering")
prices = CatalogService(repository.prices, "ProductOfferingPrice")
SERVICES = {s.type_name: s for s in (catalogs, categories, specifications, offerings, prices)}


async def lifecycle_status(ctx: Context, item_id: str) -> str | None:
    """The ``lifecycleStatus`` of a catalog item, or None when no such item is held here."""
    doc = (await documents(ctx, [item_id])).get(item_id)
    status = doc.get("lifecycleStatus") if doc is not None else None
    return status if isinstance(status, str) else None


async def offering_document(ctx: Context, offering_id: str) -> Doc | None:
    """The TMF620 document of a product offering, or None when no such offering is held here."""
    doc = (await documents(ctx, [offering_id])).get(offering_id)
    other = ("Catalog", "Category", "ProductSpecification", "ProductOfferingPrice")
    return doc if doc is not None and doc.get("@type") not in other else None


MEMO = "catalog.documents"  # per transaction: catalog documents already read
CACHE = "catalog"  # per process, dropped whenever the catalog changes (kit.cache)
PAGES = "catalog.pages"  # list pages and single items, dropped with it


async def documents(ctx: Context, ids: list[str]) -> dict[str, Doc]:
    """The TMF620 documents of the catalog items held here among ``ids`` (offerings, specifications,
    prices): from this transaction's memo, else the process's copy of the catalog (kit.cache),
    else the database. Fulfilling a batch of orders reads the same few items."""
    memo: dict[str, Doc | None] = ctx.extra.setdefault(MEMO, {})
    missing = [i for i in ids if i not in memo]
    copies = cache.shared(CACHE)
    mine = cache.changed_here(ctx, CACHE)  # this transaction changed the catalog: read the database
    if missing and not mine:
        for id_ in missing:
            copy = copies.get(id_)
            if copy is not None:
                memo[id_] = copy
        missing = [i for i in missing if i not in memo]
    if missing:
        mark = None if mine else copies.mark()
        found = await repository.documents(ctx, missing)
        for id_ in missing:
            memo[id_] = found.get(id_)
            if id_ in found:
                copies.store(mark, id_, found[id_])
    return {i: doc for i in ids if (doc := memo.get(i)) is not None}


def network_domain(spec: Doc | None) -> str | None:
    """The network domain a specification is provisioned in: its fixed ``networkDomain`` characteristic."""
    for char in _list(spec or {}, "productSpecCharacteristic"):
        if char.get("name") == "networkDomain":
            values = _list(char, "productSpecCharacteristicValue")
            if values and isinstance(values[0].get("value"), str):
                return str(values[0]["value"])
    return None
