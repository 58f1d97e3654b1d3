"""The screens' languages: every string translated, the traditional catalog derived, placeholders kept."""

from __future__ import annotations

import re

import opencc
from babel.messages.pofile import read_po

from telcrm.web import catalogs, i18n

CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")


def _catalog(code: str, locale: str):  # type: ignore[no-untyped-def]
    with catalogs._path(code).open("rb") as f:
        return read_po(f, locale=locale)


def test_every_string_of_the_screens_is_translated() -> None:
    assert catalogs.missing() == {"zh_Hans": [], "zh_Hant": []}
    assert len(catalogs.extract()) > 100  # the extraction itself found the screens' strings


def test_translations_are_chinese_and_keep_their_placeholders() -> None:
    for code, locale in (("zh_Hans", "zh_Hans_CN"), ("zh_Hant", "zh_Hant_TW")):
        for message in _catalog(code, locale):
            if not message.id:
                continue
            source = message.id if isinstance(message.id, str) else message.id[0]
            target = message.string if isinstance(message.string, str) else message.string[0]
            assert CJK.search(target), (code, source, target)
            assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(target)), (code, source)


def test_the_traditional_catalog_is_the_simplified_one_converted() -> None:
    convert = opencc.OpenCC("s2twp")
    hant = _catalog("zh_Hant", "zh_Hant_TW")
    for message in _catalog("zh_Hans", "zh_Hans_CN"):
        if not message.id or not isinstance(message.id, str):
            continue
        expected = catalogs.HANT_OVERRIDES.get(message.id) or convert.convert(message.string)
        assert hant.get(message.id).string == expected, message.id


def test_the_running_translation_follows_the_chosen_language() -> None:
    token = i18n.current.set("zh_Hans")
    try:
        assert i18n.gettext_("Sign out") == "退出"
        i18n.current.set("zh_Hant")
        assert i18n.gettext_("Sign out") == "登出"
        i18n.current.set("en")
        assert i18n.gettext_("Sign out") == "Sign out"
        assert i18n.ngettext_("%(num)d customer", "%(num)d customers", 3) == "3 customers"
    finally:
        i18n.current.reset(token)


def test_the_domains_fixed_messages_are_shown_translated() -> None:
    messages = {m.id for m in catalogs.extract() if m.id}
    assert "the check digit does not match (GB 11643)" in messages  # found in the party package
    token = i18n.current.set("zh_Hans")
    try:
        assert i18n.domain_message("the check digit does not match (GB 11643)") == "校验码不符（GB 11643）"
        assert i18n.domain_message("order 42 is not yours") == "order 42 is not yours"  # built at run time
        i18n.current.set("en")
        assert i18n.domain_message("name is required") == "name is required"
    finally:
        i18n.current.reset(token)
