"""The emulator answers like PureClarity: by the spec, with zones that learn from what it receives."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pc_middleware.emulator import EmulatorConfig, ZoneConfig, create_app
from pc_middleware.testing import EmulatorHandle, serve_in_thread

from .contract import check_response

pytestmark = pytest.mark.anyio
KEYS = {"appId": "demo", "secretKey": "demo-secret"}


def call(**fields: Any) -> dict[str, Any]:
    return {**KEYS, "currentUrl": "https://shop.test/", "userAgent": "UA", "ip": "203.0.113.9", **fields}


@pytest.fixture
async def api(pureclarity_emulator: EmulatorHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=pureclarity_emulator.transport, base_url="http://emulator") as client:
        yield client


async def post(api: httpx.AsyncClient, body: Any) -> httpx.Response:
    response = await api.post("/api/serverside", json=body)
    if response.status_code == 200:
        check_response(response.json())
    return response


async def zone_ids(api: httpx.AsyncClient, zone: str, **fields: Any) -> list[str]:
    response = await post(api, call(zones=[zone], **fields))
    return [item["Id"] for item in response.json()["zones"][zone]["items"]]


def viewing(product_id: str) -> list[dict[str, Any]]:
    return [
        {"name": "page_view", "data": {"page_type": "product_page", "product_id": product_id}},
        {"name": "product_view", "data": {"id": product_id}},
    ]


# --- the request contract ---------------------------------------------------------------------

text = st.text(max_size=12)
number = st.integers(-5, 500) | st.floats(-5, 500, allow_nan=False)
line = st.fixed_dictionaries({"id": text, "qty": number, "unitprice": number})
customer = st.sampled_from([{"userid": "U1"}, {"email": "ann@example.com"}, {"accid": "A1"}])
event_data = {
    "page_view": st.fixed_dictionaries(
        {"page_type": st.sampled_from(["homepage", "product_page", "other", "basket_page"])},
        optional={"product_id": text, "category_id": text, "brand_id": text},
    ),
    "product_view": st.fixed_dictionaries({"id": text}),
    "product_rate": st.fixed_dictionaries({"id": text, "rating": number}),
    "set_basket": st.fixed_dictionaries({}, optional={"items": st.lists(line, max_size=3)}),
    "order": st.tuples(st.fixed_dictionaries({"orderid": text, "items": st.lists(line, max_size=3)}), customer).map(
        lambda parts: parts[0] | parts[1]
    ),
    "customer_details": st.tuples(st.fixed_dictionaries({}, optional={"firstname": text}), customer).map(
        lambda parts: parts[0] | parts[1]
    ),
}
event = st.sampled_from(sorted(event_data)).flatmap(
    lambda name: st.one_of(st.just({"name": name}), event_data[name].map(lambda data: {"name": name, "data": data}))
)
spec_valid_request = st.fixed_dictionaries(
    {
        "currentUrl": st.sampled_from(["https://shop.test/", "http://127.0.0.1:8000/p?q=1"]),
        "userAgent": text,
        "ip": text,
    },
    optional={
        "visitorId": st.text(min_size=1, max_size=8),
        "sessionId": st.text(min_size=1, max_size=8),
        "referer": text,
        "currency": st.sampled_from(["GBP", "USD", "EUR"]),
        "events": st.lists(event, max_size=4),
        "zones": st.lists(
            st.sampled_from(["HP-01", "HP-02", "HP-03", "PP-01", "PP-02", "BP-01", "OC-01", "nope"]), max_size=4
        ),
        "somethingNew": text,  # the spec does not forbid fields it does not list
    },
).map(lambda body: {**KEYS, **body})


_SHARED_EMULATOR = create_app()


@given(body=spec_valid_request)
@settings(max_examples=150, deadline=None)
def test_spec_valid_requests_never_get_a_400_and_every_answer_follows_the_spec(body: dict[str, Any]) -> None:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=_SHARED_EMULATOR)
        async with httpx.AsyncClient(transport=transport, base_url="http://emulator") as client:
            return await client.post("/api/serverside", json=body)

    response = anyio.run(send)  # hypothesis drives plain functions: one short event loop per example

    assert response.status_code == 200, response.text
    check_response(response.json())


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("not json", "the request body must be JSON"),
        ([], "the request body must be a JSON object"),
        ({k: v for k, v in call().items() if k != "currentUrl"}, "currentUrl is required"),
        ({k: v for k, v in call().items() if k != "secretKey"}, "secretKey is required"),
        (call(ip=12), "ip must be a string"),
        (call(visitorId=["v"]), "visitorId must be a string"),
        (call(currentUrl="/relative/only"), "currentUrl must be an absolute URI"),
        (call(events={"name": "page_view"}), "events must be an array"),
        (call(events=[{"data": {}}]), "events[0].name is required"),
        (call(events=[{"name": "page_exit"}]), "events[0].name must be one of"),
        (
            call(events=[{"name": "page_view", "data": {"page_type": "landing"}}]),
            "events[0].data.page_type must be one of",
        ),
        (call(events=[{"name": "product_view", "data": {}}]), "events[0].data.id is required"),
        (
            call(events=[{"name": "product_rate", "data": {"id": "P1", "rating": "5"}}]),
            "events[0].data.rating must be a number",
        ),
        (
            call(events=[{"name": "set_basket", "data": {"items": [{"id": "P1", "qty": 1}]}}]),
            "events[0].data.items[0].unitprice is required",
        ),
        (
            call(events=[{"name": "order", "data": {"orderid": "O", "items": [], "userid": 5}}]),
            "events[0].data.userid must be a string",
        ),
        (
            call(events=[{"name": "order", "data": {"orderid": "O", "items": []}}]),
            "events[0].data needs at least one of userid, email or accid",
        ),
        (
            call(events=[{"name": "customer_details", "data": {"email": "nobody"}}]),
            "events[0].data.email must be an email address",
        ),
        (call(zones=["HP-01", 2]), "zones must be an array of strings"),
    ],
)
async def test_each_invalid_kind_gets_a_400_naming_the_field(api: httpx.AsyncClient, body: Any, named: str) -> None:
    response = await api.post("/api/serverside", content=body if isinstance(body, str) else json.dumps(body))

    assert response.status_code == 400
    assert any(error.startswith(named) for error in response.json()["errors"]), response.json()


@pytest.mark.parametrize(
    ("keys", "error"),
    [({"appId": "someone-else"}, "unknown appId"), ({"secretKey": "guess"}, "secretKey is not the one for this appId")],
)
async def test_unknown_keys_get_a_403(api: httpx.AsyncClient, keys: dict[str, str], error: str) -> None:
    response = await api.post("/api/serverside", json=call(**keys))
    assert (response.status_code, response.json()) == (403, {"errors": [error]})


async def test_an_unknown_zone_is_left_out_and_named_in_the_errors(api: httpx.AsyncClient) -> None:
    response = await post(api, call(zones=["HP-01", "HP-O1"]))

    assert response.status_code == 200
    assert list(response.json()["zones"]) == ["HP-01"]
    assert response.json()["errors"] == ["unknown zone 'HP-O1'"]


async def test_ids_are_made_when_left_out_and_kept_when_given(api: httpx.AsyncClient) -> None:
    new = (await post(api, call())).json()
    known = (await post(api, call(visitorId=new["visitorId"], sessionId=new["sessionId"]))).json()

    assert new["visitorId"]
    assert new["sessionId"]
    assert (known["visitorId"], known["sessionId"]) == (new["visitorId"], new["sessionId"])


async def test_a_session_ends_after_the_configured_idle_time() -> None:
    now = [1000.0]
    app = create_app(EmulatorConfig(session_idle_seconds=60), clock=lambda: now[0])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as api:
        first = (await post(api, call())).json()
        now[0] += 59
        still = (await post(api, call(visitorId=first["visitorId"], sessionId=first["sessionId"]))).json()
        now[0] += 61
        later = (await post(api, call(visitorId=first["visitorId"], sessionId=first["sessionId"]))).json()

    assert still["sessionId"] == first["sessionId"]
    assert later["sessionId"] != first["sessionId"]
    assert later["visitorId"] == first["visitorId"]


# --- zones and strategies ---------------------------------------------------------------------


async def test_items_are_priced_in_the_requested_currency_and_unpriced_products_left_out(
    api: httpx.AsyncClient,
) -> None:
    # P032 (Tea Taster Set) is on sale; P034 (Gift Card £25) has no USD price.
    gbp = (await post(api, call(zones=["HP-01"]))).json()["zones"]["HP-01"]
    everything = ZoneConfig(id="ALL", strategy="trending", items=50)
    app = create_app(EmulatorConfig(zones=(everything,)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as all_api:
        usd = {
            item["Id"]: item
            for item in (await post(all_api, call(zones=["ALL"], currency="USD"))).json()["zones"]["ALL"]["items"]
        }
        in_gbp = {
            item["Id"]: item for item in (await post(all_api, call(zones=["ALL"]))).json()["zones"]["ALL"]["items"]
        }

    assert gbp["items"][0]["DisplayPrice"].startswith("£")
    assert "P034" in in_gbp
    assert "P034" not in usd
    assert len(in_gbp) == 36
    assert in_gbp["P032"] | {"clickEvt": ""} == in_gbp["P032"] | {
        "Price": 14.4,
        "WasPrice": 18.0,
        "SavingPrice": 3.6,
        "DisplayPrice": "£14.40",
        "DisplayWasPrice": "£18.00",
        "SavingDisplayPrice": "£3.60",
        "SavingPercent": "20%",
        "CurrencySymbol": "£",
        "OnOffer": True,
        "clickEvt": "",
    }
    assert usd["P001"]["DisplayPrice"] == "$10.79"
    assert in_gbp["P001"]["clickEvt"] == '_pc(\'zoneclick\', {"zone": "ALL", "id": "P001"})'


async def test_also_viewed_learns_from_sessions(api: httpx.AsyncClient) -> None:
    await post(api, call(visitorId="ann", sessionId="s-ann", events=viewing("P013")))
    await post(api, call(visitorId="ann", sessionId="s-ann", events=viewing("P016")))

    assert (await zone_ids(api, "PP-01", visitorId="bob", sessionId="s-bob", events=viewing("P013")))[0] == "P016"
    assert (await zone_ids(api, "PP-01", visitorId="cy", sessionId="s-cy", events=viewing("P016")))[0] == "P013"


async def test_bought_together_learns_from_orders(api: httpx.AsyncClient) -> None:
    order = {
        "orderid": "O-1",
        "userid": "U1",
        "items": [{"id": "P015", "qty": 1, "unitprice": 29}, {"id": "P003", "qty": 1, "unitprice": 24}],
    }
    await post(api, call(visitorId="ann", events=[{"name": "order", "data": order}]))

    basket = [{"name": "set_basket", "data": {"items": [{"id": "P015", "qty": 1, "unitprice": 29}]}}]
    assert (await zone_ids(api, "BP-01", visitorId="bob", events=basket))[0] == "P003"


async def test_recently_viewed_is_this_visitors_newest_first(api: httpx.AsyncClient) -> None:
    for product in ("P001", "P007", "P020"):
        await post(api, call(visitorId="ann", events=viewing(product)))
    await post(api, call(visitorId="bob", events=viewing("P030")))

    assert await zone_ids(api, "HP-02", visitorId="ann") == ["P020", "P007", "P001"]
    assert await zone_ids(api, "HP-02", visitorId="new") == []


async def test_personal_follows_the_categories_and_brands_viewed(api: httpx.AsyncClient) -> None:
    for product in ("P007", "P008"):  # two teas
        await post(api, call(visitorId="ann", events=viewing(product)))

    picks = await zone_ids(api, "OC-01", visitorId="ann")

    teas = {"P007", "P008", "P009", "P010", "P011", "P012"}
    assert len(picks) == 4
    assert set(picks) <= teas


async def test_associated_comes_from_the_feed(api: httpx.AsyncClient) -> None:
    assert await zone_ids(api, "PP-02", events=viewing("P013")) == ["P014", "P017", "P018"]


async def test_trending_follows_views_and_orders(api: httpx.AsyncClient) -> None:
    for visitor in ("a", "b", "c"):
        await post(api, call(visitorId=visitor, events=viewing("P030")))
    assert (await zone_ids(api, "HP-01"))[0] == "P030"


async def test_a_zone_never_offers_the_product_viewed_nor_what_is_in_the_basket(api: httpx.AsyncClient) -> None:
    basket = {"name": "set_basket", "data": {"items": [{"id": "P002", "qty": 1, "unitprice": 1}]}}
    offered = await zone_ids(api, "HP-01", visitorId="ann", events=[basket, *viewing("P001")])

    assert "P001" not in offered
    assert "P002" not in offered
    assert offered == ["P003", "P004", "P005", "P006"]


async def test_html_and_image_zones_carry_their_markup(api: httpx.AsyncClient) -> None:
    zones = (await post(api, call(zones=["HP-03", "SR-01"]))).json()["zones"]

    assert zones["HP-03"]["type"] == "html"
    assert "Free delivery" in zones["HP-03"]["html"]
    assert zones["SR-01"]["type"] == "image"
    assert "<img" in zones["SR-01"]["html"]


async def test_a_repeated_orderid_is_recorded_once(
    pureclarity_emulator: EmulatorHandle, api: httpx.AsyncClient
) -> None:
    order = {
        "name": "order",
        "data": {"orderid": "O-9", "userid": "U", "items": [{"id": "P001", "qty": 1, "unitprice": 8.5}]},
    }
    for _ in range(3):
        await post(api, call(events=[order]))

    assert pureclarity_emulator.emulator.store.order_ids() == ["O-9"]


async def test_a_sqlite_file_keeps_what_was_learned_across_restarts(tmp_path: Path) -> None:
    database = str(tmp_path / "emulator.sqlite3")

    async def recently_viewed(record: bool) -> list[str]:
        app = create_app(EmulatorConfig(database=database))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as api:
            if record:
                await post(api, call(visitorId="ann", events=viewing("P005")))
            ids = await zone_ids(api, "HP-02", visitorId="ann")
        app.state.emulator.store.close()
        return ids

    assert await recently_viewed(record=True) == ["P005"]
    assert await recently_viewed(record=False) == ["P005"]


# --- test switches -----------------------------------------------------------------------------


async def test_inspection_lists_requests_with_the_secret_redacted(
    pureclarity_emulator: EmulatorHandle, api: httpx.AsyncClient
) -> None:
    await post(api, call(zones=["HP-01"]))

    [received] = (await api.get("/_emulator/requests")).json()
    assert received["body"]["secretKey"] == "**********"
    assert received["body"]["zones"] == ["HP-01"]
    assert received["status"] == 200
    assert pureclarity_emulator.requests() == [received["body"]]
    assert (await api.delete("/_emulator/requests")).status_code == 204
    assert pureclarity_emulator.requests() == []


async def test_test_endpoints_are_off_unless_enabled() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app()), base_url="http://e") as api:
        assert (await api.get("/_emulator/requests")).status_code == 404
        assert (await api.put("/_emulator/faults", json={"status": 500})).status_code == 404


@pytest.mark.parametrize(
    ("plan", "status", "body"),
    [
        ({"status": 500}, 500, {"errors": ["emulator fault: HTTP 500"]}),
        ({"status": 429, "retry_after": 7}, 429, {"errors": ["emulator fault: HTTP 429"]}),
        ({"malformed": True}, 200, None),
    ],
)
async def test_faults_set_through_the_control_endpoint(
    api: httpx.AsyncClient, plan: dict[str, Any], status: int, body: Any
) -> None:
    assert (await api.put("/_emulator/faults", json=plan)).status_code == 200

    response = await api.post("/api/serverside", json=call())

    assert response.status_code == status
    if body is None:
        with pytest.raises(json.JSONDecodeError):
            response.json()
    else:
        assert response.json() == body
    if "retry_after" in plan:
        assert response.headers["retry-after"] == "7"
    assert (await api.delete("/_emulator/faults")).json()["status"] is None
    assert (await api.post("/api/serverside", json=call())).status_code == 200


async def test_fail_n_times_then_succeed(pureclarity_emulator: EmulatorHandle, api: httpx.AsyncClient) -> None:
    pureclarity_emulator.inject(fail_times=2, status=503)

    statuses = [(await api.post("/api/serverside", json=call())).status_code for _ in range(4)]

    assert statuses == [503, 503, 200, 200]


async def test_a_fault_plan_can_come_with_the_configuration() -> None:
    app = create_app(EmulatorConfig(faults=True, fault_plan={"status": 503, "fail_times": 1}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as api:
        statuses = [(await api.post("/api/serverside", json=call())).status_code for _ in range(2)]
    assert statuses == [503, 200]


async def test_latency_is_added_to_each_answer(pureclarity_emulator: EmulatorHandle, api: httpx.AsyncClient) -> None:
    pureclarity_emulator.inject(latency_ms=150)
    started = time.perf_counter()
    await api.post("/api/serverside", json=call())
    assert time.perf_counter() - started >= 0.15


def test_hang_and_dropped_connections_over_a_real_server(pureclarity_emulator_server: EmulatorHandle) -> None:
    url = f"{pureclarity_emulator_server.url}/api/serverside"
    pureclarity_emulator_server.inject(hang=True)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=call(), timeout=0.3)

    pureclarity_emulator_server.inject(drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json=call(), timeout=2)

    pureclarity_emulator_server.clear_faults()
    assert httpx.post(url, json=call(), timeout=2).status_code == 200


def test_the_command_line_serves_the_demo_on_the_given_port() -> None:
    with serve_in_thread(create_app()) as taken:  # find a free port by borrowing one briefly
        port = int(taken.rsplit(":", 1)[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "pc_middleware.emulator", "--port", str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.post(f"http://127.0.0.1:{port}/api/serverside", json=call(zones=["HP-01"]))
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "the emulator did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert len(response.json()["zones"]["HP-01"]["items"]) == 4
    finally:
        process.terminate()
        printed, _ = process.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/api/serverside" in printed
