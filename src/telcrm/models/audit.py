from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base


class AuditEntry(Base):
    """Who changed what, when, through which channel, with before/after values."""

    __tablename__ = "audit_entry"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    principal_id: Mapped[str | None] = mapped_column(String(40))
    principal_name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(20))
    changes: Mapped[dict[str, Any]]

    __table_args__ = (
        Index("ix_audit_entry_customer", "customer_id", "id"),
        Index("ix_audit_entry_entity", "entity_type", "entity_id", "id"),
    )
