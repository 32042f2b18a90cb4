"""The per-request object that handlers use: ``request.state.pureclarity``.

Data flows one way: the handler registers events and zones, ``fetch()`` sends all of them in one
call, the zones come back in a ``PersonalizationResult``, and when the response starts the IDs
become cookies (the object is also the app's ``send``). Nothing here is shared between requests.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import Message, Scope, Send

from .client import CallStats, PureClarityClient
from .cookies import CookiePolicy, is_valid_id, mark_private, read_cookies
from .models import Zone, is_valid_text, validate_event
from .outbox import Resender
from .proxies import TrustedProxies
from .request_info import describe_request, is_known_bot, is_prefetch
from .settings import CURRENCY_CODE, PureClaritySettings
from .tasks import start_beside

STATE_KEY = "pureclarity"
ZONES_PER_PAGE_VIEW = 8  # PureClarity bills every further 8 zones in one call as another page view

_ENDED: Scope = {"type": "http", "method": "HEAD", "headers": []}


async def _no_response(message: Message) -> None:
    raise RuntimeError("this Personalization has no response to send: made without one, or its request is over")


# What a request may do, decided on first use: nothing, fetch zones only, or everything.
_SILENT, _ZONES_ONLY, _FULL = 0, 1, 2
logger = logging.getLogger("pc_middleware")


@dataclass(frozen=True, slots=True)
class PersonalizationResult:
    """What ``fetch()`` returns: the zones so far in this request, and the last call's errors."""

    zones: dict[str, Zone] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    visitor_id: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class CallRecord:
    """What the last call of a request sent and got, for debug panels and logs (never the keys)."""

    events: list[dict[str, Any]]
    zones: list[str]
    status: int | None
    latency_ms: float
    errors: list[str]


@dataclass(slots=True)
class _Pending:
    """What one call sends for the handler, fixed when the call is decided on."""

    events: list[dict[str, Any]]
    zones: list[str]
    ids: tuple[str | None, str | None]
    currency: str | None


@dataclass(frozen=True, slots=True)
class Runtime:
    """What every request's ``Personalization`` shares, built once by the middleware."""

    settings: PureClaritySettings
    client: PureClarityClient
    cookies: CookiePolicy
    proxies: TrustedProxies
    resender: Resender


class Personalization:
    """Register what the shopper did and which zones the page shows, then ``await fetch()``."""

    __slots__ = (
        "_call_ms",
        "_currency",
        "_events",
        "_fetched",
        "_forgotten",
        "_ids",
        "_ids_from_api",
        "_last_call",
        "_mode",
        "_prefetched",
        "_result",
        "_runtime",
        "_scope",
        "_send",
        "_turn",
        "_zones",
        "touched",
    )

    def __init__(self, scope: Scope, runtime: Runtime, send: Send | None = None) -> None:
        # Only what every request needs: the rest is set up on first use (``_begin``), so that a
        # request whose handler never touches this pays for four attributes and nothing more.
        self._scope = scope
        self._runtime = runtime
        self._send = send or _no_response  # the server's send: this object is also the app's (see ``send``)
        self.touched = False  # whether the handler used this at all: if not, the middleware does nothing more

    def _begin(self) -> int:
        self.touched = True
        self._mode: int  # what this request may send, decided below
        self._events: list[dict[str, Any]] = []
        self._zones: list[str] = []
        self._currency = self._runtime.settings.currency
        self._result: PersonalizationResult | None = None
        self._fetched = False
        self._forgotten = False
        self._ids: tuple[str | None, str | None] | None = None  # read from the cookies on first need
        self._ids_from_api = False
        self._last_call: CallRecord | None = None
        self._turn: anyio.Semaphore | None = None  # one call at a time per request, in the order asked
        self._call_ms: float | None = None  # time spent in calls, for Server-Timing
        self._prefetched: anyio.Event | None = None  # set when the call prefetch() started is over
        scope, settings = self._scope, self._runtime.settings
        if (
            not settings.enabled
            or scope.get("method") in ("HEAD", "OPTIONS")
            or (settings.skip_bots and is_known_bot(scope))
        ):
            self._mode = _SILENT
        elif is_prefetch(scope):
            self._mode = _ZONES_ONLY  # nobody has seen the page: no page view to count
        else:
            self._mode = _FULL
        return self._mode

    def _what_may_go(self) -> int:
        return self._mode if self.touched else self._begin()

    def __repr__(self) -> str:
        if not self.touched:  # looking must not change what the middleware does
            return "<Personalization unused>"
        return f"<Personalization events={len(self._events)} zones={self._zones!r} fetched={self._fetched}>"

    # --- what handlers call ---------------------------------------------------------------

    def track(self, name: str, data: Mapping[str, Any] | None = None) -> None:
        """Register an event; it is checked now and raises ``InvalidEventError`` if it is wrong."""
        event = validate_event(name, data)
        if self._what_may_go() == _FULL:
            self._events.append(event)

    def add_zones(self, *zone_ids: str) -> None:
        """Ask for zones by their IDs (such as ``"HP-01"``); order is kept, repeats dropped."""
        for zone_id in zone_ids:
            if not isinstance(zone_id, str) or not zone_id.strip() or not is_valid_text(zone_id):
                raise ValueError(f"a zone ID must be a non-empty string of valid Unicode, not {zone_id!r}")
        if self._what_may_go() != _SILENT:
            self._zones.extend(dict.fromkeys(z for z in zone_ids if z not in self._zones))

    @property
    def currency(self) -> str | None:
        """The ISO 4217 code sent with calls in this request; ``PURECLARITY_CURRENCY`` by default."""
        self._what_may_go()
        return self._currency

    @currency.setter
    def currency(self, code: str | None) -> None:
        if code is not None and not (isinstance(code, str) and CURRENCY_CODE.fullmatch(code)):
            raise ValueError(f"currency must be a three-letter ISO 4217 code in capitals, such as 'GBP', not {code!r}")
        self._what_may_go()
        self._currency = code

    @property
    def result(self) -> PersonalizationResult | None:
        """The last result of this request, or None before the first ``fetch()``."""
        self._what_may_go()
        return self._result

    @property
    def stats(self) -> CallStats:
        """This middleware instance's counters: calls made, failed, and skipped by the circuit breaker."""
        return self._runtime.client.stats

    @property
    def last_call(self) -> CallRecord | None:
        """The events and zones the last call of this request sent, its status, latency and errors."""
        self._what_may_go()
        return self._last_call

    async def fetch(self) -> PersonalizationResult:
        """Send everything registered since the last call in ONE call and return the zones.

        Never raises for PureClarity's sake: errors come back in ``result.errors``. A fetch with
        nothing new to send makes no call; concurrent fetches make one call between them.
        """
        if self._what_may_go() == _SILENT:
            return self._result or self._empty_result()
        self._fetched = True
        await self._settle()  # prefetched calls first, in the order they were asked for
        await self._send_pending()
        return self._result or self._empty_result()

    def prefetch(self) -> None:
        """Start the call for what is registered so far, and return at once without waiting.

        The page does its own work while PureClarity answers; a later ``await fetch()`` returns
        this call's result. Anything registered after this goes out with the next call. The call
        starts at the handler's next ``await``; it runs beside the handler, bounded by the timeout.
        """
        if self._what_may_go() == _SILENT or not (self._events or self._zones):
            return
        self._fetched = True
        turn = self._calls()
        try:
            turn.acquire_nowait()  # in the order asked: a fetch() right after this waits for this call
            holding = True
        except anyio.WouldBlock:
            holding = False  # a call is already out: this one follows it
        # Fixed now: what is registered, the currency or a forget() from now on belong to the next call.
        pending = self._take_pending()
        previous, done = self._prefetched, anyio.Event()
        self._prefetched = done

        async def call_then_signal() -> None:
            try:
                if not holding:
                    if previous is not None:
                        await previous.wait()  # after the prefetches before it, before any later fetch()
                    await turn.acquire()
                    pending.ids = self._current_ids()  # the call before may have brought the shopper's IDs
                try:
                    await self._call(pending)
                finally:
                    turn.release()
            except Exception:  # never into the event loop, and never into trio's system nursery
                logger.exception("PureClarity prefetch failed")
            finally:
                done.set()

        start_beside(call_then_signal)

    def forget(self) -> None:
        """The shopper signed out: send no IDs from now on and delete both cookies.

        If a call is made after this, the fresh IDs it brings back become the cookies instead.
        """
        self._what_may_go()
        self._forgotten = True
        self._ids = (None, None)
        self._ids_from_api = False

    # --- the response and the end of the request (the middleware's side) ---------------------

    @property
    def _has_unsent_events(self) -> bool:
        return bool(self._events)

    @property
    def _knows_both_ids(self) -> bool:
        visitor_id, session_id = self._current_ids()
        return visitor_id is not None and session_id is not None

    @property
    def _personalised(self) -> bool:
        """Whether the response depends on this shopper: it must not be shared by a cache."""
        return self._fetched or self._ids_from_api or self._forgotten

    def send(self, message: Message) -> Awaitable[None]:
        """The app's ``send``: the response's headers wait for a new shopper's IDs and carry the cookies.

        A plain method that hands back the server's own awaitable when there is nothing to add,
        so that the messages of a request that does not personalise cost no extra coroutine.
        """
        if self.touched and message["type"] == "http.response.start":
            return self._start_response(message, self._send)
        return self._send(message)

    async def _start_response(self, message: Message, send: Send) -> None:
        if self._personalised or self._has_unsent_events:
            await self._settle()  # a prefetched call may be bringing a new shopper's IDs
            if self._has_unsent_events and not self._knows_both_ids:
                # A new shopper: the call must come back before the headers go, so its IDs become cookies.
                await self._send_unsent_events()
            message.setdefault("headers", [])  # ASGI allows it to be missing
            headers = MutableHeaders(scope=message)
            for value in self._set_cookie_values(secure=self._scope.get("scheme") == "https"):
                headers.append("set-cookie", value)
            if self._personalised:
                mark_private(headers)
            if self._runtime.settings.server_timing and self._call_ms is not None:
                headers.append("server-timing", f"pureclarity;dur={self._call_ms:.1f}")
        await send(message)

    async def _settle(self) -> None:
        """Wait until the calls ``prefetch()`` started are over (each waits for the one before)."""
        if self._prefetched is not None:
            await self._prefetched.wait()

    async def _send_unsent_events(self) -> None:
        """Send events that no fetch() took; zones nobody fetched are not worth a call."""
        self._zones.clear()
        await self._send_pending()

    async def finish(self) -> None:
        """The response is out, or the app failed: let a prefetched call end, send unsent events."""
        await self._settle()
        if self._events:
            await self._send_unsent_events()

    def end(self) -> None:
        """The request is over: from now on nothing is registered or sent.

        The scope holds the state that holds this object, and so does the server's send (through
        the server's request object): letting go of both lets reference counting free the request
        at once, instead of the cyclic garbage collector later, which costs every request its share.
        """
        if self.touched:
            self._mode = _SILENT
        self._scope = _ENDED  # a HEAD with no headers: whatever is asked later, nothing is sent
        self._send = _no_response

    def _set_cookie_values(self, *, secure: bool) -> list[str]:
        if self._ids_from_api:
            return self._runtime.cookies.set_cookie_values(*self._current_ids(), secure=secure)
        if self._forgotten:
            return self._runtime.cookies.expire_cookie_values(secure=secure)
        return []

    @property
    def call_ms(self) -> float | None:
        """Milliseconds spent in calls so far in this request, or None when none was made."""
        self._what_may_go()
        return self._call_ms

    # --- the call ---------------------------------------------------------------------------

    def _current_ids(self) -> tuple[str | None, str | None]:
        if self._ids is None:
            cookies = (value for name, value in self._scope["headers"] if name == b"cookie")
            self._ids = read_cookies(cookies, self._runtime.cookies.names)
        return self._ids

    def _empty_result(self) -> PersonalizationResult:
        return PersonalizationResult({}, [], *self._current_ids())

    async def _send_pending(self) -> None:
        # One call at a time per request: a fetch that waited finds nothing new and makes none.
        async with self._calls():
            if (self._events or self._zones) and self._scope is not _ENDED:
                await self._call(self._take_pending())

    def _calls(self) -> anyio.Semaphore:
        # A semaphore, not a lock: prefetch() takes its turn in the handler's task and the call
        # started beside it gives the turn back.
        if self._turn is None:
            self._turn = anyio.Semaphore(1)
        return self._turn

    def _take_pending(self) -> _Pending:
        pending = _Pending(self._events, self._zones, self._current_ids(), self._currency)
        self._events, self._zones = [], []
        return pending

    async def _call(self, pending: _Pending) -> None:
        events, zones = pending.events, pending.zones
        visitor_id, session_id = pending.ids
        body = describe_request(self._scope, self._runtime.proxies)
        if visitor_id is not None:
            body["visitorId"] = visitor_id
        if session_id is not None:
            body["sessionId"] = session_id
        if pending.currency is not None:
            body["currency"] = pending.currency
        if events:
            body["events"] = events
        if zones:
            body["zones"] = zones
            if len(zones) > ZONES_PER_PAGE_VIEW:
                logger.warning(
                    "%d zones in one call: PureClarity bills every further %d as another page view",
                    len(zones),
                    ZONES_PER_PAGE_VIEW,
                )

        outcome = await self._runtime.client.call(body)
        self._call_ms = (self._call_ms or 0.0) + outcome.latency_ms
        orders = [event for event in events if event["name"] == "order"]
        if orders and not outcome.settled:
            # Safe to send again (PureClarity drops a repeated orderid); the rest of the call is not.
            kept = {key: value for key, value in body.items() if key not in ("events", "zones")}
            self._runtime.resender.queue(kept | {"events": orders})
        elif orders and outcome.status == 400:
            self._runtime.client.stats.orders_dropped += len(orders)
            logger.error("PureClarity refused a call with %d order event(s) for good", len(orders))
        self._last_call = CallRecord(events, zones, outcome.status, outcome.latency_ms, outcome.errors)

        answer = outcome.response
        if answer is not None:
            new_visitor = answer.visitor_id if is_valid_id(answer.visitor_id) else None
            new_session = answer.session_id if is_valid_id(answer.session_id) else None
            if new_visitor or new_session:
                self._ids = (new_visitor or visitor_id, new_session or session_id)
                self._ids_from_api = True
        merged = dict(self._result.zones) if self._result else {}
        if answer is not None and outcome.zones_usable:
            merged.update(answer.zones)
        self._result = PersonalizationResult(merged, outcome.errors, *self._current_ids())


def get_personalization(conn: HTTPConnection) -> Personalization:
    """The request's ``Personalization``; also a FastAPI dependency, as ``pc_middleware.fastapi.PersonalizationDep``."""
    return get_personalization_from_scope(conn.scope)


def get_personalization_from_scope(scope: Mapping[str, Any]) -> Personalization:
    """The same from a raw ASGI scope, for frameworks whose request is not Starlette's
    (Django's ``request.scope``, Litestar's ``request.scope``, or plain ASGI apps)."""
    personalization = scope.get("state", {}).get(STATE_KEY)
    if not isinstance(personalization, Personalization):
        raise RuntimeError(
            "request.state.pureclarity is missing: PureClarityMiddleware is not installed on this app "
            "(add Middleware(PureClarityMiddleware) to the app's middleware list, or wrap the app: "
            "PureClarityMiddleware(app))"
        )
    return personalization
