"""The apps the benchmarks drive, side by side: each pair differs in one thing only.

``from_env()`` builds the one named by ``BENCH_APP``, for uvicorn (``--factory``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pc_middleware import PureClarityMiddleware, PureClaritySettings

ACCESS_KEY = "bench"
SECRET_KEY = "bench-secret"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
PRODUCT = {
    "id": "P100",
    "title": "Merino crew-neck jumper",
    "brand": "Northwind",
    "description": "Soft, warm and machine washable, knitted from fine merino wool. " * 4,
    "price": 49.0,
    "was_price": 59.0,
    "features": ["100% merino wool", "Machine washable at 30°C", "Regular fit", "Made in Portugal"],
}
RELATED = {
    f"REL-{z}": {
        "title": f"You may also like {z}",
        "items": [
            {"link": f"/product/R{z}{n}", "image": f"/images/R{z}{n}.jpg", "title": f"Item {n}", "display_price": "£9"}
            for n in range(8)
        ],
    }
    for z in range(2)
}
Handler = Callable[[Request], Awaitable[Response]]


def settings(api_url: str = "http://127.0.0.1:9", timeout: float = 1.0, **more: Any) -> PureClaritySettings:
    return PureClaritySettings(access_key=ACCESS_KEY, secret_key=SECRET_KEY, base_url=api_url, timeout=timeout, **more)


def starlette_app(handler: Handler, *, middleware: bool, **settings_args: Any) -> Starlette:
    stack = [Middleware(PureClarityMiddleware, settings=settings(**settings_args))] if middleware else []
    return Starlette(routes=[Route("/", handler, methods=["GET", "POST"])], middleware=stack)


# --- pages that do not personalise -------------------------------------------------------


async def hello(request: Request) -> Response:
    return PlainTextResponse("Hello, world!")


async def product_page(request: Request) -> Response:
    context = {"product": PRODUCT, "zones": RELATED, "categories": ["Men", "Women", "Kids", "Sale"], "basket_count": 2}
    return TEMPLATES.TemplateResponse(request, "product.html", context)


class PlainMiddleware:
    """For reference: the straightforward way to write this middleware, as a yardstick.

    It parses the request's cookies, puts an object on ``request.state`` and rewrites headers
    on the way out, for every request, whether or not the page uses it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        ids = {name: request.cookies.get(name) for name in (f"pc_v_{ACCESS_KEY}", f"pc_sessid_{ACCESS_KEY}")}
        request.state.pureclarity = {"ids": ids, "events": [], "zones": []}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-personalised", "no")
            await send(message)

        await self.app(scope, receive, send_wrapper)


# --- pages that personalise: the middleware, by hand, and naively ------------------------

PAGE_VIEW = {"name": "page_view", "data": {"page_type": "product_page", "product_id": "P100"}}
PRODUCT_VIEW = {"name": "product_view", "data": {"id": "P100"}}


async def personalised(request: Request) -> Response:
    pc = request.state.pureclarity
    pc.track("page_view", PAGE_VIEW["data"])
    pc.track("product_view", PRODUCT_VIEW["data"])
    pc.add_zones("PP-01", "PP-02")
    result = await pc.fetch()
    return JSONResponse({zone_id: [item.title for item in zone.items] for zone_id, zone in result.zones.items()})


async def call_by_hand(client: httpx.AsyncClient, request: Request, api_url: str) -> Response:
    """What a careful user writes in the route: the same call, the same cookies, no library."""
    visitor_name, session_name = f"pc_v_{ACCESS_KEY}", f"pc_sessid_{ACCESS_KEY}"
    body: dict[str, Any] = {
        "appId": ACCESS_KEY,
        "secretKey": SECRET_KEY,
        "currentUrl": str(request.url),
        "userAgent": request.headers.get("user-agent", ""),
        "ip": request.client.host if request.client else "0.0.0.0",
        "events": [PAGE_VIEW, PRODUCT_VIEW],
        "zones": ["PP-01", "PP-02"],
    }
    if visitor_name in request.cookies:
        body["visitorId"] = request.cookies[visitor_name]
    if session_name in request.cookies:
        body["sessionId"] = request.cookies[session_name]
    try:
        answer = (await client.post(api_url + "/api/serverside", json=body, timeout=1.0)).json()
    except (httpx.HTTPError, ValueError):
        answer = {}
    zones = answer.get("zones") or {}
    response = JSONResponse({zone_id: [item.get("Title") for item in zone["items"]] for zone_id, zone in zones.items()})
    if answer.get("visitorId"):
        response.set_cookie(visitor_name, answer["visitorId"], max_age=34_560_000, samesite="lax")
    if answer.get("sessionId"):
        response.set_cookie(session_name, answer["sessionId"], max_age=300, samesite="lax")
    return response


def by_hand(api_url: str) -> Handler:
    client = httpx.AsyncClient()  # one for the process: the best a user could do

    async def handler(request: Request) -> Response:
        return await call_by_hand(client, request, api_url)

    return handler


def naive(api_url: str) -> Handler:
    async def handler(request: Request) -> Response:
        async with httpx.AsyncClient() as client:  # a new client, pool and TLS context per request
            return await call_by_hand(client, request, api_url)

    return handler


# --- pages for the deadline and latency-hiding runs --------------------------------------


async def zones_only(request: Request) -> Response:
    pc = request.state.pureclarity
    pc.add_zones("PP-01")
    result = await pc.fetch()
    return PlainTextResponse(f"{len(result.zones)} zones, {len(result.errors)} errors")


def sleeper(seconds: float) -> Handler:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(seconds)
        return PlainTextResponse("0 zones, 1 errors")

    return handler


def from_env() -> ASGIApp:
    """The app named by ``BENCH_APP``, calling the API at ``BENCH_API_URL``."""
    name = os.environ["BENCH_APP"]
    api_url = os.environ.get("BENCH_API_URL", "http://127.0.0.1:9")
    timeout = float(os.environ.get("BENCH_TIMEOUT", "1.0"))
    breaker = int(os.environ.get("BENCH_BREAKER_THRESHOLD", "5"))
    apps: dict[str, Callable[[], ASGIApp]] = {
        "hello": lambda: starlette_app(hello, middleware=False),
        "hello+pc": lambda: starlette_app(hello, middleware=True),
        "personalised": lambda: starlette_app(personalised, middleware=True, api_url=api_url),
        "by_hand": lambda: starlette_app(by_hand(api_url), middleware=False),
        "naive": lambda: starlette_app(naive(api_url), middleware=False),
        "deadline": lambda: starlette_app(
            zones_only, middleware=True, api_url=api_url, timeout=timeout, breaker_threshold=breaker
        ),
        "sleeper": lambda: starlette_app(sleeper(timeout), middleware=False),
    }
    return apps[name]()
