"""The demo shop in a real headless Chromium (Debian's, driven by Playwright), against the emulator.

Where Chromium is missing the tests are skipped on a developer's machine, but fail under CI
(``CI`` set): ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from example_app.shop import create_app
from pc_middleware.testing import EmulatorHandle, serve_in_thread

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"
# As root in a container, with the network closed: no sandbox, and none of Chromium's own traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

playwright_api = pytest.importorskip("playwright.sync_api")
Browser = playwright_api.Browser
Page = playwright_api.Page


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"Chromium not found at {CHROMIUM}: apt-get install -y chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def shop(pureclarity_emulator_server: EmulatorHandle) -> Iterator[str]:
    with serve_in_thread(create_app(settings=pureclarity_emulator_server.settings)) as url:
        yield url


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh shopper (its own cookie jar); a screenshot lands in test-artifacts/ if the test fails."""
    context = browser.new_context()
    page = context.new_page()
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed_before:  # the call's report is in before teardown
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def pc_cookies(page: Page) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies() if c["name"].startswith("pc_")}


def zone_products(page: Page, zone_id: str) -> list[str]:
    cards = page.locator(f'[data-pureclarity-zone="{zone_id}"] .pureclarity-card')
    return cards.evaluate_all("cards => cards.map(c => c.dataset.pureclarityProduct)")


def test_a_shopper_walks_the_shop_and_the_zones_follow(
    page: Page, shop: str, pureclarity_emulator_server: EmulatorHandle
) -> None:
    page.goto(f"{shop}/")
    assert len(zone_products(page, "HP-01")) == 4
    assert zone_products(page, "HP-02") == []  # nothing viewed yet
    assert "Free delivery" in page.locator('[data-pureclarity-zone="HP-03"]').inner_text()
    ids = pc_cookies(page)
    assert set(ids) == {"pc_v_demo", "pc_sessid_demo"}

    page.goto(f"{shop}/product/P013")
    assert zone_products(page, "PP-02") == ["P014", "P017", "P018"]  # the feed's associated products
    card = page.locator('[data-pureclarity-zone="PP-02"] [data-pureclarity-product="P014"] a')
    card.dispatch_event("mousedown")
    assert page.evaluate("window._pcClicks") == [["zoneclick", {"zone": "PP-02", "id": "P014"}]]
    card.click()
    page.wait_for_url(re.compile(r"/product/P014$"))
    assert "P014" not in zone_products(page, "PP-01")  # never the product being viewed

    page.goto(f"{shop}/")
    assert zone_products(page, "HP-02") == ["P014", "P013"]  # the zone changed with what was browsed

    page.goto(f"{shop}/product/P014")
    page.click("#add-to-basket")
    page.wait_for_url(re.compile(r"/basket$"))
    assert page.locator("table.basket tr[data-product='P014']").count() == 1
    assert "P014" not in zone_products(page, "BP-01")  # nor what is in the basket
    page.goto(f"{shop}/")
    assert zone_products(page, "HP-02") == ["P013"]

    page.goto(f"{shop}/checkout")
    page.fill("input[name=email]", "ann@example.com")
    page.click("#place-order")
    page.wait_for_url(re.compile(r"/order/DEMO-"))
    assert page.locator("#order-complete").is_visible()
    assert len(zone_products(page, "OC-01")) == 4

    assert pc_cookies(page) == ids  # the same visitor and session all along
    orders = [
        e for body in pureclarity_emulator_server.requests() for e in body.get("events", []) if e["name"] == "order"
    ]
    assert len(orders) == 1
    assert orders[0]["data"]["email"] == "ann@example.com"
    assert orders[0]["data"]["items"] == [{"id": "P014", "qty": 1, "unitprice": 4.5}]


def test_a_zone_card_opened_from_the_keyboard_is_tracked_once(page: Page, shop: str) -> None:
    page.goto(f"{shop}/product/P013")
    page.evaluate("document.addEventListener('click', event => event.preventDefault())")  # stay on the page
    page.focus('[data-pureclarity-zone="PP-02"] [data-pureclarity-product="P014"] a')
    page.keyboard.press("Enter")
    assert page.evaluate("window._pcClicks") == [["zoneclick", {"zone": "PP-02", "id": "P014"}]]


def test_what_one_shopper_views_shapes_what_the_next_is_shown(browser: Browser, shop: str) -> None:
    first, second = browser.new_context(), browser.new_context()
    try:
        ann = first.new_page()
        ann.goto(f"{shop}/product/P020")
        ann.goto(f"{shop}/product/P025")
        bob = second.new_page()
        bob.goto(f"{shop}/product/P020")
        assert zone_products(bob, "PP-01")[0] == "P025"
        assert pc_cookies(ann)["pc_v_demo"] != pc_cookies(bob)["pc_v_demo"]
    finally:
        first.close()
        second.close()


def test_signing_in_and_out(page: Page, shop: str, pureclarity_emulator_server: EmulatorHandle) -> None:
    page.goto(f"{shop}/signin")
    page.fill("input[name=email]", "ann@example.com")
    page.fill("input[name=firstname]", "Ann")
    page.click("#sign-in-submit")
    page.wait_for_url(f"{shop}/")
    assert "Hi Ann" in page.inner_text("header")
    before = pc_cookies(page)["pc_v_demo"]
    details = [
        e
        for body in pureclarity_emulator_server.requests()
        for e in body.get("events", [])
        if e["name"] == "customer_details"
    ]
    assert details == [
        {
            "name": "customer_details",
            "data": {"userid": "ann@example.com", "email": "ann@example.com", "firstname": "Ann"},
        }
    ]

    page.click("#sign-out")
    page.wait_for_url(f"{shop}/")
    assert page.locator("#sign-in").is_visible()
    assert pc_cookies(page)["pc_v_demo"] != before  # forgotten: a fresh anonymous shopper


def test_the_debug_panel_shows_the_ids_and_the_last_call_but_never_the_secret(page: Page, shop: str) -> None:
    page.goto(f"{shop}/product/P001")
    assert page.locator("#debug-panel").count() == 0  # off by default

    page.click("#debug-toggle")
    page.wait_for_selector("#debug-panel")
    assert page.inner_text("#debug-visitor") == pc_cookies(page)["pc_v_demo"]
    assert page.inner_text("#debug-session") == pc_cookies(page)["pc_sessid_demo"]
    panel = page.inner_text("#debug-panel")
    assert "product_view" in panel
    assert "PP-01, PP-02" in panel
    assert "demo-secret" not in page.content()
