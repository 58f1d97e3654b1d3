"""Legacy record resolution (数据清理, 客户归并): source files, records, matching, merges (ADR 11)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base


class LegacyBatch(Base):
    """One legacy extract file imported from one source; the same content is imported once."""

    __tablename__ = "legacy_batch"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    file_name: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    mapping: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(12))  # loading | done
    # progress: the last data line whose rows are committed (a rerun resumes after it)
    lines_done: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_loaded: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (UniqueConstraint("source", "content_hash"),)


class LegacyRecord(Base):
    """One row of a legacy source: its original values, the canonical and standardised ones."""

    __tablename__ = "legacy_record"
    key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)  # "source:source_key"
    source: Mapped[str] = mapped_column(String(40))
    batch_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("legacy_batch.id", ondelete="RESTRICT"), index=True)
    line_no: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str | None] = mapped_column(String(20))
    raw: Mapped[dict[str, Any]]  # the source's columns as they were
    fields: Mapped[dict[str, Any]]  # canonical field -> original value
    std: Mapped[dict[str, Any]]  # standardise.standardise(fields)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    product_id: Mapped[str | None] = mapped_column(String(40))


class LegacyReject(Base):
    """A row that could not be imported, kept aside with the reason."""

    __tablename__ = "legacy_reject"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    batch_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("legacy_batch.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any]]
    __table_args__ = (UniqueConstraint("batch_id", "line_no"),)


class MatchRun(Base):
    """One run of the matcher over all imported records."""

    __tablename__ = "match_run"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    records: Mapped[int] = mapped_column(BigInteger, default=0)
    clusters: Mapped[int] = mapped_column(BigInteger, default=0)
    links: Mapped[int] = mapped_column(BigInteger, default=0)
    reviews: Mapped[int] = mapped_column(BigInteger, default=0)
    decisions: Mapped[int] = mapped_column(BigInteger, default=0)
    # sum(1 - p) over accepted links; sum(p) over pairs left for review (not linked)
    expected_false_links: Mapped[float] = mapped_column(Float, default=0)
    expected_missed_links: Mapped[float] = mapped_column(Float, default=0)
    model: Mapped[dict[str, Any] | None]


class LegacyCluster(Base):
    """The records the latest match run put together (cluster key = the smallest record key)."""

    __tablename__ = "legacy_cluster"
    key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("match_run.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(Integer)


class LegacyMember(Base):
    """Which cluster of the latest match run a record is in (rewritten by every run)."""

    __tablename__ = "legacy_member"
    key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)
    cluster_key: Mapped[str] = mapped_column(String(200, collation="C"), index=True)


class LegacyLink(Base):
    """An accepted pair of the latest run, with its probability (precision estimate, lineage)."""

    __tablename__ = "legacy_link"
    left_key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)
    right_key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("match_run.id", ondelete="CASCADE"), index=True)
    probability: Mapped[float] = mapped_column(Float)


class ReviewPair(Base):
    """An uncertain pair for a data steward: open until decided same or different."""

    __tablename__ = "review_pair"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    left_key: Mapped[str] = mapped_column(String(200, collation="C"))
    right_key: Mapped[str] = mapped_column(String(200, collation="C"))
    run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("match_run.id", ondelete="SET NULL"), nullable=True)
    probability: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | same | different
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        UniqueConstraint("left_key", "right_key"),
        Index("ix_review_pair_open", "probability", "id", postgresql_where=text("status = 'open'")),
    )


class StewardDecision(Base):
    """A steward's ruling on a pair of records; every later match run obeys it."""

    __tablename__ = "steward_decision"
    left_key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)
    right_key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)
    same: Mapped[bool] = mapped_column(Boolean)
    decided_by: Mapped[str | None] = mapped_column(String(40))
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    review_id: Mapped[int | None] = mapped_column(BigInteger)


class GoldenRecord(Base):
    """The golden record of a customer made from legacy records: what it holds and where from."""

    __tablename__ = "golden_record"
    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    party_id: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[str | None] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    record_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    # attribute -> {"value", "record", "source", "rule"}
    lineage: Mapped[dict[str, Any]]
    merged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class MergeEvent(Base):
    """A merge or unmerge, with what it changed and a snapshot to undo it."""

    __tablename__ = "merge_event"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    action: Mapped[str] = mapped_column(String(20))  # merge | unmerge
    customer_id: Mapped[str] = mapped_column(String(40), index=True)
    other_customer_id: Mapped[str | None] = mapped_column(String(40))
    record_keys: Mapped[list[str]] = mapped_column(ARRAY(Text))
    snapshot: Mapped[dict[str, Any]]
    principal_id: Mapped[str | None] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
