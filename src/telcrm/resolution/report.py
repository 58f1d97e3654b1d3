"""The state of legacy record resolution: counts, clusters by size, estimated precision and recall.

The estimates come from the model's own probabilities (no ground truth in production): the
expected number of false links is the sum of ``1 - p`` over accepted links, the expected number
of missed links the sum of ``p`` over pairs left for review. Pairs the blocking never compared
or scored below the review threshold are not counted, so recall is an upper estimate.
"""

from __future__ import annotations

from typing import Any

import psycopg

from telcrm.kit import bulk

SOURCES = (
    "SELECT s.source, coalesce(r.records, 0), coalesce(r.merged, 0), coalesce(j.rejected, 0) FROM"
    " (SELECT DISTINCT source FROM legacy_batch) s"
    " LEFT JOIN (SELECT source, count(*) AS records, count(customer_id) AS merged FROM legacy_record"
    "            GROUP BY source) r ON r.source = s.source"
    " LEFT JOIN (SELECT b.source, count(*) AS rejected FROM legacy_reject j JOIN legacy_batch b ON b.id = j.batch_id"
    "            GROUP BY b.source) j ON j.source = s.source ORDER BY s.source"
)
SIZES = (
    "SELECT CASE WHEN size >= 6 THEN '6+' ELSE size::text END AS bucket, count(*) FROM legacy_cluster"
    " GROUP BY 1 ORDER BY 1"
)
TOTALS = (
    "SELECT (SELECT count(*) FROM legacy_cluster), (SELECT count(*) FROM golden_record),"
    " (SELECT count(*) FROM review_pair WHERE status = 'open'), (SELECT count(*) FROM steward_decision),"
    " (SELECT count(*) FROM merge_event WHERE action = 'merge'), (SELECT count(*) FROM merge_event"
    "  WHERE action = 'unmerge')"
)
RUN = "SELECT id, links, expected_false_links, expected_missed_links, records FROM match_run ORDER BY id DESC LIMIT 1"


def assemble(sources: list[Any], sizes: list[Any], totals: Any, run: Any) -> dict[str, Any]:
    estimate = None
    if run is not None:
        run_id, links, false_links, missed, records = run
        true_links = max(links - false_links, 0.0)
        estimate = {
            "run": run_id,
            "records": records,
            "links": links,
            "expectedFalseLinks": round(false_links, 3),
            "expectedMissedLinks": round(missed, 3),
            "precision": round(true_links / links, 6) if links else 1.0,
            "recall": round(true_links / (true_links + missed), 6) if true_links + missed else 1.0,
        }
    return {
        "sources": [
            {"source": s[0], "records": int(s[1]), "merged": int(s[2]), "rejected": int(s[3])} for s in sources
        ],
        "records": sum(int(s[1]) for s in sources),
        "rejected": sum(int(s[3]) for s in sources),
        "clusters": int(totals[0]),
        "clustersBySize": {str(b): int(n) for b, n in sizes},
        "goldenCustomers": int(totals[1]),
        "openReviews": int(totals[2]),
        "stewardDecisions": int(totals[3]),
        "stewardMerges": int(totals[4]),
        "unmerges": int(totals[5]),
        "estimate": estimate,
    }


def report_sync(url: str) -> dict[str, Any]:
    with psycopg.connect(bulk.plain_url(url)) as conn:
        return assemble(
            conn.execute(SOURCES).fetchall(),
            conn.execute(SIZES).fetchall(),
            conn.execute(TOTALS).fetchone(),
            conn.execute(RUN).fetchone(),
        )
