"""Running things to measure: uvicorn processes, wrk, in-process ASGI calls, CPU and memory readings."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from starlette.types import ASGIApp, Message

ROOT = Path(__file__).resolve().parent.parent
SERVER_LOG = ROOT / "test-artifacts" / "bench-servers.log"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """User and system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS


@contextlib.contextmanager
def uvicorn(target: str, env: dict[str, str] | None = None, *, factory: bool = False) -> Iterator[Server]:
    """A uvicorn process on loopback as production runs it (uvloop, httptools), one worker."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--port", str(port), "--log-level", "warning"]
    command += ["--no-access-log", "--loop", "uvloop", "--http", "httptools", "--backlog", "4096"]
    if factory:
        command.append("--factory")
    # What the servers log (a line per failed call in the deadline runs) goes to a file, not the table.
    SERVER_LOG.parent.mkdir(exist_ok=True)
    with SERVER_LOG.open("ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{target} did not start: see {SERVER_LOG}")
            time.sleep(0.05)
        yield Server(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def standin(*, latency_ms: float = 0, hang: bool = False) -> contextlib.AbstractContextManager[Server]:
    env = {"STANDIN_LATENCY_MS": str(latency_ms), "STANDIN_HANG": "1" if hang else "0"}
    return uvicorn("bench.standin:app", env)


def app_server(name: str, api_url: str = "http://127.0.0.1:9", **env: str) -> contextlib.AbstractContextManager[Server]:
    return uvicorn("bench.apps:from_env", {"BENCH_APP": name, "BENCH_API_URL": api_url, **env}, factory=True)


@dataclass
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, *, connections: int, seconds: float, threads: int = 1) -> LoadResult:
    """Load from a second process: wrk, keeping ``connections`` requests in flight."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s", url]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    requests, elapsed, unit = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)\b", out).groups()  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    errors += int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
    percentile = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    seconds_taken = float(elapsed) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]
    p50, p99 = (_ms(percentile[p]) if p in percentile else float("nan") for p in ("50", "99"))  # none if no answer
    return LoadResult(int(requests), seconds_taken, p50, p99, errors)


# --- in-process ASGI calls ---------------------------------------------------------------


# What a server hands the app for a browser's GET /: the same for every call, copied per call.
HTTP_SCOPE: dict[str, object] = {
    "type": "http",
    "asgi": {"version": "3.0", "spec_version": "2.4"},
    "http_version": "1.1",
    "method": "GET",
    "scheme": "http",
    "path": "/",
    "raw_path": b"/",
    "root_path": "",
    "query_string": b"",
    "headers": [
        (b"host", b"shop.example.com"),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126 Safari/537.36"),
        (b"accept", b"text/html"),
        (b"cookie", b"theme=dark; basket=42"),
    ],
    "client": ("203.0.113.7", 51234),
    "server": ("127.0.0.1", 8000),
    "state": {},
}


async def _receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Message) -> None:
    return None


async def call_many(app: ASGIApp, count: int) -> float:
    """Seconds for ``count`` sequential in-process calls of ``app``, as a server would make them."""
    started = time.perf_counter()
    for _ in range(count):
        await app(dict(HTTP_SCOPE), _receive, _discard)
    return time.perf_counter() - started


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Spread:
    """A ratio (or figure) over several rounds: its median and range."""

    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def __str__(self) -> str:
        digits = 0 if self.median >= 100 else 3  # milliseconds whole, ratios to a thousandth
        return f"{self.median:.{digits}f} ({min(self.values):.{digits}f}–{max(self.values):.{digits}f})"
