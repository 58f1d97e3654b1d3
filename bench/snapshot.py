"""Save a bench database and restore it before each run, so that runs start from the same state.

``python bench/snapshot.py save DATA_DIR SNAPSHOT`` copies a stopped data directory (a
``TELCRM_DATA_DIR`` built by ``bench_demo_data.py --keep``); ``python bench/snapshot.py restore
SNAPSHOT DATA_DIR`` stops the database of DATA_DIR, replaces the directory with a fresh copy of
SNAPSHOT and writes it to disk. Then, before returning, it drops the copy's pages from the page
cache and waits until the machine is quiet (ADR 10, nineteenth session):

- A restore writes the whole database (19 GB at 1M customers) through the page cache. The virtual
  machines here reclaim page cache that nobody touched for 60 s (DAMON) and hand the freed memory
  to the host in batches (free page reporting). The hand-overs froze the machine for 20-300 ms at
  a time, a few times a minute, so a run started right after a restore measured those freezes in
  its second half, not the server.
- So the copy's pages (and the snapshot's) are dropped at once (``posix_fadvise(DONTNEED)``), and
  the restore returns once, for ``--quiet`` seconds, no free memory has left the free lists
  without being allocated and a 50-ms timer (real-time priority where allowed) was never late by
  more than 5 ms. PostgreSQL then reads what it needs from disk, as after a reboot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pg_sampler import free_pages, handed_over  # (bench/ is on the path when this runs as a script)


def drop_cached(root: Path) -> int:
    """Asks the kernel to drop the cached pages of every file under ROOT; returns the files."""
    count = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                count += 1
            finally:
                os.close(fd)
    return count


def settle(quiet: float, most: float) -> tuple[float, int]:
    """Waits until QUIET seconds pass with no hand-over of free memory and no late timer (at most
    MOST seconds); returns the seconds waited and the events seen."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50))
    except (AttributeError, PermissionError, OSError):
        pass  # an ordinary timer is also late when the cores are busy: then it waits longer
    start = due = calm = time.monotonic()
    before, events = free_pages(), 0
    try:
        while True:
            due += 0.05
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            now = time.monotonic()
            after = free_pages()
            handed = handed_over(before, after)
            before = after
            if now - due > 0.005 or handed:
                calm = now
                events += 1
            if now - calm >= quiet or now - start >= most:
                return now - start, events
            due = max(due, now)
    finally:
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except (AttributeError, PermissionError, OSError):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["save", "restore"])
    parser.add_argument("source", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--quiet", type=float, default=10.0, help="seconds of calm to wait for")
    parser.add_argument("--most", type=float, default=240.0, help="seconds to wait at most")
    args = parser.parse_args()
    data_dir = args.source if args.action == "save" else args.target
    telcrm = str(Path(sys.executable).with_name("telcrm"))
    subprocess.run(
        [telcrm, "db", "stop"],
        env={**os.environ, "TELCRM_DATA_DIR": str(data_dir)},
        check=False,
        capture_output=True,
    )
    if args.target.exists():
        shutil.rmtree(args.target)
    subprocess.run(["cp", "-a", str(args.source), str(args.target)], check=True)  # keeps owners
    os.sync()
    files = drop_cached(args.target) + drop_cached(args.source)
    if args.action == "restore" and sys.platform == "linux":
        waited, events = settle(args.quiet, args.most)
        print(f"restored {args.target}; {files} files' pages dropped; quiet after {waited:.1f} s ({events} events)")
    else:
        print(f"copied to {args.target}")


if __name__ == "__main__":
    main()
