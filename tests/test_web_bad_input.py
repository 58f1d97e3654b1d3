"""The screens refuse anything a browser can send without a server error, and a refused form
changes nothing: random form fields posted to every form, random query strings to every page."""

from __future__ import annotations

import random

from fastapi.testclient import TestClient

from tests.conftest import Sql
from tests.factories import make_billing_account, make_customer

VALUES = ["", "x", "-1", "0", "99999999999999999999", "\x00", "<script>alert(1)</script>", "po-bundle-converged",
          "C0000000001", "'; DROP TABLE customer;--", "１２３", "a" * 3000, "%", "../../etc/passwd", "true",
          "2026-02-30", "13912345678", "residentIdCard", "individual", "organization", "terminated"]  # fmt: skip
FIELDS = ["offering", "n.po-mobile-99", "c.po-iptv.resolution", "service_number", "user", "billing_account", "idem",
          "kind", "family_name", "given_name", "id_type", "id_number", "mobile", "email", "province", "city",
          "street", "account_type", "org_name", "credit_code", "status", "status_reason", "name", "phoneNumber",
          "reason", "birth_date", "gender", "number_prefix", "category"]  # fmt: skip
TABLES = ("party", "customer", "account", "customer_user", "product_order", "work_order", "outbox_event")


def test_random_forms_and_queries_never_make_a_server_error(client: TestClient, admin, web_login, sql: Sql) -> None:
    customer = make_customer(client, admin)
    make_billing_account(client, admin, customer)
    cid = customer["id"]
    csrf = web_login(client, "supervisor")
    posts = [
        f"/desk/customers/{cid}/order/quote",
        f"/desk/customers/{cid}/order/check",
        f"/desk/customers/{cid}/order",
        "/desk/customers/new",
        f"/desk/customers/{cid}/edit",
        f"/desk/customers/{cid}/users/new",
        f"/desk/customers/{cid}/accounts/new",
        "/desk/customers/NOPE/order",
        "/desk/orders/NOPE/cancel",
        "/desk/orders/NOPE/release",
    ]
    gets = [
        "/desk/search?q=",
        "/desk/search?q=%00",
        "/desk/search?q=" + "9" * 101,
        "/desk/search?q=a&page=0",
        "/desk/search?q=a&page=99999",
        f"/desk/customers/{cid}/order/options?offering=nope",
        f"/desk/customers/{cid}/order/numbers?number_prefix=abc&kind=x",
        f"/desk/customers/{cid}/order/offerings?category=%00",
        "/desk/customers/%00",
        "/desk/orders/x",
        "/lang/xx?back=//evil.example",
        "/desk/customers/new?kind=zzz",
    ]
    for path in gets:
        r = client.get(path, follow_redirects=False)
        assert r.status_code < 500, (path, r.status_code)
    before = {t: sql.count(t) for t in TABLES}
    rng = random.Random(5)
    statuses: set[int] = set()
    for i in range(240):
        path = rng.choice(posts)
        data = {f: rng.choice(VALUES) for f in rng.sample(FIELDS, rng.randint(0, 12))}
        data["_csrf"] = csrf
        headers = {"HX-Request": "true"} if i % 2 else {}
        r = client.post(path, data=data, headers=headers, follow_redirects=False)
        assert r.status_code < 500, (path, r.status_code, {k: v[:30] for k, v in data.items()})
        statuses.add(r.status_code)
        if r.status_code >= 400:  # a refused form leaves the tables as they were
            after = {t: sql.count(t) for t in TABLES}
            assert after == before, (path, data)
        else:
            before = {t: sql.count(t) for t in TABLES}
    assert {400, 404} <= statuses  # the refusals were exercised, not only successes
