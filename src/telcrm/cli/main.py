"""The ``telcrm`` command."""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console

from telcrm.kit.bulk import plain_url
from telcrm.kit.embedded import resolve_database_url, stop_embedded
from telcrm.kit.settings import get_settings

if TYPE_CHECKING:
    from telcrm.kit.db import Database

T = TypeVar("T")

app = typer.Typer(help="telcrm: customer-centric support system for telecom operators", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for system clients", no_args_is_help=True)
db_app = typer.Typer(help="The embedded database server", no_args_is_help=True)
numbers_app = typer.Typer(help="The number pool (选号): service numbers customers choose from", no_args_is_help=True)
identity_app = typer.Typer(
    help="Legacy customer records: import, match, merge into one customer (数据清理, 客户归并)", no_args_is_help=True
)
app.add_typer(apikey_app, name="apikey")
app.add_typer(db_app, name="db")
app.add_typer(numbers_app, name="numbers")
app.add_typer(identity_app, name="identity")
catalog_app = typer.Typer(
    help="The product catalog (TMF620): import and export JSON files, as importJob/exportJob do", no_args_is_help=True
)
app.add_typer(catalog_app, name="catalog")
console = Console(soft_wrap=True)
SIM_PORT = 8100


def _database_url() -> str:
    settings = get_settings()
    url = resolve_database_url(settings.database_url, settings.data_dir)
    # Server workers and child processes use the same database without starting it again.
    os.environ["TELCRM_DATABASE_URL"] = url
    return url


def _migrate(url: str) -> None:
    from telcrm.migrations import upgrade

    upgrade(url)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    url = _database_url()
    _migrate(url)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes")] = 1,
) -> None:
    """Migrate, then serve the API (docs at /docs)."""
    url = _database_url()
    _migrate(url)
    _serve(host, port, workers)


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn

    from telcrm.kit.db import TooFewConnections, fitting_pool_size, kept_connections

    if "TELCRM_BASE_URL" not in os.environ:
        # where hub listeners and provisioning reach us back: this very server, unless configured
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        os.environ["TELCRM_BASE_URL"] = f"http://{local}:{port}"
    # each process opens all the connections its pool keeps before it serves: a new PostgreSQL
    # session opened during a burst costs a process start and cold caches when they hurt most
    # every process's pools within the sessions the database server allows: past its max_connections
    # a pool that grows under load would fail requests with "too many clients"
    wanted = get_settings().db_pool_size
    try:
        size, allowed = fitting_pool_size(os.environ["TELCRM_DATABASE_URL"], workers, wanted)
    except TooFewConnections as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    if size < wanted:
        console.print(
            f"database sessions: pools of {size} per process, not {wanted}, so that {workers} processes"
            f" stay within the {allowed} more sessions the database server allows (max_connections)"
        )
        os.environ["TELCRM_DB_POOL_SIZE"] = str(size)
    os.environ.setdefault("TELCRM_DB_POOL_WARM", str(kept_connections(size)))
    get_settings.cache_clear()
    console.print(f"serving on http://{host}:{port}  (screens: /desk and /hall; API docs: /docs)")
    uvicorn.run(
        "telcrm.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        # open live-update streams (screens) would otherwise hold a graceful stop forever
        timeout_graceful_shutdown=5,
    )


@app.command("demo-data")
def demo_data(
    customers: Annotated[int, typer.Option(help="How many customers to generate")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data")] = 42,
) -> None:
    """Write deterministic, realistic demo data with bulk COPY, and the demo product catalog."""
    from telcrm.demo.catalog import load_catalog
    from telcrm.demo.generator import generate

    url = _database_url()
    _migrate(url)
    generate(url, customers=customers, seed=seed, console=console)
    _catalog(url, load_catalog)


@app.command()
def demo(
    customers: Annotated[int, typer.Option(help="Customers to generate when the database is empty")] = 2000,
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    sim: Annotated[bool, typer.Option("--sim/--no-sim", help="Start the provisioning simulator")] = True,
    sim_fail_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share of work orders the provisioning simulator fails")
    ] = 0.05,
) -> None:
    """Migrate, load demo data and staff logins if the database is empty, print the logins, serve."""
    from telcrm.demo.catalog import load_catalog
    from telcrm.demo.generator import generate, is_empty
    from telcrm.demo.staff import DEMO_PASSWORD, ensure_staff

    url = _database_url()
    _migrate(url)
    if is_empty(url):
        generate(url, customers=customers, seed=42, console=console)
    _catalog(url, load_catalog)
    logins, admin_key = asyncio.run(ensure_staff(url))
    console.rule("telcrm demo")
    console.print(f"Agent desktop: http://{host}:{port}/desk   web hall: http://{host}:{port}/hall  (sign in below)")
    console.print(f"Web API docs:  http://{host}:{port}/docs")
    console.print(
        f"Log in:        POST http://{host}:{port}/api/auth/login  with a username below and "
        f"password [bold]{DEMO_PASSWORD}[/bold]"
    )
    for username, role, note in logins:
        console.print(f"  {username:<12} {role:<16} {note}")
    if admin_key:
        console.print(f"Admin API key (shown once): [bold]{admin_key}[/bold]")
    phone, customer_id = _sample(url)
    if phone:
        curl = f"curl -H 'Authorization: Bearer <token>' 'http://{host}:{port}"
        console.print(f"Try:  {curl}/api/customers/search?q={phone}'")
        console.print(f"      {curl}/api/customers/{customer_id}/360'")
    child = _start_provisioning_sim(url, sim_fail_share) if sim else None
    try:
        _serve(host, port, 1)
    finally:
        if child:
            _stop(child)


def _start_provisioning_sim(url: str, fail_share: float) -> subprocess.Popen[bytes]:
    """Start ``provisioning-sim`` as a child process with a new system API key of its own (the key of
    an earlier start stops working); the child ends with this process, even one killed outright."""
    key = asyncio.run(_create_api_key(url, "provisioning-sim", "system", rotate=True))
    os.environ.setdefault("TELCRM_PROVISIONING_URL", f"http://127.0.0.1:{SIM_PORT}")
    command = [sys.executable, "-m", "telcrm.cli.main", "provisioning-sim", "--port", str(SIM_PORT)]
    child = subprocess.Popen(
        [*command, "--fail-share", str(fail_share)],
        env={**os.environ, "TELCRM_PROVISIONING_API_KEY": key},
        stdout=subprocess.DEVNULL,
        preexec_fn=_end_with_parent,
    )
    atexit.register(_stop, child)
    console.print(f"Provisioning simulator runs on http://127.0.0.1:{SIM_PORT} (fail share {fail_share * 100:g}%)")
    return child


def _end_with_parent() -> None:
    """In the child, before exec: Linux sends it SIGTERM when its parent dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:  # not Linux: the atexit hook still stops it on a normal exit
        pass


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:
            child.kill()


def _catalog(url: str, load: Callable[[str], int]) -> None:
    created = load(url)
    console.print(f"product catalog: {created} items added" if created else "product catalog: up to date")


def _sample(url: str) -> tuple[str | None, str | None]:
    """A mobile number and its customer from the data, for the hints ``demo`` prints."""
    import psycopg

    with psycopg.connect(plain_url(url)) as conn:
        row = conn.execute(
            "SELECT key, customer_id FROM search_key WHERE kind = 'phone' AND customer_id IS NOT NULL"
            " AND key LIKE '1%' ORDER BY customer_id LIMIT 1"
        ).fetchone()
    return (row[0], row[1]) if row else (None, None)


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. billing-system")],
    role: Annotated[str, typer.Option(help="admin, system, back_office, agent, ...")] = "system",
) -> None:
    """Create a system client with ROLE and print its new key alone on the last line."""
    from telcrm.kit.errors import DomainError

    url = _database_url()
    _migrate(url)
    try:
        key = asyncio.run(_create_api_key(url, name, role))
    except DomainError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None
    console.print(f"API key for {name} ({role}); keep it, it is not shown again:")
    print(key)


async def _create_api_key(url: str, name: str, role: str, *, rotate: bool = False) -> str:
    from telcrm.identity import service as identity
    from telcrm.kit.db import Database

    db = Database(url, pool_size=1)
    try:
        async with db.unit_of_work() as uow:
            if rotate:
                return await identity.rotate_api_key(uow.session, name=name, role=role)
            return await identity.create_api_key(uow.session, name=name, role=role)
    finally:
        await db.dispose()


@app.command("provisioning-sim")
def provisioning_sim(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = SIM_PORT,
    delay: Annotated[float, typer.Option(min=0, help="Seconds until a work order is done")] = 0.5,
    jitter: Annotated[float, typer.Option(min=0, help="Up to this many seconds more or less than --delay")] = 0.3,
    fail_share: Annotated[float, typer.Option(min=0, max=1, help="Share of work orders that fail")] = 0.05,
    permanent_share: Annotated[
        float, typer.Option(min=0, max=1, help="Share of the failures that are permanent (not retryable)")
    ] = 0.3,
    seed: Annotated[int | None, typer.Option(help="Random seed, to repeat a run; random if not given")] = None,
    api_key: Annotated[
        str | None,
        typer.Option(envvar="TELCRM_PROVISIONING_API_KEY", help="telcrm API key sent with the results"),
    ] = None,
) -> None:
    """Simulate the provisioning systems: accept work orders, complete them after a delay, fail a share of them."""
    import logging

    import uvicorn

    from telcrm.sim.provisioning import SimOptions, create_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = SimOptions(
        delay=delay,
        jitter=jitter,
        fail_share=fail_share,
        permanent_share=permanent_share,
        seed=seed,
        api_key=api_key,
    )
    console.print(f"provisioning simulator on http://{host}:{port} (fail share {fail_share * 100:g}%)")
    uvicorn.run(create_app(options), host=host, port=port, log_level="warning", access_log=False)


@numbers_app.command("add")
def numbers_add(
    prefix: Annotated[str, typer.Option(help="The digits every number starts with, e.g. 1770010")],
    count: Annotated[int, typer.Option(min=1, help="How many consecutive numbers")] = 10_000,
    kind: Annotated[str, typer.Option(help="mobile or fixed")] = "mobile",
    start: Annotated[int, typer.Option(min=0, help="The first counter value after the prefix")] = 0,
    length: Annotated[
        int | None, typer.Option(help="Digits in a number (default: 11 for mobile, 12 for fixed)")
    ] = None,
) -> None:
    """Add free numbers PREFIX + zero-padded counter to the pool, skipping those already there or in use."""
    from telcrm.ordering.pool import KINDS, add_numbers

    if kind not in KINDS:
        console.print(f"[red]--kind must be one of {', '.join(KINDS)}[/red]")
        raise typer.Exit(2)
    if not prefix.isdigit():
        console.print("[red]--prefix must be digits[/red]")
        raise typer.Exit(2)
    total = length or (11 if kind == "mobile" else 12)
    width = total - len(prefix)
    if width < 1 or start + count > 10**width:
        console.print(f"[red]{count} numbers from {start} do not fit after {prefix} in {total} digits[/red]")
        raise typer.Exit(2)
    url = _database_url()
    _migrate(url)
    numbers = [f"{prefix}{n:0{width}d}" for n in range(start, start + count)]
    added = add_numbers(plain_url(url), numbers, kind)
    console.print(f"{added} {kind} numbers added to the pool ({count - added} already there or in use)")


@identity_app.command("import")
def identity_import(
    files: Annotated[list[str], typer.Argument(help="CSV or Excel extracts of one source")],
    mapping: Annotated[str, typer.Option(help="The source's mapping file (JSON, or YAML)")],
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding: utf-8, utf-8-sig, gbk, ... (default: detected)")
    ] = None,
) -> None:
    """Import legacy extracts; a rerun of the same file adds nothing, a killed import resumes."""
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from telcrm.kit.errors import DomainError
    from telcrm.resolution.importer import import_file, load_mapping

    url = _database_url()
    _migrate(url)
    try:
        spec = load_mapping(mapping)
    except DomainError as exc:
        console.print(f"[red]{mapping}: {exc.message}[/red]")
        raise typer.Exit(2) from None
    failed = False
    for name in files:
        path = Path(name)
        total = _count_lines(path)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"{spec.source} {path.name}", total=total)

            def advance(done: int, _: int, t: object = task) -> None:
                bar.update(t, completed=done)  # type: ignore[arg-type]

            try:
                result = import_file(url, path, spec, encoding=encoding, progress=advance)
            except DomainError as exc:
                console.print(f"[red]{path}: {exc.message}[/red]")
                failed = True
                continue
            except UnicodeDecodeError as exc:
                console.print(f"[red]{path}: not readable as {encoding or 'the detected encoding'} ({exc})[/red]")
                failed = True
                continue
        word = {"unchanged": "already imported, nothing added", "resumed": "resumed", "imported": "imported"}
        console.print(
            f"{spec.source} {path.name}: {word[result.status]}; {result.loaded:,} records loaded, "
            f"{result.rejected:,} rejected (file total {result.total_loaded:,} loaded, "
            f"{result.total_rejected:,} rejected, batch {result.batch_id})"
        )
        for reason, count in sorted(result.reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"  rejected: {reason}: {count:,}")
    if failed:
        raise typer.Exit(1)


def _count_lines(path: object) -> int | None:
    from pathlib import Path

    p = Path(str(path))
    if not p.is_file() or p.suffix.lower() in (".xlsx", ".xlsm"):
        return None
    with p.open("rb") as fh:
        return max(sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 20), b"")) - 1, 0)


@identity_app.command("match")
def identity_match() -> None:
    """Match every imported record (steward decisions obeyed); store clusters and the review queue."""
    from telcrm.resolution.runs import run_match

    url = _database_url()
    _migrate(url)
    with console.status("matching"):
        s = run_match(url, say=console.print)
    console.print(
        f"run {s.run_id}: {s.records:,} records in {s.clusters:,} clusters, {s.links:,} links, "
        f"{s.reviews:,} pairs for review, {s.decisions:,} steward decisions obeyed "
        f"(load {s.seconds_load:.1f} s, match {s.seconds_match:.1f} s, store {s.seconds_store:.1f} s)"
    )


@identity_app.command("merge")
def identity_merge(
    source_rank: Annotated[
        str | None, typer.Option(help="Sources most trusted first, comma-separated (survivorship)")
    ] = None,
) -> None:
    """Make one golden customer per cluster not merged yet (bulk); a rerun skips what is merged."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from telcrm.resolution.merge import merge_all
    from telcrm.resolution.policy import DEFAULT_SOURCE_RANKING

    url = _database_url()
    _migrate(url)
    ranking = tuple(s.strip() for s in source_rank.split(",")) if source_rank else DEFAULT_SOURCE_RANKING
    total = _unmerged(url)
    with Progress(
        TextColumn("merging"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as bar:
        task = bar.add_task("merge", total=total)
        s = merge_all(url, ranking=ranking, progress=lambda n: bar.advance(task, n))
    console.print(
        f"{s.clusters:,} clusters: {s.customers:,} new customers, {s.attached_clusters:,} joined existing ones; "
        f"{s.records:,} records, {s.products:,} products ({s.seconds:.1f} s)"
    )


def _unmerged(url: str) -> int:
    import psycopg

    with psycopg.connect(plain_url(url)) as conn:
        row = conn.execute(
            "SELECT count(*) FROM legacy_member m JOIN legacy_record r ON r.key = m.key WHERE r.customer_id IS NULL"
        ).fetchone()
    return int(row[0]) if row else 0


@identity_app.command("report")
def identity_report(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Counts per source, rejects, clusters by size, merges, open reviews, estimated precision and recall."""
    import orjson

    from telcrm.resolution.report import report_sync

    url = _database_url()
    _migrate(url)
    r = report_sync(url)
    if as_json:
        print(orjson.dumps(r, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.table import Table

    table = Table(title="legacy records per source")
    for col in ("source", "records", "rejected", "merged"):
        table.add_column(col, justify="right" if col != "source" else "left")
    for s in r["sources"]:
        table.add_row(s["source"], f"{s['records']:,}", f"{s['rejected']:,}", f"{s['merged']:,}")
    console.print(table)
    sizes = ", ".join(f"{k}: {v:,}" for k, v in r["clustersBySize"].items())
    console.print(f"clusters: {r['clusters']:,} (by size {sizes})")
    console.print(f"golden customers: {r['goldenCustomers']:,}; open reviews: {r['openReviews']:,}")
    est = r["estimate"]
    if est:
        console.print(
            f"latest run {est['run']}: {est['links']:,} links, expected false links {est['expectedFalseLinks']:.1f}"
            f" -> precision ~{est['precision']:.4f}; expected missed links {est['expectedMissedLinks']:.1f}"
            f" -> recall ~{est['recall']:.4f} (model estimates, not ground truth)"
        )


def _catalog_file_job(job: Callable[[Database], Awaitable[T]], refused: str = "") -> T:
    """Migrate, then run ``job`` (an import or export of ``worker.catalog_jobs``) on its own
    connection; a document or file the catalog refuses ends the command with exit code 2."""
    from telcrm.catalog import jobs
    from telcrm.kit.db import Database
    from telcrm.kit.errors import DomainError

    url = _database_url()
    _migrate(url)

    async def run() -> T:
        db = Database(url, pool_size=1)
        try:
            return await job(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        console.print(f"[red]{jobs.error_log(exc)}[/red]{refused}")
        raise typer.Exit(2) from None


@catalog_app.command("import")
def catalog_import(
    file: Annotated[Path, typer.Argument(help="A JSON array of catalog documents, as an export writes them")],
    path: Annotated[str, typer.Option(help="Accept only this collection, e.g. productOffering")] = "",
) -> None:
    """Import catalog documents in one transaction: new ids are created, documents held with the same
    content skipped, others changed through the catalog's rules; any invalid document changes nothing."""
    from telcrm.catalog import jobs
    from telcrm.worker.catalog_jobs import import_file

    only = jobs.collection(path)
    counts = _catalog_file_job(lambda db: import_file(db, file, only=only), "; nothing was imported")
    console.print(f"{file}: {counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged")


@catalog_app.command("export")
def catalog_export(
    file: Annotated[Path, typer.Argument(help="Where to write the JSON array (replaced if it exists)")],
    path: Annotated[str, typer.Option(help="Only this collection, e.g. productOffering; empty: everything")] = "",
    query: Annotated[str, typer.Option(help="A TMF filter, e.g. lifecycleStatus=active")] = "",
) -> None:
    """Write catalog documents as the GET endpoints return them (without href), dependencies first."""
    from telcrm.catalog import jobs
    from telcrm.worker.catalog_jobs import export_file

    only = jobs.collection(path)
    count = _catalog_file_job(lambda db: export_file(db, file, only=only, query=query))
    console.print(f"{file}: {count} catalog documents")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL server."""
    settings = get_settings()
    if settings.database_url:
        console.print("TELCRM_DATABASE_URL is set: there is no embedded server to stop")
        return
    stop_embedded(settings.data_dir)
    console.print("embedded database stopped")


if __name__ == "__main__":
    app()
