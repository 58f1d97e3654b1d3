"""The ``telcrm`` command, run as a user runs it, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import Sql

TELCRM = [sys.executable, "-m", "telcrm.cli.main"]


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELCRM_DATABASE_URL": database_url}
    return subprocess.run([*TELCRM, *args], env=env, capture_output=True, text=True, timeout=120)


def test_apikey_create_prints_a_working_key_on_its_last_line(database_url: str, sql: Sql, client) -> None:
    result = run(database_url, "apikey", "create", "--name", "billing-system", "--role", "back_office")
    assert result.returncode == 0, result.stderr
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("tck_") and " " not in key
    assert sql.value("SELECT roles FROM principal WHERE display_name = 'billing-system'") == ["back_office"]
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200
    assert me.json()["roles"] == ["back_office"]


def test_apikey_create_refuses_an_unknown_role(database_url: str, sql: Sql) -> None:
    result = run(database_url, "apikey", "create", "--name", "x", "--role", "superuser")
    assert result.returncode == 2
    assert "unknown role" in result.stdout
    assert sql.count("principal") == 0


def test_migrate_is_idempotent(database_url: str, sql: Sql) -> None:
    result = run(database_url, "migrate")
    assert result.returncode == 0, result.stderr
    assert sql.value("SELECT version_num FROM alembic_version") == "0018"
    assert sql.count("reference_item", "id LIKE 'std-%'") == 12
    # no trigger notifies in the business transactions any more (ADR 16)
    assert sql.value("SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%live%'") == 0


def test_migrations_keep_the_statistics_of_queue_tables_small(sql: Sql) -> None:
    """Every column of the queue and log tables samples 3,000 rows, not 30,000 (ADR 10): their
    frequent ANALYZE stays cheap, and a column added later without the setting fails here."""
    targets = sql.rows(
        "SELECT attrelid::regclass::text, attname, attstattarget FROM pg_attribute"
        " WHERE attrelid = ANY(ARRAY['work_order', 'outbox_event', 'delivery', 'audit_entry']::regclass[])"
        " AND attnum > 0 AND NOT attisdropped"
    )
    assert {table for table, _, _ in targets} == {"work_order", "outbox_event", "delivery", "audit_entry"}
    assert [(table, column) for table, column, target in targets if target != 10] == []
    # the other tables keep the server's default (-1, or NULL from PostgreSQL 17): full samples
    default = "SELECT coalesce(attstattarget, -1) FROM pg_attribute WHERE attrelid = 'product_order'::regclass"
    assert sql.value(default + " AND attname = 'state'") == -1


def test_numbers_add_fills_the_pool_once(database_url: str, sql: Sql) -> None:
    sql.conn.execute("INSERT INTO number_pool (number, kind, status) VALUES ('17700100007', 'mobile', 'taken')")
    sql.conn.execute(
        "INSERT INTO search_key (key, kind, ref_id, customer_id, weight)"
        " VALUES ('17700100009', 'phone', 'someone', 'C0000000001', 0)"
    )
    result = run(database_url, "numbers", "add", "--prefix", "1770010", "--count", "10000", "--kind", "mobile")
    assert result.returncode == 0, result.stderr
    assert "9998 mobile numbers added" in result.stdout
    assert sql.count("number_pool", "kind = 'mobile' AND status = 'free'") == 9998
    assert sql.value("SELECT min(number) || ' ' || max(number) FROM number_pool") == "17700100000 17700109999"
    assert sql.value("SELECT status FROM number_pool WHERE number = '17700100007'") == "taken"  # left as it was
    assert sql.count("number_pool", "number = '17700100009'") == 0  # someone's number already

    again = run(database_url, "numbers", "add", "--prefix", "1770010", "--count", "10000")
    assert again.returncode == 0, again.stderr
    assert "0 mobile numbers added" in again.stdout
    assert sql.count("number_pool") == 9999

    fixed = run(database_url, "numbers", "add", "--prefix", "07559", "--count", "5", "--kind", "fixed")
    assert fixed.returncode == 0, fixed.stderr
    assert [r[0] for r in sql.rows("SELECT number FROM number_pool WHERE kind = 'fixed' ORDER BY 1")] == [
        f"07559{n:07d}" for n in range(5)
    ]


def test_numbers_add_refuses_what_does_not_fit(database_url: str, sql: Sql) -> None:
    result = run(database_url, "numbers", "add", "--prefix", "1770010", "--count", "10001")
    assert result.returncode == 2
    assert "do not fit" in result.stdout
    assert run(database_url, "numbers", "add", "--prefix", "177", "--kind", "satellite").returncode == 2
    assert sql.count("number_pool") == 0


def test_the_demo_simulator_key_is_rotated_per_start(database_url: str, sql: Sql, client) -> None:
    import asyncio

    from telcrm.cli.main import _create_api_key

    first = asyncio.run(_create_api_key(database_url, "provisioning-sim", "system", rotate=True))
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {first}"}).status_code == 200
    second = asyncio.run(_create_api_key(database_url, "provisioning-sim", "system", rotate=True))
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    assert client.get("/api/auth/me", headers={"Authorization": f"Bearer {second}"}).status_code == 200
    assert sql.count("principal", "display_name = 'provisioning-sim' AND active") == 1


def test_a_child_started_by_the_demo_ends_when_the_demo_is_killed() -> None:
    import signal
    import time

    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from telcrm.cli.main import _end_with_parent\n"
            "child = subprocess.Popen(['sleep', '60'], preexec_fn=_end_with_parent)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)  # no atexit, no finally: only the kernel can stop the child
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        with open(f"/proc/{child}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":  # ended, waiting to be reaped by init
                break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the child outlived its killed parent")


def test_serve_refuses_more_processes_than_the_database_has_sessions_for(database_url: str) -> None:
    """Past the server's max_connections, pools growing under load would fail requests with "too many
    clients": ``telcrm serve`` says so at start instead, and serves nothing."""
    result = run(database_url, "serve", "--workers", "200", "--port", "8799")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "200 server processes need at least" in result.stdout
    assert "raise its max_connections or run fewer processes" in result.stdout
