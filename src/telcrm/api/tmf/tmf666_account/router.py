"""TMF666 Account Management v4: accounts and billing reference data."""

from telcrm.account import service
from telcrm.api.tmf.hub import add_hub
from telcrm.api.tmf.resource import TmfApi, add_resource
from telcrm.api.tmf.spec import ACCOUNT

api = TmfApi(name="account", base="/tmf-api/accountManagement/v4", spec=ACCOUNT, title="TMF666 Account")
add_resource(api, "billingAccount", "BillingAccount", service.billing_accounts)
add_resource(api, "partyAccount", "PartyAccount", service.party_accounts)
add_resource(api, "settlementAccount", "SettlementAccount", service.settlement_accounts)
add_resource(api, "financialAccount", "FinancialAccount", service.financial_accounts)
add_resource(api, "billingCycleSpecification", "BillingCycleSpecification", service.billing_cycles)
add_resource(api, "billFormat", "BillFormat", service.bill_formats)
add_resource(api, "billPresentationMedia", "BillPresentationMedia", service.presentation_media)
add_hub(api)
router = api.router
