"""Browser scenarios across channels: an agent places a bundle order and watches it complete; a
customer orders in the web hall and the agent's open page shows it without a reload."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site

COMPLETION_MS = 60_000  # fulfilment through the simulator, on a shared, busy machine


def _customer_with_phone(site: Site) -> tuple[str, str]:
    """An active individual with a billing account and a mobile number nobody else has, not the
    demo hall customer, and with no order placed by a browser test yet."""
    row = site.sql.rows(
        """SELECT c.id, k.key FROM customer c
           JOIN search_key k ON k.customer_id = c.id AND k.kind = 'phone' AND k.key ~ '^1[0-9]{10}$'
           WHERE c.status = 'active' AND c.category = 'individual'
             AND EXISTS (SELECT 1 FROM account a WHERE a.customer_id = c.id AND a.body->>'state' = 'active')
             AND c.id NOT IN (SELECT customer_id FROM principal WHERE customer_id IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM product_order o WHERE o.customer_id = c.id
                             AND o.created_at > now() - interval '1 hour')
             AND (SELECT count(DISTINCT k2.customer_id) FROM search_key k2
                  WHERE k2.kind = 'phone' AND k2.key = k.key) = 1
           ORDER BY c.id LIMIT 1"""
    )
    assert row, "the demo data has an active individual with a mobile number"
    return row[0][0], row[0][1]


def choose(page: Page, category: str, offering: str) -> None:
    """Open a category of the order form and pick an offering in it. The category's offerings
    replace the list (htmx) only when they arrive: a click before that lands on the old list, and
    its choice is gone with it."""
    page.click(f'[data-category="{category}"]')
    expect(page.locator(f'[data-category="{category}"]')).to_have_attribute("aria-current", "true")
    page.click(f'[data-offering="{offering}"]')
    expect(page.locator(f'[data-offering="{offering}"] input')).to_be_checked()


def test_an_agent_finds_a_customer_by_phone_places_a_bundle_order_and_sees_it_complete(
    site: Site, page: Page, signed_in: Callable[..., Page], shot: Callable[[Page, str], object]
) -> None:
    customer_id, phone = _customer_with_phone(site)
    orders_before = site.sql.count("product_order", "customer_id = %s", customer_id)
    signed_in(page, "agent")
    page.fill("#q", phone)
    page.press("#q", "Enter")
    expect(page).to_have_url(re.compile(rf"/desk/customers/{customer_id}$"))  # one hit: its page opens
    page.get_by_role("link", name=re.compile("新建订单")).click()
    expect(page).to_have_url(re.compile(rf"/desk/customers/{customer_id}/order"))

    choose(page, "cat-bundles", "po-bundle-converged")
    price = page.locator('#price [data-total="recurring"]')
    expect(price).to_contain_text("¥")  # the price arrived for the chosen bundle
    first_number = page.locator("[data-number]").first
    expect(first_number).to_be_visible()
    number = first_number.get_attribute("data-number")
    first_number.click()
    shot(page, "order-form")
    page.click("#check-order")
    expect(page.locator("#check")).to_contain_text("校验通过")
    page.click("#place-order")

    expect(page).to_have_url(re.compile(r"/desk/orders/[0-9a-f-]+$"))
    order_id = page.url.rsplit("/", 1)[1]
    expect(page.locator("#order-state")).to_have_attribute("data-state", "completed", timeout=COMPLETION_MS)
    rows = page.locator("[data-work-order]")
    assert rows.count() >= 5  # number, SIM, port, appointment, activation, IPTV...
    for i in range(rows.count()):
        assert rows.nth(i).get_attribute("data-status") == "completed"
    shot(page, "order-completed")

    # exactly one order, completed, with its products under the customer and the number in service
    assert site.sql.count("product_order", "customer_id = %s", customer_id) == orders_before + 1
    assert site.sql.value("SELECT state FROM product_order WHERE id = %s", order_id) == "completed"
    made = site.sql.count(
        "product",
        "customer_id = %s AND body->'productOrderItem' @> %s::jsonb",
        customer_id,
        f'[{{"productOrderId": "{order_id}"}}]',
    )
    assert made == 4  # the bundle and its three parts
    assert site.sql.value("SELECT status FROM number_pool WHERE number = %s", number) == "taken"


def test_a_hall_order_appears_on_the_agents_open_page_without_reload(
    site: Site, new_page: Callable[[], Page], signed_in: Callable[..., Page], shot: Callable[[Page, str], object]
) -> None:
    customer_id = site.sql.value("SELECT customer_id FROM principal WHERE username = 'customer'")
    assert customer_id
    agent = signed_in(new_page(), "agent")
    agent.goto(f"/desk/customers/{customer_id}")
    expect(agent.locator("#orders")).to_be_visible()
    agent.evaluate("window.__stillHere = 'yes'")  # gone if the page were loaded again

    customer = signed_in(new_page(), "customer")
    expect(customer).to_have_url(re.compile(r"/hall$"))
    shot(customer, "hall-home")
    customer.click("#order-new")
    choose(customer, "cat-tv", "po-iptv")
    expect(customer.locator('#price [data-total="recurring"]')).not_to_have_text("¥0.00")  # its price arrived
    customer.click("#place-order")
    expect(customer).to_have_url(re.compile(r"/hall/orders/[0-9a-f-]+$"))
    order_id = customer.url.rsplit("/", 1)[1]
    shot(customer, "hall-order")

    # the agent's page, open all along, shows the new order by itself (SSE over the outbox)
    expect(agent.locator(f'#orders tr[data-order="{order_id}"]')).to_be_visible()
    assert agent.evaluate("window.__stillHere") == "yes"
    shot(agent, "desk-customer-live")
    # and it follows the order to completion, still without a reload
    expect(agent.locator(f'#orders tr[data-order="{order_id}"]')).to_have_attribute(
        "data-state", "completed", timeout=COMPLETION_MS
    )
    assert agent.evaluate("window.__stillHere") == "yes"
    assert site.sql.value("SELECT body->'channel'->0->>'id' FROM product_order WHERE id = %s", order_id) == "webHall"
