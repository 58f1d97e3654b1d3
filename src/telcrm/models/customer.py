from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base, Document, Scoped


class Customer(Document, Scoped, Base):
    """TMF629 Customer (产权客户). ``customer_id`` equals ``id`` so scoping is uniform."""

    __tablename__ = "customer"
    name: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(20))
    vip_level: Mapped[str | None] = mapped_column(String(20))
    party_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("party.id", ondelete="RESTRICT"), index=True)
    party_kind: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (Index("ix_customer_created", "created_at", "id"),)


class CustomerUser(Document, Scoped, Base):
    """A user (使用客户): the person who uses a line or service of a customer."""

    __tablename__ = "customer_user"
    name: Mapped[str] = mapped_column(String(400))
    status: Mapped[str] = mapped_column(String(20))
    party_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("party.id", ondelete="RESTRICT"), index=True)
    billing_account_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("account.id", ondelete="RESTRICT"), index=True
    )
