from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base, Document, Scoped, Timestamps


class ProductOrder(Document, Scoped, Base):
    """TMF622 ProductOrder: a customer's order as captured, with its checks' outcome (ADR 8).

    ``customer_id`` (from the order's relatedParty role customer) is also the scope column.
    """

    __tablename__ = "product_order"
    state: Mapped[str] = mapped_column(String(30))
    billing_account_id: Mapped[str | None] = mapped_column(String(40), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str | None] = mapped_column(String(40))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    # since when the order is held (credit), NULL otherwise: the held queue's index names this
    # column, not ``state``, so that an order's other state changes can be HOT updates (revision 0015)
    held_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_product_order_created", "created_at", "id"),
        # orders on hold (credit): the staff's queue (revisions 0010, 0015)
        Index("ix_product_order_held", "created_at", "id", postgresql_where=text("held_at IS NOT NULL")),
        # a channel's externalId names one order of a customer: a retry gets the first (ADR 8)
        Index(
            "uq_product_order_external",
            "customer_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        Index(
            "uq_product_order_idempotency",
            "created_by",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # a quarter of each page left free when rows are inserted, for their updated versions: an
        # update that changes no indexed column and fits in its page is HOT (no index entries)
        {"postgresql_with": {"fillfactor": 75}},
    )


class NumberPool(Timestamps, Base):
    """选号: the service numbers on offer; reserved by an order at capture (ADR 6, ADR 8)."""

    __tablename__ = "number_pool"
    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="mobile")
    status: Mapped[str] = mapped_column(String(20), default="free")  # free | reserved | taken
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    item_id: Mapped[str | None] = mapped_column(String(100))  # the order item that chose it
    reserved_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # 选号: free numbers by prefix, in order ("C": a prefix is a range of the index); statements
        # about one order's numbers go by the order-id index, which no status index can outbid
        Index("ix_number_pool_free", text('number COLLATE "C"'), postgresql_where=text("status = 'free'")),
        # the sweep for lapsed reservations (only held and pending orders' numbers have a deadline)
        Index("ix_number_pool_reserved_until", "reserved_until", postgresql_where=text("reserved_until IS NOT NULL")),
    )


class WorkOrder(Timestamps, Base):
    """派单: one task of one order item for one network domain, sent to provisioning (ADR 9).

    ``waiting`` (behind an earlier task of the same item) → ``pending`` (to send; this table is
    the outbox of work orders) → ``sent`` → ``completed`` | ``failed``; or ``cancelled``.
    ``attempt`` counts provisioning attempts (a temporary failure sends the work order again);
    ``send_attempts`` counts deliveries of the current attempt.
    """

    __tablename__ = "work_order"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(40), ForeignKey("product_order.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[str] = mapped_column(String(100))
    root_item_id: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(20))
    task: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(20))
    seq: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]]
    result: Mapped[dict[str, Any] | None]

    # No index names a column that changes (the queue is ``WorkOrderQueue``), and a third of each
    # page is left free when rows are inserted: a status change is a HOT update, which writes no
    # index entry (revision 0017, ADR 10).
    __table_args__ = ({"postgresql_with": {"fillfactor": 70}},)


class WorkOrderQueue(Base):
    """The work orders something waits on, by when: ``pending`` (to send at ``due_at``),
    ``withdrawing`` (to withdraw at ``due_at``) and ``sent`` (sent at ``due_at``, unanswered). A
    row per open work order, written with the work order's own change in the same transaction
    (``telcrm.ordering.repository``) and deleted when it leaves those statuses: a small table
    whose churn leaves ``work_order``'s indexes alone (revision 0017)."""

    __tablename__ = "work_order_queue"
    id: Mapped[str] = mapped_column(String(40), ForeignKey("work_order.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(12))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_work_order_queue_due", "status", "due_at", "id"),
        # emptied and refilled all day: vacuum reuses its pages instead of cutting off the empty tail
        # under the table's exclusive lock, which would hold up every writer (revision 0018)
        {"postgresql_with": {"vacuum_truncate": "false"}},
    )


class CancelProductOrder(Document, Scoped, Base):
    """TMF622 CancelProductOrder: a request to cancel an order, and its outcome."""

    __tablename__ = "cancel_product_order"
    state: Mapped[str] = mapped_column(String(30))
    order_id: Mapped[str] = mapped_column(String(40), index=True)

    __table_args__ = (Index("ix_cancel_product_order_created", "created_at", "id"),)
