"""End to end: legacy extracts -> import -> match -> merge into golden customers, timed.

    PYTHONPATH=src nice -n 19 python bench/bench_identity.py --people 60000 \
        --admin-url postgresql://postgres@127.0.0.1:54330/postgres

Generates the extracts with ``telcrm.resolution.legacy_data`` (not timed as part of the
pipeline), creates a fresh database, then times each phase and prints the peak RSS of this
process (PostgreSQL's own memory is not in it). Quality of the final customers against the
generator's ground truth is printed too: pairwise precision/recall over records that share a
customer, and the share of true customers whose records all ended in exactly one customer.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import psycopg

from telcrm.migrations import upgrade
from telcrm.resolution import legacy_data
from telcrm.resolution.importer import import_file, load_mapping
from telcrm.resolution.merge import merge_all
from telcrm.resolution.report import report_sync
from telcrm.resolution.runs import run_match


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu() -> float:
    """CPU seconds of this process and its finished children (PostgreSQL's are not in it)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def pairs(counter: Counter[object]) -> int:
    return sum(n * (n - 1) // 2 for n in counter.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:54330/postgres")
    parser.add_argument("--database", default="telcrm_bench_identity")
    parser.add_argument("--dir", default=None, help="where to write the extracts (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="extracts already in --dir (from an earlier run)")
    args = parser.parse_args()

    t = time.perf_counter()
    records, truth = legacy_data.generate(args.people, seed=args.seed)
    out = Path(args.dir or tempfile.mkdtemp(prefix="legacy-"))
    if args.reuse:
        paths = {s: out / f"{s}.{'xlsx' if s == 'voip' else 'csv'}" for s in legacy_data.SOURCES}
    else:
        paths = legacy_data.write_sources(records, out)
    del records
    print(
        f"generated {len(truth):,} records of {args.people:,} people into {out} ({time.perf_counter() - t:.1f} s)",
        flush=True,
    )

    admin = args.admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.database}"')
    base, _, query = admin.partition("?")  # e.g. ?host=/path/to/socket for the embedded server
    url = base.rsplit("/", 1)[0] + f"/{args.database}" + (f"?{query}" if query else "")
    upgrade(url.replace("postgresql://", "postgresql+psycopg://", 1))

    phases: dict[str, float] = {}
    start = time.perf_counter()
    t = time.perf_counter()
    c = cpu()
    loaded = rejected = 0
    for source, path in paths.items():
        result = import_file(url, path, load_mapping(out / f"{source}.mapping.json"))
        loaded += result.loaded
        rejected += result.rejected
        print(
            f"  import {source}: {result.loaded:,} loaded, {result.rejected:,} rejected {dict(result.reasons)}",
            flush=True,
        )
    phases["import"] = time.perf_counter() - t
    print(
        f"import: {loaded:,} records, {rejected:,} rejected in {phases['import']:.1f} s"
        f" ({cpu() - c:.1f} CPU s here; peak RSS {rss_mb():.0f} MB)",
        flush=True,
    )
    c = cpu()

    t = time.perf_counter()
    m = run_match(url)
    phases["match"] = time.perf_counter() - t
    print(
        f"match: {m.clusters:,} clusters, {m.links:,} links, {m.reviews:,} for review in {phases['match']:.1f} s"
        f" (load {m.seconds_load:.1f}, matcher {m.seconds_match:.1f}, store {m.seconds_store:.1f};"
        f" {cpu() - c:.1f} CPU s here; peak RSS {rss_mb():.0f} MB)",
        flush=True,
    )
    c = cpu()

    t = time.perf_counter()
    s = merge_all(url)
    phases["merge"] = time.perf_counter() - t
    print(
        f"merge: {s.customers:,} golden customers, {s.products:,} products from {s.records:,} records"
        f" in {phases['merge']:.1f} s ({cpu() - c:.1f} CPU s here; peak RSS {rss_mb():.0f} MB)",
        flush=True,
    )
    total = time.perf_counter() - start
    print(f"end to end (import + match + merge): {total:.1f} s; peak RSS of this process {rss_mb():.0f} MB")

    with psycopg.connect(url) as conn:
        got = dict(conn.execute("SELECT key, customer_id FROM legacy_record").fetchall())
    both = Counter((got[k], truth[k]) for k in got if k in truth)
    predicted = pairs(Counter(got[k] for k in got if k in truth))
    actual = pairs(Counter(truth[k] for k in got if k in truth))
    tp = pairs(both)
    precision = tp / predicted if predicted else 1.0
    recall = tp / actual if actual else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    customers_of: dict[str, set[str]] = {}
    for k, cid in got.items():
        if k in truth:
            customers_of.setdefault(truth[k], set()).add(cid)
    members: Counter[str] = Counter(got[k] for k in got if k in truth)
    entity_size = Counter(truth[k] for k in got if k in truth)
    exact = sum(1 for e, cids in customers_of.items() if len(cids) == 1 and members[next(iter(cids))] == entity_size[e])
    print(
        f"quality vs ground truth: pairwise precision {precision:.4f}, recall {recall:.4f}, F1 {f1:.4f};"
        f" true customers in exactly one customer of their own: {exact / len(customers_of):.4f}"
    )
    r = report_sync(url)
    est = r["estimate"] or {}
    print(
        f"report: clusters by size {r['clustersBySize']}; open reviews {r['openReviews']:,};"
        f" estimated precision {est.get('precision')}, recall {est.get('recall')}"
    )


if __name__ == "__main__":
    main()
