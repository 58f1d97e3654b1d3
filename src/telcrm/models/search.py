from __future__ import annotations

from sqlalchemy import Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base


class SearchKey(Base):
    """Normalised lookup keys (phone, ID number, account, customer number, name, pinyin).

    One row per key; prefix search uses the C-collated index.
    """

    __tablename__ = "search_key"
    key: Mapped[str] = mapped_column(String(200, collation="C"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    ref_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(String(40))
    weight: Mapped[int] = mapped_column(SmallInteger, default=0)

    __table_args__ = (Index("ix_search_key_ref_id", "ref_id"),)
