"""Customer search: every common way staff type a number or a name, ranked, paged, scoped."""

from __future__ import annotations

from tests.factories import CUSTOMER, make_billing_account, make_customer, make_individual


def search(client, headers, q: str, **params):
    r = client.get("/api/customers/search", params={"q": q, **params}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json(), int(r.headers["X-Total-Count"])


def ids(items) -> list[str]:
    return [i["id"] for i in items]


def test_found_by_mobile_landline_id_account_and_customer_number(client, admin) -> None:
    id15 = "110105491231002"  # the 15-digit form (before 1999) of 11010519491231002X
    party = make_individual(
        client,
        admin,
        givenName="建国",
        familyName="欧阳",
        individualIdentification=[{"identificationType": "residentIdCard", "identificationId": id15}],
        contactMedium=[
            {"mediumType": "mobile", "characteristic": {"phoneNumber": "+86 138-0013-8000"}},
            {"mediumType": "phone", "characteristic": {"phoneNumber": "(021) 5555 6666"}},
        ],
    )
    customer = make_customer(client, admin, party, name="欧阳建国")
    account = make_billing_account(client, admin, customer)
    other = make_customer(client, admin)  # must not turn up

    for q in (
        "13800138000",
        "138 0013 8000",
        "+8613800138000",
        "0086-138-0013-8000",
        "021-55556666",
        "02155556666",
        "+86 21 5555 6666",
        "55556666",
        "11010519491231002X",
        "11010519491231002x",
        id15,
        account["id"],
        account["id"].lower(),
        "A" + str(int(account["id"][1:])),
        customer["id"],
        "C" + str(int(customer["id"][1:])),
        "欧阳建国",
        "歐陽建國",
        "ouyangjianguo",
        "jianguo ouyang",
        "Ouyang Jianguo",
        "oyjg",
    ):
        items, total = search(client, admin, q)
        assert ids(items) == [customer["id"]], q
        assert total == 1, q
        assert other["id"] not in ids(items)
    items, _ = search(client, admin, "13800138000")
    assert items[0]["matchedBy"] == "phone" and items[0]["exact"] is True


def test_exact_matches_rank_before_prefix_matches(client, admin) -> None:
    exact = make_customer(client, admin, make_individual(client, admin, givenName="伟", familyName="王"))
    longer = make_customer(client, admin, make_individual(client, admin, givenName="伟民", familyName="王"))
    items, total = search(client, admin, "王伟")
    assert ids(items) == [exact["id"], longer["id"]]
    assert [i["exact"] for i in items] == [True, False]
    assert total == 2


def test_results_are_paged_with_counts(client, admin) -> None:
    made = [
        make_customer(client, admin, make_individual(client, admin, givenName="娜", familyName="李")) for _ in range(5)
    ]
    first, total = search(client, admin, "李娜", limit=2)
    second, _ = search(client, admin, "李娜", limit=2, offset=2)
    third, _ = search(client, admin, "李娜", limit=2, offset=4)
    beyond, total_beyond = search(client, admin, "李娜", limit=2, offset=10)
    assert total == 5 and total_beyond == 5
    assert beyond == []
    assert sorted(ids(first + second + third)) == sorted(c["id"] for c in made)


def test_search_is_scoped_to_the_callers_portfolio(client, admin, login) -> None:
    manager_party = make_individual(client, admin, givenName="经理", familyName="赵")
    mine = make_customer(
        client,
        admin,
        make_individual(client, admin, givenName="芳", familyName="刘"),
        relatedParty=[{"id": manager_party["id"], "role": "accountManager", "@referredType": "Individual"}],
    )
    theirs = make_customer(client, admin, make_individual(client, admin, givenName="芳", familyName="刘"))
    manager = login("account_manager", party_id=manager_party["id"])
    items, total = search(client, manager, "刘芳")
    assert ids(items) == [mine["id"]] and total == 1
    items, total = search(client, admin, "刘芳")
    assert sorted(ids(items)) == sorted([mine["id"], theirs["id"]]) and total == 2


def test_changes_are_searchable_at_once_and_old_values_are_not(client, admin) -> None:
    party = make_individual(
        client, admin, contactMedium=[{"mediumType": "mobile", "characteristic": {"phoneNumber": "13912345678"}}]
    )
    customer = make_customer(client, admin, party)
    r = client.patch(
        f"/tmf-api/party/v4/individual/{party['id']}",
        json={"contactMedium": [{"mediumType": "mobile", "characteristic": {"phoneNumber": "13787654321"}}]},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    assert ids(search(client, admin, "13787654321")[0]) == [customer["id"]]
    assert search(client, admin, "13912345678") == ([], 0)


def test_bad_queries_are_refused(client, admin) -> None:
    for params in ({"q": ""}, {"q": "x" * 101}, {"q": "王", "limit": "0"}, {"q": "王", "offset": "-1"}, {}):
        r = client.get("/api/customers/search", params=params, headers=admin)
        assert r.status_code == 400, params
        assert r.json()["code"]
    assert client.get("/api/customers/search", params={"q": "王"}).status_code == 401


def test_a_customer_with_an_external_party_is_found_by_its_own_name(client, admin) -> None:
    body = {"name": "外部客户", "engagedParty": {"id": "crm-legacy-42", "@referredType": "Individual"}}
    r = client.post(f"{CUSTOMER}/customer", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert ids(search(client, admin, "外部客户")[0]) == [r.json()["id"]]
