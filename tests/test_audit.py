"""Every change records who, when, through which channel, and before/after; readable per customer."""

from __future__ import annotations

from tests.factories import CUSTOMER, make_billing_account, make_customer


def test_changes_are_audited_with_channel_and_before_after(client, login, sql) -> None:
    clerk = {**login("clerk"), "X-Channel": "hall"}
    customer = make_customer(client, clerk)
    make_billing_account(client, clerk, customer)
    r = client.patch(
        f"{CUSTOMER}/customer/{customer['id']}",
        json={"status": "suspended", "statusReason": "reported lost"},
        headers={**clerk, "Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200, r.text

    trail = client.get(f"/api/customers/{customer['id']}/audit", headers=clerk)
    assert trail.status_code == 200
    entries = trail.json()
    assert [e["action"] for e in entries][:3] == ["update", "create", "create"]
    latest = entries[0]
    assert latest["who"] == "test clerk"
    assert latest["channel"] == "hall"
    assert latest["entityType"] == "Customer"
    assert latest["changes"]["status"] == {"before": "active", "after": "suspended"}
    assert latest["changes"]["statusReason"] == {"before": None, "after": "reported lost"}
    # the 360 view shows the latest entries too
    view = client.get(f"/api/customers/{customer['id']}/360", headers=clerk).json()
    assert view["audit"][0]["changes"]["status"]["after"] == "suspended"


def test_unknown_channel_is_refused_and_nothing_is_written(client, login, sql) -> None:
    headers = {**login("clerk"), "X-Channel": "carrier-pigeon"}
    r = client.post(
        f"{CUSTOMER}/customer",
        json={"name": "x", "engagedParty": {"id": "ext-1", "@referredType": "Individual"}},
        headers=headers,
    )
    assert r.status_code == 400
    assert r.json()["field"] == "X-Channel"
    assert sql.count("customer") == 0
    assert sql.count("audit_entry") == 0
