"""Synthetic legacy extracts of a Chinese operator, with ground truth (for tests and benches).

``generate(n_people, seed)`` draws true parties (about 88% individuals, 12% companies) and their
services in five per-network source systems, each with its own habits:

* ``fixed`` (固话, oldest): 15-digit IDs for older customers, traditional characters, landlines as
  "(021) 6234-5678" or without area code, abbreviated addresses (上海浦东张江路...).
* ``mobile``: romanized names in either order ("WANG WEI", "Wei Wang"), "+86 138 1234 5678",
  wrong check digits and mistyped IDs, e-mails, missing addresses.
* ``broadband``: full-width characters, full addresses with 栋/单元/室, swapped month/day in
  birth dates, missing IDs.
* ``voip`` (small, written as .xlsx): romanized names, e-mails.
* ``billing``: customer type, several phones in one field, credit codes, missing fields.

Hard negatives are built in: very common names (王伟, 李娜, ...), households sharing an address
and a landline (different IDs, birth dates and given names), employees giving their company's
switchboard as their phone, and company branches (a separate customer with its own credit code).

Records are dicts with ``source``, ``source_key``, the canonical fields (``kind``, ``name``,
``id_number``, ``credit_code``, ``phone``, ``email``, ``address``, ``birth_date``, ``gender``) and
service fields (``service_number``, ``service_type``, ``service_status``, ``service_start``,
``account_number``, ``updated_at``). ``truth`` maps ``"source:source_key"`` to the true entity id.
``write_sources`` writes each source with its own column names plus a JSON mapping file.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import opencc

from telcrm.resolution.standardise import CITY_AREA_CODES, credit_check_char, id_check_digit

__all__ = ["SOURCES", "generate", "write_sources"]

_S2T = opencc.OpenCC("s2t")

SOURCES = ("fixed", "mobile", "broadband", "voip", "billing")

_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪"
    "范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
_COMPOUND = ("欧阳", "司马", "诸葛", "上官")
_GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂英华玉萍红燕辉鹏飞建国志宏海波斌浩宇晨欣怡子涵梓轩佳琪思雨文博"
    "俊杰晓东小红春梅秋菊冬雪玲丹丹雅婷嘉怡一鸣天翼振华建华永康德胜国强立新卫东晓明少华凤兰秀兰淑珍翠花"
)
_COMMON_NAMES = ("王伟", "李娜", "张伟", "王芳", "李伟", "张敏", "王静", "刘伟", "李静", "张丽")
_DISTRICTS: dict[str, tuple[str, ...]] = {
    "上海": ("浦东新区", "黄浦区", "徐汇区", "长宁区", "静安区", "普陀区", "虹口区", "杨浦区", "闵行区", "宝山区"),
    "北京": ("朝阳区", "海淀区", "东城区", "西城区", "丰台区", "石景山区", "通州区", "昌平区"),
    "广州": ("天河区", "越秀区", "海珠区", "荔湾区", "白云区", "番禺区"),
    "深圳": ("南山区", "福田区", "罗湖区", "宝安区", "龙岗区", "龙华区"),
}
_DEFAULT_DISTRICTS = ("新城区", "高新区", "经开区", "城东区", "城西区", "城南区")
_STREETS = (
    "中山", "人民", "解放", "建设", "和平", "长江", "黄河", "南京", "延安", "淮海", "张江", "科技", "学院", "文化",
    "新华", "东风", "胜利", "光明", "幸福", "友谊", "青年", "朝阳", "滨江", "环城", "迎宾", "金桥", "世纪", "花园",
)  # fmt: skip
_CITY_WEIGHTS = {"上海": 8, "北京": 8, "广州": 5, "深圳": 5, "杭州": 3, "南京": 3, "成都": 3, "武汉": 3}
_CITY_ID_PREFIX = {"北京": "1101", "天津": "1201", "上海": "3101", "重庆": "5001", "广州": "4401", "深圳": "4403"}
_ORG_WORDS = (
    "华信", "宏达", "鑫源", "恒通", "天成", "金桥", "东方", "瑞丰", "博远", "新纪元", "长城", "海天", "中联", "嘉禾",
    "盛世", "腾飞", "永兴", "联创", "星辰", "远景", "同德", "汇丰源", "诚信", "凯瑞", "明珠", "华夏", "信达", "安泰",
)  # fmt: skip
_ORG_INDUSTRY = ("科技", "贸易", "实业", "电子", "网络", "建设", "物流", "咨询", "餐饮管理", "信息技术", "医药")
_ORG_FORMS = ("有限公司", "股份有限公司", "有限责任公司")
_HOMOPHONES = {
    "伟": "玮",
    "娜": "那",
    "静": "婧",
    "丽": "莉",
    "明": "铭",
    "华": "桦",
    "军": "君",
    "杰": "洁",
    "平": "萍",
}
_FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)} | {" ": "\u3000"}


@dataclass
class _Party:
    eid: str
    kind: str
    name: str
    city: str
    address: dict[str, str]
    landline: str
    mobiles: list[str] = field(default_factory=list)
    id_number: str = ""
    birth: date | None = None
    gender: str = ""
    email: str = ""
    credit_code: str = ""
    employer_phone: str = ""


class _Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.cities = list(CITY_AREA_CODES)
        self.city_w = [_CITY_WEIGHTS.get(c, 1) for c in self.cities]
        self.used_mobiles: set[str] = set()
        self.used_ids: set[str] = set()
        self.seq: dict[str, int] = dict.fromkeys(SOURCES, 0)

    # -- true values
    def city(self) -> str:
        return self.r.choices(self.cities, self.city_w)[0]

    def address(self, city: str) -> dict[str, str]:
        r = self.r
        district = r.choice(_DISTRICTS.get(city, _DEFAULT_DISTRICTS))
        province = CITY_AREA_CODES[city][0]
        return {
            "province": province,
            "city": city,
            "district": district,
            "street": r.choice(_STREETS) + r.choice(("路", "路", "街", "大道")),
            "number": str(r.randint(1, 999)),
            "building": str(r.randint(1, 30)),
            "unit": str(r.randint(1, 6)),
            "room": str(r.randint(1, 28) * 100 + r.randint(1, 4)),
        }

    def landline(self, city: str) -> str:
        code = CITY_AREA_CODES[city][1]
        digits = 8 if len(code) == 3 else self.r.choice((7, 8))
        return code + str(self.r.randint(2, 8)) + "".join(str(self.r.randint(0, 9)) for _ in range(digits - 1))

    def mobile(self) -> str:
        while True:
            m = "1" + self.r.choice("3456789") + "".join(str(self.r.randint(0, 9)) for _ in range(9))
            if m not in self.used_mobiles:
                self.used_mobiles.add(m)
                return m

    def person_name(self, surname: str | None = None) -> str:
        r = self.r
        if surname is None and r.random() < 0.03:
            return r.choice(_COMMON_NAMES)
        if surname is None:
            surname = r.choice(_COMPOUND) if r.random() < 0.01 else r.choice(_SURNAMES)
        given = r.choice(_GIVEN) if r.random() < 0.3 else r.choice(_GIVEN) + r.choice(_GIVEN)
        return surname + given

    def id_number(self, city: str, birth: date, gender: str) -> str:
        prefix = _CITY_ID_PREFIX.get(city, str(self.r.randint(11, 65)) + "01")
        while True:
            seq = self.r.randint(0, 99) * 10 + int(self.r.choice("13579") if gender == "M" else self.r.choice("02468"))
            first17 = f"{prefix}{self.r.randint(1, 18):02d}{birth:%Y%m%d}{int(seq):03d}"
            full = first17 + id_check_digit(first17)
            if full not in self.used_ids:
                self.used_ids.add(full)
                return full

    def credit_code(self, city: str) -> str:
        chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        area = _CITY_ID_PREFIX.get(city, "3201") + f"{self.r.randint(1, 18):02d}"
        first17 = "91" + area + "".join(self.r.choice(chars) for _ in range(9))
        return first17 + credit_check_char(first17)

    def birth(self, lo: int = 1940, hi: int = 2004) -> date:
        return date(lo, 1, 1) + timedelta(days=self.r.randint(0, (hi - lo) * 365))

    def key(self, source: str) -> str:
        self.seq[source] += 1
        prefix = {"fixed": "GH", "mobile": "YD", "broadband": "KD", "voip": "VO", "billing": "ZW"}[source]
        return f"{prefix}{self.seq[source]:08d}"


# ------------------------------------------------------------------------------------ corruptions


def _romanize(name: str, r: random.Random) -> str:
    from pypinyin import lazy_pinyin

    surname, given = (name[:2], name[2:]) if name[:2] in _COMPOUND else (name[:1], name[1:])
    sur, giv = "".join(lazy_pinyin(surname)), "".join(lazy_pinyin(given))
    style = r.random()
    if style < 0.4:
        return f"{sur.upper()} {giv.upper()}"
    if style < 0.8:
        return f"{giv.capitalize()} {sur.capitalize()}"
    return f"{sur} {giv}"


def _typo_name(name: str, r: random.Random) -> str:
    chars = list(name)
    k = r.randrange(1, len(chars)) if len(chars) > 1 else 0
    chars[k] = _HOMOPHONES.get(chars[k], r.choice(_GIVEN))
    return "".join(chars)


def _typo_digits(value: str, r: random.Random) -> str:
    chars = list(value)
    k = r.randrange(6, len(chars) - 1)
    if r.random() < 0.5 and k + 1 < len(chars) - 1 and chars[k] != chars[k + 1]:
        chars[k], chars[k + 1] = chars[k + 1], chars[k]
    else:
        chars[k] = str((int(chars[k]) + r.randint(1, 9)) % 10) if chars[k].isdigit() else "0"
    return "".join(chars)


def _wrong_check(value: str) -> str:
    good = value[-1]
    return value[:-1] + ("0" if good != "0" else "1")


def _fullwidth(text: str) -> str:
    return "".join(_FULLWIDTH.get(c, c) for c in text)


def _addr_text(a: dict[str, str], style: str, r: random.Random) -> str:
    city, district = a["city"], a["district"]
    municipality = a["province"] == city
    prov = "" if municipality else a["province"] + "省"
    if style == "full":
        return f"{prov}{city}市{district}{a['street']}{a['number']}号{a['building']}栋{a['unit']}单元{a['room']}室"
    if style == "short":
        d = district[:-1] if district.endswith("区") and len(district) > 2 else district
        d = d[:-1] if d.endswith("新") else d
        bld = r.choice(("栋", "幢", "号楼"))
        return f"{city}{d}{a['street']}{a['number']}号{a['building']}{bld}{a['room']}"
    return f"{city}市{district}{a['street']}{a['number']}号{a['building']}-{a['room']}"


def _phone_text(number: str, style: str, r: random.Random, with_area: bool = True) -> str:
    if number.startswith("1"):
        if style == "intl":
            return f"+86 {number[:3]} {number[3:7]} {number[7:]}"
        if style == "dash":
            return f"{number[:3]}-{number[3:7]}-{number[7:]}"
        if style == "0086":
            return "0086" + number
        return number
    code = number[:3] if number[1] in "12" else number[:4]
    local = number[len(code) :]
    if not with_area:
        return local
    if style == "paren":
        return f"({code}) {local[:4]}-{local[4:]}"
    if style == "intl":
        return f"+86 {code[1:]} {local}"
    return f"{code}-{local}"


# --------------------------------------------------------------------------------------- records


def _record(g: _Gen, p: _Party, source: str, service: tuple[str, str], when: date) -> dict[str, Any]:
    r = g.r
    rec: dict[str, Any] = dict.fromkeys(
        ("kind", "name", "id_number", "credit_code", "phone", "email", "address", "birth_date", "gender")
    )
    name = p.name
    person = p.kind == "individual"
    if person and r.random() < 0.03:
        name = _typo_name(name, r)
    if not person:
        name = _org_variant(p.name, r)
    ident = p.id_number if person else p.credit_code
    addr_style = "full"
    phones: list[str] = []
    if source == "fixed":
        if person and p.birth and p.birth.year < 1985 and r.random() < 0.6:
            ident = ident[:6] + ident[8:17]  # 15-digit legacy ID
        if r.random() < 0.15:
            name = _S2T.convert(name)
        addr_style = "short" if r.random() < 0.5 else "dash"
        phones = [_phone_text(p.landline, r.choice(("paren", "dash", "intl")), r, with_area=r.random() < 0.7)]
        rec["id_number"] = ident if r.random() < 0.9 else None
    elif source == "mobile":
        if person and r.random() < 0.12:
            name = _romanize(name, r)
        if person and r.random() < 0.03:
            ident = _wrong_check(ident)
        elif r.random() < 0.02:
            ident = _typo_digits(ident, r)
        rec["id_number"] = ident if person else None
        rec["credit_code"] = None if person else (ident if r.random() < 0.7 else None)
        phones = [_phone_text(service[1], r.choice(("intl", "dash", "0086", "plain")), r)]
        if person and p.employer_phone and r.random() < 0.5:
            phones = [_phone_text(p.employer_phone, "dash", r)]  # employee gives the switchboard
        rec["email"] = p.email if p.email and r.random() < 0.6 else None
        addr_style = "none" if r.random() < 0.25 else "dash"
    elif source == "broadband":
        rec["id_number"] = ident if person and r.random() < 0.7 else None
        rec["credit_code"] = None if person else ident
        phones = [p.mobiles[0] if p.mobiles and r.random() < 0.6 else p.landline]
        if person and p.birth:
            b = p.birth
            rec["birth_date"] = f"{b:%Y-%d-%m}" if r.random() < 0.03 and b.day <= 12 else f"{b:%Y-%m-%d}"
            rec["gender"] = {"M": "男", "F": "女"}[p.gender]
        if r.random() < 0.3:
            name = _fullwidth(name)
            phones = [_fullwidth(_phone_text(phones[0], "dash", r))]
    elif source == "voip":
        if person and r.random() < 0.4:
            name = _romanize(name, r)
        rec["id_number"] = ident if person and r.random() < 0.5 else None
        rec["credit_code"] = None if person else ident
        phones = [_phone_text(service[1], "intl", r)] if service[1].startswith("1") else [p.landline]
        rec["email"] = p.email or None
        addr_style = "dash"
    else:  # billing
        rec["kind"] = "individual" if person else "organization"
        if person and r.random() < 0.02:
            ident = _wrong_check(ident)
        rec["id_number"] = ident if person and r.random() < 0.85 else None
        rec["credit_code"] = None if person else (ident if r.random() < 0.9 else None)
        numbers = [*p.mobiles[:2], p.landline]
        phones = [_phone_text(n, "dash", r) for n in numbers if n and r.random() < 0.7] or [p.landline]
        rec["email"] = p.email or None
        addr_style = "full" if r.random() < 0.8 else "none"
    rec["name"] = name
    rec["phone"] = ", ".join(phones) if phones else None
    rec["address"] = None if addr_style == "none" else _addr_text(p.address, addr_style, r)
    if source == "broadband" and rec["address"] and r.random() < 0.3:
        rec["address"] = _fullwidth(rec["address"])
    if r.random() < 0.03:
        rec["phone"] = None
    status = r.choices(("active", "suspended", "terminated"), (8, 1, 1))[0]
    rec.update(
        source=source,
        source_key=g.key(source),
        service_number=service[1],
        service_type=service[0],
        service_status=status,
        service_start=f"{when:%Y-%m-%d}",
        account_number=f"A{r.randint(10**9, 10**10 - 1)}",
        updated_at=f"{when + timedelta(days=r.randint(0, 900)):%Y-%m-%d}",
    )
    return rec


def _org_variant(name: str, r: random.Random) -> str:
    x = r.random()
    if x < 0.45:
        return name
    if x < 0.6:
        for form in _ORG_FORMS:
            if name.endswith(form):
                return name[: -len(form)] + r.choice([f for f in _ORG_FORMS if f != form])
    if x < 0.72:
        for form in _ORG_FORMS:
            if name.endswith(form):
                return name[: -len(form)] + "公司"
    if x < 0.82:
        return _S2T.convert(name)
    if x < 0.9:
        return name.replace("有限", "(有限)") if "(" in name else name.replace("公司", "公司 ")
    return _fullwidth(name)


def generate(n_people: int, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Legacy records of ``n_people`` true parties and the truth ``{"source:source_key": entity id}``."""
    g = _Gen(seed)
    r = g.r
    parties: list[_Party] = []
    n_org = max(1, int(n_people * 0.12)) if n_people >= 8 else 0
    orgs: list[_Party] = []
    for k in range(n_org):
        city = g.city()
        parent = orgs[r.randrange(len(orgs))] if orgs and r.random() < 0.08 else None
        if parent is not None:  # a branch: a separate customer
            name = parent.name + city + "分公司"
        else:
            core = r.choice(_ORG_WORDS) + r.choice((*_ORG_WORDS[:8], "", "", "")) + r.choice(_ORG_INDUSTRY)
            name = (city if r.random() < 0.5 else "") + core + r.choice(_ORG_FORMS)
        org = _Party(f"C{k:07d}", "organization", name, city, g.address(city), g.landline(city))
        org.credit_code = g.credit_code(city)
        org.mobiles = [g.mobile() for _ in range(r.randint(0, 2))]
        orgs.append(org)
    parties.extend(orgs)
    k = 0
    while k < n_people - n_org:
        city = g.city()
        size = r.choices((1, 2, 3, 4), (60, 20, 14, 6))[0]
        address, landline = g.address(city), g.landline(city)
        family_name = r.choice(_SURNAMES)
        head_birth = g.birth(1940, 1985)
        for member in range(min(size, n_people - n_org - k)):
            if member == 0:
                name, birth = g.person_name(family_name if size > 1 else None), head_birth
            elif member == 1:
                name, birth = g.person_name(), g.birth(head_birth.year - 5, min(head_birth.year + 5, 2004))
            else:
                name, birth = g.person_name(family_name), g.birth(min(head_birth.year + 20, 2003), 2005)
            gender = r.choice("MF")
            p = _Party(f"P{k:07d}", "individual", name, city, address, landline, birth=birth, gender=gender)
            p.id_number = g.id_number(city, birth, gender)
            p.mobiles = [g.mobile() for _ in range(r.choices((1, 2), (80, 20))[0])]
            if r.random() < 0.3:
                p.email = f"u{k}{r.choice(('@qq.com', '@163.com', '@126.com'))}"
            if orgs and r.random() < 0.2:
                p.employer_phone = r.choice(orgs).landline
            parties.append(p)
            k += 1
    records: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for p in parties:
        services: list[tuple[str, tuple[str, str]]] = []
        is_org = p.kind == "organization"
        for m in p.mobiles:
            if r.random() < 0.75:
                services.append(("mobile", ("mobile", m)))
        if r.random() < (0.8 if is_org else 0.4):
            services.append(("fixed", ("fixed_line", p.landline)))
        if r.random() < (0.5 if is_org else 0.4):
            services.append(("broadband", ("broadband", f"AD{r.randint(10**9, 10**10 - 1)}")))
        if r.random() < (0.2 if is_org else 0.03):
            services.append(("voip", ("voip", p.mobiles[0] if p.mobiles else p.landline)))
        if r.random() < (0.8 if is_org else 0.5) or not services:
            services.append(("billing", ("billing_account", f"B{r.randint(10**8, 10**9 - 1)}")))
        for source, service in services:
            rec = _record(g, p, source, service, g.birth(2000, 2020))
            records.append(rec)
            truth[f"{source}:{rec['source_key']}"] = p.eid
    r.shuffle(records)
    return records, truth


# ---------------------------------------------------------------------------------------- writing

_COLUMNS: dict[str, dict[str, str]] = {
    "fixed": {"记录号": "source_key", "用户名称": "name", "证件号码": "id_number", "联系电话": "phone",
              "装机地址": "address", "电话号码": "service_number", "业务类型": "service_type",
              "状态": "service_status", "开户日期": "service_start", "帐号": "account_number",
              "更新时间": "updated_at"},
    "mobile": {"CUST_ID": "source_key", "CUST_NAME": "name", "CERT_NO": "id_number", "ORG_CODE": "credit_code",
               "CONTACT_PHONE": "phone", "EMAIL": "email", "ADDR": "address", "MSISDN": "service_number",
               "SVC_TYPE": "service_type", "STATUS": "service_status", "OPEN_DATE": "service_start",
               "ACCT_ID": "account_number", "LAST_UPD": "updated_at"},
    "broadband": {"用户编号": "source_key", "客户名称": "name", "身份证号": "id_number",
                  "统一社会信用代码": "credit_code", "电话": "phone", "地址": "address", "出生日期": "birth_date",
                  "性别": "gender",
                  "宽带账号": "service_number", "产品": "service_type", "状态": "service_status",
                  "开通日期": "service_start", "合同号": "account_number", "修改时间": "updated_at"},
    "voip": {"id": "source_key", "name": "name", "id_no": "id_number", "credit_code": "credit_code",
             "phone": "phone", "email": "email", "address": "address", "number": "service_number",
             "type": "service_type", "status": "service_status", "since": "service_start",
             "account": "account_number", "updated": "updated_at"},
    "billing": {"ACCOUNT_ROW": "source_key", "CUSTOMER_NAME": "name", "CUSTOMER_TYPE": "kind",
                "CERT_NUMBER": "id_number", "CREDIT_CODE": "credit_code", "PHONES": "phone", "EMAIL": "email",
                "BILL_ADDRESS": "address", "BILL_ACCOUNT": "service_number", "PRODUCT": "service_type",
                "ACCOUNT_STATUS": "service_status", "OPENED": "service_start", "ACCOUNT_NO": "account_number",
                "UPDATED": "updated_at"},
}  # fmt: skip
_DATE_FORMATS = {"fixed": "%Y-%m-%d", "mobile": "%Y%m%d", "broadband": "%Y-%m-%d", "voip": "%Y-%m-%d",
                 "billing": "%Y/%m/%d"}  # fmt: skip


def _cell(record: dict[str, Any], field_name: str, source: str) -> str:
    value = record.get(field_name)
    if value is None:
        return ""
    text = str(value)
    if field_name in ("service_start", "updated_at", "birth_date") and len(text) == 10 and text[4] == "-":
        d = date(int(text[:4]), int(text[5:7]), int(text[8:10])) if field_name != "birth_date" else None
        if d is not None:
            return d.strftime(_DATE_FORMATS[source])
        y, m, dd = text.split("-")
        return date(int(y), int(m), int(dd)).strftime(_DATE_FORMATS[source]) if int(m) <= 12 else text
    return text


def write_sources(records: list[dict[str, Any]], directory: str | Path) -> dict[str, Path]:
    """Write one extract per source (CSV; ``voip`` as .xlsx) and ``<source>.mapping.json`` beside it."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for source in SOURCES:
        columns = _COLUMNS[source]
        rows = [rec for rec in records if rec["source"] == source]
        fmt = "xlsx" if source == "voip" else "csv"
        path = out / f"{source}.{fmt}"
        table = [[_cell(rec, f, source) for f in columns.values()] for rec in rows]
        if fmt == "csv":
            with path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                writer.writerow(list(columns))
                writer.writerows(table)
        else:
            from openpyxl import Workbook

            wb = Workbook(write_only=True)
            ws = wb.create_sheet(source)
            ws.append(list(columns))
            for row in table:
                ws.append(row)
            wb.save(path)
        mapping = {"source": source, "format": fmt, "columns": columns, "date_format": _DATE_FORMATS[source]}
        (out / f"{source}.mapping.json").write_text(json.dumps(mapping, ensure_ascii=False, indent=2), "utf-8")
        paths[source] = path
    return paths
