"""Declarative base with a naming convention, and the column sets most tables share."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, Integer, MetaData, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSONB}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Scoped:
    """Who may see a row: the owning customer, the dealer that signed it up, its account manager.

    Every customer-owned table carries these so that repositories can scope any query by the
    caller's identity with one predicate, and so that the data can be partitioned by customer.
    """

    customer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    dealer_id: Mapped[str | None] = mapped_column(String(40), index=True)
    manager_id: Mapped[str | None] = mapped_column(String(40), index=True)


class Document(Timestamps):
    """A resource kept as its TM Forum document plus the columns the rules and queries need."""

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)
