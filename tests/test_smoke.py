from tests.factories import CUSTOMER, make_customer


def test_create_and_read_customer(client, admin, sql):
    customer = make_customer(client, admin)
    r = client.get(f"{CUSTOMER}/customer/{customer['id']}", headers=admin)
    assert r.status_code == 200
    assert r.json()["id"] == customer["id"]
    assert sql.count("customer") == 1


def test_routes_resolve_behind_a_path_prefix(client, admin, sql):
    """Served under a root path (a reverse proxy's /crm; the ASGI path then starts with it, as
    uvicorn --root-path gives it), the routers still find their routes: the quick prefix test of
    PrefixRouter looks at the path without the root path."""
    import httpx

    customer = make_customer(client, admin)

    async def get(path):
        transport = httpx.ASGITransport(app=client.app, root_path="/crm")
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy") as behind:
            return await behind.get(path, headers=admin)

    r = client.portal.call(get, f"/crm{CUSTOMER}/customer/{customer['id']}")
    assert r.status_code == 200 and r.json()["id"] == customer["id"]
    assert client.portal.call(get, "/crm/api/orders/nothing-here").status_code == 404
