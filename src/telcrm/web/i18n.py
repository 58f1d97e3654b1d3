"""The screens' languages: simplified Chinese by default, traditional Chinese and English (ADR 13).

Strings are written in English in the templates and code (``_("...")``) and translated by the
Babel catalogs in ``translations/<locale>/LC_MESSAGES/messages.po``, read once per process and
compiled in memory (no build step). ``tools/i18n.py`` extracts new strings and derives the
traditional catalog from the simplified one with OpenCC; the tests refuse an untranslated string.
"""

from __future__ import annotations

import contextvars
import gettext
import io
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal

TRANSLATIONS = Path(__file__).parent / "translations"
DEFAULT = "zh_Hans"
# locale code -> (name shown in the switcher, Babel locale, HTML lang)
LOCALES: dict[str, tuple[str, str, str]] = {
    "zh_Hans": ("简体中文", "zh_Hans_CN", "zh-CN"),
    "zh_Hant": ("繁體中文", "zh_Hant_TW", "zh-TW"),
    "en": ("English", "en_US", "en"),
}

# The operator's clock: times on screen are local (China Standard Time).
ZONE = ZoneInfo("Asia/Shanghai")

current: contextvars.ContextVar[str] = contextvars.ContextVar("telcrm_locale", default=DEFAULT)


@cache
def catalog(code: str) -> gettext.NullTranslations:
    """The compiled catalog of ``code`` (English, the source language, has none)."""
    path = TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"
    if code == "en" or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as f:
        parsed = read_po(f, locale=LOCALES[code][1])
    buffer = io.BytesIO()
    write_mo(buffer, parsed, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def choose(*candidates: str | None) -> str:
    for code in candidates:
        if code in LOCALES:
            return code  # type: ignore[return-value]
    return DEFAULT


def gettext_(message: str, **params: Any) -> str:
    text = catalog(current.get()).gettext(message)
    return text % params if params else text


def domain_message(message: str) -> str:
    """A message of the domain services in the reader's language, where it is a fixed one
    (``telcrm.web.catalogs`` extracts those); a message built at run time stays as written."""
    return catalog(current.get()).gettext(message) if message else message


def ngettext_(singular: str, plural: str, n: int, **params: Any) -> str:
    text = catalog(current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **params}


def babel_locale() -> Locale:
    return Locale.parse(LOCALES[current.get()][1])


def html_lang() -> str:
    return LOCALES[current.get()][2]


def money(value: Any, unit: str | None = "CNY") -> str:
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        return str(value)
    return format_currency(amount, unit or "CNY", locale=babel_locale())


def number(value: Any) -> str:
    return "" if value is None else format_decimal(value, locale=babel_locale())


def when(value: Any) -> str:
    """An ISO timestamp (or datetime) in the reader's language, to the minute."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return format_datetime(value, "yyyy-MM-dd HH:mm", tzinfo=ZONE, locale=babel_locale())
