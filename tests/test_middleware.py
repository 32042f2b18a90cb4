"""The middleware end to end, in-process: cookies in, one call, zones back, cookies out."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pc_middleware import Personalization, PureClarityMiddleware, get_personalization

from .conftest import RETURNING, SESSION_COOKIE, VISITOR_COOKIE, browser, make_settings, set_cookies, shop
from .fake_api import FakePureClarity

pytestmark = pytest.mark.anyio


async def product_page(request: Request) -> Response:
    pc = request.state.pureclarity
    pc.track("page_view", {"page_type": "product_page", "product_id": "P1"})
    pc.track("product_view", {"id": "P1"})
    pc.add_zones("PP-01", "PP-02")
    result = await pc.fetch()
    return JSONResponse({name: zone.title for name, zone in result.zones.items()})


async def test_a_new_shopper_gets_zones_and_both_ids_as_cookies(fake: FakePureClarity) -> None:
    app = shop(Route("/product/P1", product_page), fake=fake)

    async with browser(app) as client:
        response = await client.get(
            "/product/P1?colour=red", headers={"user-agent": "Firefox/140", "referer": "http://x.test/"}
        )

    assert response.json() == {"PP-01": "Zone PP-01", "PP-02": "Zone PP-02"}
    assert set_cookies(response) == [
        f"{VISITOR_COOKIE}=visitor-1; Max-Age=34560000; Path=/; SameSite=Lax",
        f"{SESSION_COOKIE}=session-1; Max-Age=300; Path=/; SameSite=Lax",
    ]
    [body] = fake.bodies
    assert body == {
        "appId": "shop1",
        "secretKey": "s3cr3t-never-log-me",
        "currentUrl": "http://shop.test/product/P1?colour=red",
        "userAgent": "Firefox/140",
        "ip": "203.0.113.9",
        "referer": "http://x.test/",
        "events": [
            {"name": "page_view", "data": {"page_type": "product_page", "product_id": "P1"}},
            {"name": "product_view", "data": {"id": "P1"}},
        ],
        "zones": ["PP-01", "PP-02"],
    }


async def test_a_returning_shopper_sends_both_ids_and_the_cookies_are_refreshed(fake: FakePureClarity) -> None:
    app = shop(Route("/product/P1", product_page), fake=fake)

    async with browser(app) as client:
        response = await client.get("/product/P1", headers=RETURNING)

    assert fake.bodies[0]["visitorId"] == "v-known"
    assert fake.bodies[0]["sessionId"] == "s-known"
    assert "referer" not in fake.bodies[0]
    assert set_cookies(response) == [
        f"{VISITOR_COOKIE}=v-known; Max-Age=34560000; Path=/; SameSite=Lax",
        f"{SESSION_COOKIE}=s-known; Max-Age=300; Path=/; SameSite=Lax",
    ]


async def test_cookies_are_secure_over_https_and_carry_the_configured_domain(fake: FakePureClarity) -> None:
    app = shop(
        Route("/product/P1", product_page),
        fake=fake,
        cookie_domain=".shop.test",
        visitor_cookie_max_age=86400,
        session_cookie_max_age=600,
    )

    async with browser(app, scheme="https") as client:
        response = await client.get("/product/P1")

    assert set_cookies(response) == [
        f"{VISITOR_COOKIE}=visitor-1; Max-Age=86400; Path=/; SameSite=Lax; Domain=.shop.test; Secure",
        f"{SESSION_COOKIE}=session-1; Max-Age=600; Path=/; SameSite=Lax; Domain=.shop.test; Secure",
    ]
    assert fake.bodies[0]["currentUrl"] == "https://shop.test/product/P1"


@pytest.mark.parametrize(
    ("cookie", "sent"),
    [
        (f'{VISITOR_COOKIE}="quoted"; {SESSION_COOKIE}=s-ok', {"sessionId": "s-ok"}),
        (f"{VISITOR_COOKIE}=v-ok; {SESSION_COOKIE}=has space", {"visitorId": "v-ok"}),
        (f"{VISITOR_COOKIE}={'x' * 257}; {SESSION_COOKIE}=", {}),
        (f"{VISITOR_COOKIE}=caf\xe9; {SESSION_COOKIE}=a\\b", {}),
        (
            f"{VISITOR_COOKIE}=first; {VISITOR_COOKIE}=second; {SESSION_COOKIE}={'s' * 256}",
            {"visitorId": "first", "sessionId": "s" * 256},
        ),
    ],
)
async def test_each_cookie_is_judged_on_its_own_and_a_bad_one_is_as_if_absent(
    fake: FakePureClarity, cookie: str, sent: dict[str, str]
) -> None:
    app = shop(Route("/product/P1", product_page), fake=fake)

    async with browser(app) as client:
        response = await client.get("/product/P1", headers={"cookie": cookie.encode()})

    assert response.status_code == 200
    body = fake.bodies[0]
    assert {key: body[key] for key in ("visitorId", "sessionId") if key in body} == sent


async def test_the_apps_own_set_cookie_headers_stay(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        request.state.pureclarity.add_zones("HP-01")
        await request.state.pureclarity.fetch()
        response = PlainTextResponse("ok")
        response.set_cookie("basket", "b1")
        return response

    async with browser(shop(Route("/", page), fake=fake)) as client:
        response = await client.get("/")

    names = [value.split("=", 1)[0] for value in set_cookies(response)]
    assert names == ["basket", VISITOR_COOKIE, SESSION_COOKIE]


async def test_a_request_that_registers_nothing_makes_no_call_and_gets_no_header(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        return PlainTextResponse("plain", headers={"x-app": "1"})

    bare = Starlette(routes=[Route("/", page)])
    async with browser(shop(Route("/", page), fake=fake)) as with_middleware, browser(bare) as without:
        personalised_app = await with_middleware.get("/", headers=RETURNING)
        plain_app = await without.get("/", headers=RETURNING)

    assert fake.calls == 0
    assert personalised_app.headers.raw == plain_app.headers.raw
    assert personalised_app.text == "plain"


async def test_looking_at_the_object_without_using_it_changes_nothing(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        seen = f"{pc!r} {pc.call_ms} {pc.result} {pc.last_call}"  # a handler logging what it has
        return PlainTextResponse(seen)

    async with browser(shop(Route("/", page), fake=fake)) as client:
        response = await client.get("/", headers=RETURNING)

    assert response.text.startswith("<Personalization unused> None None None")
    assert fake.calls == 0
    assert "set-cookie" not in response.headers


async def test_a_zone_id_that_is_not_valid_unicode_is_refused_at_once(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        with pytest.raises(ValueError, match="valid Unicode"):
            request.state.pureclarity.add_zones("HP-\ud800")
        return PlainTextResponse("ok")

    async with browser(shop(Route("/", page), fake=fake)) as client:
        assert (await client.get("/")).text == "ok"


async def test_a_response_that_used_fetch_is_private_and_varies_by_cookie(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        await request.state.pureclarity.fetch()
        return PlainTextResponse("zones", headers={"vary": "Accept-Encoding"})

    async def cached_by_the_app(request: Request) -> Response:
        await request.state.pureclarity.fetch()
        return PlainTextResponse("zones", headers={"cache-control": "public, max-age=60", "vary": "cookie"})

    app = shop(Route("/", page), Route("/cached", cached_by_the_app), fake=fake)
    async with browser(app) as client:
        fresh = await client.get("/")
        cached = await client.get("/cached")

    assert fresh.headers["vary"] == "Accept-Encoding, Cookie"
    assert fresh.headers["cache-control"] == "private"
    assert cached.headers.get_list("cache-control") == ["public, max-age=60"]
    assert cached.headers.get_list("vary") == ["cookie"]


async def test_fetch_twice_or_from_two_tasks_at_once_makes_one_call(fake: FakePureClarity) -> None:
    seen: list[Any] = []

    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.add_zones("HP-01")
        async with anyio.create_task_group() as tasks:
            for _ in range(3):
                tasks.start_soon(lambda: _append(seen, pc.fetch()))
        seen.append(await pc.fetch())
        return PlainTextResponse("ok")

    async with browser(shop(Route("/", page), fake=fake)) as client:
        await client.get("/")

    assert fake.calls == 1
    assert len(seen) == 4
    assert all(result is seen[0] for result in seen)


async def _append(results: list[Any], fetching: Any) -> None:
    results.append(await fetching)


async def test_what_is_registered_after_a_fetch_goes_with_the_next_and_zones_add_up(fake: FakePureClarity) -> None:
    def answer(body: dict[str, Any]) -> httpx.Response:
        zones = {zone: {"title": f"{zone} from call {fake.calls}"} for zone in body.get("zones", [])}
        return httpx.Response(200, json={"visitorId": "v", "sessionId": "s", "zones": zones})

    fake.answer = answer

    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.add_zones("HP-01", "HP-02")
        first = await pc.fetch()
        pc.add_zones("HP-02", "HP-03")
        pc.track("page_view", {"page_type": "homepage"})
        second = await pc.fetch()
        again = await pc.fetch()
        return JSONResponse(
            {
                "first": {k: z.title for k, z in first.zones.items()},
                "second": {k: z.title for k, z in second.zones.items()},
                "result_is_last": pc.result is second is again,
            }
        )

    async with browser(shop(Route("/", page), fake=fake)) as client:
        response = await client.get("/")

    assert fake.calls == 2
    assert fake.bodies[1]["zones"] == ["HP-02", "HP-03"]
    assert fake.bodies[1]["visitorId"] == "v"  # the IDs from the first call go with the second
    assert response.json() == {
        "first": {"HP-01": "HP-01 from call 1", "HP-02": "HP-02 from call 1"},
        "second": {"HP-01": "HP-01 from call 1", "HP-02": "HP-02 from call 2", "HP-03": "HP-03 from call 2"},
        "result_is_last": True,
    }


async def test_add_zones_keeps_order_and_drops_repeats(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        request.state.pureclarity.add_zones("B", "A", "B")
        request.state.pureclarity.add_zones("A", "C")
        await request.state.pureclarity.fetch()
        return PlainTextResponse("ok")

    async with browser(shop(Route("/", page), fake=fake)) as client:
        await client.get("/")

    assert fake.bodies[0]["zones"] == ["B", "A", "C"]


async def test_a_fetch_with_nothing_registered_makes_no_call(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        result = await request.state.pureclarity.fetch()
        return JSONResponse([result.zones, result.errors, result.visitor_id, result.session_id])

    async with browser(shop(Route("/", page), fake=fake)) as client:
        response = await client.get("/", headers=RETURNING)

    assert fake.calls == 0
    assert response.json() == [{}, [], "v-known", "s-known"]


def record_order(log: list[str], fake: FakePureClarity) -> None:
    def answer(body: dict[str, Any]) -> httpx.Response:
        log.append("api call")
        return httpx.Response(200, json=fake.personalise(body))

    fake.answer = answer


async def drive(app: Any, path: str, headers: dict[str, str], log: list[str]) -> list[dict[str, Any]]:
    """Call ``app`` like a server would and note when the response goes out, beside the API calls."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        log.append(message["type"])
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("198.51.100.4", 40000),
        "server": ("shop.test", 80),
    }
    await app(scope, receive, send)
    return sent


async def track_only(request: Request) -> Response:
    request.state.pureclarity.track("page_view", {"page_type": "other"})
    request.state.pureclarity.add_zones("never-fetched")
    return PlainTextResponse("tracked")


async def test_events_never_fetched_go_after_the_response_when_the_shopper_is_known(fake: FakePureClarity) -> None:
    log: list[str] = []
    record_order(log, fake)

    sent = await drive(shop(Route("/", track_only), fake=fake), "/", {"cookie": RETURNING["cookie"]}, log)

    assert log == ["http.response.start", "http.response.body", "api call"]
    assert fake.bodies[0]["events"] == [{"name": "page_view", "data": {"page_type": "other"}}]
    assert "zones" not in fake.bodies[0]  # zones nobody fetched are not worth a call
    assert not [name for name, _ in sent[0]["headers"] if name == b"set-cookie"]


async def test_events_never_fetched_go_before_the_headers_for_a_new_shopper(fake: FakePureClarity) -> None:
    log: list[str] = []
    record_order(log, fake)

    sent = await drive(shop(Route("/", track_only), fake=fake), "/", {}, log)

    assert log == ["api call", "http.response.start", "http.response.body"]
    cookies = [value.decode() for name, value in sent[0]["headers"] if name == b"set-cookie"]
    assert [cookie.split(";")[0] for cookie in cookies] == [
        f"{VISITOR_COOKIE}=visitor-1",
        f"{SESSION_COOKIE}=session-1",
    ]


async def test_events_are_sent_even_when_the_handler_fails(fake: FakePureClarity) -> None:
    async def broken(request: Request) -> Response:
        request.state.pureclarity.track("product_view", {"id": "P9"})
        raise RuntimeError("template missing")

    app = shop(Route("/", broken), fake=fake)
    async with browser(app) as client:
        with pytest.raises(RuntimeError, match="template missing"):
            await client.get("/", headers=RETURNING)

    assert fake.bodies[0]["events"] == [{"name": "product_view", "data": {"id": "P9"}}]


async def test_events_are_sent_once_even_when_fetched_then_unfetched_events_follow(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.track("page_view", {"page_type": "homepage"})
        await pc.fetch()
        pc.track("product_view", {"id": "P2"})
        return PlainTextResponse("ok")

    async with browser(shop(Route("/", page), fake=fake)) as client:
        await client.get("/", headers=RETURNING)

    assert [[event["name"] for event in body["events"]] for body in fake.bodies] == [["page_view"], ["product_view"]]


async def test_forget_expires_both_cookies_and_sends_no_ids(fake: FakePureClarity) -> None:
    async def sign_out(request: Request) -> Response:
        request.state.pureclarity.forget()
        return PlainTextResponse("bye")

    async def sign_out_and_browse_on(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.forget()
        pc.add_zones("HP-01")
        await pc.fetch()
        return PlainTextResponse("hello again")

    app = shop(Route("/out", sign_out), Route("/out-and-on", sign_out_and_browse_on), fake=fake)
    async with browser(app) as client:
        signed_out = await client.get("/out", headers=RETURNING)
        fresh = await client.get("/out-and-on", headers=RETURNING)

    assert set_cookies(signed_out) == [
        f"{VISITOR_COOKIE}=; Max-Age=0; Path=/; SameSite=Lax",
        f"{SESSION_COOKIE}=; Max-Age=0; Path=/; SameSite=Lax",
    ]
    assert signed_out.headers["cache-control"] == "private"
    [body] = fake.bodies
    assert "visitorId" not in body
    assert "sessionId" not in body
    assert [cookie.split(";")[0] for cookie in set_cookies(fresh)] == [
        f"{VISITOR_COOKIE}=visitor-1",
        f"{SESSION_COOKIE}=session-1",
    ]


async def test_currency_defaults_to_the_setting_and_can_change_per_request(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        if "usd" in request.query_params:
            pc.currency = "USD"
        with pytest.raises(ValueError, match="three-letter ISO 4217 code"):
            pc.currency = "dollars"
        pc.add_zones("HP-01")
        await pc.fetch()
        return PlainTextResponse(pc.currency)

    async with browser(shop(Route("/", page), fake=fake, currency="GBP")) as client:
        assert (await client.get("/")).text == "GBP"
        assert (await client.get("/?usd")).text == "USD"

    assert [body["currency"] for body in fake.bodies] == ["GBP", "USD"]


async def test_disabled_makes_no_call_and_returns_an_empty_result_at_once(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.track("page_view", {"page_type": "homepage"})
        pc.add_zones("HP-01")
        result = await pc.fetch()
        return JSONResponse([result.zones, result.errors])

    app = Starlette(
        routes=[Route("/", page)],
        middleware=[Middleware(PureClarityMiddleware, settings=make_settings(enabled=False), transport=fake.transport)],
    )
    async with browser(app) as client:
        response = await client.get("/")

    assert response.json() == [{}, []]
    assert fake.calls == 0
    assert "set-cookie" not in response.headers
    assert "vary" not in response.headers


async def test_handlers_still_see_bad_events_when_disabled(fake: FakePureClarity) -> None:
    async def page(request: Request) -> Response:
        request.state.pureclarity.track("product_view", {})
        return PlainTextResponse("unreachable")

    app = shop(Route("/", page), fake=fake, enabled=False, access_key=None, secret_key=None)
    async with browser(app) as client:
        with pytest.raises(ValueError, match="'product_view' event: field 'id'"):
            await client.get("/")


async def test_concurrent_requests_get_their_own_object_and_ids_under_a_shared_lifespan_state(
    fake: FakePureClarity,
) -> None:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        yield {"catalog": "shared"}

    seen: dict[str, Personalization] = {}

    async def page(request: Request) -> Response:
        pc = get_personalization(request)
        pc.add_zones("HP-01")
        await anyio.sleep(0.01)  # let the other requests interleave
        result = await pc.fetch()
        seen[request.query_params["n"]] = pc
        return JSONResponse([request.state.catalog, result.visitor_id])

    app = Starlette(
        routes=[Route("/", page)],
        lifespan=lifespan,
        middleware=[Middleware(PureClarityMiddleware, settings=make_settings(), transport=fake.transport)],
    )
    responses: dict[int, httpx.Response] = {}
    async with LifespanManager(app) as manager, browser(manager.app) as client:

        async def visit(n: int) -> None:
            cookie = f"{VISITOR_COOKIE}=v{n}; {SESSION_COOKIE}=s{n}"
            responses[n] = await client.get(f"/?n={n}", headers={"cookie": cookie})

        async with anyio.create_task_group() as tasks:
            for n in range(20):
                tasks.start_soon(visit, n)

    assert len({id(pc) for pc in seen.values()}) == 20
    for n, response in responses.items():
        assert response.json() == ["shared", f"v{n}"]
        assert set_cookies(response)[0].startswith(f"{VISITOR_COOKIE}=v{n};")
    assert sorted(body["visitorId"] for body in fake.bodies) == sorted(f"v{n}" for n in range(20))
    assert "pureclarity" not in manager._state  # the shared dict was never written


async def test_get_personalization_says_when_the_middleware_is_missing() -> None:
    async def page(request: Request) -> Response:
        get_personalization(request)
        return PlainTextResponse("unreachable")

    async with browser(Starlette(routes=[Route("/", page)])) as client:
        with pytest.raises(RuntimeError, match="PureClarityMiddleware is not installed"):
            await client.get("/")


async def test_websocket_scopes_pass_through_untouched(fake: FakePureClarity) -> None:
    seen: list[tuple[Any, Any, Any]] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: Any) -> None:
        pass

    scope = {"type": "websocket", "path": "/ws", "headers": [], "state": {}}
    await PureClarityMiddleware(inner, settings=make_settings(), transport=fake.transport)(scope, receive, send)

    assert seen == [(scope, receive, send)]
    assert seen[0][0] is scope
    assert scope["state"] == {}
    assert fake.calls == 0


async def test_lifespan_passes_through_and_opens_then_closes_the_client(fake: FakePureClarity) -> None:
    startup_seen: list[bool] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        startup_seen.append(True)
        yield

    closed: list[bool] = []

    class RecordingTransport(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            return await fake.transport.handle_async_request(request)

        async def aclose(self) -> None:
            closed.append(True)

    middleware = PureClarityMiddleware(
        Starlette(lifespan=lifespan), settings=make_settings(), transport=RecordingTransport()
    )
    assert middleware.client._transport is None

    async with LifespanManager(middleware):
        assert startup_seen == [True]
        assert middleware.client._transport is not None

    assert middleware.client._transport is None
    assert closed == [True]


@pytest.mark.parametrize("touched", [False, True])
async def test_a_finished_request_is_freed_at_once_not_left_to_the_cyclic_collector(
    fake: FakePureClarity, touched: bool
) -> None:
    # The scope holds the state that holds the Personalization, which holds the scope and the
    # server's send; a server's request object holds the scope too (uvicorn's does). Left as a
    # cycle, every request would cost its share of a garbage collection.
    async def page(request: Request) -> Response:
        if touched:
            request.state.pureclarity.add_zones("HP-01")
            await request.state.pureclarity.fetch()
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", page)],
        middleware=[Middleware(PureClarityMiddleware, settings=make_settings(), transport=fake.transport)],
    )

    class ServerRequest:
        def __init__(self, scope: dict[str, Any]) -> None:
            self.scope = scope

        async def receive(self) -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(self, message: dict[str, Any]) -> None:
            pass

    async def one_request() -> None:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"", "state": {}}
        server_request = ServerRequest(scope)
        await app(scope, server_request.receive, server_request.send)

    await one_request()  # whatever is built once, on the first request
    gc.collect()
    gc.disable()
    try:
        await one_request()
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_request_cancelled_mid_page_still_sends_its_events_once(fake: FakePureClarity) -> None:
    # The shopper went away and the server cancelled the request: what was registered still counts.
    registered = anyio.Event()

    async def page(request: Request) -> Response:
        request.state.pureclarity.track("page_view", {"page_type": "homepage"})
        registered.set()
        await anyio.sleep_forever()
        raise AssertionError("never reached")

    app = shop(Route("/", page), fake=fake)
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"", "state": {}}

    async def receive() -> dict[str, Any]:
        await anyio.sleep_forever()
        raise AssertionError("never reached")

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("no response was started")

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(app, scope, receive, send)
            await registered.wait()
            tasks.cancel_scope.cancel()

    assert [[event["name"] for event in body["events"]] for body in fake.bodies] == [["page_view"]]
