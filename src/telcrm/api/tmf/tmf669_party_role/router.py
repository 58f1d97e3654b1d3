"""TMF669 Party Role Management v4: dealers, employees, account managers, interconnect partners."""

from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import PARTY_ROLE
from telcrm.party import service

api = TmfApi(name="partyRole", base="/tmf-api/partyRoleManagement/v4", spec=PARTY_ROLE, title="TMF669 Party Role")
add_resource(api, "partyRole", "PartyRole", service.party_roles)
add_hub(api)
router = api.router
