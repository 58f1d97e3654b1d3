"""The demo product catalog (统一产品目录): fixed line, long distance, mobile, broadband, IPTV,
VoIP, leased lines, value-added services and bundles with bundle discounts.

``load_catalog(url)`` writes it through the catalog service (same rules, audit and events as the
API), with fixed ids, skipping items that already exist: running it twice changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telcrm.catalog import repository
from telcrm.catalog.service import SERVICES
from telcrm.kit.auth import SYSTEM_CALLER, Context
from telcrm.kit.db import Database

Doc = dict[str, Any]
START = {"startDateTime": "2025-01-01T00:00:00+08:00"}


def _ref(id_: str, name: str, kind: str) -> Doc:
    return {"id": id_, "name": name, "@referredType": kind}


def _spec(
    id_: str, name: str, description: str, domain: str, chars: list[tuple[str, str, list[Any]]]
) -> tuple[str, str, Doc]:
    # networkDomain (one fixed value) tells order fulfilment which provisioning system does the work
    chars = [*chars, ("networkDomain", "string", [domain])]
    return (
        "ProductSpecification",
        id_,
        {
            "name": name,
            "description": description,
            "brand": "telcrm",
            "productNumber": id_.upper(),
            "lifecycleStatus": "active",
            "validFor": START,
            "productSpecCharacteristic": [
                {
                    "name": cname,
                    "valueType": vtype,
                    "configurable": len(values) > 1,
                    "productSpecCharacteristicValue": [
                        {"value": v, "isDefault": i == 0, "valueType": vtype} for i, v in enumerate(values)
                    ],
                }
                for cname, vtype, values in chars
            ],
            "version": "1",
        },
    )


def _price(id_: str, name: str, price_type: str, value: float, **extra: Any) -> tuple[str, str, Doc]:
    doc: Doc = {
        "name": name,
        "priceType": price_type,
        "price": {"unit": "CNY", "value": value},
        "lifecycleStatus": "active",
        "validFor": START,
        "version": "1",
        **extra,
    }
    if price_type == "recurring":
        doc.setdefault("recurringChargePeriodType", "month")
        doc.setdefault("recurringChargePeriodLength", 1)
    return ("ProductOfferingPrice", id_, doc)


def _applies(id_: str, name: str) -> Doc:
    """A discount's target price (ordering.pricing)."""
    return {"id": id_, "name": name, "relationshipType": "appliesTo", "@referredType": "ProductOfferingPrice"}


def _tier(low: float, high: float | None, value: float) -> Doc:
    """A usage tier (ADR 5): [low, high) units at ``value`` CNY each; the last one is open."""
    tier: Doc = {"fromQuantity": low, "price": {"unit": "CNY", "value": value}}
    if high is not None:
        tier["toQuantity"] = high
    return tier


def _window(start: str, end: str, value: float) -> Doc:
    """A time-of-day rate (ADR 5), Beijing time, may wrap midnight."""
    return {"startTime": start, "endTime": end, "price": {"unit": "CNY", "value": value}}


def _per(units: str, amount: float = 1) -> Doc:
    return {"unitOfMeasure": {"amount": amount, "units": units}}


def _offering(
    id_: str,
    name: str,
    category: tuple[str, str],
    spec: tuple[str, str] | None,
    prices: list[tuple[str, str]],
    **extra: Any,
) -> tuple[str, str, Doc]:
    doc: Doc = {
        "name": name,
        "lifecycleStatus": "active",
        "isBundle": False,
        "isSellable": True,
        "validFor": START,
        "version": "1",
        "category": [_ref(category[0], category[1], "Category")],
        "productOfferingPrice": [_ref(pid, pname, "ProductOfferingPrice") for pid, pname in prices],
        "channel": [_ref(c, n, "Channel") for c, n in CHANNELS],
        **extra,
    }
    if spec is not None:
        doc["productSpecification"] = _ref(spec[0], spec[1], "ProductSpecification")
    return ("ProductOffering", id_, doc)


def _bundle(id_: str, name: str, parts: list[tuple[str, str]], prices: list[tuple[str, str]]) -> tuple[str, str, Doc]:
    kind, _, doc = _offering(id_, name, BUNDLES, None, prices)
    doc["isBundle"] = True
    doc["bundledProductOffering"] = [
        {
            "id": pid,
            "name": pname,
            "bundledProductOfferingOption": {
                "numberRelOfferLowerLimit": 1,
                "numberRelOfferUpperLimit": 1,
                "numberRelOfferDefault": 1,
            },
        }
        for pid, pname in parts
    ]
    return (kind, id_, doc)


CHANNELS = [("hall", "营业厅 retail hall"), ("webHall", "网上营业厅 web hall"), ("callCenter", "10000号 call center")]
FIXED = ("cat-fixed", "固话 Fixed")
MOBILE = ("cat-mobile", "移动 Mobile")
BROADBAND = ("cat-broadband", "宽带 Broadband")
TV = ("cat-tv", "电视 TV")
ENTERPRISE = ("cat-enterprise", "政企 Enterprise")
BUNDLES = ("cat-bundles", "融合套餐 Bundles")
CATEGORIES = [FIXED, MOBILE, BROADBAND, TV, ENTERPRISE, BUNDLES]

SPEC_LOCAL = ("spec-local-line", "市话 Local fixed line")
SPEC_LD = ("spec-long-distance", "长途 Long distance")
SPEC_MOBILE = ("spec-mobile", "移动语音数据 Mobile voice and data")
SPEC_BB = ("spec-broadband", "宽带接入 Broadband access")
SPEC_IPTV = ("spec-iptv", "IPTV 网络电视")
SPEC_VOIP = ("spec-voip", "VoIP 网络电话")
SPEC_LEASED = ("spec-leased-line", "专线 Enterprise leased line")
SPEC_VAS = ("spec-vas", "增值业务 Value-added service")


def _items() -> list[tuple[str, str, Doc]]:
    items: list[tuple[str, str, Doc]] = [
        (
            "Category",
            cid,
            {"name": name, "isRoot": True, "lifecycleStatus": "active", "validFor": START, "version": "1"},
        )
        for cid, name in CATEGORIES
    ]
    items += [
        _spec(*SPEC_LOCAL, "PSTN 本地电话", "fixed", [("lineType", "string", ["residential", "business"])]),
        _spec(
            *SPEC_LD,
            "国内及国际长途 domestic and international",
            "fixed",
            [("scope", "string", ["domestic", "international"])],
        ),
        _spec(
            *SPEC_MOBILE,
            "4G/5G 语音与数据",
            "mobile",
            [("network", "string", ["5G", "4G"]), ("includedMinutes", "integer", [300, 800, 2000])],
        ),
        _spec(*SPEC_BB, "光纤宽带 FTTH", "broadband", [("bandwidth", "string", ["100M", "300M", "1000M"])]),
        _spec(*SPEC_IPTV, "高清/4K 网络电视", "iptv", [("resolution", "string", ["HD", "4K"])]),
        _spec(*SPEC_VOIP, "IP 电话", "voip", [("codec", "string", ["G.711", "G.729"])]),
        _spec(*SPEC_LEASED, "数字电路/互联网专线 DIA", "leased", [("bandwidth", "string", ["10M", "100M", "1000M"])]),
        _spec(
            *SPEC_VAS,
            "来电显示、彩铃 caller ID, ringback tone",
            "vas",
            [("feature", "string", ["callerId", "ringbackTone"])],
        ),
    ]
    prices = [
        _price("pop-local-monthly", "市话月租 local line rental", "recurring", 25),
        _price("pop-local-minute", "市话通话费 local calls per 3 min", "usage", 0.22, **_per("minute", 3)),
        _price("pop-ld-monthly", "长途包 200 分钟 long-distance package", "recurring", 20),
        _price(
            "pop-ld-minute",
            "长途超出 per minute beyond, off-peak half price",
            "usage",
            0.07,
            **_per("minute"),
            timeOfDay=[_window("07:00", "23:00", 0.07), _window("23:00", "07:00", 0.035)],
        ),
        _price("pop-mobile-minute", "国内通话超出 per minute beyond", "usage", 0.15, **_per("minute")),
        _price(
            "pop-mobile-gb",
            "国内流量超出 per GB beyond, in tiers",
            "usage",
            3,
            **_per("GB"),
            priceTier=[_tier(0, 10, 3), _tier(10, 40, 2), _tier(40, None, 1)],
        ),
        _price("pop-iptv-monthly", "IPTV 月费", "recurring", 20),
        _price("pop-voip-minute", "VoIP 通话费 per minute", "usage", 0.05, **_per("minute")),
        _price("pop-leased-100m-monthly", "专线 100M 月租", "recurring", 3800),
        _price("pop-leased-install", "专线开通费 installation", "oneTime", 5000),
        _price("pop-callerid-monthly", "来电显示月费", "recurring", 6),
        _price("pop-ringback-monthly", "彩铃月费", "recurring", 5),
        _price("pop-bb-install", "宽带安装费 installation", "oneTime", 100),
    ]
    for fee, minutes, gb in ((59, 300, 30), (99, 800, 60), (199, 2000, 150)):
        prices += [
            _price(f"pop-mobile-{fee}-monthly", f"{fee}元套餐月费 monthly fee", "recurring", fee),
            _price(
                f"pop-mobile-{fee}-minutes",
                f"含国内通话 {minutes} 分钟 included minutes",
                "allowance",
                0,
                recurringChargePeriodType="month",
                **_per("minute", minutes),
            ),
            _price(
                f"pop-mobile-{fee}-data",
                f"含国内流量 {gb}GB included data",
                "allowance",
                0,
                recurringChargePeriodType="month",
                **_per("GB", gb),
            ),
        ]
    for speed, fee in (("100m", 80), ("300m", 120), ("1000m", 199)):
        prices.append(_price(f"pop-bb-{speed}-monthly", f"宽带 {speed.upper()} 月费", "recurring", fee))
    discounts = [
        _price("pop-disc-local-ld", "市话+长途 优惠 10元/月", "discount", 10, recurringChargePeriodType="month"),
        # a percentage discount takes off the prices it names (appliesTo), else all the parts' recurring
        # charges (ordering.pricing)
        _price(
            "pop-disc-line-bb",
            "宽带+固话 固话月租减免 local line free",
            "discount",
            0,
            percentage=100,
            popRelationship=[_applies("pop-local-monthly", "市话月租")],
        ),
        _price(
            "pop-disc-converged",
            "融合套餐 宽带与IPTV 立减 30%",
            "discount",
            0,
            percentage=30,
            popRelationship=[
                _applies("pop-bb-300m-monthly", "宽带 300M 月费"),
                _applies("pop-iptv-monthly", "IPTV 月费"),
            ],
        ),
    ]
    items += prices + discounts

    items += [
        _offering(
            "po-local-line",
            "市话 Local fixed line",
            FIXED,
            SPEC_LOCAL,
            [("pop-local-monthly", "市话月租"), ("pop-local-minute", "市话通话费")],
            prodSpecCharValueUse=[{"name": "lineType", "productSpecCharacteristicValue": [{"value": "residential"}]}],
        ),
        _offering(
            "po-long-distance",
            "长途套餐 200 分钟 Long-distance package",
            FIXED,
            SPEC_LD,
            [("pop-ld-monthly", "长途包"), ("pop-ld-minute", "长途超出")],
        ),
        _offering("po-voip", "VoIP 网络电话", FIXED, SPEC_VOIP, [("pop-voip-minute", "VoIP 通话费")]),
    ]
    for fee in (59, 99, 199):
        items.append(
            _offering(
                f"po-mobile-{fee}",
                f"{fee}元 5G 畅享套餐 {fee} CNY monthly plan",
                MOBILE,
                SPEC_MOBILE,
                [
                    (f"pop-mobile-{fee}-monthly", "月费"),
                    (f"pop-mobile-{fee}-minutes", "含通话"),
                    (f"pop-mobile-{fee}-data", "含流量"),
                    ("pop-mobile-minute", "通话超出"),
                    ("pop-mobile-gb", "流量超出"),
                ],
                marketSegment=[{"id": "individual", "name": "个人客户"}],
            )
        )
    for speed in ("100m", "300m", "1000m"):
        items.append(
            _offering(
                f"po-broadband-{speed}",
                f"宽带 {speed.upper()} Broadband",
                BROADBAND,
                SPEC_BB,
                [(f"pop-bb-{speed}-monthly", "月费"), ("pop-bb-install", "安装费")],
                prodSpecCharValueUse=[
                    {"name": "bandwidth", "productSpecCharacteristicValue": [{"value": speed.upper()}]}
                ],
            )
        )
    items += [
        _offering("po-iptv", "IPTV 高清电视 HD", TV, SPEC_IPTV, [("pop-iptv-monthly", "IPTV 月费")]),
        _offering(
            "po-leased-line-100m",
            "互联网专线 100M Enterprise leased line",
            ENTERPRISE,
            SPEC_LEASED,
            [("pop-leased-100m-monthly", "专线月租"), ("pop-leased-install", "开通费")],
            marketSegment=[{"id": "group", "name": "集团客户"}],
            prodSpecCharValueUse=[{"name": "bandwidth", "productSpecCharacteristicValue": [{"value": "100M"}]}],
        ),
        _offering(
            "po-caller-id",
            "来电显示 Caller ID",
            FIXED,
            SPEC_VAS,
            [("pop-callerid-monthly", "来电显示月费")],
            prodSpecCharValueUse=[{"name": "feature", "productSpecCharacteristicValue": [{"value": "callerId"}]}],
        ),
        _offering(
            "po-ringback",
            "彩铃 Ringback tone",
            MOBILE,
            SPEC_VAS,
            [("pop-ringback-monthly", "彩铃月费")],
            prodSpecCharValueUse=[{"name": "feature", "productSpecCharacteristicValue": [{"value": "ringbackTone"}]}],
        ),
        _bundle(
            "po-bundle-local-ld",
            "市话+长途 Local and long distance",
            [("po-local-line", "市话"), ("po-long-distance", "长途套餐")],
            [("pop-disc-local-ld", "市话+长途 优惠")],
        ),
        _bundle(
            "po-bundle-line-broadband",
            "宽带+固话 Broadband and fixed line",
            [("po-broadband-300m", "宽带 300M"), ("po-local-line", "市话")],
            [("pop-disc-line-bb", "固话月租减免")],
        ),
        _bundle(
            "po-bundle-converged",
            "融合套餐 Mobile + broadband + IPTV",
            [("po-mobile-99", "99元套餐"), ("po-broadband-300m", "宽带 300M"), ("po-iptv", "IPTV")],
            [("pop-disc-converged", "融合优惠")],
        ),
        (
            "Catalog",
            "catalog-main",
            {
                "name": "统一产品目录 Product catalog",
                "catalogType": "productCatalog",
                "lifecycleStatus": "active",
                "validFor": START,
                "version": "1",
                "category": [_ref(cid, name, "Category") for cid, name in CATEGORIES],
            },
        ),
    ]
    return items


async def _load(db: Database) -> int:
    items = _items()
    created = 0
    async with db.unit_of_work() as uow:
        ctx = Context(uow=uow, caller=SYSTEM_CALLER, channel="demo")
        existing = await repository.existing_ids(ctx, [id_ for _, id_, _ in items])
        for kind, id_, doc in items:
            if id_ not in existing:
                await SERVICES[kind].create(ctx, doc, fixed_id=id_)
                created += 1
    return created


def load_catalog(url: str) -> int:
    """Write the demo catalog's missing items; returns how many were created."""

    async def run() -> int:
        db = Database(url, pool_size=1)
        try:
            return await _load(db)
        finally:
            await db.dispose()

    return asyncio.run(run())
