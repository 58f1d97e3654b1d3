from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base


class OutboxEvent(Base):
    """An event, written in the business transaction that caused it."""

    __tablename__ = "outbox_event"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    api: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(80))
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class HubSubscription(Base):
    """A listener registered through an API's ``POST /hub``."""

    __tablename__ = "hub_subscription"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    api: Mapped[str] = mapped_column(String(40), index=True)
    callback: Mapped[str] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text)
    principal_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Delivery(Base):
    """One event to one listener: pending until delivered or given up (dead)."""

    __tablename__ = "delivery"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("outbox_event.id", ondelete="CASCADE"))
    subscription_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("hub_subscription.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_delivery_pending", "next_attempt_at", postgresql_where=text("status = 'pending'")),)


class DeliveryAttempt(Base):
    """Every attempt to deliver, successful or not."""

    __tablename__ = "delivery_attempt"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
