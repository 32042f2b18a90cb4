"""The API stand-in: a fast local ``POST /api/serverside`` with a realistic canned answer.

Four zones of eight products each, as PureClarity sends them, built once. ``STANDIN_LATENCY_MS``
delays every answer; ``STANDIN_HANG=1`` never answers. Served by uvicorn in its own process.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from starlette.types import Receive, Scope, Send

ZONE_IDS = ("PP-01", "PP-02", "HP-01", "HP-02")


def _item(zone: int, n: int) -> dict[str, Any]:
    product_id = f"{zone}{n:03d}"
    return {
        "Id": product_id,
        "Sku": f"SKU-{product_id}",
        "Title": f"Merino crew-neck jumper {product_id}",
        "Description": "Soft, warm and machine washable. " * 3,
        "Link": f"/product/{product_id}",
        "Image": f"https://cdn.example.com/img/{product_id}.jpg",
        "AllImages": [f"https://cdn.example.com/img/{product_id}-{i}.jpg" for i in range(3)],
        "Price": 49.0 + n,
        "WasPrice": 59.0 + n,
        "DisplayPrice": f"£{49 + n}.00",
        "DisplayWasPrice": f"£{59 + n}.00",
        "CurrencySymbol": "£",
        "Categories": ["Knitwear", "Men"],
        "Brand": "Northwind",
        "OnOffer": True,
        "clickEvt": f"_pc('trackProductClick', {{id: '{product_id}'}});",
    }


def canned_answer() -> bytes:
    zones = {
        zone_id: {"title": f"Recommended {i}", "type": "recommender-product", "items": [_item(i, n) for n in range(8)]}
        for i, zone_id in enumerate(ZONE_IDS)
    }
    body = {"visitorId": "v-7f3c2a1e9b", "sessionId": "s-41d8cd98f0", "errors": [], "zones": zones}
    return json.dumps(body, separators=(",", ":")).encode()


ANSWER = canned_answer()
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]
LATENCY = float(os.environ.get("STANDIN_LATENCY_MS", "0")) / 1000
HANG = os.environ.get("STANDIN_HANG") == "1"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the request body, as a real server would
        message = await receive()
        more = message.get("more_body", False)
    if HANG:
        await asyncio.Event().wait()
    if LATENCY:
        await asyncio.sleep(LATENCY)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
