from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from telcrm.models.base import Base, Document


class CatalogItem(Document, Base):
    """TMF620 product catalog (统一产品目录): Catalog, Category, ProductSpecification,
    ProductOffering, ProductOfferingPrice. Shared by every customer: no scope columns."""

    __tablename__ = "catalog_item"
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(400))
    lifecycle_status: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    valid_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    price_type: Mapped[str | None] = mapped_column(String(20))
    # The next version of a ProductOfferingPrice whose price was changed (ADR 5).
    replaced_by: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        Index("ix_catalog_item_kind_created", "kind", "created_at"),
        Index("ix_catalog_item_kind_status", "kind", "lifecycle_status"),
    )


class CatalogJob(Document, Base):
    """A TMF620 importJob or exportJob (ADR 14): its document, what it reads or writes, who asked.
    ``status`` is the spec's JobStateType (``Not Started``, ``Running``, ``Succeeded``, ``Failed``)."""

    __tablename__ = "catalog_job"
    kind: Mapped[str] = mapped_column(String(20))  # ImportJob | ExportJob
    status: Mapped[str] = mapped_column(String(20))
    file_path: Mapped[str] = mapped_column(Text)
    # The caller who created it ({id, kind, name, roles}): the job runs as them.
    requested_by: Mapped[dict[str, Any]]
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Times a runner started it: a job whose run kills the process is not started for ever.
    starts: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (Index("ix_catalog_job_status_created", "status", "created_at"),)
