"""The ``telcrm`` command."""

from __future__ import annotations

import asyncio
import atexit
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from telcrm.kit.embedded import resolve_database_url, stop_embedded
from telcrm.kit.settings import get_settings

app = typer.Typer(help="telcrm: customer-centric support system for telecom operators", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for system clients", no_args_is_help=True)
db_app = typer.Typer(help="The embedded database server", no_args_is_help=True)
numbers_app = typer.Typer(help="The number pool (选号): service numbers customers choose from", no_args_is_help=True)
app.add_typer(apikey_app, name="apikey")
app.add_typer(db_app, name="db")
app.add_typer(numbers_app, name="numbers")
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

    if "TELCRM_BASE_URL" not in os.environ:
        # where hub listeners and provisioning reach us back: this very server, unless configured
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        os.environ["TELCRM_BASE_URL"] = f"http://{local}:{port}"
        get_settings.cache_clear()
    console.print(f"serving on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        "telcrm.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
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

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
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
    added = add_numbers(url.replace("postgresql+psycopg://", "postgresql://", 1), numbers, kind)
    console.print(f"{added} {kind} numbers added to the pool ({count - added} already there or in use)")


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
