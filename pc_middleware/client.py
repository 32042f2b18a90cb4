"""One call to ``POST /api/serverside``, bounded by a total deadline, every failure turned into a result.

Nothing here raises into a handler: a timeout, a network error, a refusal or a body that is not
what the contract promises all come back as a ``CallOutcome`` with ``errors`` filled, and one
WARNING line on the ``pc_middleware`` logger. The answer is untrusted: its size is capped, its
content type checked, its body validated. A circuit breaker skips calls while the API is failing.
The secret key is sent in the body and nowhere else: never logged, never in a repr, redacted from
anything the API says back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx
import sniffio
from pydantic import ValidationError

from .breaker import CircuitBreaker
from .models import ServerSideResponse
from .settings import PureClaritySettings
from .transport import make_transport

logger = logging.getLogger("pc_middleware")

ENDPOINT = "/api/serverside"
BACKGROUND_TIMEOUT = 10.0  # a re-sent order waits for no page
_HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Accept-Encoding": "gzip, deflate",
    "User-Agent": "pc-middleware",
}


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one call brought back: the parsed answer when there was one, and what went wrong."""

    response: ServerSideResponse | None = None
    errors: list[str] = field(default_factory=list)
    status: int | None = None
    latency_ms: float = 0.0
    retry_after: float | None = None
    failed: bool = False  # the API was unwell or not asked (circuit open): worth trying again later
    kind: str | None = None  # what went wrong, as logged: "timeout", "network", "rejected", "server_error", ...

    @property
    def settled(self) -> bool:
        """PureClarity answered for good: accepted (2xx) or refused as malformed (400). Any other
        outcome (a timeout, a 5xx, a 404 from a proxy, a 403 before the keys are mended) may
        have left an order unrecorded, and an order is safe to send again."""
        return not self.failed and self.status is not None and (200 <= self.status < 300 or self.status == 400)

    @property
    def zones_usable(self) -> bool:
        # A 200 answer's zones count even beside errors; a refusal's never do.
        return self.status == 200 and self.response is not None


@dataclass(slots=True)
class CallStats:
    """Counters of one middleware instance, readable from code (``middleware.stats``, ``pc.stats``)."""

    calls: int = 0  # calls that went out from pages
    failures: int = 0  # of those, the ones that failed (network, timeout, 5xx, 429, an unusable answer)
    skipped_by_breaker: int = 0  # calls not made because the circuit was open
    orders_queued: int = 0  # order events put in the outbox after a failed call
    orders_sent: int = 0  # order events the outbox sent again and PureClarity accepted
    orders_dropped: int = 0  # order events given up: outbox full, refused for good, or lost at shutdown


class _TooLarge(Exception):
    pass


# A failure, for the breaker, is the API being unwell: not a 400 or 403, which are answers.
_FAILURE_KINDS = frozenset({"timeout", "network", "invalid_response", "too_large", "server_error"})


def _deadline(seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
    # asyncio's own timeout costs a tenth of anyio's cancel scope on the path every call takes;
    # both raise TimeoutError. Trio gets anyio's.
    if sniffio.current_async_library() == "asyncio":
        return asyncio.timeout(seconds)
    return _anyio_deadline(seconds)


@contextlib.asynccontextmanager
async def _anyio_deadline(seconds: float) -> AsyncIterator[None]:
    with anyio.fail_after(seconds):
        yield


def _phases(seconds: float) -> dict[str, float]:
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class PureClarityClient:
    """Holds the one connection pool of this process and makes calls with it."""

    def __init__(self, settings: PureClaritySettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._given_transport = transport
        self._url = httpx.URL(settings.api_url + ENDPOINT)  # parsed once, not per call
        self._transport: httpx.AsyncBaseTransport | None = None
        self._slots: anyio.Semaphore | None = None
        self._pid = 0
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown)
        self.stats = CallStats()

    def __repr__(self) -> str:
        return f"PureClarityClient(url={str(self._url)!r}, timeout={self._settings.timeout})"

    def _open(self) -> httpx.AsyncBaseTransport:
        # Created in the serving process on first need: a pool made before a fork (gunicorn
        # --preload) would share its sockets with every worker.
        pid = os.getpid()
        if self._transport is None or self._pid != pid:
            # Calls queue for a connection here, not in httpx's pool: its waiting list costs time
            # for every waiter on every change (encode/httpx#3215), which under a storm of timeouts
            # held pages well past the deadline. A semaphore wait is cheap to cancel.
            self._slots = anyio.Semaphore(self._settings.max_connections)
            self._transport = self._given_transport or make_transport(
                self._settings.transport, self._url, self._settings.max_connections
            )
            self._pid = pid
        return self._transport

    async def start(self) -> None:
        if self._settings.transport == "aiohttp" and sniffio.current_async_library() != "asyncio":
            raise RuntimeError("PURECLARITY_TRANSPORT=aiohttp runs on asyncio only: unset it to use httpx")
        self._open()

    async def aclose(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None and self._pid == os.getpid():
            await transport.aclose()

    async def call(self, body: dict[str, Any], *, background: bool = False) -> CallOutcome:
        """Send one request body (without the keys, which are added here) and never raise.

        A ``background`` call (the outbox re-sending orders) waits longer, ignores the circuit
        breaker and leaves the page counters alone.
        """
        if background:
            return await self._exchange(body, BACKGROUND_TIMEOUT)
        if not self.breaker.allow():
            self.stats.skipped_by_breaker += 1
            message = f"PureClarity calls are paused for {self.breaker.seconds_left():.0f}s after repeated failures"
            return CallOutcome(None, [message], None, 0.0, failed=True, kind="circuit_open")
        self.stats.calls += 1
        outcome = None
        try:
            outcome = await self._exchange(body, self._settings.timeout)
        finally:
            if outcome is None:  # cancelled: no verdict on the API's health
                self.breaker.abandoned()
        if outcome.failed:
            self.stats.failures += 1
            self.breaker.failed(retry_after=outcome.retry_after if outcome.status in (429, 503) else None)
        else:
            self.breaker.succeeded()
        return outcome

    def _encode(self, body: dict[str, Any]) -> bytes:
        secret = self._settings.secret_key.get_secret_value() if self._settings.secret_key else ""
        payload = {"appId": self._settings.access_key, "secretKey": secret, **body}
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()

    async def _exchange(self, body: dict[str, Any], timeout: float) -> CallOutcome:
        started = time.perf_counter()
        try:
            content = self._encode(body)
        except (TypeError, ValueError) as exc:  # not JSON, or text that is not valid Unicode: a bug, not the API
            message = f"the call could not be encoded ({type(exc).__name__})"
            return self._outcome(started, None, None, [message], problem="invalid_request")
        transport = self._open()
        assert self._slots is not None
        # Straight to the transport: a client's cookie jar, redirects and auth are all unwanted
        # here (a jar would even carry one shopper's cookies from the API to the next shopper).
        request = httpx.Request(
            "POST", self._url, headers=_HEADERS, content=content, extensions={"timeout": _phases(timeout)}
        )
        answer: httpx.Response | None = None
        try:
            # httpx's timeouts are per phase; this deadline covers the wait for a connection, connect, write and read.
            async with _deadline(timeout), self._slots:
                answer = await transport.handle_async_request(request)
                try:
                    received = await self._read_capped(answer)
                finally:
                    await answer.aclose()
        except (TimeoutError, httpx.TimeoutException):
            message = f"PureClarity did not answer within {timeout:g}s"
            return self._outcome(started, None, None, [message], problem="timeout")
        except httpx.UnsupportedProtocol as exc:  # our configuration, not the API: no failure for the breaker
            message = f"could not reach PureClarity ({type(exc).__name__})"
            return self._outcome(started, None, None, [message], problem="misconfigured")
        except httpx.HTTPError as exc:
            message = f"could not reach PureClarity ({type(exc).__name__})"
            return self._outcome(started, None, None, [message], problem="network")
        except _TooLarge:
            message = f"PureClarity's answer was larger than {self._settings.max_response_bytes} bytes"
            status = answer.status_code if answer is not None else None
            return self._outcome(started, status, None, [message], problem="too_large")

        status = answer.status_code
        content_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
        is_json = content_type == "application/json" or content_type.endswith("+json")
        parsed = self._parse(received) if is_json else None
        if status == 200 and parsed is None:
            what = "not the expected JSON" if is_json else f"not JSON ({content_type or 'no content type'})"
            message = f"PureClarity's answer was {what}"
            return self._outcome(started, status, None, [message], problem="invalid_response")
        if status == 200:
            assert parsed is not None
            errors = self._redact(parsed.errors)
            return self._outcome(started, status, parsed, errors, problem="answer_errors" if errors else None)
        if status in (400, 403) and parsed is not None and parsed.errors:
            return self._outcome(started, status, parsed, self._redact(parsed.errors), problem="rejected")
        # IDs that come back beside an error are still the shopper's IDs: keep what parsed.
        message = f"PureClarity answered HTTP {status}"
        kind = "server_error" if status >= 500 or status == 429 else "http_status"
        retry_after = _retry_after_seconds(answer.headers.get("retry-after"))
        return self._outcome(started, status, parsed, [message], problem=kind, retry_after=retry_after)

    async def _read_capped(self, answer: httpx.Response) -> bytes:
        cap = self._settings.max_response_bytes
        declared = answer.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _TooLarge
        body = bytearray()
        async for chunk in answer.aiter_bytes():  # decoded: the cap holds against compression bombs too
            body += chunk
            if len(body) > cap:
                raise _TooLarge
        return bytes(body)

    @staticmethod
    def _parse(content: bytes) -> ServerSideResponse | None:
        try:
            return ServerSideResponse.model_validate_json(content)
        except ValidationError:
            return None

    def _redact(self, texts: list[str]) -> list[str]:
        # An API that echoes the secret back must not get it into our logs or a page.
        secret = self._settings.secret_key.get_secret_value() if self._settings.secret_key else ""
        return [text.replace(secret, "**********") for text in texts] if secret else texts

    def _outcome(
        self,
        started: float,
        status: int | None,
        answer: ServerSideResponse | None,
        errors: list[str],
        *,
        problem: str | None,
        retry_after: float | None = None,
    ) -> CallOutcome:
        latency_ms = (time.perf_counter() - started) * 1000
        if problem is not None:
            logger.warning(
                "PureClarity call problem: kind=%s status=%s latency=%.0fms: %s",
                problem,
                status if status is not None else "-",
                latency_ms,
                "; ".join(errors),
            )
        failed = problem in _FAILURE_KINDS
        return CallOutcome(answer, errors, status, latency_ms, retry_after, failed, problem)
