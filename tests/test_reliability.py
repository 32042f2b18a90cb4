"""The circuit breaker, what is not sent, the pool after a storm, and what the middleware counts."""

from __future__ import annotations

import collections
import logging
import time

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware
from pc_middleware.breaker import CircuitBreaker
from pc_middleware.testing import EmulatorHandle, serve_in_thread

from .conftest import RETURNING, browser, make_settings, set_cookies, shop, zones_page
from .fake_api import FakePureClarity

# --- the breaker on its own, with a clock we move -------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_the_threshold_and_one_probe_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=clock)

    for _ in range(2):
        assert breaker.allow()
        breaker.failed()
    assert breaker.state == "closed"
    assert breaker.allow()
    breaker.failed()
    assert breaker.state == "open"
    assert not breaker.allow()

    clock.now += 30
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one
    breaker.failed()
    assert breaker.state == "open"  # failed probe: another cooldown
    clock.now += 30
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed"
    assert breaker.allow()


def test_a_success_resets_the_count_of_consecutive_failures() -> None:
    breaker = CircuitBreaker(threshold=2, cooldown=30, clock=Clock())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == "closed"


def test_retry_after_opens_at_once_for_that_long_capped_at_30_seconds() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=5, cooldown=10, clock=clock)
    breaker.failed(retry_after=12)
    assert (breaker.state, breaker.seconds_left()) == ("open", 12)
    breaker.failed(retry_after=3600)
    assert breaker.seconds_left() == 30


def test_an_abandoned_probe_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=5, clock=clock)
    breaker.failed()
    clock.now += 5
    assert breaker.allow()
    breaker.abandoned()
    assert breaker.allow()


# --- the breaker in the middleware ---------------------------------------------------------------


@pytest.mark.anyio
async def test_after_five_failures_calls_are_skipped_and_the_page_says_why(fake: FakePureClarity) -> None:
    fake.answer = lambda body: httpx.Response(500, text="down")
    middleware = PureClarityMiddleware(
        Starlette(routes=[Route("/", zones_page)]), settings=make_settings(), transport=fake.transport
    )

    async with browser(middleware) as client:
        for _ in range(5):
            await client.get("/", headers=RETURNING)
        started = time.perf_counter()
        skipped = await client.get("/", headers=RETURNING)

    assert fake.calls == 5
    assert skipped.json()["errors"] == ["PureClarity calls are paused for 30s after repeated failures"]
    assert time.perf_counter() - started < 1
    assert (middleware.stats.calls, middleware.stats.failures, middleware.stats.skipped_by_breaker) == (5, 5, 1)
    assert middleware.client.breaker.state == "open"


@pytest.mark.anyio
async def test_refusals_are_answers_not_failures(fake: FakePureClarity) -> None:
    fake.answer = lambda body: httpx.Response(403, json={"errors": ["Invalid access key"]})
    middleware = PureClarityMiddleware(
        Starlette(routes=[Route("/", zones_page)]), settings=make_settings(), transport=fake.transport
    )

    async with browser(middleware) as client:
        for _ in range(8):
            await client.get("/", headers=RETURNING)

    assert fake.calls == 8
    assert middleware.client.breaker.state == "closed"


@pytest.mark.anyio
async def test_each_middleware_instance_has_its_own_breaker(fake: FakePureClarity) -> None:
    fake.answer = lambda body: httpx.Response(503, text="busy", headers={"Retry-After": "10"})
    first = PureClarityMiddleware(
        Starlette(routes=[Route("/", zones_page)]), settings=make_settings(), transport=fake.transport
    )
    second = PureClarityMiddleware(
        Starlette(routes=[Route("/", zones_page)]), settings=make_settings(), transport=fake.transport
    )

    async with browser(first) as client:
        await client.get("/", headers=RETURNING)

    assert first.client.breaker.state == "open"
    assert second.client.breaker.state == "closed"


# --- what is not sent ----------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
async def test_head_and_options_make_no_call(fake: FakePureClarity, method: str) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.track("page_view", {"page_type": "homepage"})
        pc.add_zones("HP-01")
        await pc.fetch()
        return PlainTextResponse("ok")

    app = shop(Route("/", page, methods=["GET", "HEAD", "OPTIONS"]), fake=fake)
    async with browser(app) as client:
        response = await client.request(method, "/")

    assert response.status_code == 200
    assert fake.calls == 0
    assert set_cookies(response) == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    "header", [("sec-purpose", "prefetch"), ("sec-purpose", "prefetch;prerender"), ("purpose", "prefetch")]
)
async def test_a_prefetch_fetches_zones_but_sends_no_events(fake: FakePureClarity, header: tuple[str, str]) -> None:
    async with browser(shop(Route("/", zones_page), fake=fake)) as client:
        response = await client.get("/", headers=dict([header]) | RETURNING)

    assert response.json()["zones"] == ["HP-01"]
    assert "events" not in fake.bodies[0]


@pytest.mark.anyio
async def test_known_bots_are_skipped_only_when_asked(fake: FakePureClarity) -> None:
    googlebot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    firefox = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
    async with (
        browser(shop(Route("/", zones_page), fake=fake)) as default,
        browser(shop(Route("/", zones_page), fake=fake, skip_bots=True)) as skipping,
    ):
        await default.get("/", headers={"user-agent": googlebot})
        await skipping.get("/", headers={"user-agent": googlebot})
        await skipping.get("/", headers={"user-agent": firefox})

    # Off by default (search engines value the links in recommendations); on, the bot makes no call.
    assert [body["userAgent"] for body in fake.bodies] == [googlebot, firefox]


@pytest.mark.anyio
async def test_more_than_eight_zones_in_one_call_logs_a_warning(
    fake: FakePureClarity, caplog: pytest.LogCaptureFixture
) -> None:
    async def page(request: Request) -> Response:
        request.state.pureclarity.add_zones(*(f"Z-{n}" for n in range(9)))
        await request.state.pureclarity.fetch()
        return PlainTextResponse("ok")

    async with browser(shop(Route("/", page), fake=fake)) as client:
        await client.get("/")

    warnings = [r.getMessage() for r in caplog.records if r.name == "pc_middleware" and r.levelno == logging.WARNING]
    assert warnings == ["9 zones in one call: PureClarity bills every further 8 as another page view"]


# --- headers and counters ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_server_timing_is_opt_in(fake: FakePureClarity) -> None:
    async with (
        browser(shop(Route("/", zones_page), fake=fake)) as plain,
        browser(shop(Route("/", zones_page), fake=fake, server_timing=True)) as timed,
    ):
        without = await plain.get("/")
        with_timing = await timed.get("/")

    assert "server-timing" not in without.headers
    assert with_timing.headers["server-timing"].startswith("pureclarity;dur=")
    assert float(with_timing.headers["server-timing"].split("=")[1]) >= 0


@pytest.mark.anyio
async def test_handlers_can_read_the_counters(fake: FakePureClarity) -> None:
    async def health(request: Request) -> Response:
        stats = request.state.pureclarity.stats
        return JSONResponse({"calls": stats.calls, "failures": stats.failures})

    async with browser(shop(Route("/", zones_page), Route("/health", health), fake=fake)) as client:
        await client.get("/")
        await client.get("/")
        counters = (await client.get("/health")).json()

    assert counters == {"calls": 2, "failures": 0}


# --- the pool and the deadline under load, over real loopback ---------------------------------------


def test_200_concurrent_pages_stay_on_time_and_the_pool_recovers_after_the_storm(
    pureclarity_emulator_server: EmulatorHandle,
) -> None:
    settings = make_settings(
        access_key="demo",
        secret_key="demo-secret",
        base_url=pureclarity_emulator_server.url,
        timeout=0.5,
        breaker_threshold=10_000,
    )
    app = Starlette(routes=[Route("/", zones_page)], middleware=[Middleware(PureClarityMiddleware, settings=settings)])
    pureclarity_emulator_server.inject(hang=True)

    errors: list[tuple[str, ...]] = []

    async def storm(url: str) -> list[float]:
        times: list[float] = []
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:

            async def one() -> None:
                started = time.perf_counter()
                page = await client.get("/")
                times.append(time.perf_counter() - started)
                errors.append(tuple(page.json()["errors"]))

            async with anyio.create_task_group() as tasks:
                for _ in range(200):
                    tasks.start_soon(one)
        return times

    with serve_in_thread(app) as url:
        times = anyio.run(storm, url)
        pureclarity_emulator_server.clear_faults()
        after = httpx.get(url).json()

    assert len(times) == 200
    assert set(errors) == {("PureClarity did not answer within 0.5s",)}, collections.Counter(errors)
    assert max(times) < 0.5 + 3  # generous on 2 busy cores; make bench measures the real figure
    assert after == {"zones": ["HP-01"], "errors": []}


def test_the_connection_pool_is_made_anew_in_a_forked_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    middleware = PureClarityMiddleware(Starlette(), settings=make_settings())
    parent = middleware.client._open()
    monkeypatch.setattr(os, "getpid", lambda: -1)
    child = middleware.client._open()

    assert child is not parent
    assert middleware.client._open() is child
