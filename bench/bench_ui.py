"""Server-rendered screens under load: search results, the customer page, the order form's price.

Usage (after `telcrm demo-data --customers 1000000` on the same database settings):

    .venv/bin/python bench/bench_ui.py [--workers 1] [--duration 20] [--connections 4,16]

It samples real phone numbers, ID numbers, names and customer ids from the database, signs a
clerk in (a session token, as the login form hands out), starts `telcrm serve`, and runs wrk
(Debian package `wrk`) against 127.0.0.1 for each scenario, printing requests/s and the latency
percentiles wrk measured (p50, p95, p99: the time until the whole HTML answer arrived). The
search scenarios ask as the search box does while one types (an HTMX request for the results
part); the customer page is the whole page. The price scenario posts the order form's fields to
the quote endpoint, as the form does on every change. Server and load generator share the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import sample, served  # noqa: E402

from telcrm.kit.db import Database  # noqa: E402
from telcrm.kit.embedded import resolve_database_url  # noqa: E402
from telcrm.kit.settings import get_settings  # noqa: E402

LUA = """
local lines = {}
local n = 0
local method = "GET"
local body = nil
init = function(args)
  for line in io.lines(args[1]) do lines[#lines + 1] = line end
  n = math.random(#lines)
  if args[2] == "POST" then method = "POST" end
end
request = function()
  n = n % #lines + 1
  if method == "POST" then
    local path, form = lines[n]:match("^(%S+) (.*)$")
    return wrk.format("POST", path, {["Content-Type"] = "application/x-www-form-urlencoded"}, form)
  end
  return wrk.format("GET", lines[n])
end
done = function(summary, latency, requests)
  io.write(string.format("P95 %d\\n", latency:percentile(95)))
end
"""


async def session_token(url: str) -> tuple[str, str]:
    """A clerk's login session (what the sign-in form sets as the cookie) and its CSRF token."""
    from telcrm.identity import service as identity
    from telcrm.web.deps import csrf_for

    db = Database(url, pool_size=1)
    try:
        async with db.unit_of_work() as uow:
            principal = identity.new_principal(kind="staff", display_name="bench clerk", roles=["clerk"])
            uow.session.add(principal)
            await uow.session.flush()
            token = await identity.add_token(uow.session, principal, kind="session", name="bench")
    finally:
        await db.dispose()
    return token, csrf_for(token)


def run_wrk(port: int, lines: list[str], headers: list[str], duration: int, connections: int, method: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        lua = Path(tmp) / "ui.lua"
        lua.write_text(LUA)
        listing = Path(tmp) / "lines.txt"
        listing.write_text("\n".join(lines) + "\n")
        cmd = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
        for header in headers:
            cmd += ["-H", header]
        cmd += ["-s", str(lua), f"http://127.0.0.1:{port}", "--", str(listing), method]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    figures = {"rps": re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)}  # type: ignore[union-attr]
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        figures[f"p{pct}"] = m.group(1) if m else "?"
    p95 = re.search(r"^P95 (\d+)", out, re.M)
    figures["p95"] = f"{int(p95.group(1)) / 1000:.2f}ms" if p95 else "?"
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = errors.group(1) if errors else "0"
    return figures


def price_forms(url: str, customer_ids: list[str]) -> list[str]:
    """``path form`` lines as the order form posts them to its quote endpoint on every change:
    each sellable offering of the catalog (bundles with their parts at their defaults), with a
    characteristic changed where the offering has one, for sampled customers."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as conn:
        offerings = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM catalog_item WHERE kind = 'ProductOffering' AND body->>'lifecycleStatus' = 'active'"
                " AND coalesce(body->>'isSellable', 'true') = 'true'"
            )
        ]
    extra = {
        "po-bundle-converged": "&n.po-mobile-99=1&c.po-iptv.resolution=4K",
        "po-broadband-300m": "&c.po-broadband-300m.bandwidth=300M",
    }
    lines = []
    for i, customer in enumerate(customer_ids):
        offering = offerings[i % len(offerings)] if i % 3 else "po-bundle-converged"
        lines.append(f"/desk/customers/{customer}/order/quote offering={offering}{extra.get(offering, '')}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", default="4,16")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--only", default="", help="comma-separated scenario names to run")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")

    settings = get_settings()
    url = resolve_database_url(settings.database_url, settings.data_dir)
    keys = sample(url, args.sample)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        customers = conn.execute("SELECT count(*) FROM customer").fetchone()[0]  # type: ignore[index]
    token, csrf = asyncio.run(session_token(url))
    cookie = f"Cookie: telcrm_session={token}"
    with served(url, args.port, args.workers):
        q = urllib.parse.quote
        htmx = "HX-Request: true"
        scenarios: list[tuple[str, list[str], list[str], str]] = [
            ("customer page", [f"/desk/customers/{i}" for i in keys["360"]], [cookie], "GET"),
            ("search: phone", [f"/desk/search?q={q(k)}" for k in keys["phone"]], [cookie, htmx], "GET"),
            ("search: ID number", [f"/desk/search?q={q(k)}" for k in keys["id"]], [cookie, htmx], "GET"),
            ("search: account no.", [f"/desk/search?q={q(k)}" for k in keys["num"]], [cookie, htmx], "GET"),
            ("search: name", [f"/desk/search?q={q(k)}" for k in keys["name"]], [cookie, htmx], "GET"),
        ]
        posts = [f"{line}&_csrf={csrf}" for line in price_forms(url, keys["360"][:500])]
        scenarios.append(("order form price", posts, [cookie, htmx, f"X-CSRF-Token: {csrf}"], "POST"))
        if args.only:
            wanted = set(args.only.split(","))
            scenarios = [s for s in scenarios if s[0] in wanted]
        run_wrk(args.port, scenarios[0][1], scenarios[0][2], 5, 4, scenarios[0][3])  # warm-up
        print(f"customers in database: {customers:,}; server workers: {args.workers}; wrk threads: 1")
        print(f"{'scenario':<22}{'conns':>6}{'req/s':>10}{'p50':>10}{'p95':>10}{'p99':>10}{'non-2xx':>9}")
        for conns in [int(c) for c in args.connections.split(",")]:
            for name, lines, headers, method in scenarios:
                random.shuffle(lines)
                f = run_wrk(args.port, lines, headers, args.duration, conns, method)
                print(f"{name:<22}{conns:>6}{f['rps']:>10}{f['p50']:>10}{f['p95']:>10}{f['p99']:>10}{f['non2xx']:>9}")


if __name__ == "__main__":
    main()
