"""Browser: a clerk signs a new person up through the form, in one go, and lands on the new page."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.browser.conftest import Site
from tests.factories import resident_id


def test_a_clerk_signs_up_a_person_with_the_keyboard_and_sees_the_new_customer(
    site: Site, page: Page, signed_in: Callable[..., Page], shot: Callable[[Page, str], object]
) -> None:
    phone = f"139{random.randrange(10**8):08d}"
    id_number = resident_id(birth="19851203", region="310104")
    signed_in(page, "clerk")
    page.click("text=新建客户")
    expect(page.locator('input[name="family_name"]')).to_be_focused()  # typing can start at once
    page.keyboard.type("欧阳")
    page.keyboard.press("Tab")
    page.keyboard.type("明月")
    page.fill('input[name="id_number"]', "31010419851203000X")  # a wrong check digit first
    page.fill('input[name="mobile"]', phone)
    page.fill('input[name="city"]', "上海市")
    page.fill('input[name="street"]', "徐汇区漕溪北路 88 号")
    page.press('input[name="street"]', "Enter")
    error = page.locator('.field-error[data-field="id_number"]')
    expect(error).to_be_visible()  # shown next to the field, the rest kept as typed
    expect(page.locator('input[name="family_name"]')).to_have_value("欧阳")
    assert site.sql.count("customer", "name = %s", "欧阳明月") == 0  # nothing half-written
    shot(page, "desk-customer-new-error")

    page.fill('input[name="id_number"]', id_number)
    page.click("#save-customer")
    expect(page).to_have_url(re.compile(r"/desk/customers/C\d+\?created=1"))
    customer_id = re.search(r"/desk/customers/(C\d+)", page.url).group(1)  # type: ignore[union-attr]
    expect(page.locator("h1").first).to_contain_text("欧阳明月")
    expect(page.locator("#structure")).to_contain_text(phone)  # the user of the new account
    shot(page, "desk-customer-new")
    assert site.sql.value("SELECT party_id IS NOT NULL FROM customer WHERE id = %s", customer_id) is True
    assert site.sql.count("account", "customer_id = %s", customer_id) == 1
    assert site.sql.count("customer_user", "customer_id = %s", customer_id) == 1
