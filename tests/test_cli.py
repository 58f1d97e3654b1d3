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
    assert sql.value("SELECT version_num FROM alembic_version") == "0005"
    assert sql.count("reference_item", "id LIKE 'std-%'") == 12
