"""A scriptable stand-in for PureClarity, for tests that do not need the emulator.

Every body it receives is checked against the contract in ``tests/contract.py`` before it answers,
so any test that makes a call also proves that call was well formed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .contract import contract_violations

Answer = Callable[[dict[str, Any]], httpx.Response | Awaitable[httpx.Response]]


def product(product_id: str, **fields: Any) -> dict[str, Any]:
    return {"Id": product_id, "Title": f"Product {product_id}", "Price": 9.99, "Link": f"/p/{product_id}", **fields}


@dataclass
class FakePureClarity:
    """Answers like PureClarity: new IDs for shoppers that have none, and one product per zone asked for.

    Set ``answer`` to script something else: a function from the request body to an httpx.Response.
    """

    answer: Answer | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _ids: count[int] = field(default_factory=lambda: count(1))

    @property
    def calls(self) -> int:
        return len(self.bodies)

    @property
    def transport(self) -> httpx.MockTransport:
        """For in-process tests: the middleware's calls never leave the process."""
        return httpx.MockTransport(self._handle)

    @property
    def app(self) -> Starlette:
        """The same fake as an ASGI app, to serve on a real loopback port."""

        async def serverside(request: Request) -> Response:
            answer = await self._answer(json.loads(await request.body()))
            return Response(answer.content, answer.status_code, headers=dict(answer.headers))

        return Starlette(routes=[Route("/api/serverside", serverside, methods=["POST"])])

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.url.path == "/api/serverside"
        return await self._answer(json.loads(request.content))

    async def _answer(self, body: dict[str, Any]) -> httpx.Response:
        self.bodies.append(body)
        problems = contract_violations(body)
        if problems:
            self.violations.extend(problems)
            return httpx.Response(400, json={"errors": problems})
        if self.answer is None:
            return httpx.Response(200, json=self.personalise(body))
        answer = self.answer(body)
        return answer if isinstance(answer, httpx.Response) else await answer

    def personalise(self, body: dict[str, Any]) -> dict[str, Any]:
        """The answer PureClarity would give: the IDs sent back (or new ones) and the zones asked for."""
        number = next(self._ids)
        return {
            "visitorId": body.get("visitorId", f"visitor-{number}"),
            "sessionId": body.get("sessionId", f"session-{number}"),
            "errors": [],
            "zones": {
                zone_id: {"title": f"Zone {zone_id}", "type": "recommender-product", "items": [product(f"{zone_id}-1")]}
                for zone_id in body.get("zones", [])
            },
        }
