"""TMF632 parties (Individual, Organization) and TMF669 party roles: the rules."""

from __future__ import annotations

from typing import Any

from telcrm.kit import auth, references
from telcrm.kit.auth import Context
from telcrm.kit.documents import DocumentService
from telcrm.kit.errors import InvalidTransition, ValidationFailed
from telcrm.models import Party, PartyRole
from telcrm.party import policy, repository
from telcrm.party.contact import validate_contact_media
from telcrm.party.identification import (
    InvalidIdentification,
    is_resident_id_type,
    is_uscc_type,
    normalise_resident_id,
    normalise_uscc,
)
from telcrm.search import service as search
from telcrm.search.keys import has_cjk

# Allowed status changes (TMF632 state types); a status may always stay as it is.
INDIVIDUAL_TRANSITIONS = {
    None: {"initialized", "validated", "deceaded"},
    "initialized": {"validated", "deceaded"},
    "validated": {"deceaded"},
    "deceaded": set(),
}
ORGANIZATION_TRANSITIONS = {
    None: {"initialized", "validated", "closed"},
    "initialized": {"validated", "closed"},
    "validated": {"closed"},
    "closed": set(),
}


def new_scope(caller: auth.Caller) -> dict[str, Any]:
    """Scope columns for a record created by ``caller``: dealers and managers keep what they create."""
    if caller.roles & auth.REACH_ALL:
        return {}
    return {
        "dealer_id": caller.dealer_id if caller.has(auth.DEALER) else None,
        "manager_id": caller.party_id if caller.has(auth.ACCOUNT_MANAGER) else None,
    }


def display_name(doc: dict[str, Any]) -> str:
    if doc.get("@type") == "Organization" or "tradingName" in doc:
        return str(doc.get("name") or doc.get("tradingName") or "")
    for attr in ("fullName", "formattedName"):
        if doc.get(attr):
            return str(doc[attr])
    family, given = doc.get("familyName") or "", doc.get("givenName") or ""
    return f"{family}{given}" if has_cjk(family + given) else f"{given} {family}".strip()


def _check_identifications(doc: dict[str, Any], attr: str) -> None:
    for i, ident in enumerate(doc.get(attr) or []):
        value = ident.get("identificationId")
        kind = ident.get("identificationType")
        if value is None:
            continue
        try:
            if is_resident_id_type(kind):
                ident["identificationId"] = normalise_resident_id(value)
            elif is_uscc_type(kind):
                ident["identificationId"] = normalise_uscc(value)
        except InvalidIdentification as exc:
            raise ValidationFailed(
                f"{attr}[{i}].identificationId: {exc}", field=f"{attr}[{i}].identificationId"
            ) from None


def _transition(table: dict[Any, set[str]], old: Any, new: Any) -> None:
    if new is None:
        raise InvalidTransition("status cannot be removed once set", field="status")
    if new != old and new not in table.get(old, set()):
        raise InvalidTransition(f"status cannot change from {old} to {new}", field="status")


class _PartyService(DocumentService[Party]):
    api = "party"
    audit_type = "Party"

    async def authorize(self, ctx: Context, action: str, row: Party | None, doc: dict[str, Any] | None) -> None:
        policy.check_party(ctx, action, doc)

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: Party | None) -> dict[str, Any]:
        validate_contact_media(doc.get("contactMedium"))
        columns: dict[str, Any] = {"name": display_name(doc)[:400], "status": doc.get("status")}
        if row is None:
            columns.update(new_scope(ctx.caller))
        return columns

    async def after_write(self, ctx: Context, row: Party, before: dict[str, Any] | None) -> None:
        await search.index(ctx, row.id, row.customer_id, search.party_keys(row.body), fresh=before is None)


class IndividualService(_PartyService):
    type_name = "Individual"
    event_key = "individual"

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: Party | None) -> dict[str, Any]:
        _check_identifications(doc, "individualIdentification")
        return await super().prepare(ctx, doc, row)

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: dict[str, Any]) -> None:
        _transition(INDIVIDUAL_TRANSITIONS, old, new)


class OrganizationService(_PartyService):
    type_name = "Organization"
    event_key = "organization"

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: Party | None) -> dict[str, Any]:
        _check_identifications(doc, "organizationIdentification")
        columns = await super().prepare(ctx, doc, row)
        parent_ref = (doc.get("organizationParentRelationship") or {}).get("organization")
        parent = await references.check(
            ctx, parent_ref, "organizationParentRelationship.organization", {"Organization"}
        )
        if parent is not None and row is not None and row.id in await repository.ancestors(ctx, parent.id):
            raise ValidationFailed(
                "an organisation cannot be its own parent or the parent of its parent",
                field="organizationParentRelationship.organization.id",
            )
        columns["parent_id"] = parent.id if parent else None
        for i, child in enumerate(doc.get("organizationChildRelationship") or []):
            await references.check(
                ctx, child.get("organization"), f"organizationChildRelationship[{i}].organization", {"Organization"}
            )
        return columns

    def check_transition(self, ctx: Context, old: Any, new: Any, doc: dict[str, Any]) -> None:
        _transition(ORGANIZATION_TRANSITIONS, old, new)


# Party roles the operator uses; others are accepted as the client names them.
ROLE_KINDS = {
    "dealer": "dealer",
    "agent": "dealer",
    "distributor": "dealer",
    "employee": "employee",
    "accountmanager": "accountManager",
    "interconnectpartner": "interconnectPartner",
    "otheroperator": "interconnectPartner",
    "partner": "partner",
    "supplier": "supplier",
}


class PartyRoleService(DocumentService[PartyRole]):
    api = "partyRole"
    type_name = "PartyRole"
    event_key = "partyRole"
    audit_type = "PartyRole"

    async def authorize(self, ctx: Context, action: str, row: PartyRole | None, doc: dict[str, Any] | None) -> None:
        policy.check_party_role(ctx, action)

    async def prepare(self, ctx: Context, doc: dict[str, Any], row: PartyRole | None) -> dict[str, Any]:
        validate_contact_media(doc.get("contactMedium"))
        engaged = await references.check(ctx, doc.get("engagedParty"), "engagedParty", {"Individual", "Organization"})
        for i, related in enumerate(doc.get("relatedParty") or []):
            await references.check(
                ctx, related, f"relatedParty[{i}]", {"Individual", "Organization", "PartyRole", "Customer"}
            )
        key = str(doc.get("name", "")).replace(" ", "").replace("_", "").lower()
        columns: dict[str, Any] = {
            "name": str(doc.get("name", ""))[:200],
            "status": doc.get("status"),
            "role_kind": ROLE_KINDS.get(key, key[:40] or None),
            "party_id": engaged.id if engaged else None,
        }
        if engaged is not None:
            columns.update(customer_id=engaged.customer_id, dealer_id=engaged.dealer_id, manager_id=engaged.manager_id)
            if columns["role_kind"] == "dealer":
                columns["dealer_id"] = engaged.id  # a dealer sees its own role record
        return columns


individuals = IndividualService(repository.individuals)
organizations = OrganizationService(repository.organizations)
party_roles = PartyRoleService(repository.party_roles)
