"""Unit tests: ID card numbers (GB 11643), credit codes (GB 32100), phone search keys, query plans."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from telcrm.kit.errors import ValidationFailed
from telcrm.party.identification import (
    PROVINCE_CODES,
    USCC_CHARS,
    InvalidIdentification,
    id_check_char,
    is_resident_id_type,
    is_uscc_type,
    normalise_resident_id,
    normalise_uscc,
    uscc_check_char,
)
from telcrm.search.keys import phone_keys, phone_query
from telcrm.search.service import KIND_RANK, plan

ID_CHARS = "0123456789X"


def full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# ----- GB 11643 resident ID numbers -----------------------------------------------------------


def _weighted_check(first17: str) -> str:
    """The check digit spelled out from the standard: sum of digit * 2^(17-i) mod 11, mapped to 1 0 X 9 ... 2."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    return "10X98765432"[total % 11]


@pytest.mark.parametrize(
    ("first17", "check"),
    [
        ("11010519491231002", "X"),  # the example in GB 11643-1999
        ("44052418800101001", "4"),  # the other example in GB 11643-1999 (born 1880-01-01)
        ("13050319670401001", "6"),
        ("31011519851207321", "1"),
        ("11010519900307123", "9"),
    ],
)
def test_check_digit_of_known_numbers(first17: str, check: str) -> None:
    assert id_check_char(first17) == check
    assert _weighted_check(first17) == check
    assert normalise_resident_id(first17 + check) == first17 + check


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_digit_follows_the_weights_of_the_standard(first17: str) -> None:
    assert id_check_char(first17) == _weighted_check(first17)


def test_check_digit_x_is_found_and_accepted_in_either_case() -> None:
    first17 = next(f"3301061985061{n:04d}" for n in range(10_000) if id_check_char(f"3301061985061{n:04d}") == "X")
    assert normalise_resident_id(first17 + "X") == first17 + "X"
    assert normalise_resident_id(first17 + "x") == first17 + "X"
    for wrong in "0123456789":
        with pytest.raises(InvalidIdentification, match="check digit"):
            normalise_resident_id(first17 + wrong)


def test_spaces_and_full_width_characters_are_normalised() -> None:
    assert normalise_resident_id(" 110105 19491231 002x ") == "11010519491231002X"
    assert normalise_resident_id(full_width("11010519491231002X")) == "11010519491231002X"
    assert normalise_resident_id(full_width("440524188001010014")) == "440524188001010014"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("130503670401001", "130503196704010016"),
        ("110105491231002", "11010519491231002X"),
        ("440524800101001", "440524198001010013"),
    ],
)
def test_15_digit_numbers_become_18(old: str, new: str) -> None:
    assert normalise_resident_id(old) == new
    assert normalise_resident_id(new) == new


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        ("11010519491231002Y", "18 characters"),
        ("1101051949123100", "18 characters"),
        ("1101051949123100211", "18 characters"),
        ("11010549123100", "18 characters"),  # 14 digits
        ("11010519491231002", "18 characters"),  # 17 digits: the check digit is missing
        ("X1010519491231002X", "18 characters"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "18 characters"),  # Arabic-Indic digits are not ID digits
        ("", "18 characters"),
        ("00010519491231002" + id_check_char("00010519491231002"), "province"),
        ("99010519491231002" + id_check_char("99010519491231002"), "province"),
        ("11010519000229002" + id_check_char("11010519000229002"), "date of birth"),  # 1900 is no leap year
        ("11010519491301002" + id_check_char("11010519491301002"), "date of birth"),
        ("11010518791231002" + id_check_char("11010518791231002"), "date of birth"),  # before 1880
        ("11010529991231002" + id_check_char("11010529991231002"), "date of birth"),  # in the future
        ("110105491301002", "date of birth"),  # 15 digits, month 13
        ("11010519491231002" + "1", "check digit"),
    ],
)
def test_invalid_resident_ids_say_why(number: str, reason: str) -> None:
    with pytest.raises(InvalidIdentification, match=reason):
        normalise_resident_id(number)


def test_leap_day_and_the_earliest_date_are_valid() -> None:
    for first17 in ("11010520000229002", "11010518800101002"):
        number = first17 + id_check_char(first17)
        assert normalise_resident_id(number) == number


@pytest.mark.parametrize("kind", ["residentIdCard", "ResidentIDCard", "resident_id_card", "id-card", "身份证", "ID"])
def test_resident_id_type_spellings(kind: str) -> None:
    assert is_resident_id_type(kind)
    assert not is_uscc_type(kind)


@pytest.mark.parametrize("kind", ["passport", "", None, "hkMacaoPermit", "drivingLicence"])
def test_other_identification_types_are_not_checked(kind: str | None) -> None:
    assert not is_resident_id_type(kind)
    assert not is_uscc_type(kind)


# A body whose region and date are valid: the property tests start from these.
valid_bodies = st.builds(
    lambda province, county, born, seq: f"{province:02d}{county:04d}{born:%Y%m%d}{seq:03d}",
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.integers(0, 9999),
    st.dates(min_value=date(1880, 1, 1), max_value=date(2020, 12, 31)),
    st.integers(0, 999),
)


@given(valid_bodies)
@example("11010519491231002")
def test_any_valid_body_with_its_check_digit_is_accepted(body: str) -> None:
    number = body + id_check_char(body)
    assert normalise_resident_id(number) == number
    assert normalise_resident_id(number.lower()) == number


@given(valid_bodies, st.integers(0, 17), st.sampled_from(ID_CHARS))
def test_changing_any_one_character_is_rejected(body: str, position: int, replacement: str) -> None:
    number = body + id_check_char(body)
    if position < 17 and replacement == "X":
        replacement = "0"  # only the check position may hold an X; elsewhere it fails for that reason alone
    if number[position] == replacement:
        replacement = ID_CHARS[(ID_CHARS.index(replacement) + 1) % (11 if position == 17 else 10)]
    changed = number[:position] + replacement + number[position + 1 :]
    assert changed != number
    with pytest.raises(InvalidIdentification):
        normalise_resident_id(changed)


@given(valid_bodies.filter(lambda b: "1900" <= b[6:10] <= "1999"))
def test_the_15_digit_form_of_any_valid_number_converts_to_it(body: str) -> None:
    number = body + id_check_char(body)
    old = number[:6] + number[8:17]
    assert len(old) == 15
    assert normalise_resident_id(old) == number


# ----- GB 32100 unified social credit codes ---------------------------------------------------


def _uscc_check_from_standard(first17: str) -> str:
    """Check character spelled out from GB 32100: weights 3^i mod 31, check = 31 - sum mod 31."""
    total = sum(USCC_CHARS.index(c) * (3**i % 31) for i, c in enumerate(first17))
    return USCC_CHARS[(31 - total % 31) % 31]


@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",
        "914403001922038216",
        "9144030071526726XG",
        "91110000802100433B",
    ],
)
def test_real_format_credit_codes_are_accepted(code: str) -> None:
    assert uscc_check_char(code[:17]) == code[17]
    assert _uscc_check_from_standard(code[:17]) == code[17]
    assert normalise_uscc(code) == code
    assert normalise_uscc(f" {code.lower()} ") == code
    assert normalise_uscc(full_width(code)) == code


@given(st.text(alphabet=USCC_CHARS, min_size=17, max_size=17))
def test_credit_code_check_follows_the_standard(first17: str) -> None:
    assert uscc_check_char(first17) == _uscc_check_from_standard(first17)
    assert normalise_uscc(first17 + uscc_check_char(first17)) == first17 + uscc_check_char(first17)


@given(st.text(alphabet=USCC_CHARS, min_size=17, max_size=17), st.integers(0, 17), st.sampled_from(USCC_CHARS))
def test_changing_any_one_credit_code_character_is_rejected(first17: str, position: int, replacement: str) -> None:
    code = first17 + uscc_check_char(first17)
    if code[position] == replacement:
        replacement = USCC_CHARS[(USCC_CHARS.index(replacement) + 1) % len(USCC_CHARS)]
    with pytest.raises(InvalidIdentification, match="check character"):
        normalise_uscc(code[:position] + replacement + code[position + 1 :])


@pytest.mark.parametrize(
    "code",
    ["91350100M000100Y4", "91350100M000100Y431", "91350100M000100I43", "91350100M000100O43", "9135010-M000100Y43", ""],
)
def test_malformed_credit_codes_are_rejected(code: str) -> None:
    with pytest.raises(InvalidIdentification, match="18 characters"):
        normalise_uscc(code)


def test_the_check_character_can_be_zero_or_a_letter() -> None:
    checks = {uscc_check_char(f"91310000{n:09d}") for n in range(2000)}
    assert checks == set(USCC_CHARS)


@pytest.mark.parametrize(
    "kind", ["USCC", "uscc", "unifiedSocialCreditCode", "unified_social_credit_code", "统一社会信用代码"]
)
def test_credit_code_type_spellings(kind: str) -> None:
    assert is_uscc_type(kind)
    assert not is_resident_id_type(kind)


# ----- phone search keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "keys"),
    [
        ("13912345678", ["13912345678"]),
        ("139 1234 5678", ["13912345678"]),
        ("139-1234-5678", ["13912345678"]),
        ("(139) 1234 5678", ["13912345678"]),
        ("+86 139 1234 5678", ["13912345678"]),
        ("+86-139-1234-5678", ["13912345678"]),
        ("+8613912345678", ["13912345678"]),
        ("8613912345678", ["13912345678"]),
        ("0086 139 1234 5678", ["13912345678"]),
        ("１３９１２３４５６７８", ["13912345678"]),
        # Beijing 010, Shanghai 021: a 3-character area code, then 8 digits
        ("010-6552 9988", ["01065529988", "65529988"]),
        ("(010) 65529988", ["01065529988", "65529988"]),
        ("（010）6552-9988", ["01065529988", "65529988"]),
        ("+86 10 6552 9988", ["01065529988", "65529988"]),
        ("021-62345678", ["02162345678", "62345678"]),
        ("+86 21 6234 5678", ["02162345678", "62345678"]),
        ("86 21 6234 5678", ["02162345678", "62345678"]),
        # Shenzhen 0755: a 4-character area code
        ("0755-8888 6666", ["075588886666", "88886666"]),
        ("(0755) 88886666", ["075588886666", "88886666"]),
        ("+86 755 8888 6666", ["075588886666", "88886666"]),
        ("0571-8702 2088", ["057187022088", "87022088"]),
        # local numbers, without an area code, are kept as they are
        ("6552 9988", ["65529988"]),
        ("6552-998", ["6552998"]),
        ("10086", ["10086"]),
        # foreign numbers as dialled
        ("+1 415 555 0100", ["14155550100"]),
        ("+852 2345 6789", ["85223456789"]),
        ("", []),
        ("phone", []),
    ],
)
def test_phone_keys(raw: str, keys: list[str]) -> None:
    assert phone_keys(raw) == keys
    assert phone_query(raw) == (keys[0] if keys else None)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.sampled_from(["{}", "+86 {}", "+86-{}", "0086{}", "86 {}"]))
def test_every_spelling_of_a_mobile_has_the_same_key(mobile: str, spelling: str) -> None:
    spaced = f"{mobile[:3]} {mobile[3:7]} {mobile[7:]}"
    for form in (mobile, spaced, spaced.replace(" ", "-")):
        assert phone_keys(spelling.format(form)) == [mobile]


@given(st.sampled_from(["10", "21", "755", "571", "20"]), st.from_regex(r"[2-8][0-9]{7}", fullmatch=True))
def test_a_landline_is_found_with_and_without_its_area_code(area: str, local: str) -> None:
    forms = [f"0{area}-{local}", f"(0{area}) {local[:4]} {local[4:]}", f"+86 {area} {local}", f"0{area}{local}"]
    for form in forms:
        assert phone_keys(form) == [f"0{area}{local}", local], form


# ----- the search plan --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "key"),
    [
        ("13912345678", "13912345678"),
        ("+86 139-1234-5678", "13912345678"),
        ("0086 139 1234 5678", "13912345678"),
        ("(010) 6552 9988", "01065529988"),
        ("021-6234-5678", "02162345678"),
        ("0755 8888 6666", "075588886666"),
        ("6552 9988", "65529988"),
    ],
)
def test_phone_queries(q: str, key: str) -> None:
    terms = plan(q)
    assert ("phone", key, True, KIND_RANK["phone"]) in terms
    # 15 digits may also be an old ID number: that is looked up as well, never as a name
    assert all(t[0] == "id" for t in terms if t[0] != "phone")
    if len(key) < 15 and not q.startswith("00"):
        assert terms == [("phone", key, True, KIND_RANK["phone"])]


def test_a_short_number_is_not_a_prefix_search() -> None:
    assert plan("139") == [("phone", "139", False, KIND_RANK["phone"])]


@pytest.mark.parametrize(
    "q",
    [
        "11010519491231002X",
        "11010519491231002x",
        "110105 19491231 002X",
        "110105491231002",
        full_width("110105491231002"),
    ],
)
def test_resident_id_queries_become_the_18_character_form(q: str) -> None:
    terms = plan(q)
    assert terms[0] == ("id", "11010519491231002X", False, KIND_RANK["id"])
    assert all(kind in ("id", "phone") for kind, *_ in terms)


def test_an_invalid_18_digit_number_is_still_looked_up_as_typed() -> None:
    assert plan("110105194912310021")[0] == ("id", "110105194912310021", False, KIND_RANK["id"])


@pytest.mark.parametrize(
    ("q", "key"), [("C123", "C0000000123"), ("c 123", "C0000000123"), ("A0000000042", "A0000000042")]
)
def test_customer_and_account_numbers(q: str, key: str) -> None:
    assert plan(q) == [("num", key, False, KIND_RANK["num"])]


def test_credit_codes_and_passports_are_id_searches() -> None:
    assert plan("91350100m000100y43") == [("id", "91350100M000100Y43", False, KIND_RANK["id"])]
    assert plan("E12345678") == [("id", "E12345678", False, KIND_RANK["id"])]


def test_names_in_any_script() -> None:
    assert plan("张伟") == [("name", "张伟", True, KIND_RANK["name"])]
    assert plan("張偉")[0] == ("name", "张伟", True, KIND_RANK["name"])
    assert [t[0] for t in plan("Zhang Wei")] == ["name", "py", "ini"]
    assert plan("Zhang Wei")[1] == ("py", "zhangwei", True, KIND_RANK["py"])


@pytest.mark.parametrize("q", ["", "   ", "a\x00b", "x" * 101, "---"])
def test_unsearchable_queries_are_refused(q: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        plan(q)
    assert caught.value.field == "q"
