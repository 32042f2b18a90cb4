"""The demo shop in-process: every page renders, bad input is refused cleanly, zone content is escaped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from example_app.shop import create_app
from pc_middleware.testing import EmulatorHandle

from .conftest import make_settings
from .fake_api import FakePureClarity

pytestmark = pytest.mark.anyio


@pytest.fixture
async def shopper(pureclarity_emulator: EmulatorHandle) -> Any:
    app = create_app(**pureclarity_emulator.middleware_options)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as client:
        yield client


@pytest.mark.parametrize("path", ["/", "/category/tea", "/product/P001", "/basket", "/signin", "/images/P001.svg"])
async def test_every_page_renders(shopper: httpx.AsyncClient, path: str) -> None:
    assert (await shopper.get(path)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("GET", "/product/NOPE", None),
        ("GET", "/category/nope", None),
        ("GET", "/order/DEMO-UNKNOWN", None),
        ("GET", "/no/such/page", None),
        ("POST", "/product/P001/rate", {"rating": "11"}),
        ("POST", "/basket/add", {"product_id": "<script>"}),
    ],
)
async def test_bad_input_gets_a_404_page_not_a_500(
    shopper: httpx.AsyncClient, method: str, path: str, data: Any
) -> None:
    response = await shopper.request(method, path, data=data)
    assert response.status_code == 404
    assert "Not found" in response.text


async def test_checkout_with_an_empty_basket_goes_back_to_the_basket(shopper: httpx.AsyncClient) -> None:
    response = await shopper.get("/checkout")
    assert (response.status_code, response.headers["location"]) == (303, "/basket")


async def test_a_bad_email_at_checkout_is_asked_again(shopper: httpx.AsyncClient) -> None:
    await shopper.post("/basket/add", data={"product_id": "P001", "qty": "2"})
    response = await shopper.post("/checkout", data={"email": "not an email"})
    assert response.status_code == 200
    assert "Please enter an email address" in response.text


async def test_the_usd_shop_leaves_out_products_with_no_usd_price(shopper: httpx.AsyncClient) -> None:
    shopper.cookies.set("shop_currency", "USD")
    page = await shopper.get("/category/gifts")
    assert "$44.45" in page.text  # the gift box
    assert "not sold in USD" in page.text  # the gift card has no USD price


async def test_hostile_zone_content_is_escaped_and_unsafe_links_are_dropped() -> None:
    fake = FakePureClarity()
    hostile = {
        "Id": "X1",
        "Title": '<script>alert("title")</script>',
        "Link": "/product/P001",
        "Image": "//evil.example/track.gif",
        "DisplayPrice": "<b>£1</b>",
        "clickEvt": '"><script>alert(2)</script>',
    }
    unsafe_link = hostile | {"Id": "X2", "Link": "javascript:alert(1)"}
    fake.answer = lambda body: httpx.Response(
        200,
        json={
            "visitorId": "v",
            "sessionId": "s",
            "zones": {"HP-01": {"title": "<i>Hot</i>", "items": [hostile, unsafe_link]}},
        },
    )
    app = create_app(settings=make_settings(), transport=fake.transport)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as client:
        page = (await client.get("/")).text

    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in page
    assert "&lt;i&gt;Hot&lt;/i&gt;" in page
    assert "&lt;b&gt;£1&lt;/b&gt;" in page
    assert 'data-pureclarity-product="X1"' in page
    assert 'data-pureclarity-product="X2"' not in page  # no safe link: no card
    assert "javascript:" not in page
    assert "evil.example" not in page
    assert 'data-pureclarity-click="&#34;&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in page
