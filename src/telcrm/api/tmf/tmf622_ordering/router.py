"""TMF622 Product Ordering Management v4: productOrder, cancelProductOrder and hub."""

from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import ORDERING
from telcrm.ordering import service

api = TmfApi(
    name="productOrdering",
    base="/tmf-api/productOrderingManagement/v4",
    spec=ORDERING,
    title="TMF622 Product Ordering",
)
add_resource(api, "productOrder", "ProductOrder", service.orders)
# The spec gives cancellation requests list, create and retrieve only.
add_resource(
    api,
    "cancelProductOrder",
    "CancelProductOrder",
    service.cancellations,
    frozenset({"list", "create", "retrieve"}),
)
add_hub(api)
router = api.router
