"""Browser tests: Debian's Chromium, driven by Playwright, against a real telcrm server on 127.0.0.1.

Made once per test process (each xdist worker), when its first browser test starts:

- a fresh database ``telcrm_browser_<worker>_<pid>`` on the test server (``TELCRM_TEST_DATABASE_URL``,
  else the embedded one, as in ``tests/conftest.py``), migrated, with small demo data (60 customers,
  seed 42, the demo catalog) and the demo logins ``admin agent clerk manager backoffice supervisor
  dealer customer`` (password ``telcrm-demo``); dropped at the end;
- the provisioning simulator (``telcrm provisioning-sim``: no failures, 0.3 s a work order) and the
  server (``telcrm serve``: dispatcher and work-order sender on, 0.5 s sweeper), each on a free
  port, in process groups of their own that are killed at the end; logs in ``test-artifacts/logs/``;
- one headless Chromium: ``$TELCRM_CHROMIUM``, else ``/usr/bin/chromium`` (never ``playwright install``).

In a test (see ``test_desk_browser.py``):

- ``site``: ``site.url`` the base URL (pages take relative paths too: ``page.goto("/desk")``);
  ``site.admin_key`` an admin API key and ``site.api`` an ``httpx.Client`` sending it
  (``site.api.post(f"/api/customers/{cid}/users", json={...})``); ``site.sql`` direct SQL on the
  test database (``.value(q, *params)``, ``.rows(...)``, ``.count(table, where, ...)``);
  ``site.database_url``; ``site.wait(condition)`` polls until true (or False after a few seconds).
- ``page``: a fresh browser context and page (signed out, default language zh_Hans);
  ``new_page()`` makes another one, e.g. an agent and a customer at once.
- ``signed_in(page, "agent")``: signs in through the /login form (returns the page).
- ``shot(page, "desk-search")``: full-page PNG ``test-artifacts/screens/desk-search.png``. A failing
  test saves each of its open pages as ``FAILED-<test>-<n>.png`` there as well.

The data is shared by the browser tests of a process and not reset between them: change only what
your test made, or a customer it picked for itself, and find data by SQL rather than fixed ids.

Playwright's sync API leaves an asyncio loop marked running in its thread, so ``asyncio.run()`` in
any other test of the same process would fail: browser tests are therefore collected last, and the
browser is stopped should another test come after one anyway.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from tests.conftest import ROOT, Sql, _admin_url, _plain

HERE = Path(__file__).resolve().parent
SCREENS = ROOT / "test-artifacts" / "screens"
LOGS = ROOT / "test-artifacts" / "logs"
PASSWORD = "telcrm-demo"
CHROMIUM = os.environ.get("TELCRM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
START_SECONDS = 60.0  # at most, for a server to answer /health
WAIT_MS = 10_000  # at most, for a page to show what a test expects (a shared, busy machine)
expect.set_options(timeout=WAIT_MS)


def _is_browser_test(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).resolve().parents


# --- ordering, and the browser kept out of other tests' way -------------------------------------


class _Chromium:
    """One Playwright and one browser for this process, started when first needed."""

    def __init__(self) -> None:
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None

    def get(self) -> Browser:
        if self.browser is None:
            if not Path(CHROMIUM).exists():
                raise RuntimeError(
                    f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium fonts-wqy-microhei`"
                    " (make unit does, as root), or set TELCRM_CHROMIUM"
                )
            self.playwright = sync_playwright().start()
            self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        return self.browser

    def stop(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None
        if self.playwright is not None:
            self.playwright.stop()
            self.playwright = None


CHROME = _Chromium()


class _BrowserLast:
    """A plugin for the whole session (a conftest's own runtest hooks see only its directory)."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if not _is_browser_test(item):
            CHROME.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real Chromium against a real server (tests/browser)")
    if not config.pluginmanager.has_plugin("telcrm-browser-last"):
        config.pluginmanager.register(_BrowserLast(), "telcrm-browser-last")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last (stable, so every xdist worker sees the same order)."""
    for item in items:
        if _is_browser_test(item):
            item.add_marker(pytest.mark.browser)
    items.sort(key=_is_browser_test)


# --- the database, the simulator and the server --------------------------------------------------


@dataclass
class Site:
    url: str
    database_url: str
    admin_key: str
    sql: Sql
    api: httpx.Client
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @staticmethod
    def wait(condition: Callable[[], Any], seconds: float = 10.0) -> bool:
        """Poll ``condition`` until it is true; False if it never was within ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return bool(condition())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _end_with_parent() -> None:
    """In the child: SIGTERM when the test process dies, even killed outright (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def _start(name: str, args: list[str], env: dict[str, str], worker: str) -> subprocess.Popen[bytes]:
    LOGS.mkdir(parents=True, exist_ok=True)
    # PR_SET_PDEATHSIG follows the thread that forks: only ask for it from the main thread
    main = threading.current_thread() is threading.main_thread()
    with (LOGS / f"{name}-{worker}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "telcrm.cli.main", *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_end_with_parent if main else None,
        )


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass


def _wait_healthy(process: subprocess.Popen[bytes], url: str, name: str, worker: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200 and process.poll() is None:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    log = (LOGS / f"{name}-{worker}.log").read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{name} did not start on {url} (exit code {process.poll()}):\n{log}")


async def _create_api_key(url: str, name: str, role: str) -> str:
    from telcrm.identity import service as identity
    from telcrm.kit.db import Database

    db = Database(url, pool_size=1)
    try:
        async with db.unit_of_work() as uow:
            return await identity.create_api_key(uow.session, name=name, role=role)
    finally:
        await db.dispose()


def _demo_data(url: str) -> str:
    """Small demo data and the demo logins; returns a new admin API key."""
    from rich.console import Console

    from telcrm.demo.catalog import load_catalog
    from telcrm.demo.generator import generate
    from telcrm.demo.staff import ensure_staff

    generate(url, customers=60, seed=42, console=Console(quiet=True), workers=1)
    load_catalog(url)
    _, admin_key = asyncio.run(ensure_staff(url))
    assert admin_key, "the demo logins existed already in a fresh database"
    return admin_key


@pytest.fixture(scope="session")
def site(worker_id: str) -> Iterator[Site]:
    from telcrm.migrations import upgrade

    admin = _admin_url()
    name = f"telcrm_browser_{worker_id}_{os.getpid()}"
    with psycopg.connect(_plain(admin), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = admin.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    processes: list[subprocess.Popen[bytes]] = []
    sql: Sql | None = None
    api: httpx.Client | None = None
    try:
        upgrade(url)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
            "TELCRM_DATABASE_URL": url,
            "TELCRM_ENVIRONMENT": "test",
        }
        sim_port = _free_port()
        sim_url = f"http://127.0.0.1:{sim_port}"
        # the simulator reports results with a system API key of its own, as `telcrm demo` wires it
        sim_key = asyncio.run(_create_api_key(url, "provisioning-sim", "system"))
        sim_env = {**env, "TELCRM_PROVISIONING_API_KEY": sim_key}
        sim_args = ["--port", str(sim_port), "--delay", "0.3", "--jitter", "0", "--fail-share", "0", "--seed", "1"]
        processes.append(_start("provisioning-sim", ["provisioning-sim", *sim_args], sim_env, worker_id))

        admin_key = _demo_data(url)

        port = _free_port()
        server_url = f"http://127.0.0.1:{port}"
        server_env = {
            **env,
            "TELCRM_BASE_URL": server_url,
            "TELCRM_RUN_DISPATCHER": "true",
            "TELCRM_SWEEPER_INTERVAL_SECONDS": "0.5",
            "TELCRM_PROVISIONING_URL": sim_url,
            "TELCRM_AUTH_CACHE_SECONDS": "0",
            "TELCRM_DB_POOL_SIZE": "8",
        }
        processes.append(_start("server", ["serve", "--port", str(port)], server_env, worker_id))
        _wait_healthy(processes[0], sim_url, "provisioning-sim", worker_id)
        _wait_healthy(processes[1], server_url, "server", worker_id)

        sql = Sql(url)
        api = httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=30)
        # ours, not another process that took the port in between: it knows our admin key
        me = api.get("/api/auth/me")
        assert me.status_code == 200, f"{server_url} is not the server started here: {me.status_code}"
        yield Site(url=server_url, database_url=url, admin_key=admin_key, sql=sql, api=api, processes=processes)
    finally:
        CHROME.stop()  # before the server: no page keeps a connection open
        if api is not None:
            api.close()
        if sql is not None:
            sql.conn.close()
        for process in reversed(processes):
            _kill(process)
        with psycopg.connect(_plain(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def new_page(site: Site, request: pytest.FixtureRequest) -> Iterator[Callable[[], Page]]:
    """``new_page()``: a page in a fresh browser context (cookies of its own), closed after the test."""
    contexts = []
    pages: list[Page] = []
    request.node._browser_pages = pages  # for a screenshot when the test fails

    def make() -> Page:
        context = CHROME.get().new_context(
            base_url=site.url, viewport={"width": 1280, "height": 800}, locale="zh-CN", timezone_id="Asia/Shanghai"
        )
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        pages.append(page)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


def signed_in(page: Page, username: str, password: str = PASSWORD) -> Page:
    """Sign ``page`` in as ``username`` through the /login form; the page is then at its home screen."""
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    if "/login" in page.url:
        error = page.locator(".error").all_inner_texts()
        raise AssertionError(f"{username} could not sign in: {error}")
    return page


@pytest.fixture(name="signed_in")
def signed_in_fixture() -> Callable[..., Page]:
    return signed_in


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot ``test-artifacts/screens/<name>.png``."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(name="shot")
def shot_fixture() -> Callable[[Page, str], Path]:
    return shot


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        test = re.sub(r"[^\w.-]+", "_", item.name)
        for n, open_page in enumerate(getattr(item, "_browser_pages", []), 1):
            try:
                if not open_page.is_closed():
                    shot(open_page, f"FAILED-{test}-{n}")
            except Exception as exc:  # the report matters more than its picture
                print(f"no screenshot of {test} page {n}: {exc}", file=sys.stderr)
    return report
