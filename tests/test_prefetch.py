"""prefetch(): the call starts while the page does its own work, and fetch() collects it."""

from __future__ import annotations

import inspect
import time
from typing import Any

import anyio
import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pc_middleware import Personalization

from .conftest import SESSION_COOKIE, VISITOR_COOKIE, browser, set_cookies, shop
from .fake_api import FakePureClarity

pytestmark = pytest.mark.anyio
API_LATENCY = PAGE_WORK = 0.3


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def slow_api(fake: FakePureClarity) -> FakePureClarity:
    async def answer(body: dict[str, Any]) -> httpx.Response:
        await anyio.sleep(API_LATENCY)
        return httpx.Response(200, json=fake.personalise(body))

    fake.answer = answer
    return fake


async def product_page(request: Request) -> Response:
    pc = request.state.pureclarity
    pc.track("product_view", {"id": "P1"})
    pc.add_zones("PP-01")
    pc.prefetch()
    await anyio.sleep(PAGE_WORK)  # the page's own work: a database query, say
    result = await pc.fetch()
    return JSONResponse({"zones": sorted(result.zones), "errors": result.errors})


def test_prefetch_is_a_plain_method_not_a_coroutine() -> None:
    assert not inspect.iscoroutinefunction(Personalization.prefetch)


async def test_the_page_waits_for_the_longer_of_its_work_and_the_call_not_both(fake: FakePureClarity) -> None:
    async with browser(shop(Route("/", product_page), fake=slow_api(fake))) as client:
        started = time.perf_counter()
        page = await client.get("/")
        took = time.perf_counter() - started

    assert page.json() == {"zones": ["PP-01"], "errors": []}
    assert fake.calls == 1
    assert took < API_LATENCY + PAGE_WORK - 0.1  # overlapped; done one after the other it would take 0.6 s


async def test_what_is_registered_after_a_prefetch_goes_out_with_the_next_call(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.track("page_view", {"page_type": "product_page"})
        pc.add_zones("PP-01")
        pc.prefetch()
        pc.track("product_view", {"id": "P1"})
        pc.add_zones("PP-02")
        result = await pc.fetch()
        return JSONResponse({"zones": sorted(result.zones)})

    async with browser(shop(Route("/", page), fake=fake)) as client:
        page_json = (await client.get("/")).json()

    assert [[e["name"] for e in body.get("events", [])] for body in fake.bodies] == [["page_view"], ["product_view"]]
    assert [body["zones"] for body in fake.bodies] == [["PP-01"], ["PP-02"]]
    assert page_json == {"zones": ["PP-01", "PP-02"]}


async def test_a_fetch_after_a_prefetch_with_nothing_new_makes_no_second_call(fake: FakePureClarity) -> None:
    async with browser(shop(Route("/", product_page), fake=fake)) as client:
        await client.get("/")

    assert fake.calls == 1


async def test_a_new_shopper_gets_cookies_from_a_prefetch_nobody_fetched(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        request.state.pureclarity.track("page_view", {"page_type": "homepage"})
        request.state.pureclarity.prefetch()
        return Response("no zones on this page")  # the headers must wait for the IDs

    async with browser(shop(Route("/", page), fake=slow_api(fake))) as client:
        response = await client.get("/")

    cookies = set_cookies(response)
    assert [c.split("=")[0] for c in cookies] == [VISITOR_COOKIE, SESSION_COOKIE]
    assert fake.calls == 1


async def test_prefetch_makes_no_call_where_no_call_is_allowed_or_nothing_is_registered(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        request.state.pureclarity.prefetch()  # nothing registered
        request.state.pureclarity.add_zones("HP-01")
        request.state.pureclarity.prefetch()
        return Response("ok")

    async with browser(shop(Route("/", page, methods=["GET", "HEAD"]), fake=fake)) as client:
        await client.head("/")
        assert fake.calls == 0
        await client.get("/")
        assert fake.calls == 1


async def test_two_prefetches_and_a_fetch_go_out_in_the_order_asked(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.add_zones("A")
        pc.prefetch()
        pc.add_zones("B")
        pc.prefetch()  # a call is already out: this one must wait for it, and fetch() for both
        pc.add_zones("C")
        result = await pc.fetch()
        return JSONResponse({"zones": sorted(result.zones)})

    async with browser(shop(Route("/", page), fake=slow_api(fake))) as client:
        page_json = (await client.get("/")).json()

    assert [body["zones"] for body in fake.bodies] == [["A"], ["B"], ["C"]]
    assert page_json == {"zones": ["A", "B", "C"]}


async def test_a_prefetched_call_keeps_the_currency_it_was_started_with(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.currency = "GBP"
        pc.add_zones("HP-01")
        pc.prefetch()
        pc.currency = "USD"  # belongs to the next call
        await pc.fetch()
        return Response("ok")

    async with browser(shop(Route("/", page), fake=fake)) as client:
        await client.get("/")

    assert [body["currency"] for body in fake.bodies] == ["GBP"]
