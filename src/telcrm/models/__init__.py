"""SQLAlchemy tables, one module per aggregate. Importing this package registers them all."""

from telcrm.models.account import Account, ReferenceItem
from telcrm.models.audit import AuditEntry
from telcrm.models.base import Base
from telcrm.models.catalog import CatalogItem, CatalogJob
from telcrm.models.customer import Customer, CustomerUser
from telcrm.models.identity import AccessToken, Principal
from telcrm.models.inventory import Product
from telcrm.models.ordering import CancelProductOrder, NumberPool, ProductOrder, WorkOrder, WorkOrderQueue
from telcrm.models.outbox import Delivery, DeliveryAttempt, HubSubscription, OutboxEvent
from telcrm.models.party import Party, PartyRole
from telcrm.models.resolution import (
    GoldenRecord,
    LegacyBatch,
    LegacyCluster,
    LegacyLink,
    LegacyMember,
    LegacyRecord,
    LegacyReject,
    MatchRun,
    MergeEvent,
    ReviewPair,
    StewardDecision,
)
from telcrm.models.search import SearchKey

__all__ = [
    "AccessToken",
    "Account",
    "AuditEntry",
    "Base",
    "CancelProductOrder",
    "CatalogItem",
    "CatalogJob",
    "Customer",
    "CustomerUser",
    "Delivery",
    "DeliveryAttempt",
    "GoldenRecord",
    "HubSubscription",
    "LegacyBatch",
    "LegacyCluster",
    "LegacyLink",
    "LegacyMember",
    "LegacyRecord",
    "LegacyReject",
    "MatchRun",
    "MergeEvent",
    "NumberPool",
    "OutboxEvent",
    "Party",
    "PartyRole",
    "Principal",
    "Product",
    "ProductOrder",
    "ReferenceItem",
    "ReviewPair",
    "SearchKey",
    "StewardDecision",
    "WorkOrder",
    "WorkOrderQueue",
]
