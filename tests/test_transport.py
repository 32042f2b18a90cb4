"""The connections under the calls, over real loopback servers, with both transports: reused,
bounded, never carrying a cookie, and never poisoned by an answer that was cut short."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pc_middleware.client import PureClarityClient
from pc_middleware.testing import serve_in_thread

from .conftest import make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class CountingAPI:
    """Answers like PureClarity and notes which client connection (port) each call came on."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.in_flight = self.most_in_flight = 0
        self.oversized_next = False
        self.cookies: list[str | None] = []

    @property
    def app(self) -> Starlette:
        async def serverside(request: Request) -> Response:
            assert request.client is not None
            self.ports.append(request.client.port)
            self.cookies.append(request.headers.get("cookie"))
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await anyio.sleep(0.05)
                if self.oversized_next:
                    self.oversized_next = False
                    return Response(b'{"zones": {"x": "' + b"x" * 300_000 + b'"}}', media_type="application/json")
                answer = JSONResponse({"visitorId": "v1", "sessionId": "s1", "zones": {}, "errors": []})
                answer.set_cookie("AWSALB", "one-shopper")  # as a load balancer in front of the API might
                return answer
            finally:
                self.in_flight -= 1

        return Starlette(routes=[Route("/api/serverside", serverside, methods=["POST"])])


def client_for(url: str, transport: str, **settings: Any) -> PureClarityClient:
    return PureClarityClient(make_settings(base_url=url, transport=transport, **settings))


async def test_calls_one_after_another_reuse_one_connection(transport: str) -> None:
    api = CountingAPI()
    with serve_in_thread(api.app) as url:
        client = client_for(url, transport)
        outcomes = [await client.call({"zones": ["HP-01"]}) for _ in range(5)]
        await client.aclose()

    assert [outcome.errors for outcome in outcomes] == [[]] * 5
    assert len(set(api.ports)) == 1
    assert api.cookies == [None] * 5  # what the API set is never sent back


async def test_calls_at_once_never_use_more_connections_than_allowed(transport: str) -> None:
    api = CountingAPI()
    with serve_in_thread(api.app) as url:
        client = client_for(url, transport, max_connections=4)
        errors: list[list[str]] = []

        async def one() -> None:
            errors.append((await client.call({"zones": ["HP-01"]})).errors)

        async with anyio.create_task_group() as tasks:
            for _ in range(20):
                tasks.start_soon(one)
        await client.aclose()

    assert errors == [[]] * 20
    assert api.most_in_flight <= 4
    assert len(set(api.ports)) <= 4


async def test_an_answer_cut_short_does_not_poison_the_next_call(transport: str) -> None:
    api = CountingAPI()
    with serve_in_thread(api.app) as url:
        client = client_for(url, transport)
        api.oversized_next = True
        cut_short = await client.call({"zones": ["HP-01"]})
        next_call = await client.call({"zones": ["HP-01"]})
        await client.aclose()

    assert cut_short.errors == ["PureClarity's answer was larger than 262144 bytes"]
    assert next_call.errors == []
    assert len(set(api.ports)) == 2  # the connection of the cut-short answer was not reused


async def test_a_connection_the_server_closed_while_idle_is_replaced_without_an_error(transport: str) -> None:
    api = CountingAPI()
    with serve_in_thread(api.app, timeout_keep_alive=0.2) as url:
        client = client_for(url, transport)
        first = await client.call({"zones": ["HP-01"]})
        await anyio.sleep(0.5)  # the server closes the idle connection
        second = await client.call({"zones": ["HP-01"]})
        await client.aclose()

    assert (first.errors, second.errors) == ([], [])
    assert len(set(api.ports)) == 2


@pytest.mark.parametrize("anyio_backend", ["trio"])
async def test_the_aiohttp_transport_on_trio_stops_the_startup_and_never_breaks_a_page() -> None:
    api = CountingAPI()
    with serve_in_thread(api.app) as url:
        client = client_for(url, "aiohttp")
        with pytest.raises(RuntimeError, match="asyncio only"):
            await client.start()  # at lifespan startup: the app does not start
        outcome = await client.call({"zones": ["HP-01"]})  # where no lifespan ran

    assert outcome.errors == ["could not reach PureClarity (UnsupportedProtocol)"]
    assert (client.breaker.state, client.stats.failures) == ("closed", 0)  # our setting, not the API's health
    assert api.ports == []
