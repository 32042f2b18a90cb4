"""The middleware against the emulator: in-process, and over real loopback servers as in production."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware
from pc_middleware.testing import EmulatorHandle, serve_in_thread

from .contract import check_request


async def product_page(request: Request) -> Response:
    pc = request.state.pureclarity
    product_id = request.path_params["product_id"]
    pc.track("page_view", {"page_type": "product_page", "product_id": product_id})
    pc.track("product_view", {"id": product_id})
    pc.add_zones("PP-01", "PP-02", "HP-02")
    result = await pc.fetch()
    return JSONResponse(
        {zone_id: [item.id for item in zone.items] for zone_id, zone in result.zones.items()}
        | {"errors": result.errors}
    )


ROUTES = [Route("/product/{product_id}", product_page)]


@pytest.mark.anyio
async def test_in_process(pureclarity_emulator: EmulatorHandle) -> None:
    app = Starlette(
        routes=ROUTES, middleware=[Middleware(PureClarityMiddleware, **pureclarity_emulator.middleware_options)]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test") as shopper:
        first = await shopper.get("/product/P013")
        second = await shopper.get("/product/P014")

    assert first.json()["PP-02"] == ["P014", "P017", "P018"]
    assert second.json()["HP-02"] == ["P013"]  # recently viewed, without the product on the page
    assert shopper.cookies["pc_v_demo"] == pureclarity_emulator.requests()[1]["visitorId"]


def test_over_real_loopback_servers_configured_from_the_environment(
    pureclarity_emulator_server: EmulatorHandle,
) -> None:
    app = Starlette(routes=ROUTES, middleware=[Middleware(PureClarityMiddleware)])  # PURECLARITY_* set by the fixture
    with (
        serve_in_thread(app) as shop_url,
        httpx.Client(base_url=shop_url) as ann,
        httpx.Client(base_url=shop_url) as bob,
    ):
        ann.get("/product/P013")
        ann.get("/product/P016")
        seen_by_bob = bob.get("/product/P013").json()

    assert seen_by_bob["PP-01"][0] == "P016"  # Ann viewed it in the same session as P013
    assert seen_by_bob["errors"] == []
    assert ann.cookies["pc_v_demo"] != bob.cookies["pc_v_demo"]
    assert ann.cookies["pc_sessid_demo"]
    received = pureclarity_emulator_server.requests()
    assert len(received) == 3
    for body in received:
        check_request(body | {"secretKey": "redacted"})
    assert received[1]["visitorId"] == ann.cookies["pc_v_demo"]


def test_emulator_faults_reach_the_page_as_errors_not_failures(pureclarity_emulator_server: EmulatorHandle) -> None:
    app = Starlette(routes=ROUTES, middleware=[Middleware(PureClarityMiddleware)])
    with serve_in_thread(app) as shop_url, httpx.Client(base_url=shop_url) as shopper:
        pureclarity_emulator_server.inject(status=502)
        failing = shopper.get("/product/P001")
        pureclarity_emulator_server.inject(drop=True)
        dropped = shopper.get("/product/P001")
        pureclarity_emulator_server.clear_faults()
        healthy = shopper.get("/product/P001")

    assert (failing.status_code, failing.json()) == (200, {"errors": ["PureClarity answered HTTP 502"]})
    assert dropped.json() == {"errors": ["could not reach PureClarity (RemoteProtocolError)"]}
    assert healthy.json()["errors"] == []
