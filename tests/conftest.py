from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from pc_middleware import PureClarityMiddleware, PureClaritySettings

from .fake_api import FakePureClarity

ACCESS_KEY = "shop1"
SECRET = "s3cr3t-never-log-me"
VISITOR_COOKIE = f"pc_v_{ACCESS_KEY}"
SESSION_COOKIE = f"pc_sessid_{ACCESS_KEY}"
RETURNING = {"cookie": f"{VISITOR_COOKIE}=v-known; {SESSION_COOKIE}=s-known"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their own settings: the developer's PURECLARITY_* variables must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith("PURECLARITY_"):
            monkeypatch.delenv(name)


class _SecretWatch(logging.Handler):
    """Sees every log record of the whole run, from every thread, at every level."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if SECRET in text or "demo-secret" in text:
            self.leaks.append(f"{record.name}: {text[:200]}")


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_any_log_line_of_the_run() -> Iterator[None]:
    watch = _SecretWatch()
    root = logging.getLogger()
    root.addHandler(watch)
    try:
        yield
    finally:
        root.removeHandler(watch)
    assert not watch.leaks, f"secret keys in log lines: {watch.leaks}"


@pytest.fixture(autouse=True)
def _secret_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with every logger at DEBUG, httpx's included; none may ever show the secret."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert SECRET not in record.getMessage(), f"secret key logged by {record.name}"
    assert SECRET not in caplog.text


@pytest.fixture
def fake() -> Iterator[FakePureClarity]:
    """A fake PureClarity; the test fails if any body it received broke the contract."""
    api = FakePureClarity()
    yield api
    assert not api.violations, "bodies broke the /api/serverside contract:\n" + "\n".join(api.violations)


def make_settings(**overrides: Any) -> PureClaritySettings:
    values: dict[str, Any] = {"access_key": ACCESS_KEY, "secret_key": SECRET, "base_url": "https://pc.test"}
    return PureClaritySettings(**(values | overrides))


def shop(*routes: BaseRoute, fake: FakePureClarity, **overrides: Any) -> Starlette:
    """A Starlette app with the middleware, talking to ``fake``."""
    middleware = Middleware(PureClarityMiddleware, settings=make_settings(**overrides), transport=fake.transport)
    return Starlette(routes=list(routes), middleware=[middleware])


async def zones_page(request: Request) -> Response:
    """A page that tracks a page view, asks for HP-01 and shows what came back."""
    pc = request.state.pureclarity
    pc.track("page_view", {"page_type": "homepage"})
    pc.add_zones("HP-01")
    result = await pc.fetch()
    return JSONResponse({"zones": sorted(result.zones), "errors": result.errors})


def browser(app: Any, *, ip: str = "203.0.113.9", scheme: str = "http") -> httpx.AsyncClient:
    """An HTTP client that drives ``app`` in-process, as a shopper at ``ip`` would."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50123))
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://shop.test")


def set_cookies(response: httpx.Response) -> list[str]:
    """The raw Set-Cookie header values, exactly as the middleware wrote them."""
    return response.headers.get_list("set-cookie")


def free_port() -> int:
    """A loopback port nobody listens on now, for a server started in a subprocess."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
