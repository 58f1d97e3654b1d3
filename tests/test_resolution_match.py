"""The matching engine: quality on generated data, hard negatives, steward decisions, model (no database)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from telcrm.resolution._evaluate import evaluate
from telcrm.resolution.legacy_data import SOURCES, generate, write_sources
from telcrm.resolution.match import Decision, MatchResult, Model, default_model, match, score, train
from telcrm.resolution.standardise import id_check_digit, standardise

FIELDS = ("kind", "name", "id_number", "credit_code", "phone", "email", "address", "birth_date", "gender")


def std_records(records: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{r['source']}:{r['source_key']}", standardise({k: r.get(k) for k in FIELDS})) for r in records]


def person_id(prefix: str, birth: str, seq: int) -> str:
    first17 = f"{prefix}{birth}{seq:03d}"
    return first17 + id_check_digit(first17)


@pytest.fixture(scope="module")
def generated() -> tuple[list[tuple[str, dict[str, Any]]], dict[str, str], MatchResult]:
    records, truth = generate(1500, seed=11)
    std = std_records(records)
    return std, truth, match(std)


def test_quality_on_generated_data(generated: tuple[list, dict[str, str], MatchResult]) -> None:
    _, truth, result = generated
    scores = evaluate(truth, result.clusters)
    assert scores.precision >= 0.995, scores.line()
    assert scores.recall >= 0.95, scores.line()
    assert scores.exact_share >= 0.95, scores.line()


def test_result_shape(generated: tuple[list, dict[str, str], MatchResult]) -> None:
    std, _, result = generated
    keys = {k for k, _ in std}
    assert set(result.clusters) == keys
    for key, cluster in result.clusters.items():
        assert cluster <= key  # the cluster key is the smallest key of its cluster
        assert result.clusters[cluster] == cluster
    for a, b, p in result.links:
        assert result.clusters[a] == result.clusters[b]
        assert p >= result.model.link_threshold if result.model else True
    for a, b, p in result.review:
        assert 0.0 <= p <= 1.0
        assert result.clusters[a] != result.clusters[b]


def test_deterministic_with_seed() -> None:
    records, truth = generate(300, seed=5)
    again, truth_again = generate(300, seed=5)
    assert records == again and truth == truth_again
    other, _ = generate(300, seed=6)
    assert other != records
    std = std_records(records)
    first, second = match(std), match(list(reversed(std)))
    assert first.clusters == second.clusters
    assert first.model and second.model and first.model.to_dict() == second.model.to_dict()


def _person(name: str, **extra: str | None) -> dict[str, Any]:
    return standardise({"name": name, **extra})


def _bulk() -> list[tuple[str, dict[str, Any]]]:
    """Background records so the model has something to train on."""
    records, _ = generate(400, seed=3)
    return std_records(records)


def test_family_sharing_address_and_landline_is_not_merged() -> None:
    home = "上海市徐汇区淮海路100号3栋2单元501室"
    family = [
        ("x:1", _person("张建国", id_number=person_id("310104", "19600101", 11), phone="021-64001234", address=home)),
        ("x:2", _person("李秀兰", id_number=person_id("310104", "19620202", 22), phone="021-64001234", address=home)),
        ("x:3", _person("张晓明", id_number=person_id("310104", "19900303", 31), phone="021-64001234", address=home)),
        # records without ID: only the given name and birth date tell them apart
        (
            "y:1",
            _person("张建国", phone="(021) 6400-1234", address="上海徐汇淮海路100号3幢501", birth_date="1960-01-01"),
        ),
        ("y:2", _person("张晓明", phone="64001234", address="上海市徐汇区淮海路100号3-501", birth_date="1990-03-03")),
    ]
    result = match(_bulk() + family)
    c = result.clusters
    assert len({c["x:1"], c["x:2"], c["x:3"]}) == 3
    assert c["y:1"] == c["x:1"]
    assert c["y:2"] == c["x:3"]
    assert c["y:1"] != c["y:2"]


def test_common_names_with_different_ids_are_not_merged() -> None:
    people = [
        (f"m:{n}", _person("王伟", id_number=person_id("110105", f"19{70 + n}0101", 10 + n), address="北京市朝阳区"))
        for n in range(6)
    ]
    result = match(_bulk() + people)
    assert len({result.clusters[k] for k, _ in people}) == 6


def test_employees_sharing_a_company_phone_are_not_merged() -> None:
    staff = [
        ("e:1", _person("刘洋", phone="010-88881234", birth_date="1985-05-01")),
        ("e:2", _person("陈静", phone="010-88881234", birth_date="1979-11-12")),
        ("e:3", _person("赵磊", phone="010-88881234")),
    ]
    result = match(_bulk() + staff)
    assert len({result.clusters[k] for k, _ in staff}) == 3


def test_same_person_across_sources_is_merged() -> None:
    pid = person_id("310115", "19800512", 37)
    variants = [
        (
            "fixed:1",
            _person("王偉", id_number=pid[:6] + pid[8:17], phone="(021) 5080-1234", address="上海浦东张江路8号2幢301"),
        ),
        ("mobile:1", _person("WEI WANG", id_number=pid, phone="+86 139 1234 0000")),
        ("billing:1", _person("王伟", id_number=pid, phone="139-1234-0000, 021-50801234")),
    ]
    result = match(_bulk() + variants)
    assert len({result.clusters[k] for k, _ in variants}) == 1


def test_steward_decisions_are_obeyed() -> None:
    pid = person_id("310115", "19800512", 37)
    a = ("s:a", _person("王伟", id_number=pid, phone="13912340000"))
    b = ("s:b", _person("王伟", id_number=pid, phone="13912340000"))
    c = ("s:c", _person("孙丽", phone="13700000000"))
    records = [*_bulk(), a, b, c]
    base = match(records)
    assert base.clusters["s:a"] == base.clusters["s:b"]
    assert base.clusters["s:a"] != base.clusters["s:c"]
    decided = match(records, decisions=[Decision("s:a", "s:b", same=False), Decision("s:c", "s:a", same=True)])
    assert decided.clusters["s:a"] != decided.clusters["s:b"]
    assert decided.clusters["s:a"] == decided.clusters["s:c"]
    # decisions on unknown keys are ignored
    assert match(records, decisions=[Decision("nope", "s:a", same=True)]).clusters == base.clusters


def test_cannot_link_blocks_a_transitive_chain() -> None:
    pid = person_id("310115", "19800512", 37)
    records = [
        *_bulk(),
        ("t:a", _person("王伟", id_number=pid, phone="13912340000")),
        ("t:b", _person("王伟", phone="13912340000", address="上海市浦东新区张江路8号2幢301")),
        ("t:c", _person("王伟", id_number=pid, address="上海市浦东新区张江路8号2幢301")),
    ]
    result = match(records, decisions=[Decision("t:a", "t:c", same=False)])
    c = result.clusters
    assert c["t:a"] != c["t:c"]


def test_score_symmetric_and_bounded() -> None:
    model = default_model()
    pid = person_id("310115", "19800512", 37)
    a = _person("王伟", id_number=pid, phone="13912340000")
    b = _person("WEI WANG", id_number=pid)
    c = _person("李娜", phone="13700000000", address="北京市朝阳区")
    for x, y in ((a, b), (a, c), (b, c), (a, a)):
        p, q = score(model, x, y), score(model, y, x)
        assert p == q
        assert 0.0 <= p <= 1.0
    assert score(model, a, b) > 0.9 > score(model, a, c)
    org = standardise({"name": "华为技术有限公司"})
    assert score(model, a, org) == 0.0  # an individual never matches an organization


def test_model_round_trip_and_training() -> None:
    records, _ = generate(300, seed=2)
    std = std_records(records)
    model = train(std)
    d = model.to_dict()
    again = Model.from_dict(json.loads(json.dumps(d)))
    assert again == model
    assert match(std, model=again).clusters == match(std, model=model).clusters
    assert Model.from_dict(default_model().to_dict()) == default_model()
    assert 0.0 < model.prior < 1.0
    for k, m in model.m.items():
        assert abs(sum(m) - 1) < 1e-6 and len(m) == len(model.u[k])


def test_segment_models_round_trip(generated: tuple[list, dict[str, str], MatchResult]) -> None:
    result = generated[2]
    model = result.model
    assert model is not None and model.segments  # enough labelled pairs to fit per-segment parameters
    assert "individual/name" in model.segments
    again = Model.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model
    pid = person_id("310115", "19800512", 37)
    a, b = _person("王伟", id_number=pid, phone="13912340000"), _person("WEI WANG", id_number=pid)
    assert score(again, a, b) == score(model, b, a)


def test_small_input_uses_the_default_model() -> None:
    assert match([]).clusters == {}
    one = match([("a:1", _person("王伟"))])
    assert one.clusters == {"a:1": "a:1"}
    with pytest.raises(ValueError):
        match([("a:1", _person("王伟")), ("a:1", _person("李娜"))])


def test_write_sources(tmp_path: Any) -> None:
    records, _ = generate(200, seed=4)
    paths = write_sources(records, tmp_path)
    assert set(paths) == set(SOURCES)
    assert paths["voip"].suffix == ".xlsx"
    mapping = json.loads((tmp_path / "mobile.mapping.json").read_text("utf-8"))
    assert mapping["source"] == "mobile" and mapping["format"] == "csv"
    assert set(mapping["columns"].values()) >= {"source_key", "name", "id_number", "phone", "service_number"}
    header = paths["mobile"].read_text("utf-8").splitlines()[0].split(",")
    assert header == list(mapping["columns"])
    n_rows = sum(len(p.read_text("utf-8").splitlines()) - 1 for s, p in paths.items() if p.suffix == ".csv")
    assert n_rows == sum(1 for r in records if r["source"] != "voip")
