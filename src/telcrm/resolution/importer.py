"""Import of legacy extracts (CSV or Excel) with a per-source mapping file (ADR 11).

A file is streamed in chunks; each chunk is written with COPY and committed together with the
batch's progress (the last line done), so a killed import resumes where it stopped and a rerun
of a finished file (same source, same content hash) adds nothing. Bad rows (wrong column count,
no key, a date that does not parse, a key twice in the file or already imported from another
file) are kept aside in ``legacy_reject`` with their line number and reason; nothing is dropped
silently.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
import psycopg

from telcrm.kit import bulk
from telcrm.kit.errors import ValidationFailed
from telcrm.resolution import standardise as std_mod

IDENTITY_FIELDS = (
    "kind",
    "name",
    "id_number",
    "credit_code",
    "phone",
    "email",
    "address",
    "birth_date",
    "gender",
)
CANONICAL = (
    *IDENTITY_FIELDS,
    "service_number",
    "service_type",
    "service_status",
    "service_start",
    "account_number",
    "updated_at",
    "source_key",
)
DATE_FIELDS = ("birth_date", "service_start")
CHUNK = 20_000


@dataclass
class Mapping:
    source: str
    format: str
    columns: dict[str, str]  # source column -> canonical field
    date_format: str = "%Y-%m-%d"
    datetime_format: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


def load_mapping(path: str | Path) -> Mapping:
    """A mapping file (JSON always, YAML when PyYAML is installed), checked."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    data: Any
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - PyYAML is installed here
            raise ValidationFailed("YAML mapping files need PyYAML; use JSON", field="mapping") from None
        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"mapping file is not JSON: {exc}", field="mapping") from None
    return parse_mapping(data)


def parse_mapping(data: Any) -> Mapping:
    if not isinstance(data, dict):
        raise ValidationFailed("a mapping is an object with source, columns", field="mapping")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip() or ":" in source or len(source) > 40:
        raise ValidationFailed("mapping.source names the source system (no ':', at most 40 characters)", field="source")
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise ValidationFailed("mapping.columns maps source columns to canonical fields", field="columns")
    for column, canonical in columns.items():
        if canonical not in CANONICAL:
            raise ValidationFailed(
                f"column {column!r} maps to {canonical!r}: canonical fields are {', '.join(CANONICAL)}",
                field=f"columns.{column}",
            )
    if "source_key" not in columns.values():
        raise ValidationFailed("one column must map to source_key (the record's key in its source)", field="columns")
    fmt = str(data.get("format") or "csv").lower()
    if fmt not in ("csv", "xlsx"):
        raise ValidationFailed("format is csv or xlsx", field="format")
    return Mapping(
        source=source.strip(),
        format=fmt,
        columns={str(k): str(v) for k, v in columns.items()},
        date_format=str(data.get("date_format") or "%Y-%m-%d"),
        datetime_format=data.get("datetime_format"),
        encoding=data.get("encoding"),
        sheet=data.get("sheet"),
        raw=data,
    )


def file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def detect_encoding(path: Path, hint: str | None) -> str:
    if hint:
        return hint
    with path.open("rb") as fh:
        head = fh.read(1 << 16)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "gb18030"
    return "utf-8"


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value)
    return text if text.strip() else None


def read_rows(path: Path, mapping: Mapping, encoding: str | None = None) -> Iterator[tuple[int, list[str | None]]]:
    """``(line, values)`` of every row, the header first (line 1)."""
    if mapping.format == "xlsx" or path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            sheet = book[mapping.sheet] if mapping.sheet else book.worksheets[0]
            for i, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                values = [_cell(v) for v in row]
                while values and values[-1] is None and i > 1:
                    values.pop()  # trailing empty cells of a short row
                if not any(v is not None for v in values):
                    continue
                yield i, values
        finally:
            book.close()
        return
    enc = detect_encoding(path, encoding or mapping.encoding)
    with path.open(encoding=enc, newline="", errors="strict") as fh:
        reader = csv.reader(fh)
        for i, row in enumerate(reader, start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            yield i, [v if v.strip() else None for v in row]


@dataclass
class ImportResult:
    batch_id: int
    source: str
    file_name: str
    status: str  # imported | resumed | unchanged
    loaded: int = 0
    rejected: int = 0
    total_loaded: int = 0
    total_rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@lru_cache(maxsize=1 << 16)
def _parse_date(value: str, fmt: str) -> str:
    """ISO date of ``value`` in ``fmt`` (or a common format); a day and month written the wrong
    way round (a known habit of some sources) are read swapped rather than the row lost."""
    text = value.strip()
    formats = (fmt, "%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y%m%d", "%Y/%m/%d")
    swapped = tuple(f.replace("%m", "%@").replace("%d", "%m").replace("%@", "%d") for f in formats if "%H" not in f)
    for f in formats + swapped:
        try:
            return datetime.strptime(text, f).date().isoformat()
        except ValueError:
            continue
    raise ValueError(value)


def _parse_time(value: str, mapping: Mapping) -> datetime:
    text = value.strip()
    for f in (mapping.datetime_format, mapping.date_format):
        if f:
            try:
                parsed = datetime.strptime(text, f)
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except ValueError:
                pass
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_copy_text, _json = bulk.text, bulk.json


def import_file(
    url: str,
    path: str | Path,
    mapping: Mapping,
    *,
    encoding: str | None = None,
    chunk: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
    stop_after_chunks: int | None = None,
    workers: int = 2,
) -> ImportResult:
    """Import ``path`` under ``mapping``; ``progress(rows_done, bytes_done_or_0)`` per chunk.

    ``stop_after_chunks`` stops (as a kill would) after that many committed chunks: for tests.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed(f"{path} is not a file", field="file")
    digest = file_hash(path)
    with psycopg.connect(bulk.plain_url(url)) as conn:
        row = conn.execute(
            "SELECT id, status, lines_done, rows_loaded, rows_rejected FROM legacy_batch"
            " WHERE source = %s AND content_hash = %s",
            (mapping.source, digest),
        ).fetchone()
        if row is not None and row[1] == "done":
            return ImportResult(row[0], mapping.source, path.name, "unchanged", 0, 0, row[3], row[4])
        if row is None:
            batch_id = conn.execute(
                "INSERT INTO legacy_batch (source, file_name, content_hash, mapping, status, lines_done,"
                " rows_loaded, rows_rejected) VALUES (%s, %s, %s, %s, 'loading', 0, 0, 0) RETURNING id",
                (mapping.source, path.name, digest, orjson.dumps(mapping.raw).decode()),
            ).fetchone()[0]  # type: ignore[index]
            lines_done, status = 0, "imported"
            seen: set[str] = set()
        else:
            batch_id, lines_done, status = row[0], row[2], "resumed"
            seen = {
                r[0] for r in conn.execute("SELECT key FROM legacy_record WHERE batch_id = %s", (batch_id,)).fetchall()
            }
        conn.commit()
        result = ImportResult(batch_id, mapping.source, path.name, status)
        rows = read_rows(path, mapping, encoding)
        try:
            _, header = next(rows)
        except StopIteration:
            raise ValidationFailed(f"{path.name} is empty", field="file") from None
        names = [str(h).strip() if h is not None else "" for h in header]
        missing = [c for c in mapping.columns if c not in names]
        if missing:
            raise ValidationFailed(
                f"{path.name} has no column {', '.join(missing)} named in the mapping", field="columns"
            )
        index = [(names.index(col), canon) for col, canon in mapping.columns.items()]
        pool = None
        if workers > 1 and path.stat().st_size >= PARALLEL_BYTES:
            import multiprocessing

            pool = multiprocessing.get_context("fork").Pool(workers)
        try:
            return _stream(
                conn,
                rows,
                names,
                index,
                mapping,
                batch_id,
                lines_done,
                seen,
                result,
                chunk,
                progress,
                stop_after_chunks,
                pool,
            )
        finally:
            if pool is not None:
                pool.terminate()


def _stream(
    conn: psycopg.Connection[Any],
    rows: Iterator[tuple[int, list[str | None]]],
    names: list[str],
    index: list[tuple[int, str]],
    mapping: Mapping,
    batch_id: int,
    lines_done: int,
    seen: set[str],
    result: ImportResult,
    chunk: int,
    progress: Callable[[int, int], None] | None,
    stop_after_chunks: int | None,
    pool: Any,
) -> ImportResult:
    width = len(names)
    good: list[Pending] = []
    bad: list[str] = []
    last_line = lines_done
    chunks = 0
    done_rows = 0
    for line, values in rows:
        if line <= lines_done:
            continue
        last_line = line
        raw: dict[str, Any] = {names[i]: v for i, v in enumerate(values) if i < width}
        reason = None
        if len(values) != width:
            reason = f"has {len(values)} columns, the header has {width}"
            raw = {"_values": values}
        fields: dict[str, Any] = {}
        originals: dict[str, Any] = {}
        key = ""
        updated: datetime | None = None
        if reason is None:
            for i, canon in index:
                fields[canon] = values[i]
            source_key = (fields.pop("source_key", None) or "").strip()
            if not source_key:
                reason = "no source_key"
            else:
                key = f"{mapping.source}:{source_key}"
                if key in seen:
                    reason = f"source_key {source_key} appears twice in the file"
            originals = {name: fields.get(name) for name in DATE_FIELDS}
            for name in DATE_FIELDS:
                value = fields.get(name)
                if reason is None and value:
                    try:
                        fields[name] = _parse_date(value, mapping.date_format)
                    except ValueError:
                        reason = f"{name} {value!r} is not a date ({mapping.date_format})"
            if reason is None and fields.get("updated_at"):
                try:
                    updated = _parse_time(fields["updated_at"], mapping)
                except ValueError:
                    reason = f"updated_at {fields['updated_at']!r} is not a date-time"
        if reason is not None:
            bad.append(f"{batch_id}\t{line}\t{_copy_text(reason)}\t{_json(raw)}")
            category = _category(reason)
            result.reasons[category] = result.reasons.get(category, 0) + 1
        else:
            seen.add(key)
            identity = {f: originals.get(f, fields.get(f)) for f in IDENTITY_FIELDS}
            good.append((key, line, raw, fields, identity, updated))
        if len(good) + len(bad) >= chunk:
            done_rows += len(good) + len(bad)
            lines = _lines(good, mapping.source, batch_id, pool)
            _write_chunk(conn, batch_id, lines, bad, last_line, result)
            good, bad = [], []
            chunks += 1
            if progress:
                progress(done_rows, 0)
            if stop_after_chunks is not None and chunks >= stop_after_chunks:
                return result
    done_rows += len(good) + len(bad)
    _write_chunk(conn, batch_id, _lines(good, mapping.source, batch_id, pool), bad, last_line, result, finish=True)
    if progress:
        progress(done_rows, 0)
    totals = conn.execute("SELECT rows_loaded, rows_rejected FROM legacy_batch WHERE id = %s", (batch_id,)).fetchone()
    result.total_loaded, result.total_rejected = totals[0], totals[1]  # type: ignore[index]
    return result


Pending = tuple[str, int, dict[str, Any], dict[str, Any], dict[str, Any], datetime | None]
PARALLEL_BYTES = 8 << 20  # files above this standardise in a second process as well
_SLICES = 8


def _standardise_many(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [std_mod.standardise(v) for v in values]


def _lines(good: list[Pending], source: str, batch_id: int, pool: Any) -> list[str]:
    """COPY lines of a chunk's good rows; standardised in ``pool`` (processes) when given."""
    inputs = [g[4] for g in good]
    if pool is not None and len(inputs) >= 1000:
        step = -(-len(inputs) // _SLICES)
        stds = [
            s
            for part in pool.map(_standardise_many, [inputs[i : i + step] for i in range(0, len(inputs), step)])
            for s in part
        ]
    else:
        stds = _standardise_many(inputs)
    source_t = _copy_text(source)
    batch = str(batch_id)
    out = []
    for (key, line, raw, fields, _, updated), std in zip(good, stds, strict=True):
        kind = std.get("kind") or fields.get("kind")
        out.append(
            "\t".join(
                (
                    _copy_text(key),
                    source_t,
                    batch,
                    str(line),
                    _copy_text(kind),
                    _json(raw),
                    _json(fields),
                    _json(std),
                    updated.isoformat() if updated else "\\N",
                )
            )
        )
    return out


def _write_chunk(
    conn: psycopg.Connection[Any],
    batch_id: int,
    good: list[str],
    bad: list[str],
    last_line: int,
    result: ImportResult,
    *,
    finish: bool = False,
) -> None:
    """One chunk: records, rejects and the batch's progress in one transaction."""
    with conn.transaction(), conn.cursor() as cur:
        loaded = 0
        if good:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS _legacy_in (key text, source text, batch_id bigint, line_no bigint,"
                " kind text, raw jsonb, fields jsonb, std jsonb, updated_at timestamptz) ON COMMIT DELETE ROWS"
            )
            with cur.copy(
                "COPY _legacy_in (key, source, batch_id, line_no, kind, raw, fields, std, updated_at) FROM STDIN"
            ) as copy:
                copy.write("\n".join(good) + "\n")
            inserted = cur.execute(
                "INSERT INTO legacy_record (key, source, batch_id, line_no, kind, raw, fields, std, updated_at)"
                " SELECT key, source, batch_id, line_no, kind, raw, fields, std, updated_at FROM _legacy_in"
                " ON CONFLICT (key) DO NOTHING"
            ).rowcount
            loaded = inserted
            if inserted < len(good):  # keys already imported from another file: kept aside too
                cur.execute(
                    "INSERT INTO legacy_reject (batch_id, line_no, reason, raw)"
                    " SELECT i.batch_id, i.line_no, 'key ' || i.key || ' already imported from batch '"
                    " || r.batch_id, i.raw FROM _legacy_in i JOIN legacy_record r ON r.key = i.key"
                    " WHERE r.batch_id <> i.batch_id OR r.line_no <> i.line_no"
                    " ON CONFLICT (batch_id, line_no) DO NOTHING"
                )
                result.reasons["already imported"] = result.reasons.get("already imported", 0) + len(good) - inserted
        rejected = len(good) - loaded
        if bad:
            with cur.copy("COPY legacy_reject (batch_id, line_no, reason, raw) FROM STDIN") as copy:
                copy.write("\n".join(bad) + "\n")
            rejected += len(bad)
        cur.execute(
            "UPDATE legacy_batch SET lines_done = %s, rows_loaded = rows_loaded + %s,"
            " rows_rejected = rows_rejected + %s, status = %s, finished_at = CASE WHEN %s THEN now() END"
            " WHERE id = %s",
            (last_line, loaded, rejected, "done" if finish else "loading", finish, batch_id),
        )
        result.loaded += loaded
        result.rejected += rejected


def _category(reason: str) -> str:
    if "twice" in reason:
        return "duplicate key in file"
    if "columns" in reason:
        return "wrong column count"
    if reason.startswith("no source_key"):
        return "no source_key"
    return f"bad {reason.split(' ')[0]}"


def sniff(path: Path) -> str:
    """csv or xlsx by content."""
    with path.open("rb") as fh:
        return "xlsx" if fh.read(4) == b"PK\x03\x04" else "csv"


__all__ = ["ImportResult", "Mapping", "import_file", "load_mapping", "parse_mapping", "read_rows", "sniff"]
