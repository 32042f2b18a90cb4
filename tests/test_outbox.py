"""No order is lost: the orders of a failed call are re-sent in the background until accepted, once each."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware
from pc_middleware import outbox as outbox_module
from pc_middleware.testing import EmulatorHandle, serve_in_thread

pytestmark = pytest.mark.anyio


async def checkout(request: Request) -> Response:
    pc = request.state.pureclarity
    pc.track("page_view", {"page_type": "order_complete_page"})
    line = {"id": "P001", "qty": 1, "unitprice": 8.5}
    pc.track("order", {"orderid": request.query_params["order"], "email": "ann@example.com", "items": [line]})
    result = await pc.fetch()
    return JSONResponse({"errors": result.errors})


def shop(emulator: EmulatorHandle, **settings: Any) -> PureClarityMiddleware:
    options = emulator.middleware_options
    options["settings"] = options["settings"].model_copy(update={"breaker_threshold": 1000, **settings})
    middleware = PureClarityMiddleware(Starlette(routes=[Route("/checkout", checkout)]), **options)
    middleware.resender.retry_base = 0.02  # tests do not wait a second between tries
    return middleware


def accepted_orders(emulator: EmulatorHandle) -> Counter[str]:
    """Order events by orderid, in the calls the emulator answered with a 200."""
    return Counter(
        event["data"]["orderid"]
        for entry in emulator.emulator.received
        if entry["status"] == 200
        for event in (entry["body"] or {}).get("events", [])
        if event["name"] == "order"
    )


async def eventually(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await anyio.sleep(0.02)


async def test_orders_from_failed_calls_arrive_once_each_when_the_api_recovers(
    pureclarity_emulator: EmulatorHandle,
) -> None:
    middleware = shop(pureclarity_emulator)
    pureclarity_emulator.inject(status=503)

    async with LifespanManager(middleware) as manager, _client(manager.app) as client:
        pages = [await client.get(f"/checkout?order=O-{n}") for n in range(3)]
        await anyio.sleep(0.2)  # the worker keeps trying against the failing API meanwhile
        pureclarity_emulator.clear_faults()
        await eventually(lambda: len(middleware.resender.outbox) == 0)

    assert [page.json()["errors"] for page in pages] == [["PureClarity answered HTTP 503"]] * 3
    assert accepted_orders(pureclarity_emulator) == {"O-0": 1, "O-1": 1, "O-2": 1}
    assert sorted(pureclarity_emulator.emulator.store.order_ids()) == ["O-0", "O-1", "O-2"]
    stats = middleware.stats
    assert (stats.orders_queued, stats.orders_sent, stats.orders_dropped) == (3, 3, 0)
    resent = [entry["body"] for entry in pureclarity_emulator.emulator.received if entry["status"] == 200]
    assert all([e["name"] for e in body["events"]] == ["order"] for body in resent)  # the page views are not re-sent
    assert all("zones" not in body for body in resent)


@pytest.mark.parametrize(
    ("status", "error"), [(404, "PureClarity answered HTTP 404"), (403, "emulator fault: HTTP 403")]
)
async def test_an_order_answered_with_neither_success_nor_a_refusal_for_good_is_sent_again(
    pureclarity_emulator: EmulatorHandle, status: int, error: str
) -> None:
    # A 404 from a proxy in front of the API, or a 403 before the keys are mended, recorded
    # nothing: the breaker does not count them as the API being unwell, but the order is kept.
    middleware = shop(pureclarity_emulator)
    pureclarity_emulator.inject(status=status, fail_times=1)

    async with LifespanManager(middleware) as manager, _client(manager.app) as client:
        page = await client.get("/checkout?order=KEPT-1")
        await eventually(lambda: middleware.stats.orders_sent == 1)

    assert page.json()["errors"] == [error]
    assert middleware.client.breaker.state == "closed"
    assert pureclarity_emulator.emulator.store.order_ids() == ["KEPT-1"]


async def test_an_order_refused_as_malformed_is_counted_as_dropped_not_sent_again(
    pureclarity_emulator: EmulatorHandle,
) -> None:
    middleware = shop(pureclarity_emulator)
    pureclarity_emulator.inject(status=400, fail_times=1)

    async with LifespanManager(middleware) as manager, _client(manager.app) as client:
        await client.get("/checkout?order=BAD-1")

    stats = middleware.stats
    assert (stats.orders_queued, stats.orders_sent, stats.orders_dropped) == (0, 0, 1)
    assert pureclarity_emulator.emulator.store.order_ids() == []


async def test_an_order_whose_answer_came_too_late_is_recorded_once(
    pureclarity_emulator_server: EmulatorHandle,
) -> None:
    # The API records the order but answers after the page gave up; the re-send is then a repeat,
    # which PureClarity (and the emulator) drops by orderid.
    middleware = shop(pureclarity_emulator_server, timeout=0.3)
    pureclarity_emulator_server.inject(latency_ms=600)

    with serve_in_thread(middleware) as url:
        page = httpx.get(f"{url}/checkout?order=LATE-1", timeout=10).json()
        await eventually(lambda: len(middleware.resender.outbox) == 0 and middleware.stats.orders_sent == 1)

    assert page["errors"] == ["PureClarity did not answer within 0.3s"]
    assert pureclarity_emulator_server.emulator.store.order_ids() == ["LATE-1"]


async def test_a_sqlite_outbox_keeps_orders_across_a_restart(
    pureclarity_emulator: EmulatorHandle, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = str(tmp_path / "outbox.sqlite3")
    pureclarity_emulator.inject(status=500)
    first = shop(pureclarity_emulator, outbox_path=path, drain_timeout=0.2)
    async with LifespanManager(first) as manager, _client(manager.app) as client:
        await client.get("/checkout?order=KEEP-1")
    assert "1 order call(s) left for the next start" in caplog.text

    pureclarity_emulator.clear_faults()
    second = shop(pureclarity_emulator, outbox_path=path)
    async with LifespanManager(second):
        await eventually(lambda: len(second.resender.outbox) == 0)

    assert pureclarity_emulator.emulator.store.order_ids() == ["KEEP-1"]
    assert second.stats.orders_sent == 1


async def test_shutdown_drains_within_its_deadline_and_counts_what_memory_loses(
    pureclarity_emulator: EmulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    pureclarity_emulator.inject(status=500)
    middleware = shop(pureclarity_emulator, drain_timeout=0.3)

    async with LifespanManager(middleware) as manager, _client(manager.app) as client:
        await client.get("/checkout?order=LOST-1")
        started = time.perf_counter()
    assert time.perf_counter() - started < 3

    assert middleware.stats.orders_dropped == 1
    assert "1 order event(s) lost at shutdown" in caplog.text


async def test_a_full_memory_outbox_drops_and_counts(
    pureclarity_emulator: EmulatorHandle, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(outbox_module, "MEMORY_LIMIT", 1)
    pureclarity_emulator.inject(status=500)
    middleware = shop(pureclarity_emulator, drain_timeout=0)

    async with _client(middleware) as client:
        await client.get("/checkout?order=A")
        await client.get("/checkout?order=B")

    assert (middleware.stats.orders_queued, middleware.stats.orders_dropped) == (1, 1)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR] == [
        "PureClarity outbox full: 1 order event(s) dropped"
    ]


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_without_a_lifespan_the_outbox_still_empties(pureclarity_emulator: EmulatorHandle) -> None:
    middleware = shop(pureclarity_emulator)
    pureclarity_emulator.inject(status=503, fail_times=1)

    async with _client(middleware) as client:
        await client.get("/checkout?order=NOLIFE-1")
        await eventually(lambda: middleware.stats.orders_sent == 1)

    assert pureclarity_emulator.emulator.store.order_ids() == ["NOLIFE-1"]


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test")


async def test_a_failed_startup_does_not_leave_the_worker_holding_the_server(
    pureclarity_emulator: EmulatorHandle,
) -> None:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        raise RuntimeError("database unreachable")
        yield

    middleware = PureClarityMiddleware(Starlette(lifespan=lifespan), **pureclarity_emulator.middleware_options)
    with anyio.fail_after(5), pytest.raises(RuntimeError, match="database unreachable"):
        async with LifespanManager(middleware):
            pass
