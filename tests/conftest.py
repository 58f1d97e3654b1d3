"""Test fixtures: a real PostgreSQL (Debian's by URL, or the embedded one), one database per
xdist worker, every table emptied before each test, the app driven over HTTP in-process.

Set ``TELCRM_TEST_DATABASE_URL`` to an admin URL of a PostgreSQL server (CI does, for Debian's
PostgreSQL 15); without it the embedded server is started under ``.telcrm-test/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from telcrm.api.app import create_app
from telcrm.identity import service as identity
from telcrm.kit import cache
from telcrm.kit.auth import hash_secret, new_secret
from telcrm.kit.db import Database
from telcrm.kit.embedded import ensure_embedded, normalise_url
from telcrm.kit.settings import Settings
from telcrm.migrations import upgrade

ROOT = Path(__file__).resolve().parent.parent
KEEP = {"alembic_version", "reference_item"}


def _admin_url() -> str:
    url = os.environ.get("TELCRM_TEST_DATABASE_URL")
    if url:
        return normalise_url(url)
    return ensure_embedded(ROOT / ".telcrm-test", database="postgres")


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """An empty database ``name`` on the test server (made afresh), its URL; dropped after."""
    admin = _admin_url()
    with psycopg.connect(_plain(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = admin.partition("?")
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    finally:
        with psycopg.connect(_plain(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(worker_id: str) -> Iterator[str]:
    """A fresh, migrated database for this test process (one per xdist worker), dropped after."""
    with scratch_database(f"telcrm_test_{worker_id}_{os.getpid()}") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def worker_id(request: pytest.FixtureRequest) -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def _tables(database_url: str) -> list[str]:
    with psycopg.connect(_plain(database_url)) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return [r[0] for r in rows if r[0] not in KEEP]


class Sql:
    """Direct SQL for assertions about what is (and is not) in the database."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(_plain(url), autocommit=True)

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        return self.conn.execute(query, params or None).fetchall()

    def value(self, query: str, *params: Any) -> Any:
        row = self.conn.execute(query, params or None).fetchone()
        return row[0] if row else None

    def count(self, table: str, where: str = "TRUE", *params: Any) -> int:
        return int(self.value(f"SELECT count(*) FROM {table} WHERE {where}", *params))


@pytest.fixture
def sql(database_url: str, _tables: list[str]) -> Iterator[Sql]:
    s = Sql(database_url)
    s.conn.execute(f"TRUNCATE {', '.join(_tables)} RESTART IDENTITY CASCADE")
    s.conn.execute("DELETE FROM reference_item WHERE id NOT LIKE 'std-%'")
    s.conn.execute("ALTER SEQUENCE customer_number_seq RESTART WITH 1")
    s.conn.execute("ALTER SEQUENCE account_number_seq RESTART WITH 1")
    cache.drop_all()  # the process's copies of what was just emptied
    yield s
    s.conn.close()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, run_dispatcher=False, auth_cache_seconds=0, environment="test")


@pytest.fixture
def client(settings: Settings, sql: Sql) -> Iterator[TestClient]:
    db = Database(settings.database_url or "", pool_size=4)
    app = create_app(settings, db)
    with TestClient(app, base_url="http://testserver") as c:
        c.app_state = app.state  # type: ignore[attr-defined]
        yield c
        c.portal.call(db.dispose)  # type: ignore[union-attr]


Headers = dict[str, str]


@pytest.fixture
def login(sql: Sql) -> Callable[..., Headers]:
    """``login(role, party_id=..., dealer_id=..., customer_id=...)``: headers of a new caller."""

    def make(role: str, **links: str | None) -> Headers:
        kind = {"dealer": "dealer", "customer": "customer", "system": "system"}.get(role, "staff")
        p = identity.new_principal(kind=kind, display_name=f"test {role}", roles=[role], password_hash="x")
        key = new_secret("tck")
        sql.conn.execute(
            "INSERT INTO principal (id, kind, username, password_hash, display_name, roles, party_id, dealer_id,"
            " customer_id, active) VALUES (%s,%s,NULL,%s,%s,%s,%s,%s,%s,true)",
            (
                p.id,
                kind,
                "x",
                p.display_name,
                [role],
                links.get("party_id"),
                links.get("dealer_id"),
                links.get("customer_id"),
            ),
        )
        sql.conn.execute(
            "INSERT INTO access_token (token_hash, principal_id, kind, name) VALUES (%s,%s,'apikey','test')",
            (hash_secret(key), p.id),
        )
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.fixture
def admin(login: Callable[..., Headers]) -> Headers:
    return login("admin")


WEB_PASSWORD = "s3cret-screens"


@pytest.fixture
def web_login(sql: Sql) -> Callable[..., str]:
    """``web_login(client, role, party_id=..., dealer_id=..., customer_id=...)``: signs ``client`` in
    on the screens as a new principal of ``role`` (session cookie) and returns its CSRF token."""
    from telcrm.web.deps import SESSION_COOKIE, csrf_for

    password_hash = identity.hash_password(WEB_PASSWORD)
    made = 0

    def sign_in(client: TestClient, role: str, **links: str | None) -> str:
        nonlocal made
        made += 1
        kind = {"dealer": "dealer", "customer": "customer"}.get(role, "staff")
        p = identity.new_principal(kind=kind, display_name=f"web {role}", roles=[role], password_hash="x")
        username = f"web-{role}-{made}"
        sql.conn.execute(
            "INSERT INTO principal (id, kind, username, password_hash, display_name, roles, party_id, dealer_id,"
            " customer_id, active) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,true)",
            (
                p.id,
                kind,
                username,
                password_hash,
                p.display_name,
                [role],
                links.get("party_id"),
                links.get("dealer_id"),
                links.get("customer_id"),
            ),
        )
        client.cookies.clear()
        r = client.post("/login", data={"username": username, "password": WEB_PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text
        token = r.cookies.get(SESSION_COOKIE) or client.cookies.get(SESSION_COOKIE)
        assert token
        client.cookies.set(SESSION_COOKIE, token)
        return csrf_for(token)

    return sign_in
