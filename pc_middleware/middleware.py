"""``PureClarityMiddleware``: a pure ASGI middleware. Cookies in, state, cookies out, lifespan.

Per request it only attaches a fresh ``Personalization`` and wraps ``send``; nothing is parsed
and no call is made unless a handler registers something.
"""

from __future__ import annotations

import anyio
import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .client import PureClarityClient
from .cookies import CookiePolicy
from .outbox import Outbox, Resender
from .personalization import STATE_KEY, Personalization, Runtime
from .proxies import TrustedProxies
from .settings import PureClaritySettings, settings_from_environment


class PureClarityMiddleware:
    """Adds ``request.state.pureclarity`` to every HTTP request and writes PureClarity's cookies.

    ``settings`` defaults to ``PureClaritySettings()``, read from ``PURECLARITY_*`` variables;
    a missing key or a bad value raises ``ConfigurationError`` here, naming each variable.
    ``transport`` replaces the transport calls go through, whatever ``PURECLARITY_TRANSPORT``
    says (tests, or another HTTP stack).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: PureClaritySettings | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.app = app
        self.settings = settings if settings is not None else settings_from_environment()
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
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        # Every request pays for what follows, used or not: it is kept to one small object (also
        # the app's send, which looks at one flag) and one dict.
        personalization = Personalization(scope, self._runtime, send)
        # A new state dict per request: servers may hand every request the same one (asgi-lifespan does).
        state = scope.get("state")
        scope["state"] = {**state, STATE_KEY: personalization} if state else {STATE_KEY: personalization}

        try:
            await self.app(scope, receive, personalization.send)
        finally:
            if personalization.touched:
                # The shopper's IDs are known (or the page failed): send the events now that the
                # response is out, shielded so a cancelled request still delivers them, and bounded.
                with anyio.CancelScope(shield=True):
                    await personalization.finish()
            personalization.end()

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
