"""TMF620 importJob and exportJob (ADR 14): files only in the job directory, run after commit by
the job runner (run here with ``run_due``: the test app starts no background tasks), imports
that can be repeated without double effects, a failed import that leaves nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from telcrm.demo.catalog import load_catalog
from telcrm.kit import cache
from telcrm.kit.settings import Settings
from telcrm.worker.catalog_jobs import run_due
from tests.conftest import Sql
from tests.factories import CATALOG

IMPORT = f"{CATALOG}/importJob"
EXPORT = f"{CATALOG}/exportJob"
Doc = dict[str, Any]
Headers = dict[str, str]
COLLECTIONS = ("catalog", "category", "productSpecification", "productOffering", "productOfferingPrice")


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    path = tmp_path / "jobs"
    path.mkdir()
    return path


@pytest.fixture
def settings(database_url: str, job_dir: Path) -> Settings:
    return Settings(
        database_url=database_url, run_dispatcher=False, auth_cache_seconds=0, environment="test", job_dir=job_dir
    )


def run_jobs(client: TestClient) -> int:
    """What the server's job runner does after a commit: run every waiting job."""
    return client.portal.call(run_due, client.app_state.db)  # type: ignore[attr-defined, union-attr, no-any-return]


def finished(client: TestClient, headers: Headers, path: str, body: Doc) -> Doc:
    created = client.post(path, json=body, headers=headers)
    assert created.status_code == 201, created.text
    job = created.json()
    assert job["status"] == "Not Started"
    assert created.headers["Location"] == job["href"]
    assert run_jobs(client) == 1
    done = client.get(job["href"], headers=headers)
    assert done.status_code == 200
    return done.json()  # type: ignore[no-any-return]


def file_of(job: Doc) -> Path:
    assert job["url"].startswith("file:///")
    return Path(job["url"][len("file://") :])


def catalog_documents(client: TestClient, headers: Headers) -> dict[str, Doc]:
    out: dict[str, Doc] = {}
    for path in COLLECTIONS:
        r = client.get(f"{CATALOG}/{path}", params={"limit": 1000}, headers=headers)
        assert r.status_code == 200
        out.update({d["id"]: {k: v for k, v in d.items() if k != "href"} for d in r.json()})
    return out


def load_demo(database_url: str) -> int:
    created = load_catalog(database_url)
    cache.drop_all()
    return created


def empty_catalog(sql: Sql) -> None:
    sql.conn.execute("TRUNCATE catalog_item, outbox_event, audit_entry CASCADE")
    cache.drop_all()


def snapshot(sql: Sql) -> tuple[Any, ...]:
    return (
        sql.count("catalog_item"),
        sql.value("SELECT coalesce(sum(version), 0) FROM catalog_item"),
        sql.value("SELECT md5(string_agg(id || body::text, ',' ORDER BY id)) FROM catalog_item"),
        sql.count("outbox_event"),
        sql.count("audit_entry", "entity_type NOT LIKE '%Job'"),
    )


def test_export_of_the_demo_catalog_imports_into_an_empty_catalog_as_it_was(
    client: TestClient, admin: Headers, sql: Sql, database_url: str, job_dir: Path
) -> None:
    total = load_demo(database_url)
    assert total > 40
    before = catalog_documents(client, admin)

    job = finished(client, admin, EXPORT, {})
    assert job["status"] == "Succeeded", job
    assert job["summary"] == {"exported": total}
    assert job["contentType"] == "application/json" and job["completionDate"] >= job["creationDate"]
    exported = json.loads(file_of(job).read_text(encoding="utf-8"))
    assert file_of(job).parent == job_dir.resolve() and file_of(job).name == f"export-{job['id']}.json"
    assert {d["id"]: d for d in exported} == before
    kinds = [d["@type"] for d in exported]
    assert kinds.index("ProductOfferingPrice") < kinds.index("ProductOffering") < kinds.index("Catalog")

    empty_catalog(sql)
    assert catalog_documents(client, admin) == {}
    job = finished(client, admin, IMPORT, {"url": job["url"]})
    assert job["status"] == "Succeeded", job
    assert job["summary"] == {"created": total, "updated": 0, "unchanged": 0}
    assert catalog_documents(client, admin) == before
    assert sql.count("outbox_event", "event_type LIKE '%CreateEvent'") == total
    assert sql.value("SELECT DISTINCT principal_name FROM audit_entry WHERE entity_type = 'ProductOffering'") == (
        "test admin"
    )


def test_an_export_takes_a_path_a_query_and_a_file_named_inside_the_job_dir(
    client: TestClient, admin: Headers, database_url: str, job_dir: Path
) -> None:
    load_demo(database_url)
    (job_dir / "out").mkdir()
    job = finished(
        client,
        admin,
        EXPORT,
        {"url": "out/prices.json", "path": "productOfferingPrice", "query": "priceType=recurring"},
    )
    assert job["status"] == "Succeeded", job
    docs = json.loads((job_dir / "out" / "prices.json").read_text(encoding="utf-8"))
    assert docs and {d["@type"] for d in docs} == {"ProductOfferingPrice"}
    assert {d["priceType"] for d in docs} == {"recurring"}
    assert job["summary"] == {"exported": len(docs)}
    # a directory inside the job dir: the server names the file there
    job = finished(
        client, admin, EXPORT, {"url": (job_dir / "out").as_uri(), "path": "/productCatalogManagement/v4/catalog"}
    )
    assert file_of(job) == (job_dir / "out" / f"export-{job['id']}.json").resolve()
    assert [d["id"] for d in json.loads(file_of(job).read_text(encoding="utf-8"))] == ["catalog-main"]


def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    client: TestClient, admin: Headers, sql: Sql, database_url: str
) -> None:
    total = load_demo(database_url)
    exported = finished(client, admin, EXPORT, {})
    empty_catalog(sql)
    first = finished(client, admin, IMPORT, {"url": exported["url"]})
    assert first["summary"]["created"] == total
    state = snapshot(sql)
    second = finished(client, admin, IMPORT, {"url": exported["url"]})
    assert second["status"] == "Succeeded"
    assert second["summary"] == {"created": 0, "updated": 0, "unchanged": total}
    assert snapshot(sql) == state


def test_an_import_changes_what_differs_through_the_catalog_rules(
    client: TestClient, admin: Headers, sql: Sql, job_dir: Path
) -> None:
    spec = {"id": "spec-x", "@type": "ProductSpecification", "name": "X", "lifecycleStatus": "active"}
    offer = {
        "id": "po-x",
        "@type": "ProductOffering",
        "name": "X plan",
        "description": "old",
        "lifecycleStatus": "inDesign",
        "productSpecification": {"id": "spec-x", "name": "X"},
        "validFor": {"startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"},
    }
    (job_dir / "a.json").write_text(json.dumps([offer, spec]), encoding="utf-8")
    job = finished(client, admin, IMPORT, {"url": "a.json"})
    assert job["summary"] == {"created": 2, "updated": 0, "unchanged": 0}, job

    changed = {**offer, "lifecycleStatus": "active", "validFor": {"startDateTime": "2026-01-01T00:00:00Z"}}
    del changed["description"]
    (job_dir / "b.json").write_text(json.dumps([spec, changed]), encoding="utf-8")
    job = finished(client, admin, IMPORT, {"url": "b.json", "path": "productOffering"})
    assert job["status"] == "Failed" and "ProductSpecification spec-x" in job["errorLog"]  # path: offerings only
    job = finished(client, admin, IMPORT, {"url": "b.json"})
    assert job["summary"] == {"created": 0, "updated": 1, "unchanged": 1}, job
    stored = client.get(f"{CATALOG}/productOffering/po-x", headers=admin).json()
    assert {k: v for k, v in stored.items() if k != "href"} == changed
    assert sql.value("SELECT version FROM catalog_item WHERE id = 'po-x'") == 2
    events = [r[0] for r in sql.rows("SELECT event_type FROM outbox_event WHERE resource_id = 'po-x' ORDER BY id")]
    assert events == [
        "ProductOfferingCreateEvent",
        "ProductOfferingAttributeValueChangeEvent",
        "ProductOfferingStateChangeEvent",
    ]

    # back to design: a transition the rules refuse fails the job, naming the document and field
    (job_dir / "c.json").write_text(json.dumps([offer]), encoding="utf-8")
    job = finished(client, admin, IMPORT, {"url": "c.json"})
    assert job["status"] == "Failed"
    assert "ProductOffering po-x" in job["errorLog"] and "lifecycleStatus" in job["errorLog"]


def test_an_import_sends_a_catalog_batch_event_to_each_catalog_it_touched(
    client: TestClient, admin: Headers, sql: Sql, job_dir: Path
) -> None:
    price = {"id": "pop-y", "@type": "ProductOfferingPrice", "name": "Y monthly", "priceType": "oneTime"}
    price["price"] = {"unit": "CNY", "value": 30}
    offer = {"id": "po-y", "@type": "ProductOffering", "name": "Y", "productOfferingPrice": [{"id": "pop-y"}]}
    top = {"id": "cat-top", "@type": "Category", "name": "Top", "subCategory": [{"id": "cat-sub"}]}
    sub = {"id": "cat-sub", "@type": "Category", "name": "Sub", "productOffering": [{"id": "po-y"}]}
    empty = {"id": "cat-empty", "@type": "Category", "name": "Empty"}
    shop = {"id": "catalog-shop", "@type": "Catalog", "name": "Shop", "category": [{"id": "cat-top"}]}
    other = {"id": "catalog-other", "@type": "Catalog", "name": "Other", "category": [{"id": "cat-empty"}]}

    def batch_events() -> list[tuple[str, str, str]]:
        return [
            (r[0], r[1], r[2])
            for r in sql.rows(
                "SELECT resource_id, payload->>'correlationId', payload->'event'->'catalog'->>'name'"
                " FROM outbox_event WHERE event_type = 'CatalogBatchEvent' ORDER BY id"
            )
        ]

    (job_dir / "all.json").write_text(json.dumps([price, offer, top, sub, empty, shop, other]), encoding="utf-8")
    first = finished(client, admin, IMPORT, {"url": "all.json"})
    assert first["status"] == "Succeeded", first.get("errorLog")
    assert first["summary"]["created"] == 7, first
    assert sorted(batch_events()) == [("catalog-other", first["id"], "Other"), ("catalog-shop", first["id"], "Shop")]

    again = finished(client, admin, IMPORT, {"url": "all.json"})  # nothing changes: no event
    assert again["summary"]["unchanged"] == 7 and len(batch_events()) == 2

    # a price changed: its offering sits in a subcategory of one catalog only, which alone is told
    (job_dir / "price.json").write_text(json.dumps([{**price, "price": {"unit": "CNY", "value": 35}}]), "utf-8")
    third = finished(client, admin, IMPORT, {"url": "price.json"})
    assert third["summary"] == {"created": 0, "updated": 1, "unchanged": 0}, third
    assert batch_events()[2:] == [("catalog-shop", third["id"], "Shop")]


def test_a_bad_document_fails_the_job_and_leaves_nothing(
    client: TestClient, admin: Headers, sql: Sql, job_dir: Path
) -> None:
    docs = [
        {"id": "spec-ok", "@type": "ProductSpecification", "name": "fine"},
        {"id": "pop-bad", "@type": "ProductOfferingPrice", "name": "bad", "price": {"unit": "yuan", "value": 9}},
        {"id": "po-ok", "@type": "ProductOffering", "name": "fine", "productOfferingPrice": [{"id": "pop-bad"}]},
    ]
    (job_dir / "bad.json").write_text(json.dumps(docs), encoding="utf-8")
    job = finished(client, admin, IMPORT, {"url": "bad.json"})
    assert job["status"] == "Failed"
    assert "pop-bad" in job["errorLog"] and "price.unit" in job["errorLog"], job
    assert "completionDate" in job and "summary" not in job
    assert sql.count("catalog_item") == 0
    assert sql.count("outbox_event") == 0
    assert sql.count("audit_entry", "entity_type NOT LIKE '%Job'") == 0

    # the spec's own schema applies too, and the file must be an array of typed documents with ids
    for body, words in (
        ([{"id": "s", "@type": "ProductSpecification", "name": 5}], ("ProductSpecification s", "name")),
        ([{"@type": "Category", "name": "no id"}], ("id is required",)),
        ([{"id": "x", "@type": "Thing", "name": "?"}], ("@type",)),
        ({"id": "x"}, ("JSON array",)),
    ):
        (job_dir / "bad.json").write_text(json.dumps(body), encoding="utf-8")
        job = finished(client, admin, IMPORT, {"url": "bad.json"})
        assert job["status"] == "Failed" and all(w in job["errorLog"] for w in words), job
    (job_dir / "bad.json").write_text("[{", encoding="utf-8")
    job = finished(client, admin, IMPORT, {"url": "bad.json"})
    assert job["status"] == "Failed" and "not JSON" in job["errorLog"]
    assert sql.count("catalog_item") == 0


def test_urls_outside_the_job_directory_are_refused(
    client: TestClient, admin: Headers, sql: Sql, job_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "outside.json").write_text("[]", encoding="utf-8")
    (job_dir / "link.json").symlink_to(tmp_path / "outside.json")
    (job_dir / "in.json").write_text("[]", encoding="utf-8")
    for path, url in (
        (IMPORT, "http://127.0.0.1:8000/catalog.json"),
        (IMPORT, "https://example.com/catalog.json"),
        (IMPORT, "ftp://example.com/catalog.json"),
        (IMPORT, (tmp_path / "outside.json").as_uri()),
        (IMPORT, str(tmp_path / "outside.json")),
        (IMPORT, "../outside.json"),
        (IMPORT, "link.json"),
        (IMPORT, "file://otherhost/" + str(job_dir / "in.json")),
        (IMPORT, "missing.json"),
        (IMPORT, ""),
        (EXPORT, "http://example.com/upload"),
        (EXPORT, "file:///etc/telcrm.json"),
        (EXPORT, "in.json"),  # exists: an export never overwrites
    ):
        r = client.post(path, json={"url": url}, headers=admin)
        assert r.status_code == 400, (url, r.text)
        assert r.json()["field"] == "url", r.json()
    r = client.post(IMPORT, json={}, headers=admin)
    assert r.status_code == 400 and r.json()["field"] == "url"
    for body, field in (
        ({"url": "in.json", "contentType": "text/csv"}, "contentType"),
        ({"url": "in.json", "path": "customer"}, "path"),
    ):
        r = client.post(IMPORT, json=body, headers=admin)
        assert r.status_code == 400 and r.json()["field"] == field, r.text
    r = client.post(EXPORT, json={"query": "bad name=1"}, headers=admin)
    assert r.status_code == 400 and r.json()["field"] == "query", r.text
    assert sql.count("catalog_job") == 0
    # accepted forms: a path inside the dir, absolute or relative, and a file: URL
    for url in ("in.json", str(job_dir / "in.json"), (job_dir / "in.json").as_uri()):
        r = client.post(IMPORT, json={"url": url}, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["url"] == (job_dir / "in.json").resolve().as_uri()


def test_jobs_are_read_listed_and_deleted_but_not_while_running(
    client: TestClient, admin: Headers, sql: Sql, database_url: str
) -> None:
    first = client.post(EXPORT, json={"path": "category"}, headers=admin).json()
    second = client.post(EXPORT, json={}, headers=admin).json()
    r = client.get(EXPORT, headers=admin)
    assert r.status_code == 200 and r.headers["X-Total-Count"] == "2"
    assert [j["id"] for j in r.json()] == [first["id"], second["id"]]
    r = client.get(EXPORT, params={"path": "category", "fields": "status"}, headers=admin)
    assert r.json() == [{"id": first["id"], "href": first["href"], "@type": "ExportJob", "status": "Not Started"}]
    assert client.get(IMPORT, headers=admin).json() == []
    assert client.get(f"{IMPORT}/{first['id']}", headers=admin).status_code == 404  # an export, not an import
    one = client.get(first["href"], headers=admin).json()
    assert one == first

    # a job whose row a runner holds (it is being run) cannot be deleted
    conn = psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        conn.execute("SELECT 1 FROM catalog_job WHERE id = %s FOR UPDATE", (first["id"],))
        r = client.delete(first["href"], headers=admin)
        assert r.status_code == 409 and r.json()["field"] == "status"
    finally:
        conn.rollback()
        conn.close()
    assert client.delete(first["href"], headers=admin).status_code == 204
    assert client.get(first["href"], headers=admin).status_code == 404
    assert client.delete(first["href"], headers=admin).status_code == 404
    assert run_jobs(client) == 1  # the deleted job never runs
    assert sql.value("SELECT status FROM catalog_job WHERE id = %s", second["id"]) == "Succeeded"


def test_only_catalog_managers_create_and_delete_jobs(
    client: TestClient, admin: Headers, login: Callable[..., Headers], job_dir: Path
) -> None:
    (job_dir / "in.json").write_text("[]", encoding="utf-8")
    job = client.post(IMPORT, json={"url": "in.json"}, headers=admin).json()
    agent = login("agent")
    for path, body in ((IMPORT, {"url": "in.json"}), (EXPORT, {})):
        assert client.post(path, json=body, headers=agent).status_code == 403
    assert client.delete(job["href"], headers=agent).status_code == 403
    assert client.get(job["href"], headers=agent).status_code == 200  # reads as the catalog's
    assert client.post(IMPORT, json={"url": "in.json"}, headers=login("back_office")).status_code == 201
    assert client.get(IMPORT).status_code == 401


def test_a_job_left_running_by_a_killed_server_runs_again_once(
    client: TestClient, admin: Headers, sql: Sql, job_dir: Path
) -> None:
    docs = [
        {"id": "spec-k", "@type": "ProductSpecification", "name": "K"},
        {"id": "po-k", "@type": "ProductOffering", "name": "K", "productSpecification": {"id": "spec-k"}},
    ]
    (job_dir / "k.json").write_text(json.dumps(docs), encoding="utf-8")
    job = client.post(IMPORT, json={"url": "k.json"}, headers=admin).json()
    # the server claimed it, began, and died: its transaction rolled back, the claim stayed
    sql.conn.execute(
        "UPDATE catalog_job SET status = 'Running', body = body || '{\"status\": \"Running\"}' WHERE id = %s",
        (job["id"],),
    )
    assert client.get(job["href"], headers=admin).json()["status"] == "Running"
    assert run_jobs(client) == 1
    done = client.get(job["href"], headers=admin).json()
    assert done["status"] == "Succeeded" and done["summary"]["created"] == 2
    assert run_jobs(client) == 0
    assert sql.count("catalog_item") == 2
    assert sql.count("outbox_event", "event_type LIKE '%CreateEvent'") == 2


def test_a_job_whose_run_kept_killing_the_server_is_failed_not_started_again(
    client: TestClient, admin: Headers, sql: Sql, job_dir: Path
) -> None:
    (job_dir / "k.json").write_text(json.dumps([{"id": "cat-k", "@type": "Category", "name": "K"}]), "utf-8")
    jobs = [client.post(IMPORT, json={"url": "k.json"}, headers=admin).json() for _ in range(2)]
    # both were claimed and left Running by dying servers: the first twice, the second three times
    for job, starts in zip(jobs, (2, 3), strict=True):
        sql.conn.execute(
            "UPDATE catalog_job SET status = 'Running', starts = %s, body = body || '{\"status\": \"Running\"}'"
            " WHERE id = %s",
            (starts, job["id"]),
        )
    assert run_jobs(client) == 2
    first, second = (client.get(job["href"], headers=admin).json() for job in jobs)
    assert first["status"] == "Succeeded" and first["summary"]["created"] == 1  # its third start
    assert second["status"] == "Failed" and "stopped 3 times" in second["errorLog"], second
    assert sql.value("SELECT starts FROM catalog_job WHERE id = %s", jobs[0]["id"]) == 3
    assert run_jobs(client) == 0


def test_the_cli_exports_and_imports_the_same_way(
    client: TestClient, admin: Headers, sql: Sql, database_url: str, tmp_path: Path
) -> None:
    total = load_demo(database_url)
    before = catalog_documents(client, admin)
    env = {**os.environ, "TELCRM_DATABASE_URL": database_url}
    target = tmp_path / "catalog.json"

    def telcrm(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "telcrm.cli.main", "catalog", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    result = telcrm("export", str(target))
    assert result.returncode == 0, result.stderr
    assert f"{total} catalog documents" in result.stdout
    empty_catalog(sql)
    result = telcrm("import", str(target))
    assert result.returncode == 0, result.stderr
    assert f"{total} created" in result.stdout
    cache.drop_all()
    assert catalog_documents(client, admin) == before
    result = telcrm("import", str(target))
    assert f"{total} unchanged" in result.stdout
    target.write_text('[{"id": "x", "@type": "Category", "name": "x", "lifecycleStatus": "gone"}]', encoding="utf-8")
    result = telcrm("import", str(target))
    assert result.returncode == 2 and "Category x" in result.stdout


def test_the_server_runs_a_job_once_its_request_has_committed(
    settings: Settings, sql: Sql, admin: Headers, job_dir: Path
) -> None:
    """With its background tasks on (as ``telcrm serve`` runs), the server wakes its job runner."""
    import time

    from telcrm.api.app import create_app
    from telcrm.kit.db import Database

    (job_dir / "one.json").write_text(json.dumps([{"id": "cat-1", "@type": "Category", "name": "One"}]), "utf-8")
    running = settings.model_copy(update={"run_dispatcher": True, "sweeper_interval_seconds": 60.0})
    db = Database(settings.database_url or "", pool_size=4)
    with TestClient(create_app(running, db), base_url="http://testserver") as client:
        job = client.post(IMPORT, json={"url": "one.json"}, headers=admin).json()
        deadline = time.monotonic() + 20
        while (status := client.get(job["href"], headers=admin).json()["status"]) != "Succeeded":
            assert status in ("Not Started", "Running") and time.monotonic() < deadline, status
            time.sleep(0.1)
        client.portal.call(db.dispose)  # type: ignore[union-attr]
    assert sql.value("SELECT name FROM catalog_item WHERE id = 'cat-1'") == "One"
