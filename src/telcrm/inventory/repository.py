"""All SQL of the inventory domain."""

from __future__ import annotations

from telcrm.kit.documents import DocumentStore
from telcrm.models import Product

products = DocumentStore(Product)
