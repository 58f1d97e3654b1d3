"""TMF629 Customer Management v4."""

from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import CUSTOMER
from telcrm.customer import service

api = TmfApi(name="customer", base="/tmf-api/customerManagement/v4", spec=CUSTOMER, title="TMF629 Customer")
add_resource(api, "customer", "Customer", service.customers)
add_hub(api)
router = api.router
