"""The demo shop: a Starlette and Jinja2 shop that uses pc-middleware exactly as a user would.

Every page registers what the shopper did and the zones it shows, awaits one ``fetch()``, and
renders the zones. Forms (basket, rating, checkout, sign-in) register their event and redirect;
the middleware sends those events after the response, or before it for a brand-new shopper.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from pc_middleware import Personalization, PureClarityMiddleware, PureClaritySettings, get_personalization
from pc_middleware.jinja import register_pureclarity, safe_url

from .catalog import CATALOG, CURRENCIES, money, unit_price
from .images import BANNER_SVG, product_svg

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
register_pureclarity(templates, allow_html=True)  # the demo trusts its own html zones: a banner
templates.env.filters["money"] = money
templates.env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)


@dataclass
class ShopSession:
    """What the shop itself remembers about a browser: its basket, who signed in, its orders."""

    basket: dict[str, int] = field(default_factory=dict)
    user: dict[str, str] | None = None
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)


SESSIONS: dict[str, ShopSession] = {}
SESSION_COOKIE = "shop_sid"


def shop_session(request: Request) -> ShopSession:
    """This browser's session, or a new one that ``with_session`` stores when the response goes out."""
    return SESSIONS.get(request.cookies.get(SESSION_COOKIE, "")) or ShopSession()


def currency_of(request: Request) -> str:
    chosen = request.cookies.get("shop_currency", "GBP")
    return chosen if chosen in CURRENCIES else "GBP"


def personalization(request: Request) -> Personalization:
    pc = get_personalization(request)
    pc.currency = currency_of(request)
    return pc


def basket_lines(session: ShopSession, currency: str) -> list[dict[str, Any]]:
    lines = []
    for product_id, qty in session.basket.items():
        product = CATALOG.get(product_id)
        price = unit_price(product, currency) if product else None
        if product is not None and price is not None:
            lines.append({"product": product, "qty": qty, "unitprice": price, "total": price * qty})
    return lines


def basket_event(session: ShopSession, currency: str) -> dict[str, Any]:
    lines = basket_lines(session, currency)
    return {
        "items": [
            {"id": line["product"].id, "qty": line["qty"], "unitprice": float(line["unitprice"])} for line in lines
        ]
    }


async def page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> Response:
    """Render a template with what every page shows; keep the shop's session cookie."""
    pc = get_personalization(request)
    session = shop_session(request)
    currency = currency_of(request)
    context = {
        "currency": currency,
        "currencies": CURRENCIES,
        "categories": CATALOG.categories,
        "basket_count": sum(session.basket.values()),
        "user": session.user,
        "debug": request.cookies.get("pc_debug") == "1",
        "result": pc.result,
        "last_call": pc.last_call,
        **context,
    }
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    return with_session(request, response, session)


def with_session(request: Request, response: Response, session: ShopSession) -> Response:
    sid = request.cookies.get(SESSION_COOKIE)
    if sid not in SESSIONS:
        sid = secrets.token_urlsafe(16)
        SESSIONS[sid] = session
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax")
    return response


def back_to(url: str, request: Request, session: ShopSession) -> Response:
    return with_session(request, RedirectResponse(url, status_code=303), session)


# --- pages ----------------------------------------------------------------------------------------


async def home(request: Request) -> Response:
    pc = personalization(request)
    pc.track("page_view", {"page_type": "homepage"})
    pc.add_zones("HP-01", "HP-02", "HP-03", "HP-04")
    result = await pc.fetch()
    return await page(request, "home.html", {"zones": result.zones})


async def category(request: Request) -> Response:
    found = CATALOG.category(request.path_params["category_id"])
    if found is None:
        return await not_found(request)
    pc = personalization(request)
    pc.track("page_view", {"page_type": "category_listing_page", "category_id": found.id})
    pc.add_zones("CP-01")
    result = await pc.fetch()
    products = [(p, unit_price(p, pc.currency or "GBP")) for p in CATALOG.in_category(found.id)]
    return await page(request, "category.html", {"category": found, "products": products, "zones": result.zones})


async def product(request: Request) -> Response:
    found = CATALOG.get(request.path_params["product_id"])
    if found is None:
        return await not_found(request)
    pc = personalization(request)
    pc.track("page_view", {"page_type": "product_page", "product_id": found.id})
    pc.track("product_view", {"id": found.id})
    pc.add_zones("PP-01", "PP-02")
    result = await pc.fetch()
    currency = pc.currency or "GBP"
    context = {
        "product": found,
        "price": unit_price(found, currency),
        "was": found.prices.get(currency),
        "rated": request.query_params.get("rated"),
        "zones": result.zones,
    }
    return await page(request, "product.html", context)


async def rate(request: Request) -> Response:
    found = CATALOG.get(request.path_params["product_id"])
    form = await request.form()
    rating = str(form.get("rating", ""))
    if found is None or rating not in {"1", "2", "3", "4", "5"}:
        return await not_found(request)
    personalization(request).track("product_rate", {"id": found.id, "rating": int(rating)})
    return back_to(f"/product/{found.id}?rated={rating}", request, shop_session(request))


async def basket(request: Request) -> Response:
    pc = personalization(request)
    pc.track("page_view", {"page_type": "basket_page"})
    pc.add_zones("BP-01")
    result = await pc.fetch()
    session = shop_session(request)
    lines = basket_lines(session, pc.currency or "GBP")
    total = sum((line["total"] for line in lines), Decimal(0))
    return await page(request, "basket.html", {"lines": lines, "total": total, "zones": result.zones})


async def change_basket(request: Request) -> Response:
    form = await request.form()
    product_id = str(form.get("product_id", ""))
    session = shop_session(request)
    if CATALOG.get(product_id) is None:
        return await not_found(request)
    qty = int(form["qty"]) if str(form.get("qty", "")).isdigit() else 1
    if request.url.path.endswith("/remove") or qty == 0:
        session.basket.pop(product_id, None)
    elif request.url.path.endswith("/add"):
        session.basket[product_id] = min(session.basket.get(product_id, 0) + qty, 99)
    else:
        session.basket[product_id] = min(qty, 99)
    personalization(request).track("set_basket", basket_event(session, currency_of(request)))
    return back_to("/basket", request, session)


async def checkout(request: Request) -> Response:
    session = shop_session(request)
    currency = currency_of(request)
    lines = basket_lines(session, currency)
    if not lines:
        return back_to("/basket", request, session)
    error = None
    if request.method == "POST":
        form = await request.form()
        email = str(form.get("email", "")).strip()
        firstname = str(form.get("firstname", "")).strip()[:60]
        if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
            return place_order(request, session, lines, currency, email, firstname)
        error = "Please enter an email address such as ann@example.com"
    total = sum((line["total"] for line in lines), Decimal(0))
    return await page(request, "checkout.html", {"lines": lines, "total": total, "error": error})


def place_order(
    request: Request, session: ShopSession, lines: list[dict[str, Any]], currency: str, email: str, firstname: str
) -> Response:
    order_id = f"DEMO-{uuid.uuid4().hex[:10].upper()}"
    total = sum((line["total"] for line in lines), Decimal(0))
    order: dict[str, Any] = {
        "orderid": order_id,
        "email": email,
        "ordertotal": float(total),
        "items": basket_event(session, currency)["items"],
    }
    if firstname:
        order["firstname"] = firstname
    if session.user:
        order["userid"] = session.user["userid"]
    pc = personalization(request)
    pc.track("order", order)
    pc.track("set_basket", {"items": []})
    session.orders[order_id] = {"lines": lines, "total": total, "currency": currency}
    session.basket.clear()
    return back_to(f"/order/{order_id}", request, session)


async def order_complete(request: Request) -> Response:
    session = shop_session(request)
    order = session.orders.get(request.path_params["order_id"])
    if order is None:
        return await not_found(request)
    pc = personalization(request)
    pc.track("page_view", {"page_type": "order_complete_page"})
    pc.add_zones("OC-01")
    result = await pc.fetch()
    context = {"order_id": request.path_params["order_id"], "order": order, "zones": result.zones}
    return await page(request, "order_complete.html", context)


async def sign_in(request: Request) -> Response:
    session = shop_session(request)
    if request.method == "GET":
        return await page(request, "signin.html", {"error": None})
    form = await request.form()
    email = str(form.get("email", "")).strip()
    firstname = str(form.get("firstname", "")).strip()[:60]
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        return await page(request, "signin.html", {"error": "Please enter an email address"}, status_code=400)
    session.user = {"userid": email.lower(), "email": email, "firstname": firstname}
    details = {"userid": email.lower(), "email": email} | ({"firstname": firstname} if firstname else {})
    personalization(request).track("customer_details", details)
    return back_to("/", request, session)


async def sign_out(request: Request) -> Response:
    session = shop_session(request)
    session.user = None
    personalization(request).forget()
    return back_to("/", request, session)


async def settings_switch(request: Request) -> Response:
    """Currency and the debug panel: both remembered in plain cookies."""
    target = request.headers.get("referer", "/")
    response = RedirectResponse(safe_url(target) or "/", status_code=303)
    if request.query_params.get("currency") in CURRENCIES:
        response.set_cookie("shop_currency", request.query_params["currency"], samesite="lax")
    if "debug" in request.query_params:
        response.set_cookie("pc_debug", "1" if request.query_params["debug"] == "1" else "0", samesite="lax")
    return response


async def image(request: Request) -> Response:
    name = request.path_params["name"]
    svg = BANNER_SVG if name == "banner" else product_svg(name)
    if svg is None:
        return Response(status_code=404)
    return Response(svg, media_type="image/svg+xml", headers={"cache-control": "public, max-age=3600"})


async def not_found(request: Request, exc: Exception | None = None) -> Response:
    return await page(request, "not_found.html", {}, status_code=404)


ROUTES = [
    Route("/", home),
    Route("/category/{category_id}", category),
    Route("/product/{product_id}", product),
    Route("/product/{product_id}/rate", rate, methods=["POST"]),
    Route("/basket", basket),
    Route("/basket/add", change_basket, methods=["POST"]),
    Route("/basket/update", change_basket, methods=["POST"]),
    Route("/basket/remove", change_basket, methods=["POST"]),
    Route("/checkout", checkout, methods=["GET", "POST"]),
    Route("/order/{order_id}", order_complete),
    Route("/signin", sign_in, methods=["GET", "POST"]),
    Route("/signout", sign_out, methods=["POST"]),
    Route("/switch", settings_switch),
    Route("/images/{name}.svg", image),
    Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
]


def create_app(
    settings: PureClaritySettings | None = None, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """The shop; without arguments its middleware reads PURECLARITY_* like any user's would."""
    middleware = [Middleware(PureClarityMiddleware, settings=settings, transport=transport)]
    return Starlette(routes=ROUTES, middleware=middleware, exception_handlers={404: not_found})


app = create_app()
