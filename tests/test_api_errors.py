"""Whatever the API answers, the handler gets a result, never an exception, and one log line says why."""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from pc_middleware import PureClarityMiddleware

from .conftest import (
    RETURNING,
    SECRET,
    SESSION_COOKIE,
    VISITOR_COOKIE,
    browser,
    make_settings,
    set_cookies,
    shop,
    zones_page,
)
from .fake_api import FakePureClarity, product

pytestmark = pytest.mark.anyio


async def visit(fake: FakePureClarity, *, headers: dict[str, str] | None = None, **settings: Any) -> httpx.Response:
    async with browser(shop(Route("/", zones_page), fake=fake, **settings)) as client:
        return await client.get("/", headers=headers or {})


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pc_middleware" and r.levelno == logging.WARNING]


def raise_(error: Exception) -> Any:
    def answer(body: dict[str, Any]) -> httpx.Response:
        raise error

    return answer


@pytest.mark.parametrize(
    ("answer", "error", "logged"),
    [
        (
            lambda body: httpx.Response(400, json={"errors": ["Invalid zone list", "Unknown event"]}),
            ["Invalid zone list", "Unknown event"],
            "kind=rejected status=400",
        ),
        (
            lambda body: httpx.Response(403, json={"errors": ["Invalid access key"]}),
            ["Invalid access key"],
            "kind=rejected status=403",
        ),
        (
            lambda body: httpx.Response(403, text="Forbidden"),
            ["PureClarity answered HTTP 403"],
            "kind=http_status status=403",
        ),
        (
            lambda body: httpx.Response(502, text="<html><body>Bad gateway</body></html>"),
            ["PureClarity answered HTTP 502"],
            "kind=server_error status=502",
        ),
        (
            lambda body: httpx.Response(200, text="<html>maintenance</html>"),
            ["PureClarity's answer was not JSON (text/plain)"],
            "kind=invalid_response status=200",
        ),
        (
            lambda body: httpx.Response(200, json=["not", "an", "object"]),
            ["PureClarity's answer was not the expected JSON"],
            "kind=invalid_response status=200",
        ),
        (
            raise_(httpx.ConnectError("[Errno 111] Connection refused")),
            ["could not reach PureClarity (ConnectError)"],
            "kind=network status=-",
        ),
        (
            raise_(httpx.RemoteProtocolError("peer closed connection")),
            ["could not reach PureClarity (RemoteProtocolError)"],
            "kind=network status=-",
        ),
        (
            raise_(httpx.ReadTimeout("timed out")),
            ["PureClarity did not answer within 1s"],
            "kind=timeout status=-",
        ),
    ],
)
async def test_an_api_failure_is_a_result_with_errors_and_one_warning(
    fake: FakePureClarity, caplog: pytest.LogCaptureFixture, answer: Any, error: list[str], logged: str
) -> None:
    fake.answer = answer

    response = await visit(fake, headers=RETURNING)

    assert response.status_code == 200
    assert response.json() == {"zones": [], "errors": error}
    [line] = warnings(caplog)
    assert line.startswith(f"PureClarity call problem: {logged} latency=")


async def test_the_whole_call_is_bounded_by_the_timeout(
    fake: FakePureClarity, caplog: pytest.LogCaptureFixture
) -> None:
    async def hang(body: dict[str, Any]) -> httpx.Response:
        await anyio.sleep(30)
        return httpx.Response(200, json={})

    fake.answer = hang
    started = time.perf_counter()

    response = await visit(fake, headers=RETURNING, timeout=0.2)

    assert time.perf_counter() - started < 2  # generous: the point is it did not wait 30 s
    assert response.json() == {"zones": [], "errors": ["PureClarity did not answer within 0.2s"]}
    assert "kind=timeout" in warnings(caplog)[0]


async def test_a_200_answer_keeps_its_zones_beside_its_errors(
    fake: FakePureClarity, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer = lambda body: httpx.Response(
        200,
        json={
            "visitorId": "v",
            "sessionId": "s",
            "errors": ["Zone HP-99 not found"],
            "zones": {"HP-01": {"title": "Trending", "items": [product("P1")]}},
        },
    )

    response = await visit(fake)

    assert response.json() == {"zones": ["HP-01"], "errors": ["Zone HP-99 not found"]}
    assert "kind=answer_errors status=200" in warnings(caplog)[0]


async def test_ids_that_come_back_beside_errors_are_still_applied(fake: FakePureClarity) -> None:
    fake.answer = lambda body: httpx.Response(
        400, json={"visitorId": "v-new", "sessionId": "s-new", "errors": ["Bad event"]}
    )

    response = await visit(fake)

    assert response.json()["errors"] == ["Bad event"]
    assert [cookie.split(";")[0] for cookie in set_cookies(response)] == [
        f"{VISITOR_COOKIE}=v-new",
        f"{SESSION_COOKIE}=s-new",
    ]


@pytest.mark.parametrize(
    "bad_id",
    ["has;semicolon", "line\r\nSet-Cookie: evil=1", "", "x" * 257, 'quo"te', "caf\u00e9", 12.5, None, ["v"]],
)
async def test_an_id_from_the_api_that_is_not_cookie_safe_is_never_written(fake: FakePureClarity, bad_id: Any) -> None:
    fake.answer = lambda body: httpx.Response(200, json={"visitorId": bad_id, "sessionId": "s-good", "zones": {}})

    response = await visit(fake)

    assert set_cookies(response) == [f"{SESSION_COOKIE}=s-good; Max-Age=300; Path=/; SameSite=Lax"]
    assert "evil" not in response.headers


async def test_a_secret_echoed_by_the_api_is_redacted_from_errors_and_logs(
    fake: FakePureClarity, caplog: pytest.LogCaptureFixture
) -> None:
    fake.answer = lambda body: httpx.Response(403, json={"errors": [f"secretKey {body['secretKey']} is wrong"]})

    response = await visit(fake)

    assert response.json()["errors"] == ["secretKey ********** is wrong"]
    assert SECRET not in caplog.text


async def test_cookies_the_api_sets_are_never_sent_on_another_shoppers_call() -> None:
    # One connection pool serves every shopper: a cookie jar in it would carry one shopper's
    # API cookies (a load balancer's, say) into the next shopper's call.
    cookie_headers: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        cookie_headers.append(request.headers.get("cookie"))
        return httpx.Response(200, json={"zones": {}}, headers={"set-cookie": "AWSALB=shopper-one; Path=/"})

    middleware = Middleware(PureClarityMiddleware, settings=make_settings(), transport=httpx.MockTransport(answer))
    app = Starlette(routes=[Route("/", zones_page)], middleware=[middleware])  # one app, one pool
    async with browser(app) as first_shopper, browser(app) as second_shopper:
        await first_shopper.get("/")
        await second_shopper.get("/")

    assert cookie_headers == [None, None]


async def test_text_that_cannot_be_encoded_is_an_error_in_the_result_not_an_exception() -> None:
    from pc_middleware.client import PureClarityClient

    client = PureClarityClient(make_settings(), transport=httpx.MockTransport(lambda request: httpx.Response(200)))
    outcome = await client.call({"zones": ["HP-\ud800"]})  # what track() and add_zones() refuse

    assert outcome.errors == ["the call could not be encoded (UnicodeEncodeError)"]
    assert (outcome.failed, client.breaker.state, client.stats.failures) == (False, "closed", 0)


def test_proxy_variables_apply_to_calls_as_they_would_to_an_httpx_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from pc_middleware.transport import proxy_from_environment

    api = httpx.URL("https://api-eu-w-1.pureclarity.net/api/serverside")
    for name in (
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "https_proxy",
        "http_proxy",
        "all_proxy",
        "no_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    assert proxy_from_environment(api) is None

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert proxy_from_environment(api) == "http://proxy.internal:3128"
    assert proxy_from_environment(httpx.URL("http://127.0.0.1:8801/api/serverside")) is None

    monkeypatch.setenv("NO_PROXY", ".pureclarity.net")
    assert proxy_from_environment(api) is None
