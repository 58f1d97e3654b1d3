"""TMF637 Product Inventory Management v4 (ProductBatchEvent is not emitted)."""

from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import INVENTORY
from telcrm.inventory import service

api = TmfApi(
    name="productInventory", base="/tmf-api/productInventory/v4", spec=INVENTORY, title="TMF637 Product Inventory"
)
add_resource(api, "product", "Product", service.products)
add_hub(api)
router = api.router
