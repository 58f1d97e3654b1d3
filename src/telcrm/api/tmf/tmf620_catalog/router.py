"""TMF620 Product Catalog Management v4, with importJob and exportJob (ADR 14)."""

from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import CATALOG
from telcrm.api.tmf.tmf620_catalog.jobs import add_jobs
from telcrm.catalog import service

api = TmfApi(
    name="productCatalog", base="/tmf-api/productCatalogManagement/v4", spec=CATALOG, title="TMF620 Product Catalog"
)
add_resource(api, "catalog", "Catalog", service.catalogs)
add_resource(api, "category", "Category", service.categories)
add_resource(api, "productSpecification", "ProductSpecification", service.specifications)
add_resource(api, "productOffering", "ProductOffering", service.offerings)
add_resource(api, "productOfferingPrice", "ProductOfferingPrice", service.prices)
add_jobs(api)
add_hub(api)
router = api.router
