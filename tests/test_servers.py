"""tests/server_app.py served by real uvicorn, hypercorn and granian processes, calling the emulator.

Each server runs in its own process on a free loopback port, configured only by the ``PURECLARITY_*``
variables that the ``pureclarity_emulator_server`` fixture sets, and is stopped with SIGTERM, as a
process manager would, at the end of each test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pc_middleware.testing import EmulatorHandle

from .conftest import free_port

ROOT = Path(__file__).parent.parent
APP = "tests.server_app:app"

# How each server is told to serve APP on a port, with the lifespan on (the outbox worker lives in it).
COMMANDS = {
    "uvicorn": ["-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", "{port}", "--lifespan", "on"],
    "hypercorn": ["-m", "hypercorn", APP, "--bind", "127.0.0.1:{port}"],
    "granian": ["-m", "granian", "--interface", "asgi", "--host", "127.0.0.1", "--port", "{port}", APP],
}


@dataclass
class RunningServer:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.stop()

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as a process manager would; its exit code and everything it printed."""
        self.process.terminate()
        try:
            code = self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within 15 s of SIGTERM:\n{self.log.read_text()}") from None
        return code, self.log.read_text()

    def answers(self) -> bool:
        """Wait until the server answers (True) or exits (False)."""
        deadline = time.monotonic() + 30
        while self.process.poll() is None:
            try:
                httpx.get(f"{self.url}/ready", timeout=2)
                return True
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{self.name} did not answer within 30 s:\n{self.log.read_text()}")
            time.sleep(0.1)
        return False


def launch(name: str, log: Path) -> RunningServer:
    """The server in a process of its own, with this process's environment (PURECLARITY_* included)."""
    port = free_port()
    command = [sys.executable, *(part.format(port=port) for part in COMMANDS[name])]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=output, stderr=subprocess.STDOUT)
    return RunningServer(name, f"http://127.0.0.1:{port}", process, log)


@pytest.fixture(params=list(COMMANDS))
def server(
    request: pytest.FixtureRequest, pureclarity_emulator_server: EmulatorHandle, tmp_path: Path
) -> Iterator[RunningServer]:
    """The shop under one of the servers, pointed at the emulator by the fixture's PURECLARITY_* variables."""
    with launch(request.param, tmp_path / f"{request.param}.log") as running:
        assert running.answers(), f"{request.param} exited:\n{running.log.read_text()}"
        yield running


def test_a_first_visit_gets_both_cookies_and_the_second_sends_them_back(
    server: RunningServer, pureclarity_emulator_server: EmulatorHandle
) -> None:
    with httpx.Client(base_url=server.url) as shopper:
        first = shopper.get("/product/P013")
        second = shopper.get("/product/P014")

    visitor_cookie, session_cookie = first.headers.get_list("set-cookie")
    assert re.fullmatch(r"pc_v_demo=[0-9a-f]{32}; Max-Age=34560000; Path=/; SameSite=Lax", visitor_cookie)
    assert re.fullmatch(r"pc_sessid_demo=[0-9a-f]{32}; Max-Age=300; Path=/; SameSite=Lax", session_cookie)
    first_call, second_call = pureclarity_emulator_server.requests()
    assert "visitorId" not in first_call
    assert "sessionId" not in first_call
    assert second_call["visitorId"] == shopper.cookies["pc_v_demo"]
    assert second_call["sessionId"] == shopper.cookies["pc_sessid_demo"]
    assert second.json()["errors"] == []
    assert second.json()["zones"]["PP-01"][0] == "P013"  # also viewed in this session: the IDs came back
    assert len(second.json()["zones"]["HP-01"]) == 4


def test_the_call_carries_the_shoppers_address_and_user_agent(
    server: RunningServer, pureclarity_emulator_server: EmulatorHandle
) -> None:
    page = httpx.get(f"{server.url}/product/P013", headers={"user-agent": "Firefox/140"})

    assert page.status_code == 200
    [call] = pureclarity_emulator_server.requests()
    assert call["ip"] == "127.0.0.1"
    assert call["userAgent"] == "Firefox/140"
    assert call["currentUrl"] == f"{server.url}/product/P013"
    assert call["events"] == [
        {"name": "page_view", "data": {"page_type": "product_page", "product_id": "P013"}},
        {"name": "product_view", "data": {"id": "P013"}},
    ]


# uvicorn's own --proxy-headers is on by default and believes X-Forwarded-For from 127.0.0.1: it
# rewrites the client address before the middleware sees it (docs/frameworks.md, "Servers").
BELIEVES_FORWARDED_FOR_FROM_LOOPBACK = {"uvicorn": True, "hypercorn": False, "granian": False}


def test_only_uvicorn_believes_x_forwarded_for_from_loopback_out_of_the_box(
    server: RunningServer, pureclarity_emulator_server: EmulatorHandle
) -> None:
    httpx.get(f"{server.url}/product/P013", headers={"x-forwarded-for": "203.0.113.7"})

    [call] = pureclarity_emulator_server.requests()
    believed = BELIEVES_FORWARDED_FOR_FROM_LOOPBACK[server.name]
    assert call["ip"] == ("203.0.113.7" if believed else "127.0.0.1")


def test_the_lifespan_runs_through_the_middleware_and_the_server_stops_cleanly(server: RunningServer) -> None:
    httpx.get(f"{server.url}/product/P013")

    code, printed = server.stop()

    # uvicorn raises the signal again once it has shut down; the others exit with 0.
    assert code == (-signal.SIGTERM if server.name == "uvicorn" else 0), printed
    assert "shop lifespan: started" in printed
    assert "shop lifespan: stopped" in printed
    assert "Traceback" not in printed
    assert "error" not in printed.lower()
    assert "demo-secret" not in printed


@pytest.mark.parametrize("name", list(COMMANDS))
def test_without_keys_only_uvicorn_with_the_lifespan_on_refuses_to_start(name: str, tmp_path: Path) -> None:
    # Starlette builds its middleware on the first call, the lifespan's: the settings error comes
    # before the app has received anything, which hypercorn and granian take for "no lifespan support".
    with launch(name, tmp_path / f"{name}.log") as server:  # conftest removed every PURECLARITY_* variable
        if name == "uvicorn":
            assert not server.answers()
            assert server.process.returncode == 3
            assert "PURECLARITY_ACCESS_KEY and PURECLARITY_SECRET_KEY must be set" in server.log.read_text()
        else:
            assert server.answers()
            page = httpx.get(f"{server.url}/product/P013")
            _, printed = server.stop()
            assert page.status_code == 500
            assert "continuing without Lifespan support" in printed
