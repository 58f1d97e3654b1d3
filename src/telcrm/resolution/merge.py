"""The bulk merge: every cluster of the latest match run becomes one golden customer (ADR 11).

Rows are written with COPY exactly as the services would have written them (documents, columns,
search keys), plus the audit entry and the events of each merge (``CustomerCreateEvent`` and our
``CustomerMergeEvent`` on the customer hub). Clusters are taken in key order and committed in
chunks together with the records' link to their customer, so a killed run resumes where it
stopped and a rerun skips what is merged. A cluster some of whose records are already merged
(new records matched to an existing customer) gets the new records' services added to that
customer instead of a new customer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_loads

from telcrm.kit import bulk, live
from telcrm.kit.ids import account_number, customer_number, new_id
from telcrm.kit.outbox import query_matches
from telcrm.party.service import display_name
from telcrm.resolution import golden as docs
from telcrm.resolution.policy import DEFAULT_SOURCE_RANKING
from telcrm.resolution.survivorship import Golden, Record, golden
from telcrm.search.keys import name_keys, phone_keys
from telcrm.search.service import contact_keys, party_keys

CHUNK_CLUSTERS = 5000
MERGE_EVENT = "CustomerMergeEvent"
NULL = bulk.NULL
_t, _j = bulk.text, bulk.json


def _ts(value: datetime | None) -> str:
    return value.isoformat() if value is not None else NULL


def _array(values: Sequence[str]) -> str:
    inner = ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return _t("{" + inner + "}")


@dataclass
class Rows:
    party: list[str] = field(default_factory=list)
    customer: list[str] = field(default_factory=list)
    account: list[str] = field(default_factory=list)
    customer_user: list[str] = field(default_factory=list)
    product: list[str] = field(default_factory=list)
    search_key: list[str] = field(default_factory=list)
    golden_record: list[str] = field(default_factory=list)
    golden_update: list[str] = field(default_factory=list)
    audit_entry: list[str] = field(default_factory=list)
    outbox_event: list[str] = field(default_factory=list)
    record_link: list[str] = field(default_factory=list)
    deliveries: list[tuple[str, list[str]]] = field(default_factory=list)
    topics: set[str] = field(default_factory=set)  # the customers open screens are told of (kit.live)
    clusters: int = 0
    customers: int = 0
    attached: int = 0
    records: int = 0
    products: int = 0

    def keys(
        self, ref: str, customer: str, keys: Sequence[tuple[str, str, int]], seen: set[tuple[str, str, str]]
    ) -> None:
        for kind, key, weight in keys:
            if not key:
                continue
            key = key[:200]
            if (kind, key, ref) in seen:
                continue
            seen.add((kind, key, ref))
            self.search_key.append(f"{_t(key)}\t{kind}\t{ref}\t{customer}\t{weight}")


COPY = {
    **{t: sql for t, sql in bulk.COPY_SQL.items() if t not in ("party_role", "product_order")},
    "golden_record": "COPY golden_record (customer_id, party_id, account_id, user_id, kind, record_keys, lineage,"
    " merged_at) FROM STDIN",
}


@dataclass
class MergeSummary:
    clusters: int = 0
    customers: int = 0
    attached_clusters: int = 0
    records: int = 0
    products: int = 0
    seconds: float = 0.0


@dataclass
class Existing:
    customer_id: str
    account_id: str | None
    user_id: str | None
    name: str
    record_keys: list[str]


class Writer:
    def __init__(self, principal: tuple[str, str], listeners: list[tuple[str, str | None]]) -> None:
        self.principal = principal
        self.listeners = listeners
        self.now = datetime.now(UTC)
        self.now_s = self.now.isoformat()

    def event(self, rows: Rows, event_type: str, cid: str, body: dict[str, Any], extra: dict[str, Any]) -> None:
        event_id = new_id()
        payload = {"event": {"customer": body}, **extra}
        rows.outbox_event.append(
            f"{event_id}\tcustomer\t{event_type}\tcustomer\t{cid}\t{cid}\t{_j(payload)}\t{self.now_s}"
        )
        rows.topics.add(live.customer_topic(cid))
        targets = [sid for sid, q in self.listeners if query_matches(q, event_type, {"customer": body})]
        if targets:
            rows.deliveries.append((event_id, targets))

    def audit(self, rows: Rows, cid: str, action: str, keys: list[str]) -> None:
        changes = {"legacyRecords": {"before": None, "after": keys}}
        rows.audit_entry.append(
            f"{_t(self.principal[0])}\t{_t(self.principal[1])}\tcli\tCustomer\t{cid}\t{cid}\t{action}\t{_j(changes)}"
        )

    def products(
        self,
        rows: Rows,
        records: list[Record],
        cid: str,
        uid: str,
        aid: str,
        seen: set[tuple[str, str, str]],
    ) -> dict[str, str]:
        """One product per distinct service number; every record that names it links to it."""
        by_number: dict[str, list[Record]] = {}
        for rec in records:
            number = docs.service_number(rec)
            if number:
                by_number.setdefault(number, []).append(rec)
        linked: dict[str, str] = {}
        now = self.now_s
        for number, recs in by_number.items():
            pid = new_id()
            best = max(recs, key=lambda r: (r.updated_at or datetime.min.replace(tzinfo=UTC), r.key))
            keys = [r.key for r in recs]
            body, col = docs.product_document(pid, best, number, cid, uid, aid, keys)
            rows.product.append(
                "\t".join(
                    (
                        pid,
                        _t(col["name"]),
                        col["status"],
                        NULL,
                        aid,
                        uid,
                        _ts(col["start_date"]),
                        _ts(col["termination_date"]),
                        _ts(col["billing_start_date"]),
                        _j(body),
                        "1",
                        now,
                        now,
                        cid,
                        NULL,
                        NULL,
                    )
                )
            )
            rows.keys(pid, cid, [("phone", k, 0) for k in phone_keys(number)], seen)
            rows.products += 1
            for r in recs:
                linked[r.key] = pid
        return linked

    def new_customer(self, rows: Rows, records: list[Record], g: Golden, cid: str, aid: str) -> None:
        now = self.now_s
        seen: set[tuple[str, str, str]] = set()
        party = docs.party_document(g)
        party_id = new_id()
        party["id"] = party_id
        name = display_name(party)[:400]
        kind = party["@type"]
        rows.party.append(
            "\t".join((party_id, kind, party["status"], _t(name), NULL, _j(party), "1", now, now, cid, NULL, NULL))
        )
        rows.keys(party_id, cid, party_keys(party), seen)
        account = docs.account_document(aid, cid, name)
        customer = docs.customer_document(cid, party, party_id, (aid, account["name"]))
        category = "group" if kind == "Organization" else "individual"
        rows.customer.append(
            "\t".join(
                (
                    cid,
                    _t(name),
                    customer["status"],
                    category,
                    "none",
                    party_id,
                    kind,
                    _j(customer),
                    "1",
                    now,
                    now,
                    cid,
                    NULL,
                    NULL,
                )
            )
        )
        rows.keys(cid, cid, [("num", cid, 0)] + [(k, v, 1) for k, v in name_keys(name)], seen)
        rows.keys(cid, cid, contact_keys(customer.get("contactMedium")), seen)
        rows.account.append(
            "\t".join(
                (
                    aid,
                    "BillingAccount",
                    _t(account["name"][:400]),
                    "active",
                    "postpaid",
                    cid,
                    _j(account),
                    "1",
                    now,
                    now,
                    cid,
                    NULL,
                    NULL,
                )
            )
        )
        rows.keys(aid, cid, [("num", aid, 0)], seen)
        uid = new_id()
        user = docs.user_document(uid, cid, name, party_id, aid, g)
        user_party = party_id if "party" in user else None
        rows.customer_user.append(
            "\t".join((uid, _t(name), "active", _t(user_party), aid, _j(user), "1", now, now, cid, NULL, NULL))
        )
        user_keys = [(k, v, -1) for k, v in name_keys(name)]
        if "phoneNumber" in user:
            user_keys += [("phone", k, 0) for k in phone_keys(user["phoneNumber"])]
        rows.keys(uid, cid, user_keys, seen)
        linked = self.products(rows, records, cid, uid, aid, seen)
        keys = [r.key for r in records]
        rows.golden_record.append("\t".join((cid, party_id, aid, uid, g.kind, _array(keys), _j(g.lineage), now)))
        for rec in records:
            rows.record_link.append(f"{_t(rec.key)}\t{cid}\t{_t(linked.get(rec.key))}")
        self.audit(rows, cid, "merge", keys)
        self.event(rows, "CustomerCreateEvent", cid, customer, {})
        self.event(rows, MERGE_EVENT, cid, customer, {"mergedRecords": keys})
        rows.customers += 1
        rows.records += len(records)

    def attach(self, rows: Rows, records: list[Record], existing: Existing) -> None:
        """New records of a cluster already merged: their services join the customer."""
        cid = existing.customer_id
        seen: set[tuple[str, str, str]] = set()
        linked: dict[str, str] = {}
        if existing.account_id and existing.user_id:
            linked = self.products(rows, records, cid, existing.user_id, existing.account_id, seen)
        keys = [r.key for r in records]
        rows.golden_update.append(f"{cid}\t{_array(keys)}")
        for rec in records:
            rows.record_link.append(f"{_t(rec.key)}\t{cid}\t{_t(linked.get(rec.key))}")
        self.audit(rows, cid, "merge", keys)
        self.event(rows, MERGE_EVENT, cid, {"id": cid, "name": existing.name}, {"mergedRecords": keys})
        rows.attached += 1
        rows.records += len(records)


def _write(conn: psycopg.Connection[Any], rows: Rows) -> None:
    with conn.transaction(), conn.cursor() as cur:
        for table in (
            "party",
            "customer",
            "account",
            "customer_user",
            "product",
            "search_key",
            "golden_record",
            "audit_entry",
            "outbox_event",
        ):
            lines: list[str] = getattr(rows, table)
            if lines:
                with cur.copy(COPY[table]) as copy:
                    copy.write("\n".join(lines) + "\n")
        if rows.deliveries:
            ids = dict(
                cur.execute(
                    "SELECT event_id, id FROM outbox_event WHERE event_id = ANY(%s)",
                    ([e for e, _ in rows.deliveries],),
                ).fetchall()
            )
            cur.executemany(
                "INSERT INTO delivery (event_id, subscription_id, status, attempts, next_attempt_at)"
                " VALUES (%s, %s, 'pending', 0, now())",
                [(ids[e], s) for e, targets in rows.deliveries for s in targets],
            )
        if rows.topics:  # a bulk job of its own: told in its transaction, not by a server's teller
            cur.execute(live.NOTIFY, (live.payloads(rows.topics),))
        if rows.golden_update:
            cur.execute("CREATE TEMP TABLE IF NOT EXISTS _golden_add (customer_id text, keys text[]) ON COMMIT DROP")
            with cur.copy("COPY _golden_add (customer_id, keys) FROM STDIN") as copy:
                copy.write("\n".join(rows.golden_update) + "\n")
            cur.execute(
                "UPDATE golden_record g SET record_keys = g.record_keys || a.keys FROM _golden_add a"
                " WHERE g.customer_id = a.customer_id"
            )
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _record_link (key text, customer_id text, product_id text) ON COMMIT DROP"
        )
        with cur.copy("COPY _record_link (key, customer_id, product_id) FROM STDIN") as copy:
            copy.write("\n".join(rows.record_link) + "\n")
        # only records still unmerged: a concurrent run that got there first wins, nothing doubles
        updated = cur.execute(
            "UPDATE legacy_record r SET customer_id = l.customer_id, product_id = l.product_id"
            " FROM _record_link l WHERE r.key = l.key AND r.customer_id IS NULL"
        ).rowcount
        if updated != len(rows.record_link):
            raise RuntimeError("another merge run is working on the same records; rolled back this chunk")
        cur.execute("SET LOCAL synchronous_commit = off")


def _clusters(conn: psycopg.Connection[Any], part: int = 0, parts: int = 1) -> Iterator[tuple[str, list[Record]]]:
    """The unmerged records of the clusters of ``part`` (of ``parts``, by a hash of the cluster key)."""
    with conn.cursor(name="legacy_merge") as cur:
        cur.itersize = 20_000
        cur.execute(
            "SELECT m.cluster_key, r.key, r.source, r.kind, r.fields, r.std, r.updated_at"
            " FROM legacy_member m JOIN legacy_record r ON r.key = m.key"
            " WHERE r.customer_id IS NULL AND (%s = 1 OR abs(hashtext(m.cluster_key) %% %s) = %s)"
            " ORDER BY m.cluster_key, r.key",
            (parts, parts, part),
        )
        current: str | None = None
        records: list[Record] = []
        for cluster, key, source, kind, fields, std, updated in cur:
            if cluster != current:
                if current is not None:
                    yield current, records
                current, records = cluster, []
            records.append(Record(key, source, fields, updated, kind, std))
        if current is not None:
            yield current, records


def _existing(conn: psycopg.Connection[Any]) -> dict[str, Existing]:
    """Clusters with records already merged, and the customer they went to."""
    rows = conn.execute(
        "SELECT m.cluster_key, g.customer_id, g.account_id, g.user_id, c.name, g.record_keys"
        " FROM (SELECT m.cluster_key, min(r.customer_id) AS customer_id FROM legacy_member m"
        "       JOIN legacy_record r ON r.key = m.key WHERE r.customer_id IS NOT NULL GROUP BY 1) m"
        " JOIN golden_record g ON g.customer_id = m.customer_id JOIN customer c ON c.id = g.customer_id"
    ).fetchall()
    return {r[0]: Existing(r[1], r[2], r[3], r[4], list(r[5])) for r in rows}


PARALLEL_THRESHOLD = 50_000  # unmerged records above which the merge runs in several processes


def merge_all(
    url: str,
    *,
    ranking: Sequence[str] = DEFAULT_SOURCE_RANKING,
    chunk: int = CHUNK_CLUSTERS,
    principal: tuple[str, str] = ("system", "telcrm identity merge"),
    progress: Callable[[int], None] | None = None,
    stop_after_chunks: int | None = None,
    workers: int | None = None,
) -> MergeSummary:
    """Merge every cluster not merged yet; returns what it did.

    Big runs are split by a hash of the cluster key over ``workers`` processes (default: 2 when
    there are more than ``PARALLEL_THRESHOLD`` records to merge), each with its own connections;
    every chunk still commits on its own, so a kill of any of them loses only its chunk in flight.
    """
    if workers is None:
        workers = 2 if stop_after_chunks is None and _pending(url) > PARALLEL_THRESHOLD else 1
    if workers <= 1:
        return _merge_part(url, 0, 1, ranking, chunk, principal, progress, stop_after_chunks)
    import multiprocessing

    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    messages: Any = ctx.Queue()
    procs = [
        ctx.Process(
            target=_merge_worker,
            args=(url, part, workers, tuple(ranking), chunk, principal, messages),
            name=f"merge-{part}",
        )
        for part in range(workers)
    ]
    for proc in procs:
        proc.start()
    total = MergeSummary()
    finished = 0
    errors: list[str] = []
    try:
        while finished < workers:
            try:
                kind, value = messages.get(timeout=0.5)
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    errors.append("a merge process died")
                    break
                continue
            if kind == "progress":
                if progress:
                    progress(value)
            elif kind == "error":
                errors.append(value)
                finished += 1
            else:
                finished += 1
                for attr in ("clusters", "customers", "attached_clusters", "records", "products"):
                    setattr(total, attr, getattr(total, attr) + value[attr])
    finally:
        for proc in procs:
            proc.join(timeout=None if not errors else 5)
            if proc.is_alive():
                proc.terminate()
    if errors:
        raise RuntimeError(f"merge failed: {errors[0]}")
    total.seconds = time.perf_counter() - t0
    return total


def _pending(url: str) -> int:
    with psycopg.connect(bulk.plain_url(url)) as conn:
        row = conn.execute("SELECT count(*) FROM legacy_record WHERE customer_id IS NULL").fetchone()
    return int(row[0]) if row else 0


def _merge_worker(
    url: str, part: int, parts: int, ranking: tuple[str, ...], chunk: int, principal: tuple[str, str], out: Any
) -> None:
    try:
        s = _merge_part(url, part, parts, ranking, chunk, principal, lambda n: out.put(("progress", n)), None)
    except BaseException as exc:
        out.put(("error", f"{type(exc).__name__}: {exc}"))
        raise
    out.put(("done", s.__dict__))


def _merge_part(
    url: str,
    part: int,
    parts: int,
    ranking: Sequence[str],
    chunk: int,
    principal: tuple[str, str],
    progress: Callable[[int], None] | None,
    stop_after_chunks: int | None,
) -> MergeSummary:
    t0 = time.perf_counter()
    summary = MergeSummary()
    with (
        psycopg.connect(bulk.plain_url(url)) as read,
        psycopg.connect(bulk.plain_url(url)) as write,
        psycopg.connect(bulk.plain_url(url), autocommit=True) as numbers,
    ):
        set_json_loads(orjson.loads, read)
        existing = _existing(read)
        listeners = [
            (r[0], r[1]) for r in read.execute("SELECT id, query FROM hub_subscription WHERE api = 'customer'")
        ]
        read.commit()
        writer = Writer(principal, listeners)
        # a thread writes one chunk while the next is assembled (the server's COPY and index work
        # overlaps Python's); at most two chunks wait, so memory stays bounded
        pending: queue.Queue[Rows | None] = queue.Queue(maxsize=2)
        failure: list[BaseException] = []

        def drain() -> None:
            while (rows := pending.get()) is not None:
                if failure:
                    continue
                try:
                    _write(write, rows)
                except BaseException as exc:  # re-raised in the caller's thread
                    failure.append(exc)
                    continue
                summary.clusters += rows.clusters
                summary.customers += rows.customers
                summary.attached_clusters += rows.attached
                summary.records += rows.records
                summary.products += rows.products
                if progress:
                    progress(rows.records)

        thread = threading.Thread(target=drain, name="merge-writer", daemon=True)
        thread.start()
        batch: list[tuple[str, list[Record]]] = []
        chunks = 0

        def assemble() -> None:
            nonlocal chunks
            n = sum(1 for key, _ in batch if key not in existing)
            cids: list[int] = []
            aids: list[int] = []
            if n:
                seq = "SELECT nextval('{}') FROM generate_series(1, %s)"
                cids = [r[0] for r in numbers.execute(seq.format("customer_number_seq"), (n,))]  # type: ignore[arg-type]
                aids = [r[0] for r in numbers.execute(seq.format("account_number_seq"), (n,))]  # type: ignore[arg-type]
            rows = Rows(clusters=len(batch))
            writer.now = datetime.now(UTC)
            writer.now_s = writer.now.isoformat()
            i = 0
            for key, records in batch:
                if key in existing:
                    writer.attach(rows, records, existing[key])
                else:
                    g = golden(records, ranking)
                    writer.new_customer(rows, records, g, customer_number(cids[i]), account_number(aids[i]))
                    i += 1
            pending.put(rows)
            chunks += 1

        try:
            for cluster in _clusters(read, part, parts):
                if failure:
                    break
                batch.append(cluster)
                if len(batch) >= chunk:
                    assemble()
                    batch = []
                    if stop_after_chunks is not None and chunks >= stop_after_chunks:
                        break
            else:
                if batch:
                    assemble()
        finally:
            pending.put(None)
            thread.join()
        read.commit()
        if failure:
            raise failure[0]
    summary.seconds = time.perf_counter() - t0
    return summary
