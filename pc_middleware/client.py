"""One call to ``POST /api/serverside``, bounded by a total deadline, every failure turned into a result.

Nothing here raises into a handler: a timeout, a network error, a refusal or a body that is not
what the contract promises all come back as a ``CallOutcome`` with ``errors`` filled, and one
WARNING line on the ``pc_middleware`` logger. The secret key is sent in the body and nowhere else:
never logged, never in a repr, redacted from anything the API says back.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from pydantic import ValidationError

from .models import ServerSideResponse
from .settings import PureClaritySettings

logger = logging.getLogger("pc_middleware")

ENDPOINT = "/api/serverside"
_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "pc-middleware"}


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """What one call brought back: the parsed answer when there was one, and what went wrong."""

    response: ServerSideResponse | None = None
    errors: list[str] = field(default_factory=list)
    status: int | None = None
    latency_ms: float = 0.0

    @property
    def zones_usable(self) -> bool:
        # A 200 answer's zones count even beside errors; a refusal's never do.
        return self.status == 200 and self.response is not None


class PureClarityClient:
    """Holds the one shared ``httpx.AsyncClient`` of this process and makes calls with it."""

    def __init__(self, settings: PureClaritySettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._transport = transport
        self._url = settings.api_url + ENDPOINT
        self._http: httpx.AsyncClient | None = None
        self._pid = 0

    def __repr__(self) -> str:
        return f"PureClarityClient(url={self._url!r}, timeout={self._settings.timeout})"

    def _open(self) -> httpx.AsyncClient:
        # Created in the serving process on first need: a client made before a fork (gunicorn
        # --preload) would share its sockets with every worker.
        pid = os.getpid()
        if self._http is None or self._pid != pid:
            self._http = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self._settings.timeout),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
                headers=_HEADERS,
            )
            self._pid = pid
        return self._http

    async def start(self) -> None:
        self._open()

    async def aclose(self) -> None:
        http, self._http = self._http, None
        if http is not None and self._pid == os.getpid():
            await http.aclose()

    async def call(self, body: dict[str, Any]) -> CallOutcome:
        """Send one request body (without the keys, which are added here) and never raise."""
        secret = self._settings.secret_key.get_secret_value() if self._settings.secret_key else ""
        payload = {"appId": self._settings.access_key, "secretKey": secret, **body}
        content = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        http = self._open()
        started = time.perf_counter()
        try:
            # httpx's timeouts are per phase; this deadline covers the pool wait, connect, write and read.
            with anyio.fail_after(self._settings.timeout):
                answer = await http.post(self._url, content=content)
        except (TimeoutError, httpx.TimeoutException):
            message = f"PureClarity did not answer within {self._settings.timeout:g}s"
            return self._outcome(started, None, None, [message], problem="timeout")
        except httpx.HTTPError as exc:
            message = f"could not reach PureClarity ({type(exc).__name__})"
            return self._outcome(started, None, None, [message], problem="network")

        status = answer.status_code
        parsed = self._parse(answer.content)
        if status == 200 and parsed is None:
            message = "PureClarity's answer was not the expected JSON"
            return self._outcome(started, status, None, [message], problem="invalid_response")
        if status == 200:
            assert parsed is not None
            errors = self._redact(parsed.errors)
            return self._outcome(started, status, parsed, errors, problem="answer_errors" if errors else None)
        if status in (400, 403) and parsed is not None and parsed.errors:
            return self._outcome(started, status, parsed, self._redact(parsed.errors), problem="rejected")
        # IDs that come back beside an error are still the shopper's IDs: keep what parsed.
        message = f"PureClarity answered HTTP {status}"
        return self._outcome(started, status, parsed, [message], problem="http_status")

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
        return CallOutcome(answer, errors, status, latency_ms)
