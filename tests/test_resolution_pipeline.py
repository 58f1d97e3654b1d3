"""Legacy record resolution, the pipeline: import, match, bulk merge, against the real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telcrm.kit.errors import ValidationFailed
from telcrm.resolution.importer import import_file, load_mapping, parse_mapping
from telcrm.resolution.merge import merge_all
from telcrm.resolution.report import report_sync
from telcrm.resolution.runs import run_match
from telcrm.resolution.survivorship import Record, golden
from tests.conftest import Sql
from tests.legacy_fixtures import BILLING_HEADER, BILLING_MAPPING, BILLING_ROWS, MOBILE_MAPPING, write_sources


def _load(url: str, tmp_path: Path) -> None:
    files = write_sources(tmp_path)
    for path, mapping in files.values():
        import_file(url, path, load_mapping(mapping))


def test_import_keeps_bad_rows_aside_with_line_and_reason(database_url: str, sql: Sql, tmp_path: Path) -> None:
    files = write_sources(tmp_path)
    path, mapping = files["mobile"]
    result = import_file(database_url, path, load_mapping(mapping))
    assert (result.status, result.loaded, result.rejected) == ("imported", 4, 4)
    rejects = dict(sql.rows("SELECT line_no, reason FROM legacy_reject ORDER BY line_no"))
    assert "birth_date '1985-13-45' is not a date" in rejects[3]
    assert rejects[5] == "no source_key"
    assert "appears twice" in rejects[6]
    assert "has 2 columns, the header has 10" in rejects[7]
    # the original values are kept as they were, the canonical ones beside them
    raw, fields = sql.rows("SELECT raw, fields FROM legacy_record WHERE key = 'mobile:M1'")[0]
    assert raw["姓名"] == "张伟" and fields["name"] == "张伟" and fields["service_start"] == "2015-03-01"
    assert sql.value("SELECT std->>'id18' FROM legacy_record WHERE key = 'mobile:M1'") == "110105199001011232"
    # a rerun of the same file adds nothing
    again = import_file(database_url, path, load_mapping(mapping))
    assert (again.status, again.loaded, again.rejected) == ("unchanged", 0, 0)
    assert sql.count("legacy_record") == 4 and sql.count("legacy_reject") == 4 and sql.count("legacy_batch") == 1


def test_import_reads_gbk_and_utf8_sig_and_xlsx(database_url: str, sql: Sql, tmp_path: Path) -> None:
    files = write_sources(tmp_path, billing_encoding="gbk")
    path, mapping = files["billing"]
    assert import_file(database_url, path, load_mapping(mapping)).loaded == 3
    assert sql.value("SELECT fields->>'name' FROM legacy_record WHERE key = 'billing:B1'") == "張偉"
    # the same rows with a BOM, as another source
    bom = tmp_path / "voip.csv"
    bom.write_text("\n".join([BILLING_HEADER, *BILLING_ROWS]) + "\n", encoding="utf-8-sig")
    assert import_file(database_url, bom, parse_mapping({**BILLING_MAPPING, "source": "voip"})).loaded == 3
    assert sql.value("SELECT fields->>'name' FROM legacy_record WHERE key = 'voip:B1'") == "張偉"
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(BILLING_HEADER.split(","))
    for row in BILLING_ROWS:
        sheet.append(row.split(","))
    xlsx = tmp_path / "fixed.xlsx"
    book.save(xlsx)
    result = import_file(database_url, xlsx, parse_mapping({**BILLING_MAPPING, "source": "fixed", "format": "xlsx"}))
    assert (result.loaded, result.rejected) == (3, 0)
    assert sql.value("SELECT fields->>'id_number' FROM legacy_record WHERE key = 'fixed:B2'") == "31010119850202002X"


def test_import_resumes_after_a_kill(database_url: str, sql: Sql, tmp_path: Path) -> None:
    path, mapping = write_sources(tmp_path)["mobile"]
    spec = load_mapping(mapping)
    first = import_file(database_url, path, spec, chunk=2, stop_after_chunks=1)  # as if killed
    assert first.loaded + first.rejected == 2
    assert sql.value("SELECT status FROM legacy_batch") == "loading"
    rest = import_file(database_url, path, spec, chunk=2)
    assert rest.status == "resumed"
    assert sql.count("legacy_record") == 4 and sql.count("legacy_reject") == 4
    assert sql.rows("SELECT status, rows_loaded, rows_rejected FROM legacy_batch") == [("done", 4, 4)]


def test_mapping_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_mapping({"source": "x", "columns": {"a": "name"}})
    assert "source_key" in info.value.message
    with pytest.raises(ValidationFailed) as info:
        parse_mapping({**MOBILE_MAPPING, "columns": {"k": "source_key", "n": "nom"}})
    assert info.value.field == "columns.n"
    yaml_file = tmp_path / "m.yaml"
    yaml_file.write_text("source: fixed\ncolumns:\n  编号: source_key\n  名称: name\n", encoding="utf-8")
    assert load_mapping(yaml_file).columns == {"编号": "source_key", "名称": "name"}
    json_file = tmp_path / "m.json"
    json_file.write_text(json.dumps({"source": "a:b", "columns": {"k": "source_key"}}), encoding="utf-8")
    with pytest.raises(ValidationFailed):
        load_mapping(json_file)


def test_match_and_merge_make_one_customer_per_person(database_url: str, sql: Sql, tmp_path: Path) -> None:
    _load(database_url, tmp_path)
    run = run_match(database_url)
    assert run.records == 7
    cluster = dict(sql.rows("SELECT key, cluster_key FROM legacy_member"))
    assert cluster["mobile:M1"] == cluster["billing:B1"]  # 张伟 / 張偉, same ID
    assert cluster["mobile:M3"] == cluster["billing:B2"]  # 王芳, same ID
    assert cluster["mobile:M5"] != cluster["mobile:M6"]  # two women called 李娜, nothing else shared
    summary = merge_all(database_url)
    assert summary.customers == run.clusters == sql.count("customer")
    cid = sql.value("SELECT customer_id FROM legacy_record WHERE key = 'mobile:M1'")
    assert sql.value("SELECT customer_id FROM legacy_record WHERE key = 'billing:B1'") == cid
    body = sql.value("SELECT body FROM customer WHERE id = %s", cid)
    assert body["status"] == "active" and body["engagedParty"]["@referredType"] == "Individual"
    party = sql.value("SELECT body FROM party WHERE id = %s", body["engagedParty"]["id"])
    assert party["familyName"] == "张" and party["givenName"] == "伟"
    assert party["individualIdentification"][0]["identificationId"] == "110105199001011232"
    numbers = {m["characteristic"].get("phoneNumber") for m in party["contactMedium"]}
    assert {"13800138000", "010-65001234"} <= numbers
    # every service a product under the customer, its account and its user (三户模型)
    products = sql.rows(
        "SELECT p.body, p.billing_account_id, p.user_id, a.customer_id, u.customer_id FROM product p"
        " JOIN account a ON a.id = p.billing_account_id JOIN customer_user u ON u.id = p.user_id"
        " WHERE p.customer_id = %s ORDER BY p.name",
        cid,
    )
    assert len(products) == 2
    for doc, _, _, account_customer, user_customer in products:
        assert account_customer == cid and user_customer == cid
        assert {"customer", "user"} == {r["role"] for r in doc["relatedParty"]}
    # searchable as if staff had created it: by phone, by ID number, by service number
    for kind, key in (("phone", "13800138000"), ("id", "110105199001011232"), ("phone", "01065001234")):
        assert sql.value("SELECT customer_id FROM search_key WHERE kind = %s AND key = %s LIMIT 1", kind, key) == cid
    # lineage: the name from the record with a simplified-script name, the ID agreed by both
    lineage = sql.value("SELECT lineage FROM golden_record WHERE customer_id = %s", cid)
    assert lineage["name"]["record"] == "mobile:M1" and lineage["name"]["rule"] == "valid value"
    assert lineage["id_number"]["rule"] == "all agree"
    # audited and announced
    assert sql.count("audit_entry", "entity_id = %s AND action = 'merge'", cid) == 1
    assert sql.count("outbox_event", "customer_id = %s AND event_type = 'CustomerMergeEvent'", cid) == 1
    assert sql.count("outbox_event", "event_type = 'CustomerCreateEvent'") == summary.customers
    # the organisation is an Organization party with a group customer
    org = sql.value("SELECT customer_id FROM legacy_record WHERE key = 'billing:B3'")
    assert sql.value("SELECT category FROM customer WHERE id = %s", org) == "group"
    # a rerun merges nothing more
    again = merge_all(database_url)
    assert again.clusters == 0 and sql.count("customer") == summary.customers


def test_merge_resumes_after_a_kill_and_new_records_join_their_customer(
    database_url: str, sql: Sql, tmp_path: Path
) -> None:
    _load(database_url, tmp_path)
    run_match(database_url)
    first = merge_all(database_url, chunk=1, stop_after_chunks=2)
    assert first.clusters == 2
    rest = merge_all(database_url, chunk=1)
    assert first.customers + rest.customers == sql.count("customer") == sql.count("golden_record")
    assert sql.count("legacy_record", "customer_id IS NULL") == 0
    cid = sql.value("SELECT customer_id FROM legacy_record WHERE key = 'mobile:M1'")
    # a new extract brings another service of 张伟
    extra = tmp_path / "voip.csv"
    extra.write_text(BILLING_HEADER + "\nV1,张伟,110105199001011232,13800138000,,057188880000,voip,2024-07-01\n")
    import_file(database_url, extra, parse_mapping({**BILLING_MAPPING, "source": "voip"}))
    run_match(database_url)
    later = merge_all(database_url)
    assert (later.customers, later.attached_clusters) == (0, 1)
    assert sql.value("SELECT customer_id FROM legacy_record WHERE key = 'voip:V1'") == cid
    assert sql.count("product", "customer_id = %s", cid) == 3
    assert "voip:V1" in sql.value("SELECT record_keys FROM golden_record WHERE customer_id = %s", cid)


def test_report_counts_and_estimates(database_url: str, sql: Sql, tmp_path: Path) -> None:
    _load(database_url, tmp_path)
    run_match(database_url)
    merge_all(database_url)
    r = report_sync(database_url)
    by_source = {s["source"]: s for s in r["sources"]}
    assert by_source["mobile"] == {"source": "mobile", "records": 4, "merged": 4, "rejected": 4}
    assert r["records"] == 7 and r["rejected"] == 4
    assert sum(int(k) * v for k, v in r["clustersBySize"].items() if k != "6+") == 7
    assert r["goldenCustomers"] == sql.count("customer")
    est = r["estimate"]
    assert est["links"] == sql.count("legacy_link")
    assert 0 < est["precision"] <= 1 and 0 < est["recall"] <= 1


def test_survivorship_rules_in_order() -> None:
    from datetime import UTC, datetime

    old, new = datetime(2020, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    records = [
        Record("fixed:1", "fixed", {"name": "王伟", "address": "上海市黄浦区南京东路2号501室"}, new),
        Record("billing:1", "billing", {"name": "王偉", "address": "上海黄浦"}, old),
        Record("mobile:1", "mobile", {"name": "王伟", "address": "上海市黄浦区", "email": "W@X.CN"}, old),
    ]
    g = golden(records, ("billing", "mobile", "broadband", "fixed"))
    # 王偉 is traditional script: not valid, so billing (most trusted) loses; mobile beats fixed on trust
    assert g.lineage["name"] == {"value": "王伟", "record": "mobile:1", "source": "mobile", "rule": "trusted source"}
    assert g.lineage["address"]["record"] == "billing:1" and g.lineage["address"]["rule"] == "trusted source"
    assert g.emails == ["w@x.cn"] and g.lineage["email[0]"]["record"] == "mobile:1"
    recent = golden(records, ("fixed", "mobile"))  # billing unranked: fixed first now
    assert recent.values["address"] == "上海市黄浦区南京东路2号501室"


def test_cli_runs_the_whole_flow(database_url: str, sql: Sql, tmp_path: Path) -> None:
    from tests.test_cli import run

    files = write_sources(tmp_path)
    mobile, mobile_map = files["mobile"]
    billing, billing_map = files["billing"]
    r = run(database_url, "identity", "import", str(mobile), "--mapping", str(mobile_map))
    assert r.returncode == 0, r.stderr
    assert "4 records loaded, 4 rejected" in r.stdout and "bad birth_date: 1" in r.stdout
    r = run(database_url, "identity", "import", str(billing), "--mapping", str(billing_map), "--encoding", "gbk")
    assert r.returncode == 0 and "3 records loaded" in r.stdout, r.stdout + r.stderr
    r = run(database_url, "identity", "import", str(mobile), "--mapping", str(mobile_map))
    assert "already imported, nothing added" in r.stdout
    r = run(database_url, "identity", "match")
    assert r.returncode == 0 and "7 records in" in r.stdout, r.stdout + r.stderr
    r = run(database_url, "identity", "merge", "--source-rank", "mobile,billing")
    assert r.returncode == 0, r.stderr
    assert sql.count("customer") == sql.count("legacy_cluster") > 0
    r = run(database_url, "identity", "report", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["records"] == 7 and report["goldenCustomers"] == sql.count("customer")
    bad = tmp_path / "bad.json"
    bad.write_text('{"source": "x", "columns": {"a": "name"}}')
    r = run(database_url, "identity", "import", str(mobile), "--mapping", str(bad))
    assert r.returncode == 2 and "source_key" in r.stdout


def test_merge_in_two_processes_gives_the_same_customers(database_url: str, sql: Sql, tmp_path: Path) -> None:
    _load(database_url, tmp_path)
    run = run_match(database_url)
    seen: list[int] = []
    summary = merge_all(database_url, workers=2, chunk=1, progress=seen.append)
    assert summary.customers == run.clusters == sql.count("customer") == sql.count("golden_record")
    assert sum(seen) == summary.records == 7 == sql.count("legacy_record", "customer_id IS NOT NULL")
    # one customer per cluster, never two
    assert (
        sql.value(
            "SELECT count(*) FROM (SELECT m.cluster_key FROM legacy_member m JOIN legacy_record r ON r.key = m.key"
            " GROUP BY 1 HAVING count(DISTINCT r.customer_id) <> 1) x"
        )
        == 0
    )
    assert sql.value("SELECT count(DISTINCT id) FROM customer") == sql.count("customer")
