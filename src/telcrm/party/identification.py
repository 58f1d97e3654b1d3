"""Chinese identification numbers: resident ID cards (GB 11643) and unified social credit codes (GB 32100)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of a resident ID: the province-level division (GB/T 2260), 71/81/82/83 for
# Taiwan, Hong Kong, Macao residence permits.
PROVINCE_CODES = frozenset(
    {
        11,
        12,
        13,
        14,
        15,
        21,
        22,
        23,
        31,
        32,
        33,
        34,
        35,
        36,
        37,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        61,
        62,
        63,
        64,
        65,
        71,
        81,
        82,
        83,
    }
)

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

RESIDENT_ID_TYPES = frozenset({"residentidcard", "idcard", "residentid", "nationalid", "id", "身份证", "居民身份证"})
USCC_TYPES = frozenset({"uscc", "unifiedsocialcreditcode", "socialcreditcode", "统一社会信用代码"})


class InvalidIdentification(ValueError):
    pass


def id_check_char(first17: str) -> str:
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def _birth_date_ok(yyyymmdd: str) -> bool:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return False
    return date(1880, 1, 1) <= born <= date.today()


def normalise_resident_id(value: str) -> str:
    """The 18-character form of a resident ID number, or InvalidIdentification saying why.

    The 15-digit form (issued before 1999: no century, no check digit) is converted. Full-width
    characters (as Chinese input methods type them) are read as their ASCII forms.
    """
    text = unicodedata.normalize("NFKC", value).strip().replace(" ", "").upper()
    if re.fullmatch(r"[0-9]{15}", text):
        text = text[:6] + "19" + text[6:]
        text += id_check_char(text)
    if not re.fullmatch(r"[0-9]{17}[0-9X]", text):
        raise InvalidIdentification("a resident ID number has 18 characters (17 digits and a check digit) or 15 digits")
    if int(text[:2]) not in PROVINCE_CODES:
        raise InvalidIdentification(f"{text[:2]} is not a province code")
    if not _birth_date_ok(text[6:14]):
        raise InvalidIdentification(f"{text[6:14]} is not a valid date of birth")
    if id_check_char(text[:17]) != text[17]:
        raise InvalidIdentification("the check digit does not match (GB 11643)")
    return text


def uscc_check_char(first17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def normalise_uscc(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().replace(" ", "").upper()
    if len(text) != 18 or any(c not in USCC_CHARS for c in text):
        raise InvalidIdentification(
            "a unified social credit code has 18 characters from 0-9 and A-Y without I, O, S, V, Z"
        )
    if uscc_check_char(text[:17]) != text[17]:
        raise InvalidIdentification("the check character does not match (GB 32100)")
    return text


def is_resident_id_type(kind: str | None) -> bool:
    return bool(kind) and re.sub(r"[\s_\-]", "", str(kind)).lower() in RESIDENT_ID_TYPES


def is_uscc_type(kind: str | None) -> bool:
    return bool(kind) and re.sub(r"[\s_\-]", "", str(kind)).lower() in USCC_TYPES
