from __future__ import annotations

from sqlalchemy import Index, PrimaryKeyConstraint, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base


class SearchKey(Base):
    """Normalised lookup keys (phone, ID number, account, customer number, name, pinyin).

    One row per key. The primary key ``(kind, key, ref_id)`` is C-collated, so an exact or
    prefix look-up of one kind is a single index range, and it carries ``customer_id`` and
    ``weight`` so a search reads the index alone.
    """

    __tablename__ = "search_key"
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200, collation="C"))
    ref_id: Mapped[str] = mapped_column(String(40, collation="C"))
    customer_id: Mapped[str | None] = mapped_column(String(40))
    weight: Mapped[int] = mapped_column(SmallInteger, default=0)

    __table_args__ = (
        PrimaryKeyConstraint("kind", "key", "ref_id", postgresql_include=["customer_id", "weight"]),
        Index("ix_search_key_ref_id", "ref_id"),
    )
