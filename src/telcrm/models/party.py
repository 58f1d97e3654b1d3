from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base, Document, Scoped


class Party(Document, Scoped, Base):
    """TMF632 Individual or Organization."""

    __tablename__ = "party"
    kind: Mapped[str] = mapped_column(String(20))  # Individual | Organization
    status: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(400))
    parent_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("party.id", ondelete="SET NULL"), index=True)

    __table_args__ = (Index("ix_party_kind_created", "kind", "created_at"),)


class PartyRole(Document, Scoped, Base):
    """TMF669 PartyRole: dealer, employee, account manager, interconnect partner, ..."""

    __tablename__ = "party_role"
    name: Mapped[str] = mapped_column(String(200))
    role_kind: Mapped[str | None] = mapped_column(String(40), index=True)
    status: Mapped[str | None] = mapped_column(String(40))
    party_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("party.id", ondelete="RESTRICT"), index=True)
