"""Standardisation rules for matching legacy records (no database)."""

from __future__ import annotations

import json

import pytest

from telcrm.resolution.standardise import credit_check_char, id_check_digit, standardise, upgrade_id15


def std(**raw: str | None) -> dict:
    return standardise(raw)


# ------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize("name", ["王伟", "Wang Wei", "WEI WANG", "wang  wei", "王 伟", "Ｗａｎｇ　Ｗｅｉ", "王偉"])
def test_person_name_variants_share_the_pinyin_key(name: str) -> None:
    assert std(name=name)["name_key"] == "wang wei"


def test_traditional_and_fullwidth_names_become_simplified_half_width() -> None:
    assert std(name="張國榮")["name_zh"] == "张国荣"
    assert std(name="王　伟")["name"] == "王伟"
    assert std(name="ＬＩ　ＮＡ")["name_key"] == "li na"


def test_compound_surname_and_surname_reading() -> None:
    assert std(name="欧阳娜娜")["surname_py"] == "ouyang"
    assert std(name="曾伟")["name_key"] == "wei zeng"  # 曾 as a surname reads zeng
    assert std(name="Ouyang Nana")["name_key"] == std(name="欧阳娜娜")["name_key"]


def test_different_names_get_different_keys() -> None:
    assert std(name="王伟")["name_key"] != std(name="王薇薇")["name_key"]
    assert std(name="李娜")["name_key"] != std(name="李伟")["name_key"]


# ------------------------------------------------------------------------------------------- IDs


def test_id_check_digit_and_15_digit_upgrade() -> None:
    assert id_check_digit("11010519491231002") == "X"
    assert upgrade_id15("110105491231002") == "11010519491231002X"
    out = std(name="王伟", id_number="110105491231002")
    assert out["id18"] == "11010519491231002X"
    assert out["id_valid"] is True
    assert out["birth_date"] == "1949-12-31"
    assert out["gender"] == "F"  # sequence 002 is even


def test_id_with_wrong_check_digit_is_weak_not_a_key() -> None:
    out = std(name="王伟", id_number="110105194912310021")
    assert out["id18"] is None
    assert out["id_valid"] is False
    assert out["id_weak"] == "110105194912310021"


def test_id_lower_case_x_spaces_and_full_width() -> None:
    assert std(id_number="11010519491231002x")["id18"] == "11010519491231002X"
    assert std(id_number="110105 19491231 002X")["id18"] == "11010519491231002X"
    assert std(id_number="１１０１０５１９４９１２３１００２Ｘ")["id18"] == "11010519491231002X"


def test_birth_date_field_wins_over_id_and_formats_normalise() -> None:
    assert std(birth_date="1990/3/5")["birth_date"] == "1990-03-05"
    assert std(birth_date="1990年3月5日")["birth_date"] == "1990-03-05"
    assert std(birth_date="19900305")["birth_date"] == "1990-03-05"
    assert std(birth_date="not a date")["birth_date"] is None


def test_credit_code_check_character() -> None:
    first17 = "91110000802100433"
    code = first17 + credit_check_char(first17)
    assert std(name="华为技术有限公司", credit_code=code)["credit_code"] == code
    bad = first17 + ("0" if code[-1] != "0" else "1")
    out = std(name="华为技术有限公司", credit_code=bad)
    assert out["credit_code"] is None
    assert out["credit_weak"] == bad


# ----------------------------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    "raw", ["+86 138 1234 5678", "0086 13812345678", "138-1234-5678", "8613812345678", "(138)12345678"]
)
def test_mobile_formats(raw: str) -> None:
    assert std(phone=raw)["mobiles"] == ["13812345678"]


def test_landline_formats_and_area_code_completion() -> None:
    assert std(phone="(021) 6234-5678")["phones"] == ["02162345678"]
    assert std(phone="021-62345678")["phones"] == ["02162345678"]
    assert std(phone="+86 21 6234 5678")["phones"] == ["02162345678"]
    assert std(phone="62345678", address="上海市浦东新区张江路1号")["phones"] == ["02162345678"]
    assert std(phone="62345678")["phones"] == ["62345678"]  # city unknown: kept as is
    assert std(phone="010-88881234转123")["phones"] == ["01088881234"]


def test_several_numbers_in_one_field() -> None:
    out = std(phone="138-1234-5678, (021) 6234-5678；13912345678")
    assert out["mobiles"] == ["13812345678", "13912345678"]
    assert out["landlines"] == ["02162345678"]


# -------------------------------------------------------------------------------------- addresses


def test_address_abbreviations_parse_to_the_same_parts() -> None:
    full = std(address="上海市浦东新区张江路123号5栋2单元1201室")
    short = std(address="上海浦东张江路123号5幢1201")
    dashed = std(address="上海市浦东新区张江路123号5-1201")
    for out in (full, short, dashed):
        assert (out["province"], out["city"], out["district"]) == ("上海", "上海", "浦东")
        assert (out["street"], out["building"], out["room"]) == ("张江路123", "5", "1201")
    assert full["unit"] == "2"
    assert full["address"] == short["address"] == dashed["address"]


def test_address_with_province_traditional_and_full_width() -> None:
    a = std(address="廣東省深圳市南山區科技園路１號")
    assert (a["province"], a["city"], a["district"]) == ("广东", "深圳", "南山")
    b = std(address="浙江省杭州市西湖区文三路100号3幢2单元501室")
    assert (b["city"], b["district"], b["building"], b["unit"], b["room"]) == ("杭州", "西湖", "3", "2", "501")


def test_chinese_numerals_in_building_and_room() -> None:
    out = std(address="北京市海淀区中关村大街1号三号楼十二单元")
    assert out["building"] == "3"
    assert out["unit"] == "12"


# ---------------------------------------------------------------------------------------- companies


@pytest.mark.parametrize(
    "name",
    [
        "华为技术有限公司",
        "华为技术股份有限公司",
        "华为技术有限责任公司",
        "華為技術有限公司",
        "华为技术（集团）有限公司",
        "华为技术公司",
    ],
)
def test_company_suffix_variants_share_the_core(name: str) -> None:
    out = std(name=name)
    assert out["kind"] == "organization"
    assert out["org_core"] == "华为技术"
    assert out["org_branch"] == ""


def test_company_branch_and_city_prefix() -> None:
    out = std(name="北京华为技术有限公司上海分公司")
    assert (out["org_core"], out["org_branch"], out["org_city"]) == ("华为技术", "上海", "北京")
    assert std(name="中国电信股份有限公司上海分公司")["org_branch"] == "上海"
    assert std(name="腾讯科技（深圳）有限公司")["org_city"] == "深圳"


def test_kind_given_or_inferred() -> None:
    assert std(name="王伟")["kind"] == "individual"
    assert std(name="王伟", kind="organization")["kind"] == "organization"
    assert std(name="王伟商店")["kind"] == "organization"
    assert std(name="某某", credit_code="91110000802100433B")["kind"] == "organization"


def test_originals_untouched_and_output_is_json() -> None:
    raw = {"name": "王偉", "phone": "(021) 6234-5678", "address": "上海浦东张江路1号"}
    copy = dict(raw)
    out = standardise(raw)
    assert raw == copy
    json.dumps(out)


def test_empty_record() -> None:
    out = standardise({})
    assert out["kind"] == "individual"
    assert out["name_key"] is None and out["phones"] == [] and out["address"] is None
