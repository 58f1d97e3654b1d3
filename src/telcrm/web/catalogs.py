"""Keeping the screens' message catalogs whole: ``python -m telcrm.web.catalogs [--check]``.

- Extracts every translatable string of the screens (``_()``/``gettext_``/``ngettext_`` in Python,
  ``_()``/``ngettext()`` in the templates) with Babel.
- Updates ``zh_Hans`` (the hand-written translation): new strings are added untranslated,
  strings no longer used are dropped.
- Derives ``zh_Hant`` from ``zh_Hans`` with OpenCC (simplified to Taiwan-standard traditional
  with its phrases), so the two never drift; the few strings where the conversion is not the
  right word are overridden in ``HANT_OVERRIDES``.
- ``--check`` changes nothing and fails when a string lacks a translation in either catalog
  (the tests run it: no untranslated string ships).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

WEB = Path(__file__).parent
TRANSLATIONS = WEB / "translations"
KEYWORDS = {"_": None, "gettext_": None, "gettext": None, "ngettext_": (1, 2), "ngettext": (1, 2)}
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}}
HANT_OVERRIDES: dict[str, str] = {"Sign out": "登出"}
# The domain's own messages (the fixed ones: ``raise ValidationFailed("...")``), which the screens
# show translated (``i18n.domain_message``); messages built at run time stay as written.
DOMAIN = WEB.parent
DOMAIN_PACKAGES = (
    "kit", "party", "customer", "account", "catalog", "inventory", "ordering", "identity", "search",
    "notification", "resolution",
)  # fmt: skip
DOMAIN_KEYWORDS: dict[str, None] = dict.fromkeys(
    (
        "ValidationFailed", "Conflict", "InvalidTransition", "Forbidden", "NotFound", "WrongReference",
        "Unauthenticated", "InvalidIdentification",
    )
)  # fmt: skip


def extract() -> Catalog:
    template = Catalog(project="telcrm", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        WEB, METHODS, OPTIONS, KEYWORDS, comment_tags=("TRANSLATORS:",), strip_comment_tags=True
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for package in DOMAIN_PACKAGES:
        for filename, lineno, message, comments, _context in extract_from_dir(
            DOMAIN / package, [("**.py", "python")], {}, DOMAIN_KEYWORDS
        ):
            template.add(message, None, [(f"../{package}/{filename}", lineno)], auto_comments=comments)
    return template


def _path(code: str) -> Path:
    return TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"


def _read(code: str, locale: str) -> Catalog:
    path = _path(code)
    if not path.exists():
        return Catalog(locale=locale, project="telcrm", fuzzy=False)
    with path.open("rb") as f:
        return read_po(f, locale=locale)


def _write(code: str, catalog: Catalog) -> None:
    path = _path(code)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=120, omit_header=False, sort_output=True, include_previous=False)
    path.write_bytes(buffer.getvalue())


def _filled(message_string: object) -> bool:
    if isinstance(message_string, tuple | list):
        return all(bool(s) for s in message_string)
    return bool(message_string)


def missing() -> dict[str, list[str]]:
    """Strings of the screens without a translation, per catalog."""
    template = extract()
    found: dict[str, list[str]] = {}
    for code, locale in (("zh_Hans", "zh_Hans_CN"), ("zh_Hant", "zh_Hant_TW")):
        catalog = _read(code, locale)
        gaps = []
        for message in template:
            if not message.id:
                continue
            have = catalog.get(message.id)
            if have is None or not _filled(have.string) or have.fuzzy:
                gaps.append(message.id if isinstance(message.id, str) else message.id[0])
        found[code] = gaps
    return found


def update() -> None:
    import opencc

    template = extract()
    hans = _read("zh_Hans", "zh_Hans_CN")
    hans.update(template, no_fuzzy_matching=True)
    hans.obsolete.clear()
    _write("zh_Hans", hans)
    convert = opencc.OpenCC("s2twp")
    hant = Catalog(locale="zh_Hant_TW", project="telcrm", fuzzy=False)
    for message in hans:
        if not message.id:
            continue
        if isinstance(message.string, tuple | list):
            string: str | tuple[str, ...] = tuple(convert.convert(s) if s else "" for s in message.string)
        else:
            key = message.id if isinstance(message.id, str) else message.id[0]
            string = HANT_OVERRIDES.get(key) or (convert.convert(message.string) if message.string else "")
        hant.add(message.id, string, locations=message.locations, flags=message.flags)
    _write("zh_Hant", hant)


def main(argv: list[str]) -> int:
    if "--check" not in argv:
        update()
    gaps = missing()
    for code, ids in gaps.items():
        for message_id in ids:
            print(f"{code}: untranslated: {message_id}")
    return 1 if any(gaps.values()) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
