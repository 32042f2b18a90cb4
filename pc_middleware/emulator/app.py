"""The emulator's HTTP face: ``POST /api/serverside`` and, when enabled, its test endpoints."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .catalog import Catalog
from .config import EmulatorConfig, load_feed
from .faults import FaultPlan, Faults
from .store import Store
from .strategies import Shopper, recommend
from .validation import request_problems

REDACTED = "**********"


class Emulator:
    """One emulated PureClarity account: its catalog, zones, memory and test switches."""

    def __init__(self, config: EmulatorConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.catalog = Catalog(load_feed(config.catalog_path)["Products"])  # type: ignore[arg-type]
        self.store = Store(config.database)
        self.faults = Faults(config.fault_plan if config.faults else None)
        self.received: deque[dict[str, Any]] = deque(maxlen=1000)
        self._zones = {zone.id: zone for zone in config.zones}
        self._clock = clock

    async def serverside(self, request: Request) -> Response:
        raw = await request.body()
        entry: dict[str, Any] = {"at": self._clock(), "body": None, "status": None}
        if self.config.inspection:
            self.received.append(entry)
        fault = await self.faults.answer(request) if self.config.faults else None
        response = fault or self._answer(raw, entry)
        entry["status"] = response.status_code
        return response

    def _answer(self, raw: bytes, entry: dict[str, Any]) -> Response:
        try:
            body = json.loads(raw)
        except ValueError:
            return _errors(400, "the request body must be JSON")
        entry["body"] = {**body, "secretKey": REDACTED} if isinstance(body, dict) and "secretKey" in body else body
        problems = request_problems(body)
        if problems:
            return _errors(400, *problems)
        secret = self.config.keys.get(body["appId"])
        if secret is None:
            return _errors(403, "unknown appId")
        if not hmac.compare_digest(secret.encode(), body["secretKey"].encode()):
            return _errors(403, "secretKey is not the one for this appId")
        return JSONResponse(self._personalise(body))

    def _personalise(self, body: dict[str, Any]) -> dict[str, Any]:
        now = self._clock()
        visitor_id = body.get("visitorId") or uuid.uuid4().hex
        session_id = body.get("sessionId")
        if not session_id or not self.store.session_is_live(session_id, now, self.config.session_idle_seconds):
            session_id = uuid.uuid4().hex
        self.store.touch_session(session_id, visitor_id, now)

        viewing = None
        for event in body.get("events", []):
            viewing = self._learn(event["name"], event.get("data") or {}, visitor_id, session_id, now) or viewing

        shopper = Shopper(
            visitor_id=visitor_id,
            viewing=viewing,
            basket=tuple(self.store.basket(visitor_id)),
            currency=(body.get("currency") or self.config.default_currency).upper(),
            now=now,
        )
        zones: dict[str, Any] = {}
        errors: list[str] = []
        for zone_id in dict.fromkeys(body.get("zones", [])):
            zone = self._zones.get(zone_id)
            if zone is None:
                errors.append(f"unknown zone {zone_id!r}")
            elif zone.strategy is None:
                zones[zone_id] = {"title": zone.title, "type": zone.type, "items": [], "html": zone.html}
            else:
                zones[zone_id] = {
                    "title": zone.title,
                    "type": zone.type,
                    "items": recommend(zone, self.store, self.catalog, shopper),
                }
        return {"visitorId": visitor_id, "sessionId": session_id, "errors": errors, "zones": zones}

    def _learn(self, name: str, data: dict[str, Any], visitor_id: str, session_id: str, now: float) -> str | None:
        """Remember one event; return the product it shows the shopper looking at, if any.

        The spec lets ``data`` be left out of any event, so an event without what it needs is
        accepted and simply teaches nothing.
        """
        product_id = data.get("id")
        if name == "product_view" and product_id is not None:
            self.store.record_view(visitor_id, session_id, product_id, now)
            return str(product_id)
        if name == "page_view":
            return data.get("product_id")
        if name == "product_rate" and product_id is not None and "rating" in data:
            self.store.record_rating(visitor_id, product_id, data["rating"], now)
        elif name == "set_basket" and "items" in data:
            self.store.set_basket(visitor_id, [line["id"] for line in data["items"]])
        elif name == "order" and "orderid" in data:
            lines = [(line["id"], line["qty"]) for line in data.get("items", [])]
            self.store.record_order(data["orderid"], visitor_id, lines, now)
        elif name == "customer_details":
            self.store.set_customer(visitor_id, data)
        return None

    # --- test endpoints ---------------------------------------------------------------------

    async def requests(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.received.clear()
            return Response(status_code=204)
        return JSONResponse(list(self.received))

    async def fault_plan(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.clear()
        elif request.method == "PUT":
            try:
                self.faults.plan = FaultPlan.model_validate_json(await request.body())
            except ValidationError as exc:
                return JSONResponse({"errors": [str(e["msg"]) for e in exc.errors()]}, status_code=400)
        return JSONResponse(self.faults.plan.model_dump())

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "products": len(self.catalog.products), "zones": sorted(self._zones)})


def _errors(status: int, *errors: str) -> JSONResponse:
    return JSONResponse({"errors": list(errors)}, status_code=status)


def create_app(config: EmulatorConfig | None = None, *, clock: Callable[[], float] = time.time) -> Starlette:
    """The emulator as an ASGI app; with no config, the demo: access key ``demo``, secret ``demo-secret``."""
    emulator = Emulator(config or EmulatorConfig(), clock=clock)
    routes = [
        Route("/api/serverside", emulator.serverside, methods=["POST"]),
        Route("/_emulator/health", emulator.health),
    ]
    if emulator.config.inspection:
        routes.append(Route("/_emulator/requests", emulator.requests, methods=["GET", "DELETE"]))
    if emulator.config.faults:
        routes.append(Route("/_emulator/faults", emulator.fault_plan, methods=["GET", "PUT", "DELETE"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        emulator.store.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.emulator = emulator
    return app
