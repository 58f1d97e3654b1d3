"""The agent desktop: signing up customers (individual, organisation with members) and changing them."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Sql
from tests.factories import credit_code, make_customer, make_individual, mobile, resident_id

TABLES = ("party", "customer", "account", "customer_user", "audit_entry", "outbox_event")


def _counts(sql: Sql) -> dict[str, int]:
    return {table: sql.count(table) for table in TABLES}


def _person(csrf: str, **extra: str) -> dict[str, str]:
    return {
        "_csrf": csrf,
        "kind": "individual",
        "family_name": "李",
        "given_name": "秀英",
        "id_type": "residentIdCard",
        "id_number": resident_id("19850312"),
        "mobile": mobile(),
        "email": "xiuying@example.cn",
        "province": "浙江省",
        "city": "杭州市",
        "street": "西湖区文三路100号",
        "account_type": "prepaid",
        **extra,
    }


def _organization(csrf: str, **extra: str) -> dict[str, str]:
    return {
        "_csrf": csrf,
        "kind": "organization",
        "org_name": "杭州西溪数码有限公司",
        "credit_code": credit_code(),
        "mobile": "0571-88886666",
        "province": "浙江省",
        "city": "杭州市",
        "street": "余杭区文一西路969号",
        "account_type": "postpaid",
        **extra,
    }


def _created(client: TestClient, form: dict[str, str]) -> str:
    r = client.post("/desk/customers/new", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    match = re.fullmatch(r"/desk/customers/([^/?]+)\?created=1.*", r.headers["location"])
    assert match, r.headers["location"]
    return match.group(1)


def _field_error(html: str, field: str) -> str | None:
    found = re.search(rf'class="field-error"[^>]*data-field="{re.escape(field)}">([^<]*)<', html)
    return found.group(1) if found else None


def test_the_new_customer_form_has_its_stable_hooks(client: TestClient, web_login) -> None:
    web_login(client, "clerk")
    page = client.get("/desk/customers/new")
    assert page.status_code == 200
    for hook in (
        'name="kind" value="individual"',
        'name="kind" value="organization"',
        'id="save-customer"',
        *(
            f'name="{name}"'
            for name in (
                "family_name",
                "given_name",
                "id_type",
                "id_number",
                "mobile",
                "email",
                "province",
                "city",
                "street",
                "org_name",
                "credit_code",
                "account_type",
            )
        ),
    ):
        assert hook in page.text, hook
    assert 'name="_csrf"' in page.text
    assert 'id="f-family_name" name="family_name" type="text" value="" autofocus' in page.text
    org = client.get("/desk/customers/new?kind=organization").text
    assert (
        'value="organization" accesskey="g" checked' in org and 'name="org_name" type="text" value="" autofocus' in org
    )


def test_creating_an_individual_makes_party_customer_account_and_user(client: TestClient, web_login, sql: Sql) -> None:
    csrf = web_login(client, "clerk")
    form = _person(csrf)
    customer_id = _created(client, form)
    customer = sql.value("SELECT body FROM customer WHERE id = %s", customer_id)
    assert customer["name"] == "李秀英" and customer["status"] == "active"  # an ID number: real-name registered
    party_id = customer["engagedParty"]["id"]
    party = sql.value("SELECT body FROM party WHERE id = %s", party_id)
    assert party["@type"] == "Individual" and party["familyName"] == "李"
    assert party["individualIdentification"][0]["identificationId"] == form["id_number"]
    assert party["birthDate"].startswith("1985-03-12") and party["gender"] in ("male", "female")  # from the ID
    media = {m["mediumType"]: m["characteristic"] for m in party["contactMedium"]}
    assert media["mobile"]["phoneNumber"] == form["mobile"] and media["email"]["emailAddress"] == form["email"]
    assert media["postalAddress"]["stateOrProvince"] == "浙江省"
    account = sql.rows("SELECT id, account_type FROM account WHERE customer_id = %s", customer_id)
    assert len(account) == 1 and account[0][1] == "prepaid"
    user = sql.value("SELECT body FROM customer_user WHERE customer_id = %s", customer_id)
    assert user["phoneNumber"] == form["mobile"] and user["billingAccount"]["id"] == account[0][0]
    assert user["party"]["id"] == party_id
    written = {
        row[0]
        for row in sql.rows(
            "SELECT entity_type FROM audit_entry WHERE action = 'create' AND channel = 'hall'"
            " AND entity_id IN (%s, %s, %s, %s)",
            party_id,
            customer_id,
            account[0][0],
            user["id"],
        )
    }
    assert written == {"Party", "Customer", "Account", "User"}
    page = client.get(f"/desk/customers/{customer_id}?created=1")
    assert page.status_code == 200 and 'id="created-note"' in page.text
    assert form["mobile"] in page.text and f"/desk/customers/{customer_id}/users/new" in page.text


def test_an_organization_with_two_member_users(client: TestClient, web_login, sql: Sql) -> None:
    csrf = web_login(client, "agent")
    customer_id = _created(client, _organization(csrf))
    assert sql.value("SELECT category FROM customer WHERE id = %s", customer_id) == "group"
    assert sql.value("SELECT kind FROM party WHERE customer_id = %s", customer_id) == "Organization"
    assert sql.count("customer_user", "customer_id = %s", customer_id) == 0  # members come one by one
    # a second account paid by the group
    form = client.get(f"/desk/customers/{customer_id}/accounts/new")
    assert form.status_code == 200 and 'value="groupPaid"' in form.text
    r = client.post(
        f"/desk/customers/{customer_id}/accounts/new",
        data={"_csrf": csrf, "account_name": "集团统付", "account_type": "groupPaid"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    group_paid = sql.value("SELECT id FROM account WHERE customer_id = %s AND account_type = 'groupPaid'", customer_id)
    page = client.get(f"/desk/customers/{customer_id}/users/new")
    assert page.status_code == 200 and group_paid in page.text
    phones = [mobile(), mobile()]
    for name, phone in zip(("周杰", "吴敏"), phones, strict=True):
        r = client.post(
            f"/desk/customers/{customer_id}/users/new",
            data={"_csrf": csrf, "user_name": name, "phone_number": phone, "billing_account": group_paid},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    rows = sql.rows(
        "SELECT name, billing_account_id FROM customer_user WHERE customer_id = %s ORDER BY name", customer_id
    )
    assert sorted(rows) == sorted([("周杰", group_paid), ("吴敏", group_paid)])
    page = client.get(f"/desk/customers/{customer_id}").text
    members = page.split('id="structure"')[1].split("</section>")[0]
    assert all(p in members for p in phones) and "周杰" in members and "吴敏" in members
    # a member without a phone number, or with a bad one: the error in place, nothing written
    r = client.post(
        f"/desk/customers/{customer_id}/users/new",
        data={"_csrf": csrf, "user_name": "郑", "phone_number": "not a number", "billing_account": group_paid},
    )
    assert r.status_code == 400 and _field_error(r.text, "phone_number")
    assert 'value="not a number"' in r.text
    assert sql.count("customer_user", "customer_id = %s", customer_id) == 2


def test_a_bad_id_number_or_a_missing_name_writes_nothing(client: TestClient, web_login, sql: Sql) -> None:
    csrf = web_login(client, "clerk")
    before = _counts(sql)
    bad = _person(csrf, id_number="110105199001011234")  # wrong check digit
    r = client.post("/desk/customers/new", data=bad)
    assert r.status_code == 400
    assert "check digit" in (_field_error(r.text, "id_number") or "")
    assert 'value="110105199001011234"' in r.text and 'value="西湖区文三路100号"' in r.text  # kept as typed
    assert 'aria-invalid="true" aria-describedby="err-id_number" autofocus' in r.text
    r = client.post("/desk/customers/new", data=_person(csrf, family_name=""))
    assert r.status_code == 400 and _field_error(r.text, "family_name")
    r = client.post("/desk/customers/new", data=_person(csrf, email="not-an-email"))
    assert r.status_code == 400 and _field_error(r.text, "email")
    r = client.post("/desk/customers/new", data=_organization(csrf, credit_code="91310000ABCDEFGHIJ"))
    assert r.status_code == 400 and _field_error(r.text, "credit_code")
    r = client.post("/desk/customers/new", data=_organization(csrf, org_name=""))
    assert r.status_code == 400 and _field_error(r.text, "org_name")
    # the user comes last: its failure takes the party, customer and account back with it
    r = client.post("/desk/customers/new", data=_person(csrf, mobile="12345"))
    assert r.status_code == 400 and _field_error(r.text, "mobile")
    assert _counts(sql) == before


def test_the_form_needs_the_csrf_token(client: TestClient, admin, web_login, sql: Sql) -> None:
    csrf = web_login(client, "clerk")
    before = _counts(sql)
    form = _person(csrf)
    del form["_csrf"]
    assert client.post("/desk/customers/new", data=form).status_code == 403
    assert client.post("/desk/customers/new", data={**form, "_csrf": "forged"}).status_code == 403
    customer = make_customer(client, admin)
    r = client.post(f"/desk/customers/{customer['id']}/edit", data={"mobile": mobile(), "status": "active"})
    assert r.status_code == 403
    assert sql.count("customer") == before["customer"] + 1  # only the one the API made


def test_editing_the_phone_shows_it_on_the_page(client: TestClient, web_login, sql: Sql) -> None:
    csrf = web_login(client, "clerk")
    form = _person(csrf)
    customer_id = _created(client, form)
    page = client.get(f"/desk/customers/{customer_id}/edit")
    assert page.status_code == 200 and f'value="{form["mobile"]}"' in page.text and 'id="save-customer"' in page.text
    new_phone = mobile()
    r = client.post(
        f"/desk/customers/{customer_id}/edit",
        data={
            "_csrf": csrf,
            "mobile": new_phone,
            "email": "",
            "province": "浙江省",
            "city": "杭州市",
            "street": "西湖区文三路100号",
            "status": "active",
            "status_reason": "",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/desk/customers/{customer_id}"
    page = client.get(f"/desk/customers/{customer_id}").text
    assert new_phone in page and form["mobile"] not in page.split('id="structure"')[0]
    party = sql.value("SELECT p.body FROM party p JOIN customer c ON c.party_id = p.id WHERE c.id = %s", customer_id)
    assert [m["mediumType"] for m in party["contactMedium"]] == ["mobile", "postalAddress"]  # e-mail removed
    assert sql.count("audit_entry", "entity_type = 'Party' AND action = 'update'") == 1


def test_suspending_needs_a_reason_and_terminating_is_not_for_clerks(client: TestClient, web_login, sql: Sql) -> None:
    csrf = web_login(client, "clerk")
    customer_id = _created(client, _person(csrf))
    edit = client.get(f"/desk/customers/{customer_id}/edit").text
    assert 'value="suspended"' in edit and 'value="terminated"' not in edit  # a clerk may not terminate
    base: dict[str, Any] = {"_csrf": csrf, **{k: "" for k in ("mobile", "email", "province", "city", "street")}}
    base["mobile"] = sql.value("SELECT body->>'phoneNumber' FROM customer_user WHERE customer_id = %s", customer_id)
    r = client.post(f"/desk/customers/{customer_id}/edit", data={**base, "status": "suspended", "status_reason": ""})
    assert r.status_code == 400 and "statusReason" in (_field_error(r.text, "status_reason") or "")
    assert sql.value("SELECT status FROM customer WHERE id = %s", customer_id) == "active"
    # nothing half-written: the contact change in the same form was taken back too
    assert sql.count("audit_entry", "entity_type = 'Party' AND action = 'update'") == 0
    r = client.post(f"/desk/customers/{customer_id}/edit", data={**base, "status": "terminated", "status_reason": "x"})
    assert r.status_code == 403 and _field_error(r.text, "status")
    r = client.post(
        f"/desk/customers/{customer_id}/edit",
        data={**base, "status": "suspended", "status_reason": "欠费停机"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert sql.value("SELECT status FROM customer WHERE id = %s", customer_id) == "suspended"
    # a supervisor may terminate, but not while the user is active: a 409 in place
    csrf = web_login(client, "supervisor")
    edit = client.get(f"/desk/customers/{customer_id}/edit").text
    assert 'value="terminated"' in edit
    r = client.post(
        f"/desk/customers/{customer_id}/edit",
        data={**base, "_csrf": csrf, "status": "terminated", "status_reason": "销户"},
    )
    assert r.status_code == 409 and "在用用户" in (_field_error(r.text, "status") or "")


def test_a_dealers_new_customer_is_its_own(client: TestClient, web_login, sql: Sql) -> None:
    csrf = web_login(client, "dealer", dealer_id="dealer-x")
    customer_id = _created(client, _person(csrf))
    assert sql.value("SELECT dealer_id FROM customer WHERE id = %s", customer_id) == "dealer-x"
    assert sql.count("account", "customer_id = %s AND dealer_id = 'dealer-x'", customer_id) == 1
    assert client.get(f"/desk/customers/{customer_id}").status_code == 200
    assert customer_id in client.get("/desk").text
    assert client.get(f"/desk/customers/{customer_id}/edit").status_code == 200
    web_login(client, "dealer", dealer_id="dealer-y")
    assert client.get(f"/desk/customers/{customer_id}").status_code == 404
    assert client.get(f"/desk/customers/{customer_id}/edit").status_code == 404
    assert client.get(f"/desk/customers/{customer_id}/users/new").status_code == 404
    assert customer_id not in client.get("/desk").text


def test_an_account_managers_new_customer_lands_in_the_portfolio(
    client: TestClient, admin, web_login, sql: Sql
) -> None:
    manager = make_individual(client, admin)
    csrf = web_login(client, "account_manager", party_id=manager["id"])
    customer_id = _created(client, _organization(csrf))
    assert sql.value("SELECT manager_id FROM customer WHERE id = %s", customer_id) == manager["id"]
    home = client.get("/desk").text
    assert customer_id in home.split('id="portfolio"')[1]


def test_possible_duplicates_are_shown_after_the_create(client: TestClient, web_login) -> None:
    csrf = web_login(client, "clerk")
    form = _person(csrf)
    first = _created(client, form)
    r = client.post("/desk/customers/new", data={**form, "email": ""}, follow_redirects=False)
    assert r.status_code == 303  # never blocked
    location = r.headers["location"]
    assert f"dup={first}%3Aid" in location or f"dup={first}:id" in location
    page = client.get(location).text
    assert 'id="possible-duplicates"' in page and f'href="/desk/customers/{first}"' in page


def test_changing_contact_details_keeps_the_other_media() -> None:
    from telcrm.web.customers import contact_values, merge_contact

    party = {
        "contactMedium": [
            {"mediumType": "phone", "characteristic": {"phoneNumber": "010-12345678"}},
            {"mediumType": "fax", "characteristic": {"faxNumber": "010-87654321"}},
            {"mediumType": "email", "preferred": True, "characteristic": {"emailAddress": "a@example.cn"}},
        ]
    }
    values = contact_values(party, "organization")
    assert values == {"mobile": "010-12345678", "email": "a@example.cn", "province": "", "city": "", "street": ""}
    media, where = merge_contact(
        party, "organization", {**values, "email": "", "city": "北京市", "street": "长安街1号"}
    )
    assert [m["mediumType"] for m in media] == ["phone", "fax", "postalAddress"]
    assert media[2]["characteristic"] == {"country": "CN", "city": "北京市", "street1": "长安街1号"}
    assert where == {0: "mobile", 2: "street"}  # a service error on contactMedium[2] belongs to the address
    media, _ = merge_contact({}, "individual", {**values, "mobile": "13912345678", "email": ""})
    assert media == [{"mediumType": "mobile", "preferred": True, "characteristic": {"phoneNumber": "13912345678"}}]


def test_an_organizations_contact_phone_can_be_a_landline(client: TestClient, web_login, sql: Sql) -> None:
    csrf = web_login(client, "clerk")
    customer_id = _created(client, _organization(csrf))
    edit = client.get(f"/desk/customers/{customer_id}/edit").text
    assert 'value="0571-88886666"' in edit
    data = {"_csrf": csrf, "mobile": "0571-8888x", "email": "", "province": "浙江省", "city": "杭州市", "street": "x"}
    r = client.post(f"/desk/customers/{customer_id}/edit", data={**data, "status": "active", "status_reason": ""})
    assert r.status_code == 400 and "phone number" in (_field_error(r.text, "mobile") or "")
    assert 'value="0571-8888x"' in r.text  # kept as typed
    r = client.post(
        f"/desk/customers/{customer_id}/edit",
        data={**data, "mobile": "0571-66668888", "status": "active", "status_reason": ""},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert "0571-66668888" in client.get(f"/desk/customers/{customer_id}").text
