"""``PureClarityMiddleware``: a pure ASGI middleware. Cookies in, state, cookies out, lifespan.

Per request it only attaches a fresh ``Personalization`` and wraps ``send``; nothing is parsed
and no call is made unless a handler registers something.
"""

from __future__ import annotations

import anyio
import httpx
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .client import PureClarityClient
from .cookies import CookiePolicy
from .outbox import Outbox, Resender
from .personalization import STATE_KEY, Personalization, Runtime
from .proxies import TrustedProxies
from .settings import PureClaritySettings


class PureClarityMiddleware:
    """Adds ``request.state.pureclarity`` to every HTTP request and writes PureClarity's cookies.

    ``settings`` defaults to ``PureClaritySettings()``, read from ``PURECLARITY_*`` variables;
    a missing key raises here, naming the variable. ``transport`` replaces httpx's network
    transport (tests, or another HTTP stack).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: PureClaritySettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.app = app
        self.settings = settings if settings is not None else PureClaritySettings()
        self.client = PureClarityClient(self.settings, transport=transport)
        self.stats = self.client.stats
        self.resender = Resender(Outbox(self.settings.outbox_path), self.client)
        self._runtime = Runtime(
            settings=self.settings,
            client=self.client,
            cookies=CookiePolicy(self.settings),
            proxies=TrustedProxies(self.settings.trusted_proxies),
            resender=self.resender,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        personalization = Personalization(scope, self._runtime)
        # A new state dict per request: servers may hand every request the same one (asgi-lifespan does).
        scope = {**scope, "state": {**scope.get("state", {}), STATE_KEY: personalization}}

        async def send_with_cookies(message: Message) -> None:
            if message["type"] == "http.response.start" and (
                personalization.personalised or personalization.has_unsent_events
            ):
                await self._before_headers(personalization, scope, message)
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookies)
        finally:
            if personalization.has_unsent_events:
                # The shopper's IDs are known (or the page failed): send the events now that the
                # response is out, shielded so a cancelled request still delivers them, and bounded.
                with anyio.CancelScope(shield=True):
                    await personalization.send_unsent_events()

    async def _before_headers(self, personalization: Personalization, scope: Scope, message: Message) -> None:
        await personalization.settle()  # a prefetched call may be bringing a new shopper's IDs
        if personalization.has_unsent_events and not personalization.knows_both_ids:
            # A new shopper: the call must come back before the headers go, so its IDs become cookies.
            await personalization.send_unsent_events()
        message.setdefault("headers", [])  # ASGI allows it to be missing
        headers = MutableHeaders(scope=message)
        for value in personalization.set_cookie_values(secure=scope.get("scheme") == "https"):
            headers.append("set-cookie", value)
        if personalization.personalised:
            _mark_private(headers)
        if self.settings.server_timing and personalization.call_ms is not None:
            headers.append("server-timing", f"pureclarity;dur={personalization.call_ms:.1f}")

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The outbox worker lives as long as the app: started with it, drained before it stops.
        failure: Exception | None = None
        async with anyio.create_task_group() as tasks:

            async def receive_and_start() -> Message:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.client.start()
                    tasks.start_soon(self.resender.run)
                return message

            async def send_and_close(message: Message) -> None:
                if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                    await self.resender.drain(self.settings.drain_timeout)
                    await self.client.aclose()
                    self.resender.outbox.close()
                await send(message)

            try:
                await self.app(scope, receive_and_start, send_and_close)
            except Exception as exc:  # raised again below as itself, not inside the task group's ExceptionGroup
                failure = exc
            finally:
                # However the app's lifespan ended (a failed startup included), the worker ends with it.
                tasks.cancel_scope.cancel()
        if failure is not None:
            raise failure


def _mark_private(headers: MutableHeaders) -> None:
    """A personalised page must not be served to another shopper by a shared cache."""
    vary = headers.get("vary")
    if vary is None:
        headers["vary"] = "Cookie"
    elif vary.strip() != "*" and "cookie" not in {part.strip().lower() for part in vary.split(",")}:
        headers["vary"] = f"{vary}, Cookie"
    if "cache-control" not in headers:
        headers["cache-control"] = "private"
