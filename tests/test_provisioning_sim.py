"""The provisioning simulator, served by uvicorn on 127.0.0.1, reporting to a small real HTTP receiver."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from typer.testing import CliRunner

from telcrm.cli.main import app as cli
from telcrm.sim.provisioning import Alarm, SimOptions, create_app

KEY = "tck_provisioning_test"
TASKS = [
    ("broadband", "port"),
    ("broadband", "appointment"),
    ("broadband", "activation"),
    ("mobile", "number"),
    ("mobile", "sim"),
    ("fixed", "switch"),
    ("voip", "switch"),
    ("iptv", "activation"),
    ("leased", "design"),
    ("leased", "installation"),
    ("vas", "feature"),
    ("mobile", "suspend"),
    ("generic", "something-new"),
]
RESOURCE_KEYS = {
    "sim": {"iccid", "imsi"},
    "number": {"hlr"},
    "port": {"olt", "port", "account"},
    "appointment": {"appointment"},
    "switch": {"switch", "lineEquipment"},
}

Serve = Callable[[ASGIApp], str]


class Receiver:
    """telcrm's side of the callback: records the results, answers ``refuse`` to the first
    ``refusals`` requests."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.authorizations: set[str | None] = set()
        self.requests = 0
        self.refusals = 0
        self.refuse = 503
        self.app = Starlette(routes=[Route("/results", self.take, methods=["POST"])])

    async def take(self, request: Request) -> JSONResponse:
        self.requests += 1
        if self.requests <= self.refusals:
            return JSONResponse({"error": "not now"}, status_code=self.refuse)
        self.authorizations.add(request.headers.get("authorization"))
        results = (await request.json())["results"]
        self.results.extend(results)
        return JSONResponse({"accepted": len(results), "ignored": 0})


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve ASGI apps with uvicorn in threads on free ports; stopped after the test."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(asgi: ASGIApp) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        server = uvicorn.Server(uvicorn.Config(asgi, log_level="warning", access_log=False))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        servers.append((server, thread))
        wait_until(lambda: server.started or not thread.is_alive())
        assert server.started
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for server, thread in reversed(servers):
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


def wait_until(ready: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll until ready; the timeout only keeps a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError("gave up waiting")
        time.sleep(0.02)


def work_order(n: int, callback: str, attempt: int = 1) -> dict[str, Any]:
    domain, task = TASKS[n % len(TASKS)]
    return {
        "id": f"wo-{n}",
        "attempt": attempt,
        "orderId": f"ord-{n // 3}",
        "orderItemId": "1",
        "domain": domain,
        "task": task,
        "action": "add",
        "customerId": "cust-1",
        "productOffering": {"id": "po-1", "name": "Fibre 500"},
        "characteristics": {"serviceNumber": "13800000001"},
        "callback": callback,
    }


class Sim:
    """A running simulator and the receiver its results go to."""

    def __init__(self, serve: Serve, receiver: Receiver, **options: Any) -> None:
        self.receiver = receiver
        self.callback = serve(receiver.app) + "/results"
        options = {"delay": 0, "jitter": 0, "seed": 7, "api_key": KEY, "retry_first": 0.05, **options}
        self.url = serve(create_app(SimOptions(**options)))
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def send(self, orders: list[dict[str, Any]]) -> dict[str, int]:
        by_domain: dict[str, list[dict[str, Any]]] = {}
        for order in orders:
            by_domain.setdefault(order["domain"], []).append(order)
        total = {"accepted": 0, "duplicates": 0}
        for domain, batch in by_domain.items():
            response = self.http.post(f"/{domain}/workOrders", json={"workOrders": batch})
            assert response.status_code == 202, response.text
            for name, n in response.json().items():
                total[name] += n
        return total

    def stats(self) -> dict[str, int]:
        return self.http.get("/stats").json()

    def settled(self, results: int) -> dict[str, int]:
        """The stats once every result is delivered (or dropped) and no work is left."""

        def done() -> bool:
            s = self.stats()
            delivered = s["results_sent"] + s["results_dropped"]
            return s["in_progress"] == 0 and s["results_pending"] == 0 and delivered >= results

        wait_until(done)
        return self.stats()


StartSim = Callable[..., Sim]


@pytest.fixture
def start_sim(serve: Serve) -> Iterator[StartSim]:
    sims: list[Sim] = []

    def start(receiver: Receiver, **options: Any) -> Sim:
        sims.append(Sim(serve, receiver, **options))
        return sims[-1]

    yield start
    for sim in sims:
        sim.http.close()


def results_by_key(results: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    keyed = {(r["id"], r["attempt"]): r for r in results}
    assert len(keyed) == len(results), "a work order got more than one result"
    return keyed


def test_every_work_order_gets_exactly_one_result_and_duplicates_are_not_done_again(
    start_sim: StartSim, receiver: Receiver
) -> None:
    sim = start_sim(receiver, fail_share=0.3)
    orders = [work_order(n, sim.callback) for n in range(150)]
    assert sim.send(orders) == {"accepted": 150, "duplicates": 0}
    assert sim.send(orders[:40]) == {"accepted": 0, "duplicates": 40}
    retries = [work_order(n, sim.callback, attempt=2) for n in range(20)]
    assert sim.send(retries + retries[:5]) == {"accepted": 20, "duplicates": 5}

    stats = sim.settled(170)
    results = results_by_key(receiver.results)
    assert set(results) == {(o["id"], o["attempt"]) for o in orders + retries}
    assert receiver.authorizations == {f"Bearer {KEY}"}
    assert stats["received"] == 215 and stats["duplicates"] == 45
    failed = [r for r in results.values() if r["status"] == "failed"]
    assert stats["completed"] == 170 - len(failed) > 0
    assert stats["failed_temporary"] + stats["failed_permanent"] == len(failed) > 0
    assert stats["results_sent"] == 170 and stats["results_dropped"] == 0 and stats["callback_errors"] == 0
    for result in results.values():
        assert datetime.fromisoformat(result["completedAt"]).tzinfo is not None


def test_with_everything_failing_permanently_no_result_is_retryable(start_sim: StartSim, receiver: Receiver) -> None:
    sim = start_sim(receiver, fail_share=1.0, permanent_share=1.0)
    sim.send([work_order(n, sim.callback) for n in range(60)])

    stats = sim.settled(60)
    assert len(receiver.results) == 60
    for result in receiver.results:
        assert result["status"] == "failed" and result["retryable"] is False and result["reason"]
        assert "resource" not in result
    assert stats["failed_permanent"] == 60 and stats["completed"] == stats["failed_temporary"] == 0


def test_temporary_failures_are_retryable(start_sim: StartSim, receiver: Receiver) -> None:
    sim = start_sim(receiver, fail_share=1.0, permanent_share=0.0)
    sim.send([work_order(n, sim.callback) for n in range(30)])

    assert sim.settled(30)["failed_temporary"] == 30
    assert all(r["status"] == "failed" and r["retryable"] is True for r in receiver.results)


def test_without_failures_every_result_has_a_resource_for_its_task(start_sim: StartSim, receiver: Receiver) -> None:
    sim = start_sim(receiver, fail_share=0.0)
    orders = [work_order(n, sim.callback) for n in range(len(TASKS) * 4)]
    sim.send(orders)

    stats = sim.settled(len(orders))
    assert stats["completed"] == len(orders)
    results = results_by_key(receiver.results)
    for order in orders:
        result = results[(order["id"], 1)]
        assert result["status"] == "completed" and "reason" not in result and "retryable" not in result
        resource = result["resource"]
        assert set(resource) == RESOURCE_KEYS.get(order["task"], {"platformId"})
        if order["task"] == "sim":
            assert re.fullmatch(r"8986\d{16}", resource["iccid"]) and re.fullmatch(r"46000\d{10}", resource["imsi"])
        if order["task"] == "port":
            assert re.fullmatch(r"\d+/\d+/\d+", resource["port"]) and resource["account"].startswith("bb")
        if order["task"] == "appointment":
            assert datetime.fromisoformat(resource["appointment"]) > datetime.fromisoformat(result["completedAt"])


def test_the_same_seed_gives_the_same_outcomes(start_sim: StartSim) -> None:
    runs = []
    for _ in range(2):
        receiver = Receiver()
        sim = start_sim(receiver, fail_share=0.5, seed=11)
        orders = [work_order(n, sim.callback) for n in range(40) if TASKS[n % len(TASKS)][1] != "appointment"]
        sim.send(orders)
        sim.settled(len(orders))
        runs.append({key: {**r, "completedAt": None} for key, r in results_by_key(receiver.results).items()})
    assert runs[0] == runs[1]


def test_a_callback_that_answers_503_gets_every_result_later(start_sim: StartSim, receiver: Receiver) -> None:
    receiver.refusals = 3
    sim = start_sim(receiver)
    sim.send([work_order(n, sim.callback) for n in range(80)])

    stats = sim.settled(80)
    assert set(results_by_key(receiver.results)) == {(f"wo-{n}", 1) for n in range(80)}
    assert stats["callback_errors"] >= 3 and stats["results_sent"] == 80


def test_a_callback_that_refuses_with_a_4xx_has_the_batch_dropped(start_sim: StartSim, receiver: Receiver) -> None:
    receiver.refusals, receiver.refuse = 1_000, 401
    sim = start_sim(receiver)
    sim.send([work_order(n, sim.callback) for n in range(10)])

    stats = sim.settled(10)
    assert stats["results_dropped"] == 10 and stats["results_sent"] == 0
    assert stats["callback_errors"] == receiver.requests >= 1 and receiver.results == []


def test_a_malformed_body_is_refused_with_400(start_sim: StartSim, receiver: Receiver) -> None:
    sim = start_sim(receiver)
    good = work_order(1, sim.callback)
    bodies: list[Any] = [
        [good],
        {"workOrder": [good]},
        {"workOrders": good},
        {"workOrders": ["wo-1"]},
        {"workOrders": [{**good, "id": ""}]},
        {"workOrders": [{**good, "attempt": 0}]},
        {"workOrders": [{**good, "attempt": "1"}]},
        {"workOrders": [{**good, "task": None}]},
        {"workOrders": [{**good, "callback": "ftp://example.org/"}]},
        {"workOrders": [{**good, "callback": "http://"}]},
        {"workOrders": [{**good, "callback": 42}]},
        {"workOrders": [good, {k: v for k, v in good.items() if k != "callback"}]},
    ]
    for body in bodies:
        response = sim.http.post("/mobile/workOrders", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]
    response = sim.http.post("/mobile/workOrders", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]
    assert sim.http.post("/Mobile/workOrders", json={"workOrders": []}).status_code == 404

    assert sim.http.get("/health").json() == {"status": "ok"}
    assert sim.stats()["received"] == 0


def test_provisioning_sim_help() -> None:
    result = CliRunner().invoke(cli, ["provisioning-sim", "--help"])
    assert result.exit_code == 0, result.output
    assert "Simulate the provisioning systems" in result.output
    for option in ("--delay", "--jitter", "--fail-share", "--permanent-share", "--seed", "--api-key"):
        assert option in result.output


def test_withdrawn_work_orders_are_not_done_and_late_withdrawals_are_counted(
    start_sim: StartSim, receiver: Receiver
) -> None:
    sim = start_sim(receiver, delay=1.0, fail_share=0)
    orders = [work_order(n, sim.callback) for n in range(6)]
    sim.send(orders)
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for order in orders[:3]:
        by_domain.setdefault(order["domain"], []).append({"id": order["id"], "attempt": 1})
    withdrawn = 0
    for domain, batch in by_domain.items():
        r = sim.http.post(f"/{domain}/workOrders/withdraw", json={"workOrders": batch})
        assert r.status_code == 200, r.text
        withdrawn += r.json()["withdrawn"]
    assert withdrawn == 3
    stats = sim.settled(3)
    assert {r["id"] for r in receiver.results} == {o["id"] for o in orders[3:]}  # the withdrawn never came back
    assert (stats["withdrawn"], stats["completed"], stats["in_progress"]) == (3, 3, 0)
    # withdrawing what is already done changes nothing and is counted as late
    late = {"workOrders": [{"id": "wo-4", "attempt": 1}]}
    r = sim.http.post(f"/{orders[4]['domain']}/workOrders/withdraw", json=late)
    assert r.json() == {"withdrawn": 0, "alreadyDone": 1}
    assert sim.stats()["withdrawn_late"] == 1
    bad = sim.http.post("/mobile/workOrders/withdraw", json={"workOrders": [{"id": "wo-1"}]})
    assert bad.status_code == 400 and "attempt" in bad.json()["error"]


def test_an_alarm_wakes_at_its_time_or_when_rung_earlier() -> None:
    """The simulator's loops sleep on an Alarm: until a time, unless rung for something due sooner."""

    async def scenario() -> dict[str, float]:
        loop = asyncio.get_running_loop()
        alarm = Alarm()
        out: dict[str, float] = {}
        start = loop.time()
        await alarm.wait(start + 0.05)  # nobody rings: the time comes
        out["timed"] = loop.time() - start
        alarm.ring()  # rung while nobody waits: the next wait returns at once
        start = loop.time()
        await alarm.wait(start + 5)
        out["kept"] = loop.time() - start
        start = loop.time()
        waiting = asyncio.ensure_future(alarm.wait(start + 0.3))
        await asyncio.sleep(0.01)
        alarm.ring(start + 10)  # due after the wake-up: no reason to wake early
        await asyncio.sleep(0.05)
        out["later_ring_ignored"] = float(waiting.done())
        alarm.ring(start + 0.1)  # due before the wake-up: wake now
        await waiting
        out["earlier_ring"] = loop.time() - start
        start = loop.time()
        waiting = asyncio.ensure_future(alarm.wait(None))  # nothing due: only a ring wakes it
        await asyncio.sleep(0.05)
        out["forever_waiting"] = float(not waiting.done())
        alarm.ring(loop.time() + 100)
        await waiting
        return out

    out = asyncio.run(scenario())
    assert out["timed"] >= 0.05
    assert out["kept"] < 1
    assert out["later_ring_ignored"] == 0.0
    assert 0.06 <= out["earlier_ring"] < 0.3
    assert out["forever_waiting"] == 1.0
