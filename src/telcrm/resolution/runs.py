"""A match run: all imported records through the matcher; clusters, links and the review queue stored."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from telcrm.kit import bulk
from telcrm.resolution import match


@dataclass
class MatchSummary:
    run_id: int
    records: int
    clusters: int
    links: int
    reviews: int
    decisions: int
    expected_false_links: float
    expected_missed_links: float
    seconds_load: float
    seconds_match: float
    seconds_store: float


_t = bulk.text


def load_decisions(conn: psycopg.Connection[Any]) -> list[match.Decision]:
    rows = conn.execute("SELECT left_key, right_key, same FROM steward_decision").fetchall()
    return [match.Decision(r[0], r[1], bool(r[2])) for r in rows]


def run_match(url: str, *, say: Callable[[str], None] | None = None) -> MatchSummary:
    """Match every imported record (obeying every steward decision) and store the outcome."""
    t0 = time.perf_counter()
    with psycopg.connect(bulk.plain_url(url)) as conn:
        set_json_loads(orjson.loads, conn)
        decisions = load_decisions(conn)
        loaded = [0.0, 0]

        def stream() -> Iterator[tuple[str, dict[str, Any]]]:
            # streamed, not held here: the matcher frames the values and lets the dicts go
            with conn.cursor(name="legacy_std") as cur:
                cur.itersize = 20_000
                cur.execute("SELECT key, std FROM legacy_record ORDER BY key")
                for row in cur:
                    loaded[1] += 1
                    yield row[0], row[1]
            loaded[0] = time.perf_counter() - t0

        result = match.match(stream(), decisions)
        conn.commit()
        t1 = t0 + loaded[0]
        t2 = time.perf_counter()
        if say:
            say(f"matched {loaded[1]:,} records with {len(decisions):,} steward decisions")
        sizes = Counter(result.clusters.values())
        false_links = sum(1.0 - p for _, _, p in result.links)
        missed = sum(p for _, _, p in result.review)
        model: Any = result.model.to_dict() if result.model is not None else None
        with conn.transaction(), conn.cursor() as cur:
            run_id = cur.execute(
                "INSERT INTO match_run (records, clusters, links, reviews, decisions, expected_false_links,"
                " expected_missed_links, model) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (
                    len(result.clusters),
                    len(sizes),
                    len(result.links),
                    len(result.review),
                    len(decisions),
                    false_links,
                    missed,
                    orjson.dumps(model).decode() if model is not None else None,
                ),
            ).fetchone()[0]  # type: ignore[index]
            cur.execute("TRUNCATE legacy_member, legacy_cluster, legacy_link")
            with cur.copy("COPY legacy_member (key, cluster_key) FROM STDIN") as copy:
                buf: list[str] = []
                for key, cluster in result.clusters.items():
                    buf.append(f"{_t(key)}\t{_t(cluster)}")
                    if len(buf) >= 50_000:
                        copy.write("\n".join(buf) + "\n")
                        buf = []
                if buf:
                    copy.write("\n".join(buf) + "\n")
            with cur.copy("COPY legacy_cluster (key, run_id, size) FROM STDIN") as copy:
                copy.write("".join(f"{_t(k)}\t{run_id}\t{n}\n" for k, n in sizes.items()))
            with cur.copy("COPY legacy_link (left_key, right_key, run_id, probability) FROM STDIN") as copy:
                seen: set[tuple[str, str]] = set()
                lines = []
                for left, right, p in result.links:
                    pair = (left, right) if left < right else (right, left)
                    if pair not in seen:
                        seen.add(pair)
                        lines.append(f"{_t(pair[0])}\t{_t(pair[1])}\t{run_id}\t{float(p)!r}\n")
                copy.write("".join(lines))
            # the review queue: new uncertain pairs open; decided pairs keep their decision
            cur.execute("CREATE TEMP TABLE _review (l text, r text, p float8) ON COMMIT DROP")
            with cur.copy("COPY _review (l, r, p) FROM STDIN") as copy:
                copy.write(
                    "".join(f"{_t(min(a, b))}\t{_t(max(a, b))}\t{float(p)!r}\n" for a, b, p in result.review if a != b)
                )
            cur.execute(
                "INSERT INTO review_pair (left_key, right_key, run_id, probability, status)"
                " SELECT DISTINCT ON (l, r) l, r, %s, p, 'open' FROM _review ORDER BY l, r, p DESC"
                " ON CONFLICT (left_key, right_key) DO UPDATE SET run_id = excluded.run_id,"
                " probability = excluded.probability WHERE review_pair.status = 'open'",
                (run_id,),
            )
            # open pairs this run no longer finds uncertain leave the queue
            cur.execute("DELETE FROM review_pair WHERE status = 'open' AND run_id IS DISTINCT FROM %s", (run_id,))
            cur.execute("UPDATE match_run SET finished_at = now() WHERE id = %s", (run_id,))
        t3 = time.perf_counter()
        return MatchSummary(
            run_id,
            len(result.clusters),
            len(sizes),
            len(result.links),
            len(result.review),
            len(decisions),
            false_links,
            missed,
            t1 - t0,
            t2 - t1,
            t3 - t2,
        )
