"""The same product page in FastAPI, Starlette, Litestar and Django (ASGI), with the middleware in each stack.

Each framework only changes how a handler reaches the request's ``Personalization``; the page itself
(``show_product``) and what goes to PureClarity and back to the browser are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import pytest
from asgi_lifespan import LifespanManager, LifespanNotSupported
from django.conf import settings as django_settings
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpResponse, JsonResponse
from django.urls import path
from django.utils.decorators import async_only_middleware
from fastapi import Depends, FastAPI
from litestar import Litestar, get
from litestar import Request as LitestarRequest
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from pc_middleware import Personalization, PureClarityMiddleware, get_personalization, get_personalization_from_scope

from .conftest import SESSION_COOKIE, VISITOR_COOKIE, browser, make_settings, set_cookies
from .fake_api import FakePureClarity

pytestmark = pytest.mark.anyio

NEW_SHOPPER_COOKIES = [
    f"{VISITOR_COOKIE}=visitor-1; Max-Age=34560000; Path=/; SameSite=Lax",
    f"{SESSION_COOKIE}=session-1; Max-Age=300; Path=/; SameSite=Lax",
]


ZoneTitles = dict[str, list[str | None]]


async def show_product(pc: Personalization, product_id: str) -> ZoneTitles:
    """The page every framework serves: two events, one zone, the titles of its items."""
    pc.track("page_view", {"page_type": "product_page", "product_id": product_id})
    pc.track("product_view", {"id": product_id})
    pc.add_zones("PP-01")
    result = await pc.fetch()
    return {zone_id: [item.title for item in zone.items] for zone_id, zone in result.zones.items()}


def middleware_options(fake: FakePureClarity) -> dict[str, Any]:
    return {"settings": make_settings(), "transport": fake.transport}


# --- FastAPI: a dependency -------------------------------------------------------------------


def fastapi_app(fake: FakePureClarity) -> FastAPI:
    app = FastAPI()
    app.add_middleware(PureClarityMiddleware, **middleware_options(fake))

    @app.get("/product/{product_id}")
    async def product(product_id: str, pc: Annotated[Personalization, Depends(get_personalization)]) -> Any:
        return await show_product(pc, product_id)

    return app


# --- Starlette: request.state ----------------------------------------------------------------


def starlette_app(fake: FakePureClarity) -> Starlette:
    async def product(request: Request) -> Response:
        return JSONResponse(await show_product(request.state.pureclarity, request.path_params["product_id"]))

    middleware = [Middleware(PureClarityMiddleware, **middleware_options(fake))]
    return Starlette(routes=[Route("/product/{product_id}", product)], middleware=middleware)


# --- Litestar: request.state; the whole app wrapped (its middleware list builds one per route) ---


def litestar_app(fake: FakePureClarity) -> PureClarityMiddleware:
    @get("/product/{product_id:str}")
    async def product(request: LitestarRequest[Any, Any, Any], product_id: FromPath[str]) -> ZoneTitles:
        return await show_product(request.state.pureclarity, product_id)

    return PureClarityMiddleware(Litestar(route_handlers=[product]), **middleware_options(fake))


# --- Django (ASGI): the whole app wrapped; the object is in request.scope ----------------------


@async_only_middleware
def prices_in_dollars(get_response: Callable[[ASGIRequest], Awaitable[HttpResponse]]) -> Any:
    """A Django middleware: Django's own stack runs inside ours, so it can reach the object too."""

    async def middleware(request: ASGIRequest) -> HttpResponse:
        get_personalization_from_scope(request.scope).currency = "USD"
        return await get_response(request)

    return middleware


async def django_product(request: ASGIRequest, product_id: str) -> HttpResponse:
    pc = get_personalization_from_scope(request.scope)
    return JsonResponse(await show_product(pc, product_id))


urlpatterns = [path("product/<str:product_id>", django_product)]  # this module is Django's URLconf


def django_asgi_application() -> Any:
    # Django's settings are global to the process: configured once, only by this module, as the
    # smallest project that serves the page (no database, no apps, one middleware of its own).
    if not django_settings.configured:
        django_settings.configure(
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["shop.test"],
            MIDDLEWARE=[f"{__name__}.prices_in_dollars"],
        )
    return get_asgi_application()


def django_app(fake: FakePureClarity) -> PureClarityMiddleware:
    return PureClarityMiddleware(django_asgi_application(), **middleware_options(fake))


FRAMEWORKS: dict[str, Callable[[FakePureClarity], Any]] = {
    "fastapi": fastapi_app,
    "starlette": starlette_app,
    "litestar": litestar_app,
    "django": django_app,
}


@pytest.mark.parametrize("framework", FRAMEWORKS)
async def test_a_new_shopper_sees_the_zone_and_gets_both_cookies(framework: str, fake: FakePureClarity) -> None:
    async with browser(FRAMEWORKS[framework](fake)) as client:
        first = await client.get("/product/P1")
        second = await client.get("/product/P2")

    assert first.status_code == 200
    assert first.json() == {"PP-01": ["Product PP-01-1"]}
    assert set_cookies(first) == NEW_SHOPPER_COOKIES
    assert fake.bodies[0]["events"] == [
        {"name": "page_view", "data": {"page_type": "product_page", "product_id": "P1"}},
        {"name": "product_view", "data": {"id": "P1"}},
    ]
    assert fake.bodies[0]["zones"] == ["PP-01"]
    assert "visitorId" not in fake.bodies[0]
    assert (fake.bodies[1]["visitorId"], fake.bodies[1]["sessionId"]) == ("visitor-1", "session-1")
    assert second.json() == {"PP-01": ["Product PP-01-1"]}


async def test_django_middleware_runs_inside_ours_and_reaches_the_object(fake: FakePureClarity) -> None:
    async with browser(django_app(fake)) as client:
        response = await client.get("/product/P1")

    assert response.status_code == 200
    assert fake.bodies[0]["currency"] == "USD"  # set by prices_in_dollars, before the view fetched


def personalization(request: LitestarRequest[Any, Any, Any]) -> Personalization:
    return get_personalization_from_scope(request.scope)


async def test_litestar_handlers_can_take_the_object_as_a_dependency(fake: FakePureClarity) -> None:
    @get("/product/{product_id:str}", dependencies={"pc": Provide(personalization, sync_to_thread=False)})
    async def product(product_id: FromPath[str], pc: NamedDependency[Personalization]) -> ZoneTitles:
        return await show_product(pc, product_id)

    app = PureClarityMiddleware(Litestar(route_handlers=[product]), **middleware_options(fake))
    async with browser(app) as client:
        response = await client.get("/product/P1")

    assert response.json() == {"PP-01": ["Product PP-01-1"]}
    assert fake.bodies[0]["events"][1] == {"name": "product_view", "data": {"id": "P1"}}


async def test_django_refuses_the_lifespan_but_mounted_in_starlette_it_gets_one(fake: FakePureClarity) -> None:
    with pytest.raises(LifespanNotSupported) as refused:
        async with LifespanManager(django_app(fake)):
            pass
    assert str(refused.value.__cause__) == "Django can only handle ASGI/HTTP connections, not lifespan."

    mounted = Starlette(
        routes=[Mount("/", app=django_asgi_application())],
        middleware=[Middleware(PureClarityMiddleware, **middleware_options(fake))],
    )
    async with LifespanManager(mounted), browser(mounted) as client:
        response = await client.get("/product/P1")

    assert response.json() == {"PP-01": ["Product PP-01-1"]}
    assert fake.bodies[0]["currency"] == "USD"
