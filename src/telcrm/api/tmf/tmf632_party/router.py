"""TMF632 Party Management v4: Individual and Organization."""

from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import PARTY
from telcrm.party import service

api = TmfApi(name="party", base="/tmf-api/party/v4", spec=PARTY, title="TMF632 Party")
add_resource(api, "individual", "Individual", service.individuals)
add_resource(api, "organization", "Organization", service.organizations)
add_hub(api)
router = api.router
