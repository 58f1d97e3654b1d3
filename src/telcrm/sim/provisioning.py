"""A stand-in for the operator's provisioning systems (派单 receivers), run as its own process.

telcrm posts batches of work orders to ``POST /{domain}/workOrders``. Each batch is answered at
once (202); each work order is done after a delay and its result posted back to the work order's
callback URL, in batches, retried until the callback takes it. Outcomes are drawn from one seeded
random generator when a work order arrives, so a seed repeats a run for the same work orders sent
in the same order.

This is another system: it knows telcrm only through the HTTP protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import logging
import random
import re
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import aiohttp
import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger(__name__)

Result = dict[str, Any]

DOMAIN = re.compile(r"[a-z]+")
SEEN_LIMIT = 1_000_000  # (id, attempt) pairs remembered to recognise duplicates
MAX_IN_FLIGHT = 4  # result batches being sent at once to one callback URL
TICK = 0.01  # seconds: work orders falling due within this of each other are completed together
BEIJING = timezone(timedelta(hours=8))
CITIES = ("BJ", "SH", "GZ", "SZ", "CD", "WH")
TEMPORARY = (
    "switch busy, try again",
    "HLR timeout",
    "OLT not answering",
    "platform in a maintenance window",
    "network management system overloaded",
)
PERMANENT = {
    "port": "no free port on the OLT at this address",
    "appointment": "no technician covers this address",
    "activation": "the platform refused the subscription",
    "number": "number is barred in the HLR",
    "sim": "SIM card batch recalled",
    "switch": "no free line equipment on the switch",
    "design": "no route with free capacity between the two sites",
    "installation": "customer premises not accessible",
    "feature": "feature not offered on this network",
}
PERMANENT_OTHER = "the provisioning system rejected the work order"


@dataclass(frozen=True)
class SimOptions:
    """How the simulator behaves; the defaults are those of ``telcrm provisioning-sim``."""

    delay: float = 0.5  # seconds until a work order is done ...
    jitter: float = 0.3  # ... give or take up to this many
    fail_share: float = 0.05
    permanent_share: float = 0.3  # of the failures
    seed: int | None = None
    api_key: str | None = None  # sent to callbacks as a bearer token
    flush_interval: float = 0.05  # seconds between result batches to a callback
    batch_size: int = 100  # results in one callback POST at most; a full batch is sent at once
    retry_first: float = 0.5  # seconds before retrying a failed callback POST, doubling ...
    retry_max: float = 10.0  # ... up to this

    def __post_init__(self) -> None:
        if self.delay < 0 or self.jitter < 0:
            raise ValueError("delay and jitter must not be negative")
        if not (0 <= self.fail_share <= 1 and 0 <= self.permanent_share <= 1):
            raise ValueError("fail_share and permanent_share are between 0 and 1")


@dataclass
class Stats:
    """Work orders: received = duplicates + in progress + completed + failed + withdrawn.
    Results: completed + failed = sent + pending + dropped (refused by the callback with a 4xx).
    Withdrawals: withdrawn (dropped before they were done) + withdrawn_late (already done)."""

    received: int = 0
    duplicates: int = 0
    withdrawn: int = 0
    withdrawn_late: int = 0
    completed: int = 0
    failed_temporary: int = 0
    failed_permanent: int = 0
    results_sent: int = 0
    results_dropped: int = 0
    callback_errors: int = 0


def work_orders(body: bytes, *, withdrawal: bool = False) -> list[dict[str, Any]]:
    """The work orders of a request body (for a withdrawal: only id and attempt); raises
    ValueError saying what is wrong with it."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ValueError("the body is not JSON") from None
    orders = data.get("workOrders") if isinstance(data, dict) else None
    if not isinstance(orders, list):
        raise ValueError("the body must be an object with a workOrders array")
    for i, order in enumerate(orders):
        where = f"workOrders[{i}]"
        if not isinstance(order, dict):
            raise ValueError(f"{where} is not an object")
        if not isinstance(order.get("id"), str) or not order["id"]:
            raise ValueError(f"{where}.id must be a non-empty string")
        attempt = order.get("attempt")
        if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
            raise ValueError(f"{where}.attempt must be a whole number from 1")
        if withdrawal:
            continue
        if not isinstance(order.get("task"), str):
            raise ValueError(f"{where}.task must be a string")
        if not _is_http_url(order.get("callback")):
            raise ValueError(f"{where}.callback must be an http(s) URL")
    return orders


def _is_http_url(value: Any) -> bool:
    return isinstance(value, str) and _is_http_url_text(value)


@functools.lru_cache(maxsize=256)
def _is_http_url_text(value: str) -> bool:
    # every work order of a sender names the same callback: parsed once
    try:
        url = httpx.URL(value)
    except (TypeError, httpx.InvalidURL):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Alarm:
    """A loop's wake-up: ``wait(until)`` returns at the loop time ``until`` (never, if None) or
    when rung, whichever comes first. ``ring(when)`` wakes the waiter only if ``when`` is before
    its wake-up; a ring while nobody waits is kept for the next wait. One future and one timer
    handle per wait: ``asyncio.wait_for`` on an Event makes a task each time, which cost more
    than the simulator's work at hundreds of wake-ups a second."""

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None
        self._until: float | None = None
        self._rung = False

    def ring(self, when: float | None = None) -> None:
        waiter = self._waiter
        if waiter is None:
            self._rung = True
        elif not waiter.done() and (when is None or self._until is None or when < self._until):
            waiter.set_result(None)

    async def wait(self, until: float | None) -> None:
        if self._rung:
            self._rung = False
            return
        loop = asyncio.get_running_loop()
        self._waiter, self._until = loop.create_future(), until
        timer = None if until is None else loop.call_at(until, _wake, self._waiter)
        try:
            await self._waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = self._until = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Simulator:
    """Work orders waiting for their time, results waiting for their callback, and the two loops
    that move them: one completes work orders as they fall due, one sends results in batches."""

    def __init__(self, options: SimOptions) -> None:
        self.options = options
        self.rng = random.Random(options.seed)
        self.stats = Stats()
        headers = {"Content-Type": "application/json"}
        if options.api_key:
            headers["Authorization"] = f"Bearer {options.api_key}"
        # aiohttp: a fifth of httpx's CPU per POST; opened in the running loop (``_client``)
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None
        self._seen: dict[tuple[str, int], None] = {}  # insertion-ordered, so the oldest can be forgotten
        self._withdrawn: set[tuple[str, int]] = set()  # scheduled work orders to drop when they fall due
        self._due: list[tuple[float, int, str, Result]] = []  # heap of (due time, sequence, callback, result)
        self._sequence = itertools.count()
        self._arrived = Alarm()  # rung by a work order due before the completing loop's wake-up
        self._full = Alarm()  # rung by a full batch of results
        self._waiting: dict[str, list[Result]] = {}  # results not yet sent, per callback
        self._in_flight: dict[str, int] = {}  # batches being sent, per callback
        self._sending = 0  # results in those batches
        self._senders: set[asyncio.Task[None]] = set()

    def accept(self, orders: list[dict[str, Any]]) -> tuple[int, int]:
        """Schedule the work orders not seen before; returns (accepted, duplicates)."""
        now = asyncio.get_running_loop().time()
        accepted = 0
        for order in orders:
            key = (order["id"], order["attempt"])
            if key in self._seen:
                continue
            self._seen[key] = None
            if len(self._seen) > SEEN_LIMIT:
                del self._seen[next(iter(self._seen))]
            delay = max(0.0, self.options.delay + self.rng.uniform(-self.options.jitter, self.options.jitter))
            heapq.heappush(self._due, (now + delay, next(self._sequence), order["callback"], self._outcome(order)))
            accepted += 1
        self.stats.received += len(orders)
        self.stats.duplicates += len(orders) - accepted
        if accepted:
            self._arrived.ring(self._due[0][0])
        return accepted, len(orders) - accepted

    def withdraw(self, orders: list[dict[str, Any]]) -> int:
        """Drop work orders not yet done; returns how many were (the others were done already)."""
        pending = {(r["id"], r["attempt"]) for _, _, _, r in self._due}
        dropped = 0
        for order in orders:
            key = (order["id"], order["attempt"])
            if key in pending and key not in self._withdrawn:
                self._withdrawn.add(key)
                dropped += 1
        self.stats.withdrawn += dropped
        self.stats.withdrawn_late += len(orders) - dropped
        return dropped

    def report(self) -> dict[str, int]:
        return {
            **asdict(self.stats),
            "in_progress": len(self._due) - len(self._withdrawn),
            "results_pending": sum(map(len, self._waiting.values())) + self._sending,
        }

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the loops while the server runs; results still pending at the end are lost."""
        if not self.options.api_key:
            log.warning("no API key: results are sent without an Authorization header")
        loops = [asyncio.create_task(self._complete_due()), asyncio.create_task(self._flush_forever())]
        try:
            yield
        finally:
            tasks = [*loops, *self._senders]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._session is not None:
                await self._session.close()
            if pending := self.report()["results_pending"]:
                log.warning("stopped with %d results not delivered", pending)

    def _outcome(self, order: dict[str, Any]) -> Result:
        result: Result = {"id": order["id"], "attempt": order["attempt"]}
        if self.rng.random() < self.options.fail_share:
            if self.rng.random() < self.options.permanent_share:
                reason, retryable = PERMANENT.get(order["task"], PERMANENT_OTHER), False
            else:
                reason, retryable = self.rng.choice(TEMPORARY), True
            return {**result, "status": "failed", "reason": reason, "retryable": retryable}
        return {**result, "status": "completed", "resource": self._resource(order["task"])}

    def _resource(self, task: str) -> dict[str, str]:
        """Plausible identifiers of what the provisioning system set up for the task."""
        rng = self.rng

        def digits(n: int) -> str:
            return "".join(rng.choices("0123456789", k=n))

        city = rng.choice(CITIES)
        if task == "sim":
            return {"iccid": "8986" + digits(16), "imsi": "46000" + digits(10)}
        if task == "number":
            return {"hlr": f"HLR-{city}-{rng.randint(1, 12):02d}"}
        if task == "port":
            olt, slot, port = rng.randint(1, 400), rng.randint(1, 16), rng.randint(0, 15)
            return {"olt": f"OLT-{city}-{olt:03d}", "port": f"0/{slot}/{port}", "account": "bb" + digits(10)}
        if task == "appointment":
            day = datetime.now(BEIJING).date() + timedelta(days=rng.randint(1, 2))
            return {"appointment": datetime.combine(day, time(rng.randint(9, 17)), BEIJING).isoformat()}
        if task == "switch":
            equipment = f"LE-{rng.randint(1, 8)}-{rng.randint(1, 16):02d}-{rng.randint(0, 63):02d}"
            return {"switch": f"SW-{city}-{rng.randint(1, 30):02d}", "lineEquipment": equipment}
        return {"platformId": f"PF-{city}-{digits(10)}"}

    async def _complete_due(self) -> None:
        """Complete the work orders due, then sleep until the next falls due, at least ``TICK``:
        work orders due within one tick of each other are completed in one wake-up (at 500 work
        orders a second, waking for each took half the simulator's CPU)."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            if self._due and self._due[0][0] <= now:
                done_at = _now()
                while self._due and self._due[0][0] <= now:
                    _, _, callback, result = heapq.heappop(self._due)
                    if self._withdrawn and (result["id"], result["attempt"]) in self._withdrawn:
                        self._withdrawn.discard((result["id"], result["attempt"]))
                        continue
                    result["completedAt"] = done_at
                    self._count(result)
                    waiting = self._waiting.setdefault(callback, [])
                    waiting.append(result)
                    if len(waiting) >= self.options.batch_size:
                        self._full.ring()
            await self._arrived.wait(max(self._due[0][0], now + TICK) if self._due else None)

    def _count(self, result: Result) -> None:
        if result["status"] == "completed":
            self.stats.completed += 1
        elif result["retryable"]:
            self.stats.failed_temporary += 1
        else:
            self.stats.failed_permanent += 1

    async def _flush_forever(self) -> None:
        size = self.options.batch_size
        loop = asyncio.get_running_loop()
        while True:
            await self._full.wait(loop.time() + self.options.flush_interval)
            for callback, waiting in self._waiting.items():
                while waiting and self._in_flight.get(callback, 0) < MAX_IN_FLIGHT:
                    batch = waiting[:size]
                    del waiting[:size]
                    self._in_flight[callback] = self._in_flight.get(callback, 0) + 1
                    self._sending += len(batch)
                    sender = asyncio.create_task(self._send(callback, batch))
                    self._senders.add(sender)
                    sender.add_done_callback(self._senders.discard)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=60.0),
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self._session

    async def _send(self, callback: str, batch: list[Result]) -> None:
        """POST one batch until the callback takes it (2xx) or refuses it for good (other than 5xx)."""
        body = orjson.dumps({"results": batch})
        wait = self.options.retry_first
        try:
            while True:
                try:
                    async with self._client().post(callback, data=body) as response:
                        status, text = response.status, (await response.read()).decode(errors="replace")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    problem = f"{type(exc).__name__} {exc}"
                else:
                    if 200 <= status < 300:
                        self.stats.results_sent += len(batch)
                        return
                    if status < 500:
                        self.stats.callback_errors += 1
                        self.stats.results_dropped += len(batch)
                        log.error("%s refused %d results, dropped: %d %s", callback, len(batch), status, text[:500])
                        return
                    problem = f"HTTP {status}"
                self.stats.callback_errors += 1
                log.warning("%s failed (%s); retrying %d results in %.1f s", callback, problem, len(batch), wait)
                await asyncio.sleep(wait)
                wait = min(wait * 2, self.options.retry_max)
        finally:
            self._in_flight[callback] -= 1
            self._sending -= len(batch)
            if len(self._waiting.get(callback, ())) >= self.options.batch_size:
                self._full.ring()


def create_app(options: SimOptions) -> Starlette:
    """The simulator as an ASGI app: ``POST /{domain}/workOrders``, ``POST /{domain}/workOrders/withdraw``,
    ``GET /health``, ``GET /stats``."""
    sim = Simulator(options)

    async def receive(request: Request) -> JSONResponse:
        domain = request.path_params["domain"]
        if not DOMAIN.fullmatch(domain):
            return JSONResponse({"error": f"no provisioning system for the domain {domain!r}"}, status_code=404)
        try:
            orders = work_orders(await request.body())
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        accepted, duplicates = sim.accept(orders)
        return JSONResponse({"accepted": accepted, "duplicates": duplicates}, status_code=202)

    async def withdraw(request: Request) -> JSONResponse:
        if not DOMAIN.fullmatch(request.path_params["domain"]):
            return JSONResponse({"error": "no provisioning system for this domain"}, status_code=404)
        try:
            orders = work_orders(await request.body(), withdrawal=True)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        dropped = sim.withdraw(orders)
        return JSONResponse({"withdrawn": dropped, "alreadyDone": len(orders) - dropped})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(sim.report())

    def lifespan(app: Starlette) -> contextlib.AbstractAsyncContextManager[None]:
        return sim.running()

    routes = [
        Route("/health", health),
        Route("/stats", stats),
        Route("/{domain}/workOrders", receive, methods=["POST"]),
        Route("/{domain}/workOrders/withdraw", withdraw, methods=["POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
