"""The fault matrix: whatever PureClarity or the network does, over real loopback servers, the page
is a 200 on time, the handler sees ``errors``, nothing escapes, and the breaker is where it should be."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware
from pc_middleware.testing import EmulatorHandle, serve_in_thread

from .conftest import make_settings, zones_page

TIMEOUT = 0.5


@pytest.fixture(params=["httpx", "aiohttp"])
def transport(request: pytest.FixtureRequest) -> str:
    """Every fault, over both transports (PURECLARITY_TRANSPORT)."""
    return str(request.param)


ON_TIME = TIMEOUT + 1.5  # generous: the point is that no fault holds the page for long


@contextmanager
def shop(base_url: str, **settings: Any) -> Iterator[tuple[str, PureClarityMiddleware]]:
    settings = {"access_key": "demo", "secret_key": "demo-secret", "timeout": TIMEOUT, **settings}
    middleware = PureClarityMiddleware(
        Starlette(routes=[Route("/", zones_page)]), settings=make_settings(base_url=base_url, **settings)
    )
    with serve_in_thread(middleware) as url:
        yield url, middleware


def visit(url: str) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    page = httpx.get(url, timeout=10)
    elapsed = time.perf_counter() - started
    assert page.status_code == 200
    return page.json(), elapsed


def api_answering(answer: Callable[[Request], Any]) -> Starlette:
    return Starlette(routes=[Route("/api/serverside", answer, methods=["POST"])])


async def drip(request: Request) -> Response:
    async def slowly() -> Any:
        for byte in b'{"zones": {}, "errors": []}':
            yield bytes([byte])
            await anyio.sleep(0.2)

    return StreamingResponse(slowly(), media_type="application/json")


async def bad_gateway(request: Request) -> Response:
    return Response("<html><body><h1>502 Bad Gateway</h1></body></html>", 502, media_type="text/html")


async def wrong_content_type(request: Request) -> Response:
    return Response('{"zones": {}}', media_type="text/html")


async def oversized(request: Request) -> Response:
    return Response(b'{"zones": {}, "padding": "' + b"x" * 300_000 + b'"}', media_type="application/json")


async def oversized_without_length(request: Request) -> Response:
    async def chunks() -> Any:
        yield b'{"zones": {}, "padding": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    return StreamingResponse(chunks(), media_type="application/json")


EMULATOR_FAULTS = [
    ({"hang": True}, "PureClarity did not answer within 0.5s", "failing"),
    ({"status": 500}, "PureClarity answered HTTP 500", "failing"),
    ({"status": 503, "retry_after": 20}, "PureClarity answered HTTP 503", "open"),
    ({"status": 429, "retry_after": 120}, "PureClarity answered HTTP 429", "open"),
    ({"status": 429}, "PureClarity answered HTTP 429", "failing"),
    ({"status": 400}, "emulator fault: HTTP 400", "closed"),
    ({"status": 403}, "emulator fault: HTTP 403", "closed"),
    ({"malformed": True}, "PureClarity's answer was not the expected JSON", "failing"),
    ({"drop": True}, "could not reach PureClarity (RemoteProtocolError)", "failing"),
]


@pytest.mark.parametrize(("plan", "error", "breaker"), EMULATOR_FAULTS)
def test_emulator_fault(
    pureclarity_emulator_server: EmulatorHandle, plan: dict[str, Any], error: str, breaker: str, transport: str
) -> None:
    pureclarity_emulator_server.inject(**plan)
    with shop(pureclarity_emulator_server.url, transport=transport) as (url, middleware):
        result, elapsed = visit(url)

    assert elapsed < ON_TIME
    assert result == {"zones": [], "errors": [error]}
    assert_breaker(middleware, breaker)


@pytest.mark.parametrize(
    ("answer", "error", "breaker"),
    [
        (drip, "PureClarity did not answer within 0.5s", "failing"),
        (bad_gateway, "PureClarity answered HTTP 502", "failing"),
        (wrong_content_type, "PureClarity's answer was not JSON (text/html)", "failing"),
        (oversized, "PureClarity's answer was larger than 262144 bytes", "failing"),
        (oversized_without_length, "PureClarity's answer was larger than 262144 bytes", "failing"),
    ],
)
def test_misbehaving_api(answer: Callable[[Request], Any], error: str, breaker: str, transport: str) -> None:
    with serve_in_thread(api_answering(answer)) as api_url, shop(api_url, transport=transport) as (url, middleware):
        result, elapsed = visit(url)

    assert elapsed < ON_TIME
    assert result == {"zones": [], "errors": [error]}
    assert_breaker(middleware, breaker)


def test_connection_refused(transport: str) -> None:
    with serve_in_thread(api_answering(bad_gateway)) as api_url:
        pass  # the port is free again: nothing listens there now
    with shop(api_url, transport=transport) as (url, middleware):
        result, elapsed = visit(url)

    assert elapsed < ON_TIME
    assert result["errors"] == ["could not reach PureClarity (ConnectError)"]
    assert_breaker(middleware, "failing")


def test_connection_reset(transport: str) -> None:
    with resetting_server() as api_url, shop(api_url, transport=transport) as (url, middleware):
        result, elapsed = visit(url)

    assert elapsed < ON_TIME
    assert result["errors"][0].startswith("could not reach PureClarity (")
    assert_breaker(middleware, "failing")


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch, transport: str) -> None:
    # The name fails to resolve without a DNS query leaving the machine: only loopback in tests.
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "pureclarity.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with shop("http://pureclarity.invalid", transport=transport) as (url, middleware):
        result, elapsed = visit(url)

    assert elapsed < ON_TIME
    assert result["errors"] == ["could not reach PureClarity (ConnectError)"]
    assert_breaker(middleware, "failing")


def assert_breaker(middleware: PureClarityMiddleware, expected: str) -> None:
    """``failing``: one failure counted, circuit still closed; ``open``: opened at once by Retry-After."""
    breaker = middleware.client.breaker
    if expected == "failing":
        assert (breaker.state, middleware.stats.failures) == ("closed", 1)
    elif expected == "open":
        assert breaker.state == "open"
        assert 0 < breaker.seconds_left() <= 30
    else:
        assert (breaker.state, middleware.stats.failures) == ("closed", 0)


@contextmanager
def resetting_server() -> Iterator[str]:
    """Accepts each connection, reads the request, then resets it (RST, not a clean close)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            connection.recv(65536)
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
