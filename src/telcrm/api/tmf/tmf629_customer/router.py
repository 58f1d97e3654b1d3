"""TMF629 Customer Management v4."""

from typing import Any

from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import CUSTOMER
from telcrm.customer import service
from telcrm.kit.auth import Context
from telcrm.kit.errors import Forbidden, ValidationFailed
from telcrm.resolution import duplicates


async def flag_duplicates(ctx: Context, customer: dict[str, Any]) -> dict[str, Any]:
    """A new customer's answer names the customers it may duplicate (ADR 11); it never blocks."""
    try:
        found = await duplicates.possible_duplicates(ctx, customer, exclude=str(customer["id"]))
    except (Forbidden, ValidationFailed):  # a role that may not look, or no party to compare
        return {}
    return {"possibleDuplicate": found} if found else {}


api = TmfApi(name="customer", base="/tmf-api/customerManagement/v4", spec=CUSTOMER, title="TMF629 Customer")
add_resource(api, "customer", "Customer", service.customers, on_created=flag_duplicates)
add_hub(api)
router = api.router
