"""Two pages personalised by PureClarity, configured entirely from PURECLARITY_* variables."""

from __future__ import annotations

from html import escape

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware, Zone


def render(title: str, zones: dict[str, Zone], errors: list[str]) -> HTMLResponse:
    cards = "".join(
        f"<section><h2>{escape(zone.title or zone_id)}</h2><ul>"
        + "".join(
            f'<li><a href="{escape(item.link or "#")}">{escape(item.title or item.id or "")}</a></li>'
            for item in zone.items
        )
        + "</ul></section>"
        for zone_id, zone in zones.items()
    )
    problems = "".join(f"<li>{escape(error)}</li>" for error in errors)
    return HTMLResponse(
        f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>{cards}<ul>{problems}</ul>"
    )


async def homepage(request: Request) -> HTMLResponse:
    pc = request.state.pureclarity
    pc.track("page_view", {"page_type": "homepage"})
    pc.add_zones("HP-01", "HP-02")
    result = await pc.fetch()
    return render("Home", result.zones, result.errors)


async def product(request: Request) -> HTMLResponse:
    product_id = request.path_params["product_id"]
    pc = request.state.pureclarity
    pc.track("page_view", {"page_type": "product_page", "product_id": product_id})
    pc.track("product_view", {"id": product_id})
    pc.add_zones("PP-01", "PP-02")
    result = await pc.fetch()
    return render(f"Product {product_id}", result.zones, result.errors)


app = Starlette(
    routes=[Route("/", homepage), Route("/product/{product_id}", product)],
    middleware=[Middleware(PureClarityMiddleware)],
)
