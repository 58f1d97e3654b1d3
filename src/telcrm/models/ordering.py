from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, text
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

    __table_args__ = (
        Index("ix_product_order_created", "created_at", "id"),
        Index("ix_product_order_external", "customer_id", "external_id"),
        Index(
            "uq_product_order_idempotency",
            "created_by",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )


class NumberPool(Timestamps, Base):
    """选号: the service numbers on offer; reserved by an order at capture (ADR 6, ADR 8)."""

    __tablename__ = "number_pool"
    number: Mapped[str] = mapped_column(String(20), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="mobile")
    status: Mapped[str] = mapped_column(String(20), default="free")  # free | reserved | taken
    order_id: Mapped[str | None] = mapped_column(String(40), index=True)
    reserved_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_number_pool_status_number", "status", "number"),)
