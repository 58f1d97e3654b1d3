"""A reusable TMF conformance contract: one class of tests, run against every resource.

``TmfContract`` asks for a ``resource`` fixture (a ``Resource`` below) and a ``tmf`` fixture
(an ``Api`` that posts as an administrator). ``tests/test_tmf_contract.py`` parametrises it over
``RESOURCES``; a new resource is covered by adding one ``Resource`` entry.

What each resource must do (TMF630 design guidelines, TMF632/629/666/669 v4): create answers 201
with ``Location`` and the created object; the spec's required attributes alone are enough and
each one is really required; read by id; unknown ids answer 404 in the TMF Error shape; lists
are JSON arrays with ``X-Total-Count``/``X-Result-Count``, paged by default and with
``offset``/``limit``; ``fields`` projects; attribute filters (top-level, nested, ``.gt``/``.lt``)
select; merge-patch with both content types; ``null`` removes; ``id`` cannot be patched;
delete answers 204; no credentials answers 401.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from telcrm.api.tmf.spec import ACCOUNT, CATALOG, CUSTOMER, INVENTORY, ORDERING, PARTY, PARTY_ROLE, TmfSpec
from tests import factories
from tests.factories import ACCOUNT as ACCOUNT_API
from tests.factories import CATALOG as CATALOG_API
from tests.factories import CUSTOMER as CUSTOMER_API
from tests.factories import INVENTORY as INVENTORY_API
from tests.factories import ORDERING as ORDERING_API
from tests.factories import PARTY as PARTY_API
from tests.factories import ROLE as ROLE_API

Doc = dict[str, Any]
DEFAULT_PAGE_SIZE = 20
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}

_unique = itertools.count(1)
# Types that are never a subclass of another resource: one of them is in every spec.
OTHER_TYPES = ("Individual", "Organization", "Customer", "BillingAccount", "PartyRole", "RelatedParty")


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_unique):06d}"


def assert_tmf_error(r: Response, status: int, field: str | None = None) -> Doc:
    """``r`` is a TMF Error with ``status``; when ``field`` is given, the error names it."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body, dict), body
    for key in ("code", "reason", "message", "status"):
        assert isinstance(body.get(key), str) and body[key], (key, body)
    assert body["status"] == str(status)
    PARTY.validate("Error", {k: v for k, v in body.items() if k != "field"})
    if field is not None:
        assert body.get("field") == field or field in body["message"], (field, body)
    return body


class Api:
    """Requests as one caller, and prerequisites created once per test."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers
        self._once: dict[str, Doc] = {}

    def post(self, path: str, body: Any, **headers: str) -> Response:
        return self.client.post(path, json=body, headers={**self.headers, **headers})

    def create(self, path: str, body: Doc) -> Doc:
        r = self.post(path, body)
        assert r.status_code == 201, r.text
        return r.json()  # type: ignore[no-any-return]

    def get(self, url: str, **params: Any) -> Response:
        return self.client.get(url, params=params, headers=self.headers)

    def patch(self, url: str, body: Any, content_type: str = "application/merge-patch+json") -> Response:
        return self.client.patch(url, json=body, headers={**self.headers, "Content-Type": content_type})

    def delete(self, url: str) -> Response:
        return self.client.delete(url, headers=self.headers)

    def once(self, key: str, make: Callable[[], Doc]) -> Doc:
        if key not in self._once:
            self._once[key] = make()
        return self._once[key]

    # prerequisites shared by the payload factories
    def individual(self) -> Doc:
        return self.once("individual", lambda: factories.make_individual(self.client, self.headers))

    def customer(self) -> Doc:
        return self.once("customer", lambda: factories.make_customer(self.client, self.headers, self.individual()))


Payload = Callable[[Api], Doc]


@dataclass(frozen=True)
class Resource:
    name: str
    path: str  # the collection, e.g. /tmf-api/party/v4/individual
    type_name: str
    spec: TmfSpec
    minimal: Payload  # the spec's required attributes only
    rich: Payload  # most of what the resource holds; includes filter_attr and removable
    patch: Callable[[], Doc]  # a valid change of one attribute
    removable: str  # an optional attribute of ``rich`` that merge-patch null removes
    filter_attr: str  # a top-level string attribute whose value ``rich`` makes unique
    nested_filter: str | None = None  # e.g. engagedParty.id: reaches into objects and arrays
    ranged: tuple[str, Callable[[Any], Doc], Any, Any] | None = None  # (path, payload part, low, high)

    def __str__(self) -> str:
        return self.name


def _related_customer(tmf: Api, *, fresh: bool = False) -> list[Doc]:
    customer = factories.make_customer(tmf.client, tmf.headers) if fresh else tmf.customer()
    return [{"id": customer["id"], "@referredType": "Customer", "name": customer["name"]}]


def _account(path: str, type_name: str, *, billing: bool) -> Resource:
    def minimal(tmf: Api) -> Doc:
        body: Doc = {"name": unique("账户")}
        if type_name != "FinancialAccount":
            body["relatedParty"] = _related_customer(tmf)
        return body

    def rich(tmf: Api) -> Doc:
        body: Doc = {
            "name": unique("账户"),
            "description": "月结账户",
            "accountType": "postpaid" if billing else "standard",
            "creditLimit": {"unit": "CNY", "value": 500.0},
            "relatedParty": [{**_related_customer(tmf, fresh=True)[0], "role": "owner"}],
            "contact": [
                {
                    "contactType": "billing",
                    "validFor": {"startDateTime": "2024-01-01T00:00:00Z"},
                    "contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "bill@example.cn"}}],
                }
            ],
        }
        if type_name != "FinancialAccount":
            body["paymentStatus"] = "paid"
        return body

    return Resource(
        name=path,
        path=f"{ACCOUNT_API}/{path}",
        type_name=type_name,
        spec=ACCOUNT,
        minimal=minimal,
        rich=rich,
        patch=lambda: {"name": unique("新账户")},
        removable="description",
        filter_attr="name",
        nested_filter="relatedParty.id",
        ranged=("creditLimit.value", lambda v: {"creditLimit": {"unit": "CNY", "value": v}}, 100, 900),
    )


def _reference(path: str, type_name: str, **rich_extra: Any) -> Resource:
    return Resource(
        name=path,
        path=f"{ACCOUNT_API}/{path}",
        type_name=type_name,
        spec=ACCOUNT,
        minimal=lambda tmf: {"name": unique(type_name)},
        rich=lambda tmf: {"name": unique(type_name), "description": "按月", **rich_extra},
        patch=lambda: {"name": unique("renamed")},
        removable="description",
        filter_attr="name",
    )


def _catalog(path: str, type_name: str, rich: Callable[[], Doc], **extra: Any) -> Resource:
    return Resource(
        name=path,
        path=f"{CATALOG_API}/{path}",
        type_name=type_name,
        spec=CATALOG,
        minimal=lambda tmf: {"name": unique("目录项")},
        rich=lambda tmf: {"name": unique("目录项"), "description": "测试", "version": "1.0", **rich()},
        patch=lambda: {"name": unique("新名称")},
        removable="description",
        filter_attr="name",
        **extra,
    )


def _period(v: str) -> Doc:
    return {"validFor": {"startDateTime": v}}


CATALOG_RESOURCES = [
    _catalog(
        "catalog",
        "Catalog",
        lambda: {"catalogType": "productCatalog", "category": [{"id": unique("ext-cat"), "name": "外部分类"}]},
        nested_filter="category.id",
    ),
    _catalog("category", "Category", lambda: {"isRoot": True, "validFor": {"startDateTime": "2024-01-01T00:00:00Z"}}),
    _catalog(
        "productSpecification",
        "ProductSpecification",
        lambda: {
            "brand": "天翼",
            "productNumber": unique("PS"),
            "productSpecCharacteristic": [
                {
                    "name": "bandwidth",
                    "valueType": "string",
                    "productSpecCharacteristicValue": [{"value": "100M", "isDefault": True}, {"value": "300M"}],
                }
            ],
        },
    ),
    _catalog(
        "productOffering",
        "ProductOffering",
        lambda: {
            "isBundle": False,
            "isSellable": True,
            "productSpecification": {"id": unique("ext-spec"), "name": "外部规格"},
            "marketSegment": [{"id": "individual", "name": "个人客户"}],
            "place": [{"id": "GD", "name": "广东省"}],
            "channel": [{"id": "hall", "name": "营业厅"}],
            **_period("2024-01-01T00:00:00Z"),
        },
        nested_filter="productSpecification.id",
        ranged=("validFor.startDateTime", _period, "1980-05-01T00:00:00Z", "1999-05-01T00:00:00Z"),
    ),
    _catalog(
        "productOfferingPrice",
        "ProductOfferingPrice",
        lambda: {
            "priceType": "recurring",
            "recurringChargePeriodType": "month",
            "recurringChargePeriodLength": 1,
            "price": {"unit": "CNY", "value": 99.0},
        },
        ranged=("price.value", lambda v: {"price": {"unit": "CNY", "value": v}}, 10, 90),
    ),
]


RESOURCES: list[Resource] = [
    Resource(
        name="individual",
        path=f"{PARTY_API}/individual",
        type_name="Individual",
        spec=PARTY,
        minimal=lambda tmf: {"givenName": "芳", "familyName": "李"},
        rich=lambda tmf: factories.individual(
            familyName=unique("王"), gender="female", birthDate="1990-01-01T00:00:00Z", status="initialized"
        ),
        patch=lambda: {"givenName": "娜"},
        removable="gender",
        filter_attr="familyName",
        ranged=("birthDate", lambda v: {"birthDate": v}, "1980-05-01T00:00:00Z", "1999-05-01T00:00:00Z"),
    ),
    Resource(
        name="organization",
        path=f"{PARTY_API}/organization",
        type_name="Organization",
        spec=PARTY,
        minimal=lambda tmf: {"tradingName": unique("浦江")},
        rich=lambda tmf: factories.organization(
            tradingName=unique("浦江科技"), organizationType="company", isLegalEntity=True, status="validated"
        ),
        patch=lambda: {"name": unique("浦江集团")},
        removable="organizationType",
        filter_attr="tradingName",
    ),
    Resource(
        name="customer",
        path=f"{CUSTOMER_API}/customer",
        type_name="Customer",
        spec=CUSTOMER,
        minimal=lambda tmf: {
            "name": unique("客户"),
            "engagedParty": {"id": tmf.individual()["id"], "@referredType": "Individual"},
        },
        rich=lambda tmf: {
            "name": unique("客户"),
            "engagedParty": {
                "id": factories.make_individual(tmf.client, tmf.headers)["id"],
                "@referredType": "Individual",
            },
            "status": "active",
            "validFor": {"startDateTime": "2024-01-01T00:00:00Z"},
            "characteristic": [{"name": "vipLevel", "value": "gold"}],
            "contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "kehu@example.cn"}}],
        },
        patch=lambda: {"name": unique("新客户")},
        removable="validFor",
        filter_attr="name",
        nested_filter="engagedParty.id",
    ),
    _account("billingAccount", "BillingAccount", billing=True),
    _account("partyAccount", "PartyAccount", billing=False),
    _account("settlementAccount", "SettlementAccount", billing=False),
    _account("financialAccount", "FinancialAccount", billing=False),
    _reference("billFormat", "BillFormat"),
    _reference("billPresentationMedia", "BillPresentationMedia"),
    Resource(
        name="billingCycleSpecification",
        path=f"{ACCOUNT_API}/billingCycleSpecification",
        type_name="BillingCycleSpecification",
        spec=ACCOUNT,
        minimal=lambda tmf: {"name": unique("cycle")},
        rich=lambda tmf: {
            "name": unique("cycle"),
            "description": "每月1日出账",
            "frequency": "monthly",
            "billingDateShift": 1,
            "paymentDueDateOffset": 15,
        },
        patch=lambda: {"frequency": "quarterly"},
        removable="description",
        filter_attr="name",
        ranged=("billingDateShift", lambda v: {"billingDateShift": v}, 3, 10),
    ),
    Resource(
        name="partyRole",
        path=f"{ROLE_API}/partyRole",
        type_name="PartyRole",
        spec=PARTY_ROLE,
        minimal=lambda tmf: {"name": unique("partner")},
        rich=lambda tmf: {
            "name": unique("dealer"),
            "status": "active",
            "statusReason": "signed",
            "engagedParty": {
                "id": factories.make_organization(tmf.client, tmf.headers)["id"],
                "@referredType": "Organization",
            },
        },
        patch=lambda: {"status": "suspended"},
        removable="statusReason",
        filter_attr="name",
        nested_filter="engagedParty.id",
    ),
    *CATALOG_RESOURCES,
    Resource(
        name="product",
        path=f"{INVENTORY_API}/product",
        type_name="Product",
        spec=INVENTORY,
        minimal=lambda tmf: {"status": "created"},
        rich=lambda tmf: {
            "status": "created",
            "name": unique("宽带"),
            "description": "300M 宽带",
            "isBundle": False,
            "productSerialNumber": unique("SN"),
            "relatedParty": [{**_related_customer(tmf, fresh=True)[0], "role": "customer"}],
            "productCharacteristic": [{"name": "bandwidth", "value": "300M"}],
        },
        patch=lambda: {"name": unique("新宽带")},
        removable="description",
        filter_attr="name",
        nested_filter="relatedParty.id",
    ),
    Resource(
        name="productOrder",
        path=f"{ORDERING_API}/productOrder",
        type_name="ProductOrder",
        spec=ORDERING,
        # well formed but names no customer and nothing to add: created, as rejected (ADR 8)
        minimal=lambda tmf: {"productOrderItem": [{"id": "1", "action": "add"}]},
        rich=lambda tmf: {
            "description": unique("订单"),
            "externalId": unique("EXT"),
            "category": "B2C",
            "priority": "4",
            "relatedParty": [{**_related_customer(tmf, fresh=True)[0], "role": "customer"}],
            "productOrderItem": [
                {
                    "id": "1",
                    "action": "add",
                    "quantity": 1,
                    # an offering held in another catalog: kept, the order rejected, so it stays deletable
                    "productOffering": {"id": "offering-held-elsewhere", "name": "宽带"},
                    "product": {"name": "宽带", "productCharacteristic": [{"name": "bandwidth", "value": "300M"}]},
                }
            ],
        },
        patch=lambda: {"description": unique("改订单")},
        removable="category",
        filter_attr="description",
        nested_filter="relatedParty.id",
    ),
]


def nested_value(doc: Doc, path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if isinstance(value, list):
            value = value[0]
        value = value[part]
    return value


def ids(r: Response) -> list[str]:
    return [item["id"] for item in r.json()]


class TmfContract:
    """The tests every TMF resource passes; needs the ``resource`` and ``tmf`` fixtures."""

    @pytest.fixture
    def tmf(self, client: TestClient, admin: dict[str, str]) -> Api:
        return Api(client, admin)

    # ----- create -------------------------------------------------------------------------
    def test_create_answers_201_with_location_and_the_object(self, resource: Resource, tmf: Api) -> None:
        payload = resource.rich(tmf)
        r = tmf.post(resource.path, payload)
        assert r.status_code == 201, r.text
        body = r.json()
        assert isinstance(body["id"], str) and body["id"]
        assert body["@type"] == resource.type_name
        assert body["href"] == f"http://testserver{resource.path}/{body['id']}"
        assert r.headers["Location"] == body["href"]
        for key, value in payload.items():
            assert body[key] == value, key
        got = tmf.get(r.headers["Location"])
        assert got.status_code == 200
        assert got.json() == body

    def test_minimal_payload_is_accepted(self, resource: Resource, tmf: Api) -> None:
        payload = resource.minimal(tmf)
        required = set(resource.spec.definitions[f"{resource.type_name}_Create"].get("required", []))
        assert set(payload) == required, "the minimal payload is the spec's required attributes"
        body = tmf.create(resource.path, payload)
        assert body["@type"] == resource.type_name
        assert {k: body[k] for k in payload} == payload

    def test_each_required_attribute_is_required(self, resource: Resource, tmf: Api) -> None:
        payload = resource.minimal(tmf)
        before = len(tmf.get(resource.path, limit=1000).json())
        for attr in payload:
            r = tmf.post(resource.path, {k: v for k, v in payload.items() if k != attr})
            assert_tmf_error(r, 400, attr)
        assert len(tmf.get(resource.path, limit=1000).json()) == before

    def test_client_cannot_choose_id_or_href(self, resource: Resource, tmf: Api) -> None:
        payload = resource.minimal(tmf)
        assert_tmf_error(tmf.post(resource.path, {**payload, "id": "chosen-1"}), 400, "id")
        assert_tmf_error(tmf.post(resource.path, {**payload, "href": "http://x/y"}), 400, "href")
        assert tmf.get(f"{resource.path}/chosen-1").status_code == 404

    def test_type_may_name_a_subclass_but_not_another_resource(self, resource: Resource, tmf: Api) -> None:
        other = next(t for t in OTHER_TYPES if t != resource.type_name and t in resource.spec.definitions)
        assert_tmf_error(tmf.post(resource.path, {**resource.minimal(tmf), "@type": other}), 400, "@type")
        subclass = {"@type": f"Local{resource.type_name}", "@baseType": resource.type_name}
        created = tmf.create(resource.path, {**resource.minimal(tmf), **subclass})
        assert {k: created[k] for k in subclass} == subclass
        url = f"{resource.path}/{created['id']}"
        assert_tmf_error(tmf.patch(url, {"@type": other}), 400, "@type")
        assert tmf.get(url).json() == created

    # ----- read ---------------------------------------------------------------------------
    def test_get_by_id(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.rich(tmf))
        r = tmf.get(f"{resource.path}/{created['id']}")
        assert r.status_code == 200
        assert r.json() == created

    def test_unknown_id_is_404_tmf_error(self, resource: Resource, tmf: Api) -> None:
        for method in ("get", "patch", "delete"):
            url = f"{resource.path}/NO-SUCH-ID-42"
            r = tmf.patch(url, resource.patch()) if method == "patch" else getattr(tmf, method)(url)
            body = assert_tmf_error(r, 404)
            assert body["reason"] == "Not Found"

    # ----- list ---------------------------------------------------------------------------
    def test_list_is_an_array_with_count_headers(self, resource: Resource, tmf: Api) -> None:
        baseline = tmf.get(resource.path, limit=1000)
        assert baseline.status_code == 200
        assert isinstance(baseline.json(), list)
        created = [tmf.create(resource.path, resource.rich(tmf)) for _ in range(3)]
        r = tmf.get(resource.path, limit=1000)
        assert r.status_code == 200
        items = r.json()
        assert isinstance(items, list)
        assert int(r.headers["X-Total-Count"]) == len(baseline.json()) + 3
        assert int(r.headers["X-Result-Count"]) == len(items) == len(baseline.json()) + 3
        assert {c["id"] for c in created} <= set(ids(r))
        for item in items:
            assert item["href"].endswith(f"{resource.path}/{item['id']}")
            assert item["@type"] == resource.type_name

        value = created[1][resource.filter_attr]
        r = tmf.get(resource.path, **{resource.filter_attr: value})
        assert r.status_code == 200
        assert ids(r) == [created[1]["id"]]
        assert r.headers["X-Total-Count"] == "1"
        assert r.headers["X-Result-Count"] == "1"

        r = tmf.get(resource.path, **{resource.filter_attr: "no such value"})
        assert r.json() == []
        assert r.headers["X-Total-Count"] == "0"
        assert r.headers["X-Result-Count"] == "0"

    def test_filter_with_several_values_and_ne(self, resource: Resource, tmf: Api) -> None:
        created = [tmf.create(resource.path, resource.rich(tmf)) for _ in range(3)]
        values = [c[resource.filter_attr] for c in created]
        r = tmf.get(resource.path, **{resource.filter_attr: f"{values[0]},{values[2]}"})
        assert sorted(ids(r)) == sorted([created[0]["id"], created[2]["id"]])
        assert r.headers["X-Total-Count"] == "2"
        r = tmf.get(resource.path, limit=1000, **{f"{resource.filter_attr}.ne": values[0]})
        assert created[0]["id"] not in ids(r)
        assert {created[1]["id"], created[2]["id"]} <= set(ids(r))

    def test_default_page_size_applies(self, resource: Resource, tmf: Api) -> None:
        existing = int(tmf.get(resource.path).headers["X-Total-Count"])
        for _ in range(max(0, DEFAULT_PAGE_SIZE + 1 - existing)):
            tmf.create(resource.path, resource.minimal(tmf))
        total = max(existing, DEFAULT_PAGE_SIZE + 1)
        r = tmf.get(resource.path)
        assert r.status_code == 200
        assert len(r.json()) == DEFAULT_PAGE_SIZE
        assert r.headers["X-Result-Count"] == str(DEFAULT_PAGE_SIZE)
        assert r.headers["X-Total-Count"] == str(total)
        rest = tmf.get(resource.path, offset=DEFAULT_PAGE_SIZE)
        assert len(rest.json()) == total - DEFAULT_PAGE_SIZE
        assert not set(ids(r)) & set(ids(rest))

    def test_offset_and_limit_page_through_everything_once(self, resource: Resource, tmf: Api) -> None:
        for _ in range(5):
            tmf.create(resource.path, resource.minimal(tmf))
        everything = ids(tmf.get(resource.path, limit=1000))
        total = len(everything)
        assert total >= 5
        seen: list[str] = []
        for offset in range(0, total, 2):
            r = tmf.get(resource.path, offset=offset, limit=2)
            assert r.status_code == 200
            assert r.headers["X-Total-Count"] == str(total)
            assert r.headers["X-Result-Count"] == str(len(r.json()))
            assert 1 <= len(r.json()) <= 2
            seen += ids(r)
        assert seen == everything
        past = tmf.get(resource.path, offset=total, limit=2)
        assert past.json() == []
        assert past.headers["X-Total-Count"] == str(total)
        assert past.headers["X-Result-Count"] == "0"
        for bad in ({"limit": "-1"}, {"offset": "x"}, {"limit": "100000"}):
            assert_tmf_error(tmf.get(resource.path, **bad), 400, next(iter(bad)))

    def test_fields_keeps_only_named_attributes(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.rich(tmf))
        attr = resource.filter_attr
        kept = {attr, "id", "href", "@type"}
        one = tmf.get(f"{resource.path}/{created['id']}", fields=attr)
        assert one.status_code == 200
        assert set(one.json()) == kept
        assert one.json()[attr] == created[attr]
        listed = tmf.get(resource.path, fields=attr, **{attr: created[attr]})
        assert [set(item) for item in listed.json()] == [kept]
        both = tmf.get(f"{resource.path}/{created['id']}", fields=f"{attr},{resource.removable}")
        assert set(both.json()) == kept | {resource.removable}

    def test_nested_attribute_filter(self, resource: Resource, tmf: Api) -> None:
        if resource.nested_filter is None:
            pytest.skip(f"{resource.name} has no reference to filter on")
        first = tmf.create(resource.path, resource.rich(tmf))
        tmf.create(resource.path, resource.minimal(tmf))
        value = nested_value(first, resource.nested_filter)
        r = tmf.get(resource.path, **{resource.nested_filter: value})
        assert r.status_code == 200
        assert ids(r) == [first["id"]]
        assert r.headers["X-Total-Count"] == "1"
        assert tmf.get(resource.path, **{resource.nested_filter: "NOPE-1"}).json() == []

    def test_range_operators(self, resource: Resource, tmf: Api) -> None:
        if resource.ranged is None:
            pytest.skip(f"{resource.name} has no ordered attribute worth a range filter")
        path, part, low, high = resource.ranged
        low_doc = tmf.create(resource.path, {**resource.rich(tmf), **part(low)})
        high_doc = tmf.create(resource.path, {**resource.rich(tmf), **part(high)})
        middle, top = (str((low + high) // 2), "99999") if isinstance(low, int) else ("1990-01-01", "2100-01-01")
        mine = {low_doc["id"], high_doc["id"]}
        for params, expected in (
            ({f"{path}.gt": middle}, {high_doc["id"]}),
            ({f"{path}.lt": middle}, {low_doc["id"]}),
            ({f"{path}[gte]": middle}, {high_doc["id"]}),
            ({f"{path}[lte]": middle}, {low_doc["id"]}),
            ({f"{path}.gt": middle, f"{path}.lt": top}, {high_doc["id"]}),
            ({f"{path}.gt": top}, set()),
            ({f"{path}.eq": str(low) if isinstance(low, int) else low}, {low_doc["id"]}),
        ):
            r = tmf.get(resource.path, limit=1000, **params)
            assert r.status_code == 200, (params, r.text)
            assert set(ids(r)) & mine == expected, params

    def test_bad_filter_names_are_400(self, resource: Resource, tmf: Api) -> None:
        assert_tmf_error(tmf.get(resource.path, **{"name'); DROP TABLE party;--": "x"}), 400)
        assert_tmf_error(tmf.get(resource.path, **{"a.b.c.d.e.f.g": "x"}), 400)

    # ----- patch --------------------------------------------------------------------------
    def test_merge_patch_both_content_types(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.rich(tmf))
        url = f"{resource.path}/{created['id']}"
        for content_type in ("application/merge-patch+json", "application/json"):
            change = resource.patch()
            r = tmf.patch(url, change, content_type)
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["id"] == created["id"]
            assert body["href"] == created["href"]
            assert body["@type"] == resource.type_name
            for key, value in change.items():
                assert body[key] == value
            untouched = {k: v for k, v in created.items() if k not in change and k != "status"}
            assert {k: body[k] for k in untouched} == untouched
            assert tmf.get(url).json() == body

    def test_merge_patch_null_removes_an_attribute(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.rich(tmf))
        assert resource.removable in created
        url = f"{resource.path}/{created['id']}"
        r = tmf.patch(url, {resource.removable: None})
        assert r.status_code == 200, r.text
        assert resource.removable not in r.json()
        assert resource.removable not in tmf.get(url).json()

    def test_patch_cannot_remove_a_required_attribute(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.minimal(tmf))
        url = f"{resource.path}/{created['id']}"
        for attr in resource.minimal(tmf):
            assert_tmf_error(tmf.patch(url, {attr: None}), 400, attr)
        assert tmf.get(url).json() == created

    def test_read_only_attributes_cannot_be_patched(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.minimal(tmf))
        url = f"{resource.path}/{created['id']}"
        assert_tmf_error(tmf.patch(url, {"id": "OTHER-1"}), 400, "id")
        assert_tmf_error(tmf.patch(url, {"id": "OTHER-1"}, "application/json"), 400, "id")
        assert_tmf_error(tmf.patch(url, {"href": "http://elsewhere/1"}), 400, "href")
        for attr in sorted(resource.spec.read_only(resource.type_name) - {"id", "href"}):
            assert_tmf_error(tmf.patch(url, {attr: None}), 400, attr)
        assert tmf.get(url).json() == created
        assert tmf.get(f"{resource.path}/OTHER-1").status_code == 404

    def test_patch_with_wrong_type_is_400(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.minimal(tmf))
        url = f"{resource.path}/{created['id']}"
        attr = resource.filter_attr
        assert_tmf_error(tmf.patch(url, {attr: 42}), 400, attr)
        assert_tmf_error(tmf.patch(url, ["not", "an", "object"]), 400)
        assert tmf.get(url).json() == created

    # ----- delete -------------------------------------------------------------------------
    def test_delete_then_get_is_404(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.rich(tmf))
        url = f"{resource.path}/{created['id']}"
        r = tmf.delete(url)
        assert r.status_code == 204
        assert r.content == b""
        assert_tmf_error(tmf.get(url), 404)
        assert_tmf_error(tmf.delete(url), 404)
        assert created["id"] not in ids(tmf.get(resource.path, limit=1000))

    # ----- authentication -----------------------------------------------------------------
    def test_unauthenticated_is_401_tmf_error(self, resource: Resource, tmf: Api) -> None:
        created = tmf.create(resource.path, resource.minimal(tmf))
        url = f"{resource.path}/{created['id']}"
        client = tmf.client
        for headers in ({}, {"Authorization": "Bearer not-a-real-token"}, {"Authorization": "Basic YTpi"}):
            responses = [
                client.get(resource.path, headers=headers),
                client.post(resource.path, json=resource.minimal(tmf), headers=headers),
                client.get(url, headers=headers),
                client.patch(url, json=resource.patch(), headers={**headers, **MERGE_PATCH}),
                client.delete(url, headers=headers),
            ]
            for r in responses:
                assert_tmf_error(r, 401)
                assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert tmf.get(url).json() == created
