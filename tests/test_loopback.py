"""The middleware in a real uvicorn server, calling a fake PureClarity served by another, over loopback."""

from __future__ import annotations

import time
from typing import Any

import anyio
import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware
from pc_middleware.testing import serve_in_thread as serve

from .conftest import SESSION_COOKIE, VISITOR_COOKIE, make_settings
from .fake_api import FakePureClarity


async def product_page(request: Request) -> Response:
    pc = request.state.pureclarity
    pc.track("product_view", {"id": "P1"})
    pc.add_zones("PP-01")
    result = await pc.fetch()
    return JSONResponse({"zones": sorted(result.zones), "errors": result.errors})


def shop_calling(api_url: str, **settings: Any) -> Starlette:
    middleware = Middleware(PureClarityMiddleware, settings=make_settings(base_url=api_url, **settings))
    return Starlette(routes=[Route("/product/P1", product_page)], middleware=[middleware])


def test_a_shopper_browses_a_real_server_that_calls_a_real_api_server() -> None:
    fake = FakePureClarity()
    with (
        serve(fake.app) as api_url,
        serve(shop_calling(api_url)) as shop_url,
        httpx.Client(base_url=shop_url) as shopper,
    ):
        first = shopper.get("/product/P1", headers={"user-agent": "Chromium/156"})
        second = shopper.get("/product/P1")

    assert first.json() == {"zones": ["PP-01"], "errors": []}
    assert shopper.cookies[VISITOR_COOKIE] == "visitor-1"
    assert shopper.cookies[SESSION_COOKIE] == "session-1"
    assert fake.bodies[0]["ip"] == "127.0.0.1"
    assert fake.bodies[0]["userAgent"] == "Chromium/156"
    assert fake.bodies[0]["currentUrl"] == f"{shop_url}/product/P1"
    assert "visitorId" not in fake.bodies[0]
    assert (fake.bodies[1]["visitorId"], fake.bodies[1]["sessionId"]) == ("visitor-1", "session-1")
    assert second.status_code == 200


def test_an_api_that_drips_its_answer_cannot_hold_the_page_past_the_timeout() -> None:
    async def drip(request: Request) -> Response:
        async def one_byte_at_a_time() -> Any:
            for byte in b'{"visitorId": "v", "sessionId": "s", "zones": {}}':
                yield bytes([byte])
                await anyio.sleep(0.1)  # each read is quick; the whole answer is not

        return StreamingResponse(one_byte_at_a_time(), media_type="application/json")

    slow_api = Starlette(routes=[Route("/api/serverside", drip, methods=["POST"])])
    with serve(slow_api) as api_url, serve(shop_calling(api_url, timeout=0.3)) as shop_url:
        started = time.perf_counter()
        page = httpx.get(f"{shop_url}/product/P1")
        elapsed = time.perf_counter() - started

    assert page.json() == {"zones": [], "errors": ["PureClarity did not answer within 0.3s"]}
    assert elapsed < 2  # generous: the dripping answer alone would take 5 s


def test_an_api_that_is_not_listening_is_a_network_error_not_a_broken_page() -> None:
    with serve(shop_calling("http://127.0.0.1:9")) as shop_url:
        page = httpx.get(f"{shop_url}/product/P1")

    assert page.status_code == 200
    assert page.json()["errors"] == ["could not reach PureClarity (ConnectError)"]
