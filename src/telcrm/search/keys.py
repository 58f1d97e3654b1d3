"""Normalised search keys: phone numbers in any common format, ID numbers, names in any script."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    import opencc

    return opencc.OpenCC("t2s.json")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def to_simplified(text: str) -> str:
    return str(_t2s().convert(text)) if has_cjk(text) else text


def fold(text: str) -> str:
    """Full-width to half-width, lower case, no spaces or punctuation between words."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s\.\-_·•,'’]+", "", text)


def phone_keys(raw: str) -> list[str]:
    """Keys under which a phone number is found: national form, and the local part of landlines."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", raw))
    if raw.strip().startswith("+") and not digits.startswith("86"):
        return [digits] if digits else []  # foreign number: as dialled
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) >= 12:
        digits = digits[2:]
    if not digits:
        return []
    if _MOBILE.match(digits):
        return [digits]
    if digits.startswith("1") and len(digits) > 11:
        return [digits]
    if not digits.startswith("0"):
        if len(digits) >= 9:  # area code written without its leading 0 (e.g. +86 21 ...)
            digits = "0" + digits
        else:
            return [digits]  # a local number without area code
    if len(digits) < 2:
        return [digits]  # a lone 0: no area code to split off
    # 0 + area code (2 or 3 digits after the 0) + local number (7 or 8 digits)
    area_len = 3 if digits[1] in "12" else 4
    local = digits[area_len:]
    return [digits, local] if len(local) >= 7 else [digits]


def phone_query(raw: str) -> str | None:
    keys = phone_keys(raw)
    return keys[0] if keys else None


@lru_cache(maxsize=65536)
def _pinyin(text: str) -> tuple[str, ...]:
    from pypinyin import lazy_pinyin

    return tuple(p.lower() for p in lazy_pinyin(text))


def name_keys(name: str, *, family: str | None = None, given: str | None = None) -> list[tuple[str, str]]:
    """``(kind, key)`` pairs: the simplified name, its pinyin in either order, and initials."""
    out: list[tuple[str, str]] = []
    simple = fold(to_simplified(name))
    if not simple:
        return out
    out.append(("name", simple))
    if has_cjk(simple):
        if family and given:
            fam = fold(to_simplified(family))
            giv = fold(to_simplified(given))
            fam_py, giv_py = "".join(_pinyin(fam)), "".join(_pinyin(giv))
            out.append(("py", fam_py + giv_py))
            out.append(("py", giv_py + fam_py))
            out.append(("ini", "".join(p[0] for p in _pinyin(fam + giv) if p)))
        else:
            syllables = _pinyin(simple)
            out.append(("py", "".join(syllables)))
            out.append(("ini", "".join(p[0] for p in syllables if p)))
    elif family and given:  # a romanised name: find it in either order
        out.append(("py", fold(family) + fold(given)))
        out.append(("py", fold(given) + fold(family)))
    return list(dict.fromkeys(out))
