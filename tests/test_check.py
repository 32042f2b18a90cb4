"""``python -m pc_middleware check``, run as a user runs it: a real process, talking to the emulator over loopback."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from pc_middleware.testing import EmulatorHandle

from .conftest import SECRET

EMULATOR_SECRET = "demo-secret"


def check(*args: str, **variables: str) -> tuple[int, str]:
    """Run the check with the test's environment plus ``variables``; return its exit code and all it printed.

    Whatever happens, no secret key may be printed, not even on failure.
    """
    env = os.environ | {f"PURECLARITY_{name.upper()}": value for name, value in variables.items()}
    done = subprocess.run(
        [sys.executable, "-m", "pc_middleware", *args], env=env, capture_output=True, text=True, timeout=60
    )
    printed = done.stdout + done.stderr
    assert SECRET not in printed
    assert EMULATOR_SECRET not in printed
    return done.returncode, printed


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connecting to it is refused, and nobody else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_the_right_keys_are_accepted(pureclarity_emulator_server: EmulatorHandle) -> None:
    code, printed = check("check")

    assert code == 0
    url = f"{pureclarity_emulator_server.url}/api/serverside"
    assert f"Calling {url} once, with no events and no zones" in printed
    assert re.search(r"^Answer: HTTP 200 in \d+ ms$", printed, re.MULTILINE)
    assert printed.endswith("OK: keys accepted.\n")
    # The one call counted nothing: no event, no zone.
    [sent] = pureclarity_emulator_server.requests()
    assert "events" not in sent
    assert "zones" not in sent


def test_every_setting_is_shown_with_where_it_came_from_and_the_secret_masked(
    pureclarity_emulator_server: EmulatorHandle,
) -> None:
    code, printed = check("check", currency="GBP")

    assert code == 0
    assert re.search(r"^  PURECLARITY_ACCESS_KEY +demo +\(environment\)$", printed, re.MULTILINE)
    assert re.search(r"^  PURECLARITY_SECRET_KEY +\*{8} \(11 characters\) +\(environment\)$", printed, re.MULTILINE)
    assert re.search(r"^  PURECLARITY_CURRENCY +GBP +\(environment\)$", printed, re.MULTILINE)
    assert re.search(r"^  PURECLARITY_REGION +eu +\(default\)$", printed, re.MULTILINE)
    assert re.search(r"^  PURECLARITY_COOKIE_DOMAIN +\(not set\) +\(default\)$", printed, re.MULTILINE)
    assert re.search(r"^  PURECLARITY_DRAIN_TIMEOUT +5 +\(default\)$", printed, re.MULTILINE)
    assert f"  calls go to {pureclarity_emulator_server.url}/api/serverside\n" in printed


def test_wrong_keys_are_refused_in_plain_words(pureclarity_emulator_server: EmulatorHandle) -> None:
    code, printed = check("check", secret_key=SECRET)

    assert code == 1
    assert re.search(r"^Answer: HTTP 403 in \d+ ms$", printed, re.MULTILINE)
    assert "  secretKey is not the one for this appId\n" in printed
    assert "FAILED: PureClarity refused the keys: check PURECLARITY_ACCESS_KEY and PURECLARITY_SECRET_KEY." in printed


def test_a_secret_pasted_with_a_line_break_is_pointed_out(pureclarity_emulator_server: EmulatorHandle) -> None:
    code, printed = check("check", secret_key=EMULATOR_SECRET + "\n")

    assert code == 1
    assert "note: PURECLARITY_SECRET_KEY starts or ends with a space or a line break" in printed
    assert "FAILED: PureClarity refused the keys" in printed


def test_a_closed_port_cannot_be_reached(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    code, printed = check("check", access_key="shop1", secret_key=SECRET, base_url=url)

    assert code == 1
    assert re.search(r"^Answer: no answer after \d+ ms$", printed, re.MULTILINE)
    assert "(ConnectError)" in printed
    assert f"FAILED: could not reach {url}/api/serverside: check PURECLARITY_BASE_URL" in printed


def test_an_endpoint_that_never_answers_fails_within_the_timeout(pureclarity_emulator_server: EmulatorHandle) -> None:
    pureclarity_emulator_server.inject(hang=True)

    code, printed = check("check", "--timeout", "0.5")

    assert code == 1
    assert re.search(r"^  PURECLARITY_TIMEOUT +0\.5 +\(--timeout\)$", printed, re.MULTILINE)
    latency = re.search(r"^Answer: no answer after (\d+) ms$", printed, re.MULTILINE)
    assert latency is not None
    assert 450 <= int(latency[1]) < 3000
    assert f"FAILED: could not reach {pureclarity_emulator_server.url}/api/serverside within 0.5s." in printed


@pytest.mark.parametrize(
    ("fault", "verdict"),
    [
        ({"status": 503}, "FAILED: PureClarity answered HTTP 503 where 200 was expected"),
        ({"malformed": True}, "answered HTTP 200, but not as PureClarity would: check PURECLARITY_BASE_URL."),
    ],
)
def test_any_other_answer_is_told_as_it_came(
    pureclarity_emulator_server: EmulatorHandle, fault: dict[str, object], verdict: str
) -> None:
    pureclarity_emulator_server.inject(**fault)

    code, printed = check("check")

    assert code == 1
    assert verdict in printed


def test_a_missing_secret_is_named_and_nothing_is_called() -> None:
    code, printed = check("check", access_key="shop1", base_url="http://127.0.0.1:9")

    assert code == 1
    assert printed.startswith("The configuration is not valid:\n")
    assert "  - PURECLARITY_SECRET_KEY must be set while PureClarity is enabled" in printed
    assert "Calling" not in printed


def test_a_bad_url_is_named_without_showing_any_value() -> None:
    code, printed = check("check", access_key="shop1", secret_key=SECRET, base_url=f"ftp://{SECRET}.example")

    assert code == 1
    assert "  - PURECLARITY_BASE_URL must be an http:// or https:// URL without a user or password" in printed
    assert "ftp://" not in printed


def test_a_bad_timeout_option_is_named_as_the_option() -> None:
    code, printed = check("check", "--timeout", "0", access_key="shop1", secret_key=SECRET)

    assert code == 1
    assert "  - --timeout: Input should be greater than 0\n" in printed


def test_disabled_without_keys_has_nothing_to_check() -> None:
    code, printed = check("check", enabled="false")

    assert code == 0
    assert re.search(r"^  PURECLARITY_ENABLED +false +\(environment\)$", printed, re.MULTILINE)
    assert "the middleware makes no calls, so there is nothing to check." in printed
    assert "Calling" not in printed


def test_disabled_with_keys_still_checks_them(pureclarity_emulator_server: EmulatorHandle) -> None:
    code, printed = check("check", enabled="false")

    assert code == 0
    assert "PureClarity is disabled (PURECLARITY_ENABLED=false): the middleware makes no calls." in printed
    assert printed.endswith("OK: keys accepted.\n")


@pytest.mark.parametrize("args", [(), ("check", "--timeout", "soon"), ("verify",)])
def test_usage_errors_exit_2_with_the_usage(args: tuple[str, ...]) -> None:
    code, printed = check(*args)

    assert code == 2
    assert "usage: python -m pc_middleware" in printed
