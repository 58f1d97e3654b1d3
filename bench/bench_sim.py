"""The provisioning simulator's CPU per work order, at a steady rate (it shares the machine with
the server in ``bench_orders.py``).

Usage: .venv/bin/python bench/bench_sim.py [--rate 500] [--duration 20] [--batch 25]

Starts ``telcrm provisioning-sim`` (delay 0.5 s, jitter 0.3 s, as in the orders bench) and a
callback receiver in this process that answers every result batch with 200; posts work orders
in batches of ``--batch`` at ``--rate`` work orders per second; waits until every result came back;
prints the simulator's CPU per work order and how many results came back in how many posts.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from bench_api import wait_healthy  # noqa: E402
from pg_sampler import cpu_by_part  # noqa: E402


def cpu_seconds(sim: int) -> float:
    return cpu_by_part(0, sim, 0)["simulator"]


async def run(args: argparse.Namespace) -> None:
    received: list[int] = []

    async def receiver(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        received.append(len(orjson.loads(body)["results"]))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})

    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=args.port + 1, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    telcrm = str(ROOT / ".venv/bin/telcrm")
    sim = subprocess.Popen([telcrm, "provisioning-sim", "--port", str(args.port), "--seed", "7", "--fail-share", "0"])
    try:
        await asyncio.to_thread(wait_healthy, args.port)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{args.port}") as client:
            callback = f"http://127.0.0.1:{args.port + 1}/results"
            total = int(args.rate * args.duration)
            before = cpu_seconds(sim.pid)
            started = time.perf_counter()
            for start in range(0, total, args.batch):
                due = started + start / args.rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                orders = [
                    {"id": f"wo-{n}", "attempt": 1, "task": "activation", "callback": callback}
                    for n in range(start, min(total, start + args.batch))
                ]
                answer = await client.post("/iptv/workOrders", json={"workOrders": orders})
                assert answer.status_code == 202, answer.text
            deadline = time.perf_counter() + 30
            while sum(received) < total and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            used = cpu_seconds(sim.pid) - before
        print(
            f"simulator: {used / total * 1000:.3f} ms of CPU per work order ({total} work orders at {args.rate}/s;"
            f" {sum(received)} results back in {len(received)} posts)"
        )
    finally:
        sim.terminate()
        sim.wait(10)
        server.should_exit = True
        await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--port", type=int, default=8110)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
