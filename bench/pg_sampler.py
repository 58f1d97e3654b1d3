"""What PostgreSQL was doing, second by second, while a bench ran (used by bench_orders --sample).

``python bench/pg_sampler.py URL OUT`` samples ``pg_stat_activity`` five times a second and
``pg_stat_wal`` once a second until it is terminated, then writes one JSON object per second to
OUT: the wait events of active client backends (summed over the samples), the autovacuum workers'
statements, the WAL bytes and full-page images written in that second, and the sessions started
in it (a server whose connection pools overflow starts and ends PostgreSQL backends under load),
and, per table with its indexes and TOAST, the buffers touched (hit or read) and the rows read by
sequential scans in it: a statement whose plan turns worse shows as a table touched far more.
On Linux it also records how many of the machine's cores were busy in each second (``/proc/stat``:
all but idle and I/O wait, the kernel's interrupt work included): server, simulator, database and
load generator share them. Given the server's and the simulator's process ids, it records each
second's CPU of each part too (server with its workers, simulator, PostgreSQL, load generator: the
sampler's parent), so a load that rises through a run shows where it rises; and, from the kernel's
pressure stall information, how long tasks waited for a core or for I/O, and all tasks for memory,
in each second, and the kernel's dirty pages (a burst of write-back can hold up WAL flushes).
It also runs a 20-ms timer in a process of its own at real-time priority (where it may: root), so
that nothing else in the machine can hold it up: when that timer wakes late, or a fixed sliver of
work takes long, the virtual machine itself was not running (``frozen``); the sliver's median in
each second is the cores' speed at a fixed piece of work (it moves with the host's load on the
cores the VM runs on, which changes our own CPU per order by as much: ADR 10, twentieth session);
and it records the free
memory that left the free lists for a moment with nothing allocating it (``handed_mb``): the
guest handing freed pages to the host (virtio-balloon free page reporting, every ~2 s after a burst
of freeing, such as the host's DAMON reclaim dropping page cache not touched for 60 s). On the
machines here those hand-overs came with freezes of 20–300 ms (ADR 10, nineteenth session).
Backends waiting for a lock are named with what they wait in and what the first backend blocking
them is doing (``lock_waits``): a convoy of result batches shows as ``SELECT product_order FOR
UPDATE`` waiting for one "idle in transaction" after its own writes.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import psycopg

ACTIVITY = (
    "SELECT backend_type, coalesce(wait_event_type || ':' || wait_event, 'CPU'), left(query, 60)"
    " FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
    " AND ((backend_type = 'client backend' AND state = 'active') OR backend_type = 'autovacuum worker')"
)
WAL = (
    "SELECT wal_bytes::float8, wal_fpi,"
    " (SELECT sessions FROM pg_stat_database WHERE datname = current_database()) FROM pg_stat_wal"
)
TABLES = (
    "SELECT s.relname, s.heap_blks_hit + s.heap_blks_read + coalesce(s.idx_blks_hit + s.idx_blks_read, 0)"
    " + coalesce(s.toast_blks_hit + s.toast_blks_read + s.tidx_blks_hit + s.tidx_blks_read, 0),"
    " t.seq_tup_read FROM pg_statio_user_tables s JOIN pg_stat_user_tables t USING (relid)"
)


LOCKS = (
    "SELECT w.wait_event, left(w.query, 2000), b.state, left(b.query, 2000) FROM pg_stat_activity w"
    " JOIN pg_stat_activity b ON b.pid = (pg_blocking_pids(w.pid))[1]"
    " WHERE w.wait_event_type = 'Lock' AND w.pid <> pg_backend_pid()"
)
_VERB = re.compile(r"^\s*(SELECT|INSERT INTO|UPDATE|DELETE FROM|COMMIT|BEGIN|WITH)\b", re.IGNORECASE)
_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)
_CALL = re.compile(r"^\s*SELECT\s+(\w+)\(", re.IGNORECASE)
_TABLE = re.compile(r"^\s*(?:INSERT INTO|UPDATE|DELETE FROM)\s+(\w+)", re.IGNORECASE)


def statement(query: str) -> str:
    """A statement's verb and table, e.g. ``SELECT product_order FOR UPDATE`` or ``INSERT product``."""
    verb = _VERB.match(query)
    if verb is None:
        return query.split(None, 1)[0][:20] if query.strip() else "-"
    word = verb.group(1).upper().split()[0]
    table = _TABLE.match(query) or _FROM.search(query) or _CALL.match(query)
    shown = f"{word} {table.group(1)}" if table and word != "COMMIT" else word
    return shown + (" FOR UPDATE" if word == "SELECT" and "FOR UPDATE" in query.upper() else "")


def _cpu_ticks() -> tuple[int, int, int] | None:
    """(busy, all, stolen) clock ticks of all cores since boot, or None where there is no
    /proc/stat. Busy includes stolen: time the hypervisor ran something else on our virtual cores
    (``steal``), which none of our processes gets, and which comes in bursts."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    total = sum(fields[:8])  # guest time is already counted in user time
    return total - idle, total, fields[7] if len(fields) > 7 else 0


def _stalls() -> dict[str, int]:
    """Microseconds since boot in which some task waited for a core or for I/O, and all tasks for
    memory (Linux pressure stall information), or {} where /proc/pressure is missing."""
    found = {}
    for kind, line in (("cpu", "some"), ("memory", "full"), ("io", "some")):
        try:
            text = Path(f"/proc/pressure/{kind}").read_text()
        except OSError:
            return {}
        for row in text.splitlines():
            if row.startswith(line):
                found[f"{kind} {line}"] = int(row.rsplit("total=", 1)[1])
    return found


def _dirty() -> dict[str, float]:
    """MB of file pages waiting to be written back, and being written back, in the kernel: a
    write-back burst of the data files can hold up the WAL's flushes behind it."""
    found = {}
    try:
        for row in Path("/proc/meminfo").read_text().splitlines():
            name, _, value = row.partition(":")
            if name in ("Dirty", "Writeback"):
                found[name.lower()] = round(int(value.split()[0]) / 1024, 1)
    except (OSError, ValueError):
        return {}
    return found


def cpu_by_part(server: int, sim: int, generator: int) -> dict[str, float]:
    """CPU seconds used so far by each part of the bench, from /proc; ended processes not counted."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, _, rest = f.read().rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        pid = int(entry)
        parents[pid] = int(fields[1])
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
        names[pid] = head.split("(", 1)[1]

    def tree(root: int) -> float:
        return sum(cpu for pid, cpu in used.items() if pid == root or parents.get(pid) == root)

    return {
        "server": tree(server),
        "simulator": tree(sim),
        "PostgreSQL": sum(cpu for pid, cpu in used.items() if names[pid] in ("postgres", "postmaster")),
        "load generator": used.get(generator, 0.0),
    }


PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def free_pages() -> tuple[int, int]:
    """Pages free now, and pages allocated since boot (``/proc/vmstat``): free pages that drop with
    nothing allocating them are being handed to the host."""
    free = allocated = 0
    with open("/proc/vmstat") as f:
        for row in f:
            name, _, value = row.partition(" ")
            if name == "nr_free_pages":
                free = int(value)
            elif name.startswith("pgalloc_"):
                allocated += int(value)
    return free, allocated


def handed_over(before: tuple[int, int], after: tuple[int, int]) -> int:
    """Pages that left the free lists between two ``free_pages`` readings with little allocated
    meanwhile (at least 16 MB, four times what was allocated): handed to the host, else 0."""
    dropped, allocated = before[0] - after[0], after[1] - before[1]
    return dropped if dropped * PAGE >= 16 << 20 and allocated < dropped // 4 else 0


def frozen_probe(out: Path) -> None:
    """Until terminated: a 20-ms timer, at real-time priority where allowed, and a fixed sliver
    of work after each wake-up; per second, the worst lateness and sliver (ms), and the MB of
    free memory that left the free lists with nothing allocating it. Written to OUT at the end."""
    stop = False

    def finish(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
        realtime = True
    except (AttributeError, PermissionError, OSError):
        realtime = False

    seconds: list[dict[str, Any]] = []
    second, late, handed = int(time.time()), 0.0, 0
    slivers: list[float] = []  # this second's: the worst, and the median (the cores' speed at a fixed piece of work)
    try:
        before = free_pages()
    except OSError:
        return
    due = time.monotonic()
    while not stop:
        due += 0.02
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        woke = time.monotonic()
        total = 0
        for i in range(2000):  # a fixed sliver of work: ~0.08 ms on a running core here
            total += i * i
        done = time.monotonic()
        now = free_pages()
        handed += handed_over(before, now)
        before = now
        if int(time.time()) != second:
            seconds.append(
                {
                    "t": second,
                    "frozen_ms": round(late, 1),
                    "sliver_ms": round(max(slivers, default=0.0), 2),
                    "sliver_median_ms": round(statistics.median(slivers), 3) if slivers else None,
                    "handed_mb": round(handed * PAGE / 2**20),
                    "realtime": realtime,
                }
            )
            second, late, handed = int(time.time()), 0.0, 0
            slivers = []
        late = max(late, (woke - due) * 1000)
        slivers.append((done - woke) * 1000)
        due = max(due, done)
    out.write_bytes(b"\n".join(orjson.dumps(s) for s in seconds))


def _tables(conn: psycopg.Connection[Any]) -> dict[str, tuple[int, int]]:
    return {name: (blocks, seq) for name, blocks, seq in conn.execute(TABLES)}


def sample(url: str, out: Path, server: int = 0, sim: int = 0) -> None:
    stop = False

    def finish(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, finish)
    seconds: list[dict[str, Any]] = []
    probed = out.with_suffix(".frozen.jsonl")
    probe = subprocess.Popen([sys.executable, __file__, "--frozen", str(probed)])
    with psycopg.connect(url, autocommit=True) as conn:
        wal = conn.execute(WAL).fetchone() or (0.0, 0, 0)
        tables = _tables(conn)
        second, waits, vacuums, samples = int(time.time()), collections.Counter[str](), set[str](), 0
        locks = collections.Counter[str]()
        ticks = _cpu_ticks()
        generator = os.getppid()
        parts = cpu_by_part(server, sim, generator) if server else {}
        stalls = _stalls()
        cores = os.cpu_count() or 1
        while not stop:
            now = int(time.time())
            if now != second:
                new = conn.execute(WAL).fetchone() or wal
                now_ticks = _cpu_ticks()
                busy = stolen = None
                if ticks is not None and now_ticks is not None and now_ticks[1] > ticks[1]:
                    busy = round(cores * (now_ticks[0] - ticks[0]) / (now_ticks[1] - ticks[1]), 2)
                    stolen = round(cores * (now_ticks[2] - ticks[2]) / (now_ticks[1] - ticks[1]), 2)
                ticks = now_ticks
                now_parts = cpu_by_part(server, sim, generator) if server else {}
                by_part = {k: round(v - parts.get(k, 0.0), 2) for k, v in now_parts.items()}
                parts = now_parts
                now_stalls = _stalls()
                stalled = {k: round((v - stalls.get(k, v)) / 1e6, 3) for k, v in now_stalls.items()}
                stalls = now_stalls
                now_tables = _tables(conn)
                touched = {
                    name: [blocks - before[0], seq - before[1]]
                    for name, (blocks, seq) in now_tables.items()
                    if (blocks, seq) != (before := tables.get(name, (0, 0)))
                }
                seconds.append(
                    {
                        "t": second,
                        "samples": samples,
                        "waits": dict(waits),
                        "autovacuum": sorted(vacuums),
                        "wal_mb": round((new[0] - wal[0]) / 1e6, 1),
                        "fpi": new[1] - wal[1],
                        "sessions": new[2] - wal[2],
                        "tables": touched,
                        "lock_waits": dict(locks),
                        "cores_busy": busy,
                        "cores_stolen": stolen,
                        "parts": by_part,
                        "stalls": stalled,
                        **_dirty(),
                    }
                )
                tables = now_tables
                wal, second, waits, vacuums, samples = new, now, collections.Counter(), set(), 0
                locks = collections.Counter()
            waiting = False  # for a lock, in this sample
            for kind, wait, query in conn.execute(ACTIVITY):
                if kind == "autovacuum worker":
                    vacuums.add(query.removeprefix("autovacuum: "))
                else:
                    waits[wait] += 1
                    waiting = waiting or wait.startswith("Lock:")
            if waiting:
                for lock, waiter, state, blocker in conn.execute(LOCKS):
                    locks[f"{lock}: {statement(waiter)} <- {state}, {statement(blocker)}"] += 1
            samples += 1
            time.sleep(0.2)
    probe.terminate()
    probe.wait()
    if probed.exists():
        frozen = {f["t"]: f for f in (orjson.loads(line) for line in probed.read_bytes().splitlines())}
        probed.unlink()
        for s in seconds:
            s.update(frozen.get(s["t"], {}))
    out.write_bytes(b"\n".join(orjson.dumps(s) for s in seconds))


def windows(path: Path, started: float, width: int = 10, *, until: float | None = None) -> list[str]:
    """One line per ``width`` seconds from ``started`` (to ``until``): busy backends by wait, WAL,
    autovacuum, cores busy and by part."""
    grouped: dict[int, list[dict[str, Any]]] = collections.defaultdict(list)
    for line in path.read_bytes().splitlines():
        s = orjson.loads(line)
        if s["t"] >= int(started) and (until is None or s["t"] < until):
            grouped[int(max(0.0, s["t"] - started) // width)].append(s)
    lines = []
    for n, group in sorted(grouped.items()):
        samples = sum(s["samples"] for s in group) or 1
        waits: collections.Counter[str] = collections.Counter()
        for s in group:
            waits.update(s["waits"])
        top = ", ".join(f"{w} {c / samples:.1f}" for w, c in waits.most_common(4))
        vacuums = sorted({v for s in group for v in s["autovacuum"]})
        wal = sum(s["wal_mb"] for s in group)
        fpi = sum(s["fpi"] for s in group)
        sessions = sum(s["sessions"] for s in group)
        blocks: collections.Counter[str] = collections.Counter()
        scanned: collections.Counter[str] = collections.Counter()
        for s in group:
            for name, (touched, seq) in s.get("tables", {}).items():
                blocks[name] += touched
                scanned[name] += seq
        busiest = ", ".join(f"{name} {count / 1000:.0f}k" for name, count in blocks.most_common(5))
        held: collections.Counter[str] = collections.Counter()
        for s in group:
            held.update(s.get("lock_waits", {}))
        busy = [s["cores_busy"] for s in group if s.get("cores_busy") is not None]
        machine = f"; cores busy {sum(busy) / len(busy):.2f} (worst second {max(busy):.2f})" if busy else ""
        stolen = [s["cores_stolen"] for s in group if s.get("cores_stolen") is not None]
        if stolen:
            machine += (
                f", of them stolen by the hypervisor {sum(stolen) / len(stolen):.2f} (worst second {max(stolen):.2f})"
            )
        shares: collections.Counter[str] = collections.Counter()
        for s in group:
            shares.update(s.get("parts", {}))
        if shares and busy:
            machine += " (" + ", ".join(f"{k} {v / len(group):.2f}" for k, v in shares.items()) + ")"
        waited: collections.Counter[str] = collections.Counter()
        for s in group:
            waited.update(s.get("stalls", {}))
        if waited:
            worst = {k: max(s.get("stalls", {}).get(k, 0.0) for s in group) for k in waited}
            machine += "; stalled (s per s, worst second): " + ", ".join(
                f"{k} {v / len(group):.2f} ({worst[k]:.2f})" for k, v in waited.items()
            )
        frozen = [s for s in group if "frozen_ms" in s]
        if frozen:
            worst_late = max(s["frozen_ms"] for s in frozen)
            worst_sliver = max(s["sliver_ms"] for s in frozen)
            handed = sum(s["handed_mb"] for s in frozen)
            timer = "real-time" if all(s["realtime"] for s in frozen) else "ordinary (not allowed real-time)"
            machine += (
                f"; machine frozen: a 20-ms {timer} timer late up to {worst_late:.0f} ms, a ~0.1-ms sliver"
                f" took up to {worst_sliver:.1f} ms; free memory handed to the host {handed} MB"
            )
            medians = sorted(m for s in frozen if (m := s.get("sliver_median_ms")) is not None)
            if medians:  # at real-time priority nothing of ours delays it: the cores' own speed
                machine += (
                    f"; machine speed: the sliver's median {medians[0]:.3f}–{medians[-1]:.3f} ms"
                    " (per second, lowest to highest)"
                )
        dirty = [s["dirty"] for s in group if "dirty" in s]
        if dirty:
            back = max(s.get("writeback", 0.0) for s in group)
            machine += f"; dirty pages up to {max(dirty):.0f} MB, written back at once up to {back:.0f} MB"
        lock_waits = "; ".join(f"{what} {count / samples:.1f}" for what, count in held.most_common(2))
        seq_read = ", ".join(f"{name} {count / 1000:.0f}k" for name, count in scanned.most_common(3) if count)
        lines.append(
            f"  {n * width:>3}-{(n + 1) * width:<3}s  backends busy (avg): {top or '-'};"
            f" WAL {wal:.0f} MB ({fpi} full pages); {sessions} sessions started{machine}"
            + (f"; autovacuum: {'; '.join(vacuums)}" if vacuums else "")
            + (f"\n            buffers touched: {busiest}" if busiest else "")
            + (f"; rows read by sequential scans: {seq_read}" if seq_read else "")
            + (f"\n            lock waits (avg): {lock_waits}" if lock_waits else "")
        )
    return lines


if __name__ == "__main__":
    if sys.argv[1] == "--frozen":
        frozen_probe(Path(sys.argv[2]))
        sys.exit()
    sample(sys.argv[1], Path(sys.argv[2]), *(int(pid) for pid in sys.argv[3:5]))
