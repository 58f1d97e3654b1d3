from tests.factories import CUSTOMER, make_customer


def test_create_and_read_customer(client, admin, sql):
    customer = make_customer(client, admin)
    r = client.get(f"{CUSTOMER}/customer/{customer['id']}", headers=admin)
    assert r.status_code == 200
    assert r.json()["id"] == customer["id"]
    assert sql.count("customer") == 1
