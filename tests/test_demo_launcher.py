"""``make run`` runs ``python -m example_app``: the emulator and the shop, stopped together by one Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx

from pc_middleware.testing import serve_in_thread

from .conftest import free_port
from .fake_api import FakePureClarity


def is_listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def launch(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    # A session of its own, so that SIGINT can go to the whole group, as Ctrl-C in a terminal does.
    return subprocess.Popen(
        [sys.executable, "-m", "example_app", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_page(url: str) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.2)


def ctrl_c(process: subprocess.Popen[str]) -> str:
    os.killpg(process.pid, signal.SIGINT)
    printed, _ = process.communicate(timeout=20)
    return printed


def clean_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("PURECLARITY_")}


def test_one_command_starts_the_emulator_and_the_shop_and_one_ctrl_c_stops_both() -> None:
    shop_port, emulator_port = free_port(), free_port()
    process = launch("--port", str(shop_port), "--emulator-port", str(emulator_port), env=clean_env())
    try:
        home = wait_for_page(f"http://127.0.0.1:{shop_port}/")
        assert home.status_code == 200
        assert 'data-pureclarity-zone="HP-01"' in home.text
        assert "pc_v_demo" in home.cookies
        assert is_listening(emulator_port)
    finally:
        printed = ctrl_c(process)

    assert f"Demo shop on http://127.0.0.1:{shop_port}" in printed
    assert process.returncode is not None
    assert not is_listening(shop_port)
    assert not is_listening(emulator_port)


def test_with_keys_set_the_shop_talks_to_the_configured_pureclarity_and_starts_no_emulator() -> None:
    fake = FakePureClarity()
    shop_port, emulator_port = free_port(), free_port()
    with serve_in_thread(fake.app) as api_url:
        env = clean_env() | {
            "PURECLARITY_ACCESS_KEY": "real-shop",
            "PURECLARITY_SECRET_KEY": "real-secret",
            "PURECLARITY_BASE_URL": api_url,
        }
        process = launch("--port", str(shop_port), "--emulator-port", str(emulator_port), env=env)
        try:
            home = wait_for_page(f"http://127.0.0.1:{shop_port}/")
            assert not is_listening(emulator_port)
        finally:
            printed = ctrl_c(process)

    assert "Talking to the real PureClarity" in printed
    assert "pc_v_real-shop" in home.cookies
    assert fake.bodies[0]["appId"] == "real-shop"
    assert fake.bodies[0]["zones"] == ["HP-01", "HP-02", "HP-03", "HP-04"]
