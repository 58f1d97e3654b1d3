"""Standardise a legacy record's canonical fields for matching (数据清理).

``standardise(raw)`` returns a flat, JSON-serialisable dict of matching values; the caller keeps
the original values. Keys (all optional, ``None`` when unknown):

* ``kind``: "individual" | "organization" (given or inferred).
* names: ``name`` (half-width, simplified, no spaces/punctuation, Latin lower-cased),
  ``name_zh`` (Chinese characters only, when the name is Chinese), ``name_key`` (pinyin key:
  surname and given name as two sorted tokens, so "王伟", "Wang Wei" and "WEI WANG" share it),
  ``surname_py``; for organizations ``org_core`` (name without legal-form suffixes, group marker,
  city prefix and branch), ``org_branch`` (the branch's place, "" when not a branch),
  ``org_city``.
* ``id18`` (valid 18-digit resident ID, 15-digit upgraded), ``id_weak`` (an ID-looking value
  with a bad check digit or a foreign/other ID: compared, never a key), ``id_valid``;
  ``credit_code`` (valid GB 32100 code), ``credit_weak``.
* ``birth_date`` ("YYYY-MM-DD", from the field, else from the ID), ``gender`` ("M"/"F").
* ``phones`` (sorted list: mobiles as 11 digits, landlines as area code + local number),
  ``mobiles``, ``landlines``.
* ``email`` (lower-cased).
* address: ``province``, ``city``, ``district``, ``street``, ``building``, ``unit``, ``room``
  (suffixes such as 省/市/区/县/号/栋/单元/室 removed), ``address`` (normalised full text).

The province/city table below covers all provinces and a few dozen major cities with their
area codes; addresses in other cities still parse, only without area-code completion.
"""

from __future__ import annotations

import gc
import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import opencc
from pypinyin import lazy_pinyin

__all__ = [
    "CITY_AREA_CODES",
    "PROVINCES",
    "credit_check_char",
    "id_check_digit",
    "standardise",
    "standardise_many",
    "upgrade_id15",
]

_T2S = opencc.OpenCC("t2s")

#: Provinces and province-level units, without suffix.
PROVINCES: tuple[str, ...] = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)  # fmt: skip

#: City (without 市) -> (province, landline area code). A few dozen major cities.
CITY_AREA_CODES: dict[str, tuple[str, str]] = {
    "北京": ("北京", "010"), "上海": ("上海", "021"), "天津": ("天津", "022"), "重庆": ("重庆", "023"),
    "广州": ("广东", "020"), "深圳": ("广东", "0755"), "东莞": ("广东", "0769"), "佛山": ("广东", "0757"),
    "珠海": ("广东", "0756"), "汕头": ("广东", "0754"), "南京": ("江苏", "025"), "苏州": ("江苏", "0512"),
    "无锡": ("江苏", "0510"), "常州": ("江苏", "0519"), "杭州": ("浙江", "0571"), "宁波": ("浙江", "0574"),
    "温州": ("浙江", "0577"), "武汉": ("湖北", "027"), "成都": ("四川", "028"), "西安": ("陕西", "029"),
    "沈阳": ("辽宁", "024"), "大连": ("辽宁", "0411"), "长春": ("吉林", "0431"), "哈尔滨": ("黑龙江", "0451"),
    "济南": ("山东", "0531"), "青岛": ("山东", "0532"), "郑州": ("河南", "0371"), "长沙": ("湖南", "0731"),
    "合肥": ("安徽", "0551"), "福州": ("福建", "0591"), "厦门": ("福建", "0592"), "南昌": ("江西", "0791"),
    "昆明": ("云南", "0871"), "贵阳": ("贵州", "0851"), "南宁": ("广西", "0771"), "海口": ("海南", "0898"),
    "石家庄": ("河北", "0311"), "太原": ("山西", "0351"), "呼和浩特": ("内蒙古", "0471"),
    "兰州": ("甘肃", "0931"), "西宁": ("青海", "0971"), "银川": ("宁夏", "0951"), "乌鲁木齐": ("新疆", "0991"),
    "拉萨": ("西藏", "0891"),
}  # fmt: skip

#: Districts of the largest cities (without 区/新区), to recognise them when the suffix is left out.
_DISTRICTS: dict[str, tuple[str, ...]] = {
    "上海": ("浦东", "黄浦", "徐汇", "长宁", "静安", "普陀", "虹口", "杨浦", "闵行", "宝山", "嘉定", "金山", "松江",
             "青浦", "奉贤", "崇明"),
    "北京": ("东城", "西城", "朝阳", "丰台", "石景山", "海淀", "门头沟", "房山", "通州", "顺义", "昌平", "大兴", "怀柔",
             "平谷", "密云", "延庆"),
    "广州": ("荔湾", "越秀", "海珠", "天河", "白云", "黄埔", "番禺", "花都", "南沙", "从化", "增城"),
    "深圳": ("罗湖", "福田", "南山", "宝安", "龙岗", "盐田", "龙华", "坪山", "光明"),
}  # fmt: skip
_MUNICIPALITIES = {"北京", "上海", "天津", "重庆"}
_AREA_CODES = {code for _, code in CITY_AREA_CODES.values()}

#: Compound surnames and surnames whose pinyin differs from the character's common reading.
_COMPOUND_SURNAMES = ("欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "夏侯", "司徒")
_SURNAME_PINYIN = {"曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "朴": "piao", "区": "ou", "查": "zha",
                   "乐": "yue", "覃": "qin", "盖": "ge", "缪": "miao", "翟": "zhai", "燕": "yan"}  # fmt: skip
#: Common surnames in pinyin, to tell a romanized surname from a given name.
_SURNAMES_TEXT = (
    "wang li zhang liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he gao lin luo zheng liang xie song tang "
    "xu han feng deng cao peng zeng xiao tian dong yuan pan yu jiang cai jia ding wei xue ye yan lu du dai xia zhong "
    "wang fu shen ren yao lu jin qiu fan fang shi tan liao zou xiong hao kong bai cui kang mao qin jiang shao meng "
    "long wan duan qian tang yin chang wu qiao lai gong wen ouyang sima zhuge shangguan situ"
)
_SURNAMES_PY = frozenset(_SURNAMES_TEXT.split(" "))

_ORG_HINT = re.compile(r"公司|集团|厂|商行|商店|店$|中心|银行|学校|大学|医院|事务所|研究所|协会|委员会|局$|"
                       r"合作社|酒店|宾馆|工作室|\bco\b|\bltd\b|\binc\b|corp|company|limited", re.I)  # fmt: skip
_ORG_SUFFIXES = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "集团公司", "公司", "集团", "股份", "厂")
_CITY_NAMES = sorted(CITY_AREA_CODES, key=len, reverse=True)
_PROVINCE_NAMES = sorted(PROVINCES, key=len, reverse=True)
_PLACE_NAMES = sorted({*CITY_AREA_CODES, *PROVINCES}, key=len, reverse=True)
_PROVINCE_SUFFIX = "(?:维吾尔自治区|壮族自治区|回族自治区|自治区|特别行政区|省|市)?"
_PROVINCE_RE = re.compile(rf"({'|'.join(_PROVINCE_NAMES)}){_PROVINCE_SUFFIX}")
_CITY_RE = re.compile(rf"({'|'.join(_CITY_NAMES)})市?")
_PUNCT = re.compile(r"[\s\.\,\-_'\"·•・、，。;；:：!！?？/\\|()（）\[\]【】<>《》{}&*#@~`]+")


def _to_halfwidth(text: str) -> str:
    """Full-width ASCII and ideographic space to half-width (NFKC keeps CJK characters)."""
    return unicodedata.normalize("NFKC", text).replace("\u3000", " ")


@lru_cache(maxsize=200_000)
def _simplify(text: str) -> str:
    return str(_T2S.convert(_to_halfwidth(text)))


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = _simplify(str(value)).strip()
    return text or None


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


# ---------------------------------------------------------------------------------------------- names


def _split_chinese_name(name: str) -> tuple[str, str]:
    for surname in _COMPOUND_SURNAMES:
        if name.startswith(surname) and len(name) > len(surname):
            return surname, name[len(surname) :]
    return name[:1], name[1:]


def _pinyin(text: str, surname: bool = False) -> str:
    if surname and text in _SURNAME_PINYIN:
        return _SURNAME_PINYIN[text]
    return "".join(lazy_pinyin(text)).replace("ü", "v")


def _romanized(tokens: list[str]) -> tuple[str, str]:
    """Surname and given name from romanized tokens in either order."""
    tokens = [t.replace("ü", "v").replace("lyu", "lv") for t in tokens]
    if len(tokens) == 1:
        return tokens[0], ""
    if len(tokens) == 2:
        return tokens[0], tokens[1]  # order unknown; the key sorts the two
    if tokens[0] in _SURNAMES_PY:
        return tokens[0], "".join(tokens[1:])
    if tokens[-1] in _SURNAMES_PY:
        return tokens[-1], "".join(tokens[:-1])
    return tokens[0], "".join(tokens[1:])


@lru_cache(maxsize=500_000)
def _person_name(raw: str) -> dict[str, Any]:
    text = _simplify(raw)
    cjk = "".join(ch for ch in text if _is_cjk(ch))
    if cjk and len(cjk) >= max(1, len(re.sub(r"\W", "", text)) // 2):
        surname, given = _split_chinese_name(cjk)
        sur_py, given_py = _pinyin(surname, surname=True), _pinyin(given)
        return {
            "name": cjk,
            "name_zh": cjk,
            "name_key": " ".join(sorted(t for t in (sur_py, given_py) if t)),
            "surname_py": sur_py,
        }
    tokens = [t for t in re.split(r"[^a-z0-9ü]+", text.lower()) if t]
    if not tokens:
        return {"name": None, "name_zh": None, "name_key": None, "surname_py": None}
    sur_py, given_py = _romanized(tokens)
    two_sorted = len(tokens) == 2
    return {
        "name": "".join(tokens),
        "name_zh": None,
        "name_key": " ".join(sorted(t for t in (sur_py, given_py) if t)),
        "surname_py": None if two_sorted else sur_py,
    }


@lru_cache(maxsize=200_000)
def _org_name(raw: str) -> dict[str, Any]:
    text = _simplify(raw).lower()
    text = re.sub(r"[(（]\s*集团\s*[)）]", "", text)
    branch = ""
    if text.endswith("分公司"):
        head = text[: -len("分公司")]
        cut = max((head.rfind(sfx) + len(sfx) for sfx in ("有限公司", "公司") if sfx in head), default=-1)
        if cut > 0 and cut < len(head):
            text, branch = head[:cut], head[cut:]
        else:
            place = next((p for p in _PLACE_NAMES if re.search(rf"{p}(省|市)?$", head)), None)
            if place is not None:
                text, branch = head[: head.rfind(place)], place
            else:
                text, branch = head[:-2], head[-2:]
        branch = re.sub(r"(省|市|区|县)$", "", _PUNCT.sub("", branch))
    name = _PUNCT.sub("", text)
    core = re.sub(r"[(（][^()（）]*[)）]", "", text)  # parenthesised place, e.g. 华为技术(北京)有限公司
    city = None
    paren = re.search(r"[(（]([^()（）]+)[)）]", text)
    if paren:
        place = re.sub(r"(省|市)$", "", paren.group(1))
        if place in CITY_AREA_CODES or place in PROVINCES:
            city = place
    core = _PUNCT.sub("", core)
    changed = True
    while changed:
        changed = False
        for suffix in _ORG_SUFFIXES:
            if core.endswith(suffix) and len(core) > len(suffix) + 1:
                core, changed = core[: -len(suffix)], True
        for suffix in ("co ltd", "coltd", "ltd", "limited", "inc", "corp", "company", "co"):
            if core.endswith(suffix) and len(core) > len(suffix) + 2:
                core, changed = core[: -len(suffix)], True
    for place in _PLACE_NAMES:
        for prefix in (place + "市", place + "省", place):
            if core.startswith(prefix) and len(core) > len(prefix) + 1:
                city = city or place
                core = core[len(prefix) :]
                break
        else:
            continue
        break
    return {"name": name or None, "org_core": core or None, "org_branch": branch, "org_city": city}


# ------------------------------------------------------------------------------------------- IDs

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def id_check_digit(first17: str) -> str:
    """GB 11643 check character of the first 17 digits."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def upgrade_id15(id15: str) -> str:
    """15-digit resident ID (born 19xx) to 18 digits with the check digit."""
    first17 = id15[:6] + "19" + id15[6:]
    return first17 + id_check_digit(first17)


def _valid_date(y: int, m: int, d: int) -> bool:
    if not (1900 <= y <= 2100 and 1 <= m <= 12 and d >= 1):
        return False
    days = (31, 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    return d <= days[m - 1]


def _id_number(raw: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"id18": None, "id_weak": None, "id_valid": False, "id_birth": None, "id_gender": None}
    if not raw:
        return out
    text = re.sub(r"[\s\-]", "", _to_halfwidth(raw)).upper()
    if re.fullmatch(r"\d{15}", text):
        text = upgrade_id15(text)
    if re.fullmatch(r"\d{17}[\dX]", text):
        y, m, d = int(text[6:10]), int(text[10:12]), int(text[12:14])
        if _valid_date(y, m, d):
            out["id_birth"] = f"{y:04d}-{m:02d}-{d:02d}"
            out["id_gender"] = "M" if int(text[16]) % 2 else "F"
        if id_check_digit(text[:17]) == text[17] and out["id_birth"]:
            out["id18"], out["id_valid"] = text, True
        else:
            out["id_weak"] = text
        return out
    alnum = re.sub(r"[^0-9A-Z]", "", text)
    out["id_weak"] = alnum or None  # other or foreign ID: compared, never a key
    return out


_CC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_CC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_check_char(first17: str) -> str:
    """GB 32100 check character of a unified social credit code's first 17 characters."""
    total = sum(_CC_CHARS.index(c) * w for c, w in zip(first17, _CC_WEIGHTS, strict=True))
    return _CC_CHARS[(31 - total % 31) % 31]


def _credit_code(raw: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"credit_code": None, "credit_weak": None}
    if not raw:
        return out
    text = re.sub(r"[\s\-]", "", _to_halfwidth(raw)).upper()
    if len(text) == 18 and all(c in _CC_CHARS for c in text) and credit_check_char(text[:17]) == text[17]:
        out["credit_code"] = text
    else:
        out["credit_weak"] = text or None
    return out


# ----------------------------------------------------------------------------------------- phones

_PHONE_SPLIT = re.compile(r"[,;/、|；，]+|\s+or\s+|\s+或\s+")


def _phone_one(digits: str, area_code: str | None) -> str | None:
    international = digits.startswith("0086") or (digits.startswith("86") and len(digits) >= 11)
    if international:
        digits = digits[4:] if digits.startswith("0086") else digits[2:]
        if not re.fullmatch(r"1[3-9]\d{9}", digits):
            digits = "0" + digits.lstrip("0")  # +86 21 6234 5678 -> 021...
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return digits
    if re.fullmatch(r"0\d{9,11}", digits):
        return digits
    if re.fullmatch(r"[2-9]\d{6,7}", digits):
        return (area_code + digits) if area_code else digits
    return None


def _phones(raw: str | None, area_code: str | None) -> list[str]:
    if not raw:
        return []
    text = _to_halfwidth(raw)
    text = re.sub(r"(转|ext\.?|x)\s*\d{1,5}\s*$", "", text, flags=re.I)
    found: list[str] = []
    for piece in _PHONE_SPLIT.split(text):
        plus = piece.strip().startswith("+")
        digits = re.sub(r"\D", "", piece)
        if not digits:
            continue
        if plus and digits.startswith("86"):
            digits = "0086" + digits[2:]
        number = _phone_one(digits, area_code)
        if number is None:
            for token in piece.split():
                tok = re.sub(r"\D", "", token)
                one = _phone_one(tok, area_code) if tok else None
                if one:
                    found.append(one)
        else:
            found.append(number)
    return sorted(set(found))


# -------------------------------------------------------------------------------------- addresses

_CN_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _cn_number(text: str) -> str:
    """Small Chinese numerals (up to 99) to Arabic digits; other text unchanged."""

    def conv(m: re.Match[str]) -> str:
        s = m.group(0)
        if "十" in s:
            left, _, right = s.partition("十")
            tens = _CN_DIGITS.get(left, 1) if left else 1
            ones = _CN_DIGITS.get(right, 0) if right else 0
            return str(tens * 10 + ones)
        return "".join(str(_CN_DIGITS[c]) for c in s)

    return re.sub(r"[零一二两三四五六七八九十]+(?=[号弄栋幢座单元室楼层])", conv, text)


@lru_cache(maxsize=500_000)
def _address(raw: str) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(("province", "city", "district", "street", "building", "unit", "room"))
    if not any(_is_cjk(ch) for ch in raw):  # a Latin-script address: normalised words, not parsed
        words = re.findall(r"[a-z0-9]+", _to_halfwidth(raw).lower())
        out["address"] = " ".join(words) or None
        return out
    text = re.sub(r"[－—–~～]", "-", _simplify(raw)).lower()
    text = _PUNCT.sub("", text.replace("-", "\x00")).replace("\x00", "-").strip("-")
    text = _cn_number(text)
    rest = text
    m = _PROVINCE_RE.match(rest)
    if m:
        out["province"] = m.group(1)
        rest = rest[m.end() :]
    if out["province"] in _MUNICIPALITIES:
        out["city"] = out["province"]
        m = _CITY_RE.match(rest)
        if m and m.group(1) == out["province"]:
            rest = rest[m.end() :]
    else:
        m = _CITY_RE.match(rest)
        if m:
            out["city"] = m.group(1)
            rest = rest[m.end() :]
        else:
            m = re.match(r"([\u4e00-\u9fff]{2,4}?)(?:市|地区|自治州|盟)", rest)
            if m and out["province"]:
                out["city"] = m.group(1)
                rest = rest[m.end() :]
    if out["city"] and not out["province"]:
        out["province"] = CITY_AREA_CODES.get(out["city"], (None, None))[0]
    m = re.match(r"([\u4e00-\u9fff]{1,5}?)(新区|区|县|市|旗)(?![\u4e00-\u9fff]*?[路街道])", rest) or re.match(
        r"([\u4e00-\u9fff]{1,5}?)(新区|区|县|旗)", rest
    )
    if m and (out["city"] or out["province"]):
        out["district"] = m.group(1)
        rest = rest[m.end() :]
    elif out["city"]:
        known = next((d for d in _DISTRICTS.get(out["city"], ()) if rest.startswith(d)), None)
        street = re.match(r"([\u4e00-\u9fff]+?)(?:大道|路|街|巷|胡同)", rest)
        if known:  # 上海浦东张江路: district without its suffix
            out["district"] = known
            rest = rest[len(known) :]
        elif street and len(street.group(1)) >= 4:  # guess: a two-character district name before the street
            out["district"] = rest[:2]
            rest = rest[2:]
    m = re.search(r"([\u4e00-\u9fffa-z]+?(?:大道|大街|路|街|道|巷|胡同))(\d+(?:号院|号|弄|支弄)?)?", rest) or re.search(
        r"([\u4e00-\u9fffa-z]+?(?:里|村|镇|乡))(\d+(?:号院|号|弄|支弄)?)?", rest
    )
    if m:
        number = m.group(2) or ""
        out["street"] = m.group(1) + re.sub(r"号院|号|弄|支弄", "", number)
        rest = rest[m.end() :]
    m = re.search(r"(\d+)(?:号楼|栋|幢|座|号)", rest)
    dash = re.search(r"(\d+)-(\d+)(?:-(\d+))?", rest)
    if m:
        out["building"] = m.group(1)
        rest = rest[m.end() :]
    elif dash:  # 29-2704 (building-room) or 29-3-2704 (building-unit-room)
        out["building"] = dash.group(1)
        out["unit"] = dash.group(2) if dash.group(3) else None
        out["room"] = dash.group(3) or dash.group(2)
        rest = ""
    m = re.search(r"(\d+)单元", rest)
    if m:
        out["unit"] = m.group(1)
        rest = rest[m.end() :]
    m = re.search(r"(\d+)(?:室|房|户)?$", rest)
    if m:
        out["room"] = m.group(1)
    parts: list[str | None] = [out[k] for k in ("province", "city", "district", "street", "building", "room")]
    n_known = sum(part is not None for part in parts)  # the unit is left out: sources often omit it
    out["address"] = "|".join(part or "" for part in parts) if n_known >= 3 else text
    return out


def _date(raw: str | None) -> str | None:
    if not raw:
        return None
    text = _to_halfwidth(raw).strip()
    m = re.match(r"(\d{4})\D?(\d{1,2})\D?(\d{1,2})", text)
    if m:
        y, mo, d = (int(g) for g in m.groups())
    else:
        m = re.match(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text)
        if not m:
            return None
        d, mo, y = (int(g) for g in m.groups())
        if mo > 12 >= d:
            d, mo = mo, d
    if not (1850 <= y <= 2100 and 1 <= mo <= 12 and 1 <= d <= 31):
        return None
    return f"{y:04d}-{mo:02d}-{d:02d}"


def _gender(raw: str | None) -> str | None:
    if not raw:
        return None
    text = _simplify(raw).strip().lower()
    if text in ("m", "male", "男", "1", "man"):
        return "M"
    if text in ("f", "female", "女", "2", "0", "woman"):
        return "F"
    return None


# ------------------------------------------------------------------------------------------- main


def _infer_kind(raw: Mapping[str, str | None], name: str | None) -> str:
    kind = (raw.get("kind") or "").strip().lower()
    if kind in ("individual", "person", "个人", "i", "p"):
        return "individual"
    if kind in ("organization", "organisation", "company", "enterprise", "org", "单位", "企业", "集团", "o", "c"):
        return "organization"
    if raw.get("credit_code"):
        return "organization"
    if name and _ORG_HINT.search(_simplify(name)):
        return "organization"
    return "individual"


def standardise(raw: Mapping[str, str | None]) -> dict[str, Any]:
    """Standardised matching values of one record's canonical fields (originals untouched)."""
    name_raw = _clean(raw.get("name"))
    kind = _infer_kind(raw, name_raw)
    out: dict[str, Any] = {"kind": kind}
    if kind == "individual":
        out.update(_person_name(name_raw) if name_raw else {"name": None, "name_zh": None, "name_key": None})
        out.setdefault("surname_py", None)
        out.update(org_core=None, org_branch=None, org_city=None)
    else:
        out.update(
            _org_name(name_raw) if name_raw else {"name": None, "org_core": None, "org_branch": None, "org_city": None}
        )
        out.update(name_zh=None, name_key=None, surname_py=None)
    ident = _id_number(raw.get("id_number"))
    out.update(id18=ident["id18"], id_weak=ident["id_weak"], id_valid=ident["id_valid"])
    out.update(_credit_code(raw.get("credit_code")))
    if kind == "organization" and out["credit_code"] is None and ident["id_weak"] and not out["credit_weak"]:
        cc = _credit_code(ident["id_weak"])  # a credit code put in the ID column
        if cc["credit_code"]:
            out.update(cc, id_weak=None)
    out["birth_date"] = _date(raw.get("birth_date")) or ident["id_birth"]
    out["gender"] = _gender(raw.get("gender")) or ident["id_gender"]
    address_raw = raw.get("address")
    addr = (
        _address(address_raw)
        if address_raw and address_raw.strip()
        else dict.fromkeys(("province", "city", "district", "street", "building", "unit", "room", "address"))
    )
    out.update(addr)
    if kind == "organization" and not out["org_city"]:
        out["org_city"] = addr["city"]
    area = CITY_AREA_CODES.get(addr["city"] or "", (None, None))[1]
    phones = _phones(raw.get("phone"), area)
    out["phones"] = phones
    out["mobiles"] = [p for p in phones if p.startswith("1")]
    out["landlines"] = [p for p in phones if not p.startswith("1")]
    email = (raw.get("email") or "").strip().lower()
    out["email"] = _to_halfwidth(email) if "@" in email else None
    return out


def standardise_many(raws: Iterable[Mapping[str, str | None]]) -> list[dict[str, Any]]:
    """``standardise`` over many records with the cyclic GC paused (it turns quadratic on big heaps)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return [standardise(raw) for raw in raws]
    finally:
        if enabled:
            gc.enable()
