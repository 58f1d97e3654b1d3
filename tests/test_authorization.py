"""Who may do what, and to whose customers: the policy matrix and the scope rules of ADR 0003.

``MATRIX`` lists every protected operation with the roles allowed to perform it. Each test runs
one operation as every role (and with no token): allowed roles get the success status and the
change really happens; every other role is refused (403, or 401 without a token) and the
database is exactly as it was (same rows and bodies, no audit entry, no outbox event, no
delivery). Targets are chosen inside the portfolio of the scoped callers (account manager,
dealer, self-service customer), so a refusal there is the policy's, not the scope's.

The scope tables below then check the portfolio rules: out-of-scope records answer 404, are
absent from lists and search, and cannot be changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import Sql
from tests.factories import (
    ACCOUNT,
    CUSTOMER,
    PARTY,
    ROLE,
    created,
    individual,
    make_customer,
    make_individual,
    make_organization,
    mobile,
    organization,
)

Headers = dict[str, str]
Doc = dict[str, Any]

ROLES: tuple[str | None, ...] = (
    "admin",
    "agent",
    "clerk",
    "account_manager",
    "back_office",
    "supervisor",
    "dealer",
    "customer",
    "system",
    None,  # no token
)
REACH_ALL = frozenset({"admin", "agent", "clerk", "back_office", "supervisor", "system"})
WRITERS = REACH_ALL | {"account_manager", "dealer"}
EVERYONE = WRITERS | {"customer"}
ADMIN_SUPERVISOR = frozenset({"admin", "supervisor"})
TERMINATORS = frozenset({"admin", "supervisor", "back_office", "system"})
ACCOUNT_DELETERS = frozenset({"admin", "supervisor", "back_office"})
PARTY_ROLE_WRITERS = frozenset({"admin", "supervisor", "back_office", "system"})
REFERENCE_WRITERS = frozenset({"admin", "back_office", "system"})
HUB_MANAGERS = frozenset({"admin", "system"})

ACCOUNT_KINDS = {
    "billingAccount": "BillingAccount",
    "partyAccount": "PartyAccount",
    "settlementAccount": "SettlementAccount",
    "financialAccount": "FinancialAccount",
}
REFERENCE_KINDS = ("billFormat", "billingCycleSpecification", "billPresentationMedia")
HUB_APIS = {"party": PARTY, "customer": CUSTOMER, "account": ACCOUNT, "partyRole": ROLE}
# Everything a refused request could touch; compared before and after.
WATCHED = (
    "party",
    "customer",
    "account",
    "customer_user",
    "party_role",
    "reference_item",
    "hub_subscription",
    "search_key",
    "audit_entry",
    "outbox_event",
    "delivery",
)


def snapshot(sql: Sql) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row (all columns) of each watched table."""
    out = {}
    for table in WATCHED:
        count, digest = sql.rows(
            f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
        )[0]
        out[table] = (int(count), str(digest))
    return out


def portfolio(manager: Doc, dealer: Doc) -> list[Doc]:
    """``relatedParty`` naming an account manager and the acquiring dealer."""
    return [
        {"id": manager["id"], "role": "accountManager", "@referredType": "Individual", "name": "客户经理"},
        {"id": dealer["id"], "role": "dealer", "@referredType": "Organization", "name": dealer["name"]},
    ]


def owner_ref(customer: Doc) -> list[Doc]:
    return [{"id": customer["id"], "name": customer["name"], "@referredType": "Customer", "role": "owner"}]


def fill(value: Any, role: str) -> Any:
    """Replace ``{role}`` in every string of a request body, so each role makes a distinct change."""
    if isinstance(value, str):
        return value.replace("{role}", role)
    if isinstance(value, dict):
        return {k: fill(v, role) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, role) for v in value]
    return value


class World:
    """Managers M1/M2, dealers D1/D2; customers "mine" (A: individual, G: group) in M1's and D1's
    portfolio and "other" (B) in M2's and D2's; a listener on every hub. Created by an admin."""

    def __init__(self, client: TestClient, admin: Headers, login: Callable[..., Headers], sql: Sql) -> None:
        self.client, self.admin, self._login, self.sql = client, admin, login, sql
        self.m1 = make_individual(client, admin, givenName="经理一")
        self.m2 = make_individual(client, admin, givenName="经理二")
        self.d1 = make_organization(client, admin, tradingName="一号代理商", name="一号代理商")
        self.d2 = make_organization(client, admin, tradingName="二号代理商", name="二号代理商")
        self.pa = make_individual(client, admin)
        self.ca = make_customer(client, admin, self.pa, relatedParty=portfolio(self.m1, self.d1))
        self.og = make_organization(client, admin)
        self.cg = make_customer(client, admin, self.og, relatedParty=portfolio(self.m1, self.d1))
        self.pb = make_individual(client, admin)
        self.cb = make_customer(client, admin, self.pb, relatedParty=portfolio(self.m2, self.d2))
        self.hubs = {api: self.new_hub(api) for api in HUB_APIS}
        self._shared: dict[Any, Doc] = {}
        self._headers: dict[Any, Headers] = {}

    # ----- callers ---------------------------------------------------------------------------
    def headers(self, role: str | None, owner: str | None = None) -> Headers:
        """The caller of ``role``; a self-service customer is the customer ``owner``."""
        if role is None:
            return {}
        links = {
            "account_manager": {"party_id": self.m1["id"]},
            "dealer": {"dealer_id": self.d1["id"]},
            "customer": {"customer_id": owner or self.ca["id"]},
        }.get(role, {})
        key = (role, tuple(links.values()))
        if key not in self._headers:
            self._headers[key] = self._login(role, **links)
        return self._headers[key]

    def as_manager(self, manager: Doc) -> Headers:
        return self._login("account_manager", party_id=manager["id"])

    def as_dealer(self, dealer: Doc) -> Headers:
        return self._login("dealer", dealer_id=dealer["id"])

    def as_customer(self, customer: Doc) -> Headers:
        return self._login("customer", customer_id=customer["id"])

    # ----- shared records (created once per test) --------------------------------------------
    def shared(self, key: Any, make: Callable[[], Doc]) -> Doc:
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def account(self, path: str) -> Doc:
        return self.shared(("account", path), lambda: self.new_account(path))

    def party_role(self) -> Doc:
        return self.shared("partyRole", self.new_party_role)

    def reference(self, path: str) -> Doc:
        return self.shared(("reference", path), lambda: self.new_reference(path))

    def user(self) -> Doc:
        return self.shared("user", lambda: self.new_user(self.cg))

    # ----- new records -------------------------------------------------------------------------
    def new_account(self, path: str, customer: Doc | None = None) -> Doc:
        body = {"name": "测试账户", "relatedParty": owner_ref(customer or self.ca)}
        return created(self.client, f"{ACCOUNT}/{path}", body, self.admin)

    def new_party_role(self) -> Doc:
        body = {"name": "partner", "engagedParty": {"id": self.pa["id"], "@referredType": "Individual"}}
        return created(self.client, f"{ROLE}/partyRole", body, self.admin)

    def new_reference(self, path: str) -> Doc:
        return created(self.client, f"{ACCOUNT}/{path}", {"name": "测试参考数据"}, self.admin)

    def new_user(self, customer: Doc) -> Doc:
        body = {"name": "成员", "phoneNumber": mobile()}
        return created(self.client, f"/api/customers/{customer['id']}/users", body, self.admin)

    def new_customer(self, manager: Doc | None = None, dealer: Doc | None = None) -> Doc:
        return make_customer(self.client, self.admin, relatedParty=portfolio(manager or self.m1, dealer or self.d1))

    def new_hub(self, api: str) -> Doc:
        return created(self.client, f"{HUB_APIS[api]}/hub", {"callback": "http://127.0.0.1:9/listener"}, self.admin)


@dataclass(frozen=True)
class Target:
    path: str
    mentions: str = ""  # an id a successful read must return
    owner: str | None = None  # the self-service customer this target belongs to
    body: Doc | None = None  # "{role}" in strings is replaced by the caller's role


@dataclass(frozen=True)
class Op:
    name: str
    method: str
    allowed: frozenset[str]
    target: Callable[[World], Target]  # for refused roles (and allowed ones unless ``fresh``)
    fresh: Callable[[World], Target] | None = None  # a new record for each allowed role
    audited: bool = True  # a successful write leaves an audit entry (hubs keep no audit)

    @property
    def ok(self) -> int:
        return {"GET": 200, "POST": 201, "PATCH": 200, "DELETE": 204}[self.method]

    def __str__(self) -> str:
        return self.name


def party_ops(
    path: str, make: Callable[[], Doc], shared: Callable[[World], Doc], owner: Callable[[World], Doc]
) -> list[Op]:
    base = f"{PARTY}/{path}"

    def on(w: World, body: Doc | None = None) -> Target:
        doc = shared(w)
        return Target(f"{base}/{doc['id']}", doc["id"], owner(w)["id"], body)

    contact = {"contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "{role}@example.cn"}}]}
    change = {"givenName": "改名{role}"} if path == "individual" else {"name": "改名{role}"}
    return [
        Op(f"{path}.create", "POST", WRITERS, lambda w: Target(base, body=make())),
        Op(f"{path}.read", "GET", EVERYONE, on),
        Op(f"{path}.list", "GET", EVERYONE, lambda w: Target(f"{base}?limit=1000", shared(w)["id"], owner(w)["id"])),
        Op(f"{path}.patch", "PATCH", WRITERS, lambda w: on(w, change)),
        Op(f"{path}.patch_contact", "PATCH", EVERYONE, lambda w: on(w, contact)),
        Op(
            f"{path}.delete",
            "DELETE",
            ADMIN_SUPERVISOR,
            on,
            fresh=lambda w: Target(f"{base}/{created(w.client, base, make(), w.admin)['id']}"),
        ),
    ]


def customer_ops() -> list[Op]:
    base = f"{CUSTOMER}/customer"

    def on_a(w: World, body: Doc | None = None) -> Target:
        return Target(f"{base}/{w.ca['id']}", w.ca["id"], w.ca["id"], body)

    def fresh(w: World, body: Doc | None = None) -> Target:
        new = w.new_customer()
        return Target(f"{base}/{new['id']}", new["id"], new["id"], body)

    def new_body(w: World) -> Target:
        party = make_individual(w.client, w.admin)
        return Target(
            base, body={"name": "新客户{role}", "engagedParty": {"id": party["id"], "@referredType": "Individual"}}
        )

    contact = {"contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "{role}@example.cn"}}]}
    terminate = {"status": "terminated", "statusReason": "合同到期"}
    return [
        Op("customer.create", "POST", WRITERS, new_body),
        Op("customer.read", "GET", EVERYONE, on_a),
        Op("customer.list", "GET", EVERYONE, lambda w: Target(f"{base}?limit=1000", w.ca["id"], w.ca["id"])),
        Op("customer.patch", "PATCH", WRITERS, lambda w: on_a(w, {"name": "张伟{role}"})),
        Op("customer.patch_contact", "PATCH", EVERYONE, lambda w: on_a(w, contact)),
        Op(
            "customer.terminate",
            "PATCH",
            TERMINATORS,
            lambda w: on_a(w, terminate),
            fresh=lambda w: fresh(w, terminate),
        ),
        Op("customer.delete", "DELETE", ADMIN_SUPERVISOR, on_a, fresh=fresh),
    ]


def account_ops(path: str) -> list[Op]:
    base = f"{ACCOUNT}/{path}"

    def on(w: World, body: Doc | None = None) -> Target:
        doc = w.account(path)
        return Target(f"{base}/{doc['id']}", doc["id"], w.ca["id"], body)

    return [
        Op(
            f"{path}.create",
            "POST",
            WRITERS,
            lambda w: Target(base, body={"name": "账户{role}", "relatedParty": owner_ref(w.ca)}),
        ),
        Op(f"{path}.read", "GET", EVERYONE, on),
        Op(f"{path}.list", "GET", EVERYONE, lambda w: Target(f"{base}?limit=1000", w.account(path)["id"], w.ca["id"])),
        Op(f"{path}.patch", "PATCH", WRITERS, lambda w: on(w, {"name": "账户{role}"})),
        Op(
            f"{path}.delete",
            "DELETE",
            ACCOUNT_DELETERS,
            on,
            fresh=lambda w: Target(f"{base}/{w.new_account(path)['id']}"),
        ),
    ]


def party_role_ops() -> list[Op]:
    base = f"{ROLE}/partyRole"

    def on(w: World, body: Doc | None = None) -> Target:
        doc = w.party_role()
        return Target(f"{base}/{doc['id']}", doc["id"], w.ca["id"], body)

    def new_body(w: World) -> Target:
        return Target(base, body={"name": "partner", "engagedParty": {"id": w.pa["id"], "@referredType": "Individual"}})

    return [
        Op("partyRole.create", "POST", PARTY_ROLE_WRITERS, new_body),
        Op("partyRole.read", "GET", EVERYONE, on),
        Op("partyRole.list", "GET", EVERYONE, lambda w: Target(f"{base}?limit=1000", w.party_role()["id"], w.ca["id"])),
        Op("partyRole.patch", "PATCH", PARTY_ROLE_WRITERS, lambda w: on(w, {"statusReason": "{role}"})),
        Op(
            "partyRole.delete",
            "DELETE",
            PARTY_ROLE_WRITERS,
            on,
            fresh=lambda w: Target(f"{base}/{w.new_party_role()['id']}"),
        ),
    ]


def reference_ops(path: str) -> list[Op]:
    base = f"{ACCOUNT}/{path}"

    def on(w: World, body: Doc | None = None) -> Target:
        doc = w.reference(path)
        return Target(f"{base}/{doc['id']}", doc["id"], body=body)

    return [
        Op(f"{path}.create", "POST", REFERENCE_WRITERS, lambda w: Target(base, body={"name": "参考{role}"})),
        Op(f"{path}.read", "GET", EVERYONE, on),
        Op(f"{path}.list", "GET", EVERYONE, lambda w: Target(f"{base}?limit=1000", w.reference(path)["id"])),
        Op(f"{path}.patch", "PATCH", REFERENCE_WRITERS, lambda w: on(w, {"name": "参考{role}"})),
        Op(
            f"{path}.delete",
            "DELETE",
            REFERENCE_WRITERS,
            on,
            fresh=lambda w: Target(f"{base}/{w.new_reference(path)['id']}"),
        ),
    ]


def hub_ops(api: str) -> list[Op]:
    base = f"{HUB_APIS[api]}/hub"
    return [
        Op(
            f"{api}.hub.register",
            "POST",
            HUB_MANAGERS,
            lambda w: Target(base, body={"callback": "http://127.0.0.1:9/{role}"}),
            audited=False,
        ),
        Op(
            f"{api}.hub.unregister",
            "DELETE",
            HUB_MANAGERS,
            lambda w: Target(f"{base}/{w.hubs[api]['id']}"),
            fresh=lambda w: Target(f"{base}/{w.new_hub(api)['id']}"),
            audited=False,
        ),
    ]


def customer_api_ops() -> list[Op]:
    def on_g(w: World, suffix: str, body: Doc | None = None, mentions: str = "") -> Target:
        return Target(f"/api/customers/{w.cg['id']}/{suffix}", mentions, w.cg["id"], body)

    def on_a(w: World, suffix: str) -> Target:
        return Target(f"/api/customers/{w.ca['id']}/{suffix}", w.ca["id"], w.ca["id"])

    return [
        Op(
            "users.create", "POST", WRITERS, lambda w: on_g(w, "users", {"name": "成员{role}", "phoneNumber": mobile()})
        ),
        Op("users.list", "GET", EVERYONE, lambda w: on_g(w, "users", mentions=w.user()["id"])),
        Op("users.patch", "PATCH", WRITERS, lambda w: on_g(w, f"users/{w.user()['id']}", {"name": "成员{role}"})),
        Op("customer.360", "GET", EVERYONE, lambda w: on_a(w, "360")),
        Op("customer.audit", "GET", EVERYONE, lambda w: on_a(w, "audit")),
        Op(
            "customer.search",
            "GET",
            EVERYONE,
            lambda w: Target(f"/api/customers/search?q={w.ca['id']}", w.ca["id"], w.ca["id"]),
        ),
    ]


# The policy in one table (ADR 0003 and the domains' policy.py); any other role gets 403, no token 401.
#
#   operation                                         allowed
#   read, list (every resource), 360, audit, search   everyone (within their portfolio)
#   individual/organization create, patch             WRITERS = all staff, account manager, dealer
#   individual/organization/customer contactMedium    WRITERS and the customer itself
#   individual/organization/customer delete           admin, supervisor
#   customer create, patch; users create, patch       WRITERS
#   customer status -> terminated                     admin, supervisor, back office, system
#   account create, patch (every kind)                WRITERS
#   account delete                                    admin, supervisor, back office
#   partyRole create, patch, delete                   admin, supervisor, back office, system
#   reference data create, patch, delete              admin, back office, system
#   hub register, unregister (every API)              admin, system
MATRIX: list[Op] = [
    *party_ops("individual", individual, lambda w: w.pa, lambda w: w.ca),
    *party_ops("organization", organization, lambda w: w.og, lambda w: w.cg),
    *customer_ops(),
    *[op for path in ACCOUNT_KINDS for op in account_ops(path)],
    *party_role_ops(),
    *[op for path in REFERENCE_KINDS for op in reference_ops(path)],
    *customer_api_ops(),
    *[op for api in HUB_APIS for op in hub_ops(api)],
]


@pytest.fixture
def world(client: TestClient, admin: Headers, login: Callable[..., Headers], sql: Sql) -> World:
    return World(client, admin, login, sql)


def expected(op: Op, role: str | None) -> int:
    if role is None:
        return 401
    return op.ok if role in op.allowed else 403


@pytest.mark.parametrize("op", MATRIX, ids=str)
def test_matrix(op: Op, world: World) -> None:
    assert {"admin"} <= op.allowed <= EVERYONE
    problems: list[str] = []
    for role in ROLES:
        allowed = role in op.allowed
        target = op.fresh(world) if allowed and op.fresh else op.target(world)
        headers = world.headers(role, target.owner)
        body = fill(target.body, role or "anonymous") if target.body is not None else None
        before = snapshot(world.sql)
        r = world.client.request(op.method, target.path, json=body, headers=headers)
        after = snapshot(world.sql)
        want = expected(op, role)
        if r.status_code != want:
            problems.append(
                f"{role}: {op.method} {target.path} answered {r.status_code}, expected {want}: {r.text[:300]}"
            )
            continue
        if not allowed or op.method == "GET":
            changed = [t for t in WATCHED if before[t] != after[t]]
            if changed:
                problems.append(f"{role}: a {r.status_code} {op.method} changed {changed}")
        if allowed and op.method == "GET" and target.mentions and target.mentions not in r.text:
            problems.append(f"{role}: the answer does not contain {target.mentions}")
        if allowed and op.method != "GET":
            if op.audited and after["audit_entry"][0] <= before["audit_entry"][0]:
                problems.append(f"{role}: a {r.status_code} {op.method} left no audit entry")
            if not op.audited and after["hub_subscription"] == before["hub_subscription"]:
                problems.append(f"{role}: a {r.status_code} {op.method} did not change the listeners")
        if not allowed:
            error = r.json()
            assert error["status"] == str(want) and error["code"] in ("FORBIDDEN", "UNAUTHENTICATED"), error
    assert not problems, "\n".join(problems)


def test_an_unknown_revoked_or_non_bearer_token_is_refused(world: World) -> None:
    revoked = world.headers("admin")
    world.sql.conn.execute("UPDATE access_token SET revoked_at = now()")
    for headers in ({"Authorization": "Bearer tck_not-a-real-key"}, revoked, {"Authorization": "Basic abc"}):
        for op in (MATRIX[0], MATRIX[1], MATRIX[3]):
            target = op.target(world)
            before = snapshot(world.sql)
            r = world.client.request(op.method, target.path, json=fill(target.body, "x"), headers=headers)
            assert r.status_code == 401, r.text
            assert r.headers["WWW-Authenticate"] == "Bearer"
            assert snapshot(world.sql) == before


# ----- scope -----------------------------------------------------------------------------------
SCOPED_ROLES = ("account_manager", "dealer", "customer")
READ_ANY = ("agent", "clerk", "back_office")


def scoped_headers(world: World, role: str) -> Headers:
    return world.headers(role, world.ca["id"])


# What a customer owns, by id: (customer, its party, its billing account).
Owned = tuple[str, str, str]
READS: dict[str, Callable[[Owned], str]] = {
    "customer": lambda o: f"{CUSTOMER}/customer/{o[0]}",
    "party": lambda o: f"{PARTY}/individual/{o[1]}",
    "billingAccount": lambda o: f"{ACCOUNT}/billingAccount/{o[2]}",
    "users": lambda o: f"/api/customers/{o[0]}/users",
    "360": lambda o: f"/api/customers/{o[0]}/360",
    "audit": lambda o: f"/api/customers/{o[0]}/audit",
}
NOBODY: Owned = ("C0999999999", "01900000-0000-7000-8000-000000000000", "A0999999999")


def owned(world: World, customer: Doc, party: Doc) -> Owned:
    account = world.shared(("ba", customer["id"]), lambda: world.new_account("billingAccount", customer))
    return customer["id"], party["id"], account["id"]


# Lists and searches, and which owned id shows that a customer is in them.
LISTS: dict[str, Callable[[Owned], tuple[str, str]]] = {
    "customers": lambda o: (f"{CUSTOMER}/customer?limit=1000", o[0]),
    "individuals": lambda o: (f"{PARTY}/individual?limit=1000", o[1]),
    "billingAccounts": lambda o: (f"{ACCOUNT}/billingAccount?limit=1000", o[2]),
    "search by name": lambda o: ("/api/customers/search?q=张伟&limit=100", o[0]),
    "search by number": lambda o: (f"/api/customers/search?q={o[0]}", o[0]),
    "search by account number": lambda o: (f"/api/customers/search?q={o[2]}", o[0]),
}


@pytest.mark.parametrize("role", SCOPED_ROLES + READ_ANY)
def test_reads_lists_and_search_are_scoped(role: str, world: World) -> None:
    """Scoped callers reach customer A's records and not B's; agents, clerks, back office reach both."""
    headers = scoped_headers(world, role)
    mine, other = owned(world, world.ca, world.pa), owned(world, world.cb, world.pb)
    problems = []
    for what, path_of in READS.items():
        r_mine, r_other = (
            world.client.get(path_of(mine), headers=headers),
            world.client.get(path_of(other), headers=headers),
        )
        if r_mine.status_code != 200:
            problems.append(f"{what}: own record answered {r_mine.status_code}")
        if role in READ_ANY:
            if r_other.status_code != 200:
                problems.append(f"{what}: another portfolio's record answered {r_other.status_code}")
            continue
        # out of scope answers exactly as if the record did not exist
        r_nobody = world.client.get(path_of(NOBODY), headers=headers)
        hidden = r_other.text
        for real, ghost in zip(other, NOBODY, strict=True):
            hidden = hidden.replace(real, ghost)
        if r_other.status_code != 404 or r_nobody.status_code != 404 or hidden != r_nobody.text:
            problems.append(f"{what}: another portfolio's record answered {r_other.status_code} {r_other.text[:200]}")
    for what, list_of in LISTS.items():
        found = set()
        for path, _ in (list_of(mine), list_of(other)):
            r = world.client.get(path, headers=headers)
            assert r.status_code == 200, r.text
            found |= {item["id"] for item in r.json()}
        if list_of(mine)[1] not in found:
            problems.append(f"{what}: own customer missing")
        if (list_of(other)[1] in found) != (role in READ_ANY):
            problems.append(f"{what}: another portfolio's customer {'missing' if role in READ_ANY else 'listed'}")
    assert not problems, "\n".join(problems)


def test_a_customer_sees_only_itself(world: World) -> None:
    me = world.as_customer(world.ca)
    ba = world.new_account("billingAccount", world.ca)
    world.new_account("billingAccount", world.cb)
    world.new_user(world.cb)
    mine_user = world.new_user(world.ca)

    def ids(path: str) -> list[str]:
        r = world.client.get(path, headers=me)
        assert r.status_code == 200, r.text
        return [item["id"] for item in r.json()]

    assert ids(f"{CUSTOMER}/customer") == [world.ca["id"]]
    assert ids(f"{PARTY}/individual") == [world.pa["id"]]
    assert ids(f"{PARTY}/organization") == []
    assert ids(f"{ACCOUNT}/billingAccount") == [ba["id"]]
    assert ids(f"/api/customers/{world.ca['id']}/users") == [mine_user["id"]]
    assert ids("/api/customers/search?q=张伟") == [world.ca["id"]]
    view = world.client.get(f"/api/customers/{world.ca['id']}/360", headers=me).json()
    assert view["customer"]["id"] == world.ca["id"]
    assert [a["id"] for a in view["accounts"]] == [ba["id"]]
    assert [u["id"] for u in view["users"]] == [mine_user["id"]]
    assert world.client.get(f"/api/customers/{world.cg['id']}/360", headers=me).status_code == 404


# Changes outside the caller's portfolio: (role, what, request) -> expected status.
Request = Callable[[World], tuple[str, str, Doc | None]]
OUTSIDE: list[tuple[str, str, Request, int]] = []
for _role in SCOPED_ROLES:
    OUTSIDE += [
        (_role, "patch customer", lambda w: ("PATCH", f"{CUSTOMER}/customer/{w.cb['id']}", {"name": "x"}), 404),
        (
            _role,
            "patch customer contact",
            lambda w: (
                "PATCH",
                f"{CUSTOMER}/customer/{w.cb['id']}",
                {"contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "a@b.cn"}}]},
            ),
            404,
        ),
        (
            _role,
            "patch party contact",
            lambda w: (
                "PATCH",
                f"{PARTY}/individual/{w.pb['id']}",
                {"contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "a@b.cn"}}]},
            ),
            404,
        ),
        (
            _role,
            "patch account",
            lambda w: (
                "PATCH",
                f"{ACCOUNT}/billingAccount/{w.new_account('billingAccount', w.cb)['id']}",
                {"name": "x"},
            ),
            404,
        ),
        (_role, "create user", lambda w: ("POST", f"/api/customers/{w.cb['id']}/users", {"name": "x"}), 404),
        (
            _role,
            "patch user",
            lambda w: ("PATCH", f"/api/customers/{w.cb['id']}/users/{w.new_user(w.cb)['id']}", {"name": "x"}),
            404,
        ),
        (
            _role,
            "terminate customer",
            lambda w: ("PATCH", f"{CUSTOMER}/customer/{w.cb['id']}", {"status": "terminated", "statusReason": "x"}),
            404,
        ),
        (_role, "delete customer", lambda w: ("DELETE", f"{CUSTOMER}/customer/{w.cb['id']}", None), 404),
    ]
for _role in ("account_manager", "dealer"):
    OUTSIDE += [
        (
            _role,
            "open an account for another portfolio's customer",
            lambda w: ("POST", f"{ACCOUNT}/billingAccount", {"name": "x", "relatedParty": owner_ref(w.cb)}),
            403,
        ),
        (
            _role,
            "sign up another portfolio's party as a customer",
            lambda w: (
                "POST",
                f"{CUSTOMER}/customer",
                {"name": "x", "engagedParty": {"id": w.pb["id"], "@referredType": "Individual"}},
            ),
            403,
        ),
    ]
OUTSIDE += [
    (
        "dealer",
        "sign up a customer for another dealer",
        lambda w: (
            "POST",
            f"{CUSTOMER}/customer",
            {
                "name": "x",
                "engagedParty": {"id": make_individual(w.client, w.admin)["id"], "@referredType": "Individual"},
                "relatedParty": [{"id": w.d2["id"], "role": "dealer", "@referredType": "Organization"}],
            },
        ),
        403,
    ),
    (
        "dealer",
        "hand an own customer to another dealer",
        lambda w: (
            "PATCH",
            f"{CUSTOMER}/customer/{w.ca['id']}",
            {"relatedParty": [{"id": w.d2["id"], "role": "dealer", "@referredType": "Organization"}]},
        ),
        403,
    ),
    (
        "account_manager",
        "hand an own customer to another manager",
        lambda w: ("PATCH", f"{CUSTOMER}/customer/{w.ca['id']}", {"relatedParty": portfolio(w.m2, w.d1)}),
        403,
    ),
    (
        "customer",
        "change its own name",
        lambda w: ("PATCH", f"{CUSTOMER}/customer/{w.ca['id']}", {"name": "x"}),
        403,
    ),
    (
        "customer",
        "change its own party's name",
        lambda w: ("PATCH", f"{PARTY}/individual/{w.pa['id']}", {"givenName": "x"}),
        403,
    ),
    (
        "customer",
        "change contact details and something else",
        lambda w: (
            "PATCH",
            f"{PARTY}/individual/{w.pa['id']}",
            {
                "givenName": "x",
                "contactMedium": [{"mediumType": "email", "characteristic": {"emailAddress": "a@b.cn"}}],
            },
        ),
        403,
    ),
]


@pytest.mark.parametrize(("role", "what", "request_", "status"), OUTSIDE, ids=[f"{r}-{w}" for r, w, _, _ in OUTSIDE])
def test_changes_outside_the_portfolio_are_refused(
    role: str, what: str, request_: Request, status: int, world: World
) -> None:
    method, path, body = request_(world)
    headers = scoped_headers(world, role)
    before = snapshot(world.sql)
    r = world.client.request(method, path, json=body, headers=headers)
    assert r.status_code == status, r.text
    assert snapshot(world.sql) == before


def test_a_dealer_signs_up_customers_for_itself(world: World) -> None:
    dealer = world.as_dealer(world.d1)
    party = make_individual(world.client, dealer)
    customer = make_customer(world.client, dealer, party)
    assert {"id": world.d1["id"], "role": "dealer"}.items() <= customer["relatedParty"][0].items()
    url = f"{CUSTOMER}/customer/{customer['id']}"
    assert world.client.get(url, headers=dealer).status_code == 200
    assert world.client.patch(url, json={"name": "改名"}, headers=dealer).status_code == 200
    assert world.client.get(f"{PARTY}/individual/{party['id']}", headers=dealer).status_code == 200
    for stranger in (world.as_dealer(world.d2), world.as_manager(world.m1)):
        assert world.client.get(url, headers=stranger).status_code == 404
        ids = [c["id"] for c in world.client.get(f"{CUSTOMER}/customer", headers=stranger).json()]
        assert customer["id"] not in ids
    assert world.client.get(url, headers=world.admin).json()["name"] == "改名"


def test_an_account_manager_keeps_the_customers_it_creates(world: World) -> None:
    manager = world.as_manager(world.m1)
    customer = make_customer(world.client, manager, make_individual(world.client, manager))
    named = [r for r in customer.get("relatedParty", []) if r.get("role") == "accountManager"]
    assert [r["id"] for r in named] == [world.m1["id"]]
    url = f"{CUSTOMER}/customer/{customer['id']}"
    # an administrator's change keeps the manager, and the manager may still change the customer
    assert world.client.patch(url, json={"name": "管理员改"}, headers=world.admin).status_code == 200
    r = world.client.patch(url, json={"name": "经理改"}, headers=manager)
    assert r.status_code == 200, r.text
    assert world.client.get(url, headers=world.as_manager(world.m2)).status_code == 404


def test_changing_the_account_manager_moves_accounts_and_users(world: World) -> None:
    ba = world.new_account("billingAccount", world.ca)
    user = world.new_user(world.ca)
    old, new = world.as_manager(world.m1), world.as_manager(world.m2)
    paths = {
        "customer": f"{CUSTOMER}/customer/{world.ca['id']}",
        "party": f"{PARTY}/individual/{world.pa['id']}",
        "account": f"{ACCOUNT}/billingAccount/{ba['id']}",
        "users": f"/api/customers/{world.ca['id']}/users",
        "360": f"/api/customers/{world.ca['id']}/360",
    }
    assert {k: world.client.get(p, headers=new).status_code for k, p in paths.items()} == dict.fromkeys(paths, 404)

    r = world.client.patch(paths["customer"], json={"relatedParty": portfolio(world.m2, world.d1)}, headers=world.admin)
    assert r.status_code == 200, r.text

    assert {k: world.client.get(p, headers=new).status_code for k, p in paths.items()} == dict.fromkeys(paths, 200)
    assert {k: world.client.get(p, headers=old).status_code for k, p in paths.items()} == dict.fromkeys(paths, 404)
    assert [u["id"] for u in world.client.get(paths["users"], headers=new).json()] == [user["id"]]
    view = world.client.get(paths["360"], headers=new).json()
    assert [a["id"] for a in view["accounts"]] == [ba["id"]]
    assert [u["id"] for u in view["users"]] == [user["id"]]
    for path, listed in ((f"{ACCOUNT}/billingAccount", ba["id"]), (f"{CUSTOMER}/customer", world.ca["id"])):
        assert listed in [x["id"] for x in world.client.get(path, headers=new).json()]
        assert listed not in [x["id"] for x in world.client.get(path, headers=old).json()]
    # the new manager may now change them; the old one may not
    assert world.client.patch(paths["account"], json={"name": "新经理"}, headers=new).status_code == 200
    assert world.client.patch(paths["account"], json={"name": "旧经理"}, headers=old).status_code == 404
