"""A small Starlette shop, configured from ``PURECLARITY_*`` alone, that tests/test_servers.py serves
with uvicorn, hypercorn and granian: ``tests.server_app:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware


async def product_page(request: Request) -> Response:
    pc = request.state.pureclarity
    product_id = request.path_params["product_id"]
    pc.track("page_view", {"page_type": "product_page", "product_id": product_id})
    pc.track("product_view", {"id": product_id})
    pc.add_zones("PP-01", "HP-01")
    result = await pc.fetch()
    zones = {zone_id: [item.id for item in zone.items] for zone_id, zone in result.zones.items()}
    return JSONResponse({"zones": zones, "errors": result.errors})


async def ready(request: Request) -> Response:
    """Answers once the server is up; makes no call."""
    return PlainTextResponse("ready")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # The lifespan reaches the app through the middleware: printed, the test sees that it ran.
    print("shop lifespan: started", flush=True)
    yield
    print("shop lifespan: stopped", flush=True)


app = Starlette(
    routes=[Route("/product/{product_id}", product_page), Route("/ready", ready)],
    middleware=[Middleware(PureClarityMiddleware)],
    lifespan=lifespan,
)
