"""Pytest fixtures that run the PureClarity emulator for your shop's tests (and ours).

Installed as a pytest plugin, so the fixtures are there without an import:

- ``pureclarity_emulator``: the emulator in-process. Give your app
  ``PureClarityMiddleware(app, **pureclarity_emulator.middleware_options)``.
- ``pureclarity_emulator_server``: the emulator as a real uvicorn server on a loopback port, with
  ``PURECLARITY_BASE_URL``, ``PURECLARITY_ACCESS_KEY`` and ``PURECLARITY_SECRET_KEY`` pointed at it,
  so an app configured from the environment uses it unchanged. Needs uvicorn
  (``pip install 'pc-middleware[testing]'``).

Both expose what the emulator received (``.requests()``, secret redacted) and fault injection
(``.inject(status=503)``, ``.inject(hang=True)``, ``.inject(fail_times=2, status=500)``, ``.clear_faults()``).
Override the ``pureclarity_emulator_config`` fixture to use your own catalog, zones or keys.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from .emulator import DEMO_ACCESS_KEY, Emulator, EmulatorConfig, FaultPlan, create_app
from .settings import PureClaritySettings

__all__ = [
    "EmulatorHandle",
    "pureclarity_emulator",
    "pureclarity_emulator_config",
    "pureclarity_emulator_server",
    "serve_in_thread",
]


@contextmanager
def serve_in_thread(app: ASGIApp, **uvicorn_config: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port in a background thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level="warning", timeout_graceful_shutdown=2, **uvicorn_config)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class EmulatorHandle:
    """A running emulator: where it is, how to point the middleware at it, and its test switches."""

    app: ASGIApp
    emulator: Emulator
    url: str
    transport: httpx.AsyncBaseTransport | None = None  # set for the in-process emulator only
    settings: PureClaritySettings = field(init=False)

    def __post_init__(self) -> None:
        [(access_key, secret)] = list(self.emulator.config.keys.items())[:1]
        self.settings = PureClaritySettings(access_key=access_key, secret_key=secret, base_url=self.url)

    @property
    def middleware_options(self) -> dict[str, Any]:
        """Keyword arguments for ``PureClarityMiddleware`` that make it call this emulator."""
        return {"settings": self.settings, "transport": self.transport}

    def requests(self) -> list[dict[str, Any]]:
        """The request bodies received so far, oldest first, ``secretKey`` redacted."""
        return [entry["body"] for entry in self.emulator.received]

    def inject(self, **plan: Any) -> None:
        """Misbehave from now on: see ``pc_middleware.emulator.FaultPlan`` for the switches."""
        self.emulator.faults.plan = FaultPlan(**plan)

    def clear_faults(self) -> None:
        self.emulator.faults.clear()


@pytest.fixture
def pureclarity_emulator_config() -> EmulatorConfig:
    """The demo configuration with inspection and fault injection on; override it for your own."""
    return EmulatorConfig(inspection=True, faults=True)


@pytest.fixture
def pureclarity_emulator(pureclarity_emulator_config: EmulatorConfig) -> EmulatorHandle:
    app = create_app(pureclarity_emulator_config)
    emulator: Emulator = app.state.emulator
    transport = httpx.ASGITransport(app=app)
    return EmulatorHandle(app, emulator, f"http://{DEMO_ACCESS_KEY}.emulator.invalid", transport)


@pytest.fixture
def pureclarity_emulator_server(
    pureclarity_emulator_config: EmulatorConfig, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EmulatorHandle]:
    app = create_app(pureclarity_emulator_config)
    with serve_in_thread(app) as url:
        handle = EmulatorHandle(app, app.state.emulator, url)
        settings = handle.settings
        assert settings.access_key is not None
        assert settings.secret_key is not None
        monkeypatch.setenv("PURECLARITY_BASE_URL", url)
        monkeypatch.setenv("PURECLARITY_ACCESS_KEY", settings.access_key)
        monkeypatch.setenv("PURECLARITY_SECRET_KEY", settings.secret_key.get_secret_value())
        yield handle
