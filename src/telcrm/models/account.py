from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base, Document, Scoped


class Account(Document, Scoped, Base):
    """TMF666 accounts: BillingAccount (计费客户), PartyAccount, SettlementAccount, FinancialAccount."""

    __tablename__ = "account"
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(400))
    state: Mapped[str | None] = mapped_column(String(40))
    account_type: Mapped[str | None] = mapped_column(String(40))
    owner_customer_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("customer.id", ondelete="RESTRICT"))

    __table_args__ = (Index("ix_account_kind_created", "kind", "created_at"),)


class ReferenceItem(Document, Base):
    """TMF666 reference resources: BillFormat, BillingCycleSpecification, BillPresentationMedia."""

    __tablename__ = "reference_item"
    kind: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(200))
