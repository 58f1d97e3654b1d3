"""The agent desktop in a real browser: search as you type, scope, languages, live updates over SSE."""

from __future__ import annotations

import os
import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site, shot, signed_in

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
SIGN_OUT = "header.top form[action='/logout'] button"


def test_an_agent_finds_a_customer_by_phone_as_they_type(site: Site, page: Page) -> None:
    # a mobile number that belongs to one active customer with products
    phone, customer_id, name = site.sql.rows(
        "SELECT k.key, c.id, c.name FROM search_key k JOIN customer c ON c.id = k.customer_id"
        " WHERE k.kind = 'phone' AND k.key LIKE '1%' AND c.status = 'active'"
        " AND EXISTS (SELECT 1 FROM product p WHERE p.customer_id = c.id AND p.name IS NOT NULL)"
        " AND (SELECT count(DISTINCT k2.customer_id) FROM search_key k2 WHERE k2.kind = 'phone' AND k2.key = k.key) = 1"
        " ORDER BY c.id LIMIT 1"
    )[0]
    products = {r[0] for r in site.sql.rows("SELECT name FROM product WHERE customer_id = %s", customer_id) if r[0]}
    assert products

    signed_in(page, "agent")
    assert page.url.endswith("/desk")
    page.evaluate("window.__marker = 1")
    page.locator("#q").press_sequentially(phone, delay=15)
    hit = page.locator(f"#results a.hit[href='/desk/customers/{customer_id}']")
    expect(hit).to_be_visible()
    expect(hit).to_have_text(name)
    expect(page.locator("#results [data-total]")).to_have_attribute("data-total", "1")
    # the results came in place (HTMX), not by a new page load, and the address follows them
    assert page.evaluate("window.__marker") == 1
    assert re.search(rf"/desk/search\?q={phone}$", page.url), page.url
    shot(page, "desk-search")

    hit.click()
    expect(page).to_have_url(re.compile(rf"/desk/customers/{customer_id}$"))
    expect(page.locator("section.head h1")).to_contain_text(name)
    rows = site.sql.count("product", "customer_id = %s", customer_id)
    expect(page.locator("#products tbody tr")).to_have_count(rows)
    for product in products:
        expect(page.locator("#products")).to_contain_text(product)
    shot(page, "desk-customer")


def test_a_dealer_sees_its_own_customers_and_not_another_dealers(site: Site, page: Page) -> None:
    dealer_id = site.sql.value("SELECT dealer_id FROM principal WHERE username = 'dealer'")
    assert dealer_id
    ours_id, ours_name = site.sql.rows("SELECT id, name FROM customer WHERE dealer_id = %s ORDER BY id", dealer_id)[0]
    theirs_id, theirs_name = site.sql.rows(
        "SELECT id, name FROM customer WHERE dealer_id IS DISTINCT FROM %s ORDER BY dealer_id IS NULL, id", dealer_id
    )[0]
    assert site.sql.value("SELECT dealer_id FROM customer WHERE id = %s", theirs_id) != dealer_id

    signed_in(page, "dealer")
    portfolio = page.locator("#portfolio")
    expect(portfolio).to_contain_text(ours_name)
    expect(portfolio.locator(f"a[href='/desk/customers/{theirs_id}']")).to_have_count(0)

    response = page.goto(f"/desk/customers/{theirs_id}")
    assert response is not None and response.status == 404
    expect(page.locator(".error[data-status='404']")).to_be_visible()
    assert theirs_name not in page.locator("body").inner_text()
    expect(page.locator("section.head")).to_have_count(0)
    shot(page, "desk-dealer-not-found")

    response = page.goto(f"/desk/customers/{ours_id}")
    assert response is not None and response.status == 200
    expect(page.locator("section.head h1")).to_contain_text(ours_name)


def _chrome(page: Page) -> dict[str, str]:
    """The texts of the desktop's frame: what every page shows whatever the data."""
    return {
        "placeholder": page.get_attribute("#q", "placeholder") or "",
        "sign out": page.locator(SIGN_OUT).inner_text().strip(),
        "heading": page.locator("main h1").first.inner_text().strip(),
    }


def test_each_language_renders_the_desktop(site: Site, page: Page) -> None:
    signed_in(page, "agent")
    langs = page.locator("header.top nav.langs")

    # simplified Chinese is the default
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    hans = _chrome(page)
    shot(page, "desk-zh_Hans")
    for part, text in hans.items():
        assert CJK.search(text), f"zh_Hans {part} is not in Chinese: {text!r}"

    langs.get_by_role("link", name="繁體中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-TW")
    assert page.url.endswith("/desk")  # back where the reader was
    hant = _chrome(page)
    shot(page, "desk-zh_Hant")
    for part, text in hant.items():
        assert CJK.search(text), f"zh_Hant {part} is not in Chinese: {text!r}"

    langs.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    en = _chrome(page)
    shot(page, "desk-en")
    assert en["sign out"] == "Sign out"
    assert en["heading"] == "Find a customer"
    assert en["placeholder"].startswith("Phone")
    for part, text in en.items():
        assert not CJK.search(text), f"English {part} has Chinese in it: {text!r}"
    page.reload()  # the choice is kept (a cookie)
    expect(page.locator("html")).to_have_attribute("lang", "en")

    langs.get_by_role("link", name="简体中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    assert _chrome(page) == hans


def test_the_customer_page_shows_a_new_user_without_reloading(site: Site, page: Page) -> None:
    """Outbox event -> the teller's NOTIFY after commit -> kit.live -> SSE -> HTMX refresh of the page."""
    customer_id, name = site.sql.rows("SELECT id, name FROM customer WHERE status = 'active' ORDER BY id DESC LIMIT 1")[
        0
    ]
    phone = f"1399{os.getpid() % 10**7:07d}"
    user = "林小雨"
    assert site.sql.count("customer_user", "body->>'phoneNumber' = %s", phone) == 0

    page.add_init_script("document.addEventListener('htmx:sseOpen', function () { window.__sseOpen = true; });")
    signed_in(page, "agent")
    page.goto(f"/desk/customers/{customer_id}")
    expect(page.locator("section.head h1")).to_contain_text(name)
    page.wait_for_function("window.__sseOpen === true")
    expect(page.locator("#structure")).not_to_contain_text(phone)
    page.evaluate("window.__marker = 1")

    r = site.api.post(f"/api/customers/{customer_id}/users", json={"name": user, "phoneNumber": phone})
    assert r.status_code == 201, r.text

    structure = page.locator("#structure")
    expect(structure).to_contain_text(phone)
    expect(structure).to_contain_text(user)
    # the same document: no navigation, no reload; the part was swapped because of the event
    assert page.evaluate("window.__marker") == 1
    assert page.url.endswith(f"/desk/customers/{customer_id}")
    expect(page.locator("#customer-body")).to_have_class(re.compile(r"\bflash\b"))
    shot(page, "desk-live")


def test_an_order_is_fulfilled_by_the_simulator_while_its_customer_page_is_open(site: Site, page: Page) -> None:
    """The site's server sends work orders to its provisioning simulator, which reports back: the
    open customer page follows the order to completed by itself (work-order and outbox topics)."""
    customer_id, account_id = site.sql.rows(
        "SELECT c.id, a.id FROM customer c JOIN account a ON a.owner_customer_id = c.id"
        " WHERE c.status = 'active' AND c.category = 'individual' AND a.state = 'active'"
        " AND a.body->>'@type' = 'BillingAccount' ORDER BY c.id DESC OFFSET 1 LIMIT 1"
    )[0]
    number = site.sql.value(
        "SELECT number FROM number_pool WHERE status = 'free' AND kind = 'mobile' ORDER BY number DESC LIMIT 1"
    )
    offering = "po-mobile-59"  # the demo catalog's 59元 5G plan

    page.add_init_script("document.addEventListener('htmx:sseOpen', function () { window.__sseOpen = true; });")
    signed_in(page, "agent")
    page.goto(f"/desk/customers/{customer_id}")
    page.wait_for_function("window.__sseOpen === true")
    page.evaluate("window.__marker = 1")

    body = {
        "relatedParty": [{"id": customer_id, "role": "customer", "@referredType": "Customer"}],
        "billingAccount": {"id": account_id},
        "productOrderItem": [
            {
                "id": "1",
                "action": "add",
                "productOffering": {"id": offering},
                "product": {"productCharacteristic": [{"name": "serviceNumber", "value": number}]},
            }
        ],
    }
    r = site.api.post("/tmf-api/productOrderingManagement/v4/productOrder", json=body)
    assert r.status_code == 201, r.text
    order_id = r.json()["id"]

    expect(page.locator(f"#orders tr[data-order='{order_id}']")).to_have_attribute("data-state", "completed")
    expect(page.locator("#products")).to_contain_text(number)
    assert page.evaluate("window.__marker") == 1
    assert site.sql.value("SELECT state FROM product_order WHERE id = %s", order_id) == "completed"
    shot(page, "desk-order-fulfilled")
