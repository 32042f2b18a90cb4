"""Property-based: whatever a shopper's headers or the API's answer hold, no 500, no injected header,
nothing sent that breaks the contract."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
import httpx
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .conftest import SESSION_COOKIE, VISITOR_COOKIE, shop
from .contract import contract_violations
from .fake_api import FakePureClarity

SAFE_SET_COOKIE = re.compile(
    r"pc_(v|sessid)_shop1=[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,256}; Max-Age=\d+; Path=/; SameSite=Lax"
)
COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,256}")

header_bytes = st.binary(max_size=300) | st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=9000
).map(lambda text: text.encode("latin-1"))
cookie_values = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=300),
    st.sampled_from(['"quoted"', "a;b", "a\r\nSet-Cookie: evil=1", "x" * 8192, "caf\xe9", " ", ""]),
)


async def personalised(request: Request) -> Response:
    pc = request.state.pureclarity
    pc.track("page_view", {"page_type": "homepage"})
    pc.add_zones("HP-01")
    result = await pc.fetch()
    return JSONResponse({"zones": sorted(result.zones), "errors": len(result.errors)})


def visit(fake: FakePureClarity, headers: list[tuple[bytes, bytes]]) -> httpx.Response:
    app = shop(Route("/", personalised), fake=fake)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as client:
            return await client.get("/", headers=headers)

    return anyio.run(go)


def assert_safe(response: httpx.Response, fake: FakePureClarity) -> None:
    assert response.status_code == 200
    for value in response.headers.get_list("set-cookie"):
        assert SAFE_SET_COOKIE.fullmatch(value), value
    assert "evil" not in response.headers
    for body in fake.bodies:
        assert contract_violations(body) == []
        for key in ("visitorId", "sessionId"):
            assert key not in body or COOKIE_OCTETS.fullmatch(body[key])


@given(visitor=cookie_values, session=cookie_values, repeat=st.booleans(), noise=st.binary(max_size=200))
@settings(max_examples=80, deadline=None)
def test_any_cookie_header_is_safe(visitor: str, session: str, repeat: bool, noise: bytes) -> None:
    fake = FakePureClarity()
    cookie = f"{VISITOR_COOKIE}={visitor}; {SESSION_COOKIE}={session}".encode("latin-1") + b"; " + noise
    headers = [(b"cookie", cookie)] + ([(b"cookie", f"{VISITOR_COOKIE}=second".encode())] if repeat else [])

    response = visit(fake, headers)

    assert_safe(response, fake)
    sent = fake.bodies[0]
    if COOKIE_OCTETS.fullmatch(visitor) and visitor.strip() == visitor:
        assert sent.get("visitorId") == visitor


@given(user_agent=header_bytes, referer=header_bytes, forwarded=header_bytes, host=header_bytes)
@settings(max_examples=80, deadline=None)
def test_any_request_headers_are_safe(user_agent: bytes, referer: bytes, forwarded: bytes, host: bytes) -> None:
    fake = FakePureClarity()
    headers = [(b"user-agent", user_agent), (b"referer", referer), (b"x-forwarded-for", forwarded), (b"host", host)]

    response = visit(fake, headers)

    assert_safe(response, fake)
    [body] = fake.bodies
    assert len(body["userAgent"]) <= 512
    assert len(body.get("referer", "")) <= 2048
    assert len(body["currentUrl"]) <= 2048
    assert body["ip"] == "203.0.113.9"  # no trusted proxy: X-Forwarded-For is never believed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)
answers = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "visitorId": json_values | cookie_values,
            "sessionId": json_values | cookie_values,
            "errors": json_values,
            "zones": st.dictionaries(
                st.text(max_size=8),
                st.fixed_dictionaries({}, optional={"title": json_values, "items": st.lists(json_values, max_size=3)}),
                max_size=3,
            ),
        },
    ),
)


@given(answer=answers, status=st.sampled_from([200, 200, 200, 400, 403, 500]))
@settings(max_examples=120, deadline=None)
def test_any_api_answer_is_safe(answer: Any, status: int) -> None:
    fake = FakePureClarity(
        answer=lambda body: httpx.Response(
            status, content=json.dumps(answer), headers={"content-type": "application/json"}
        )
    )

    response = visit(fake, [])

    assert_safe(response, fake)
