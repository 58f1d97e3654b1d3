from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base, Document, Scoped


class Product(Document, Scoped, Base):
    """TMF637 Product: one product instance (a line, a broadband access, an option) of a customer.

    Hangs under one customer (the scope columns), one billing account and one user (三户模型).
    """

    __tablename__ = "product"
    name: Mapped[str | None] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(20))
    offering_id: Mapped[str | None] = mapped_column(String(40), index=True)
    billing_account_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("account.id", ondelete="RESTRICT"), index=True
    )
    user_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("customer_user.id", ondelete="RESTRICT"), index=True
    )
    start_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    termination_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # 开帐: when the product first became active (billing starts); set once, never moved.
    billing_start_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_product_created", "created_at", "id"),)
