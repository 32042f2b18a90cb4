"""Fault injection, for tests of what the middleware does when PureClarity misbehaves.

Off unless the emulator is started with faults enabled. A ``FaultPlan`` is set through
``PUT /_emulator/faults`` (or the configuration) and applies to every call until it is cleared,
or, with ``fail_times``, to the next N calls only: "fail N times, then succeed".
"""

from __future__ import annotations

import anyio
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send


class FaultPlan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: float = Field(default=0, ge=0, le=600_000)  # added before every answer, failing or not
    status: int | None = Field(default=None, ge=100, le=599)  # answer with this status and an ``errors`` body
    retry_after: int | None = Field(default=None, ge=0)  # a Retry-After header on that answer
    malformed: bool = False  # a 200 whose body is not JSON
    hang: bool = False  # never answer
    drop: bool = False  # start the answer, then drop the connection
    fail_times: int | None = Field(default=None, ge=0)  # only the next N calls fail; None: all of them

    @property
    def fails(self) -> bool:
        return self.status is not None or self.malformed or self.hang or self.drop


class DroppedConnection(Response):
    """Sends headers promising a body, a little of it, then gives up: the server drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"zones": {', "more_body": True})
        raise ConnectionAbortedError("emulator fault: connection dropped")


class Faults:
    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.plan = plan or FaultPlan()

    def clear(self) -> None:
        self.plan = FaultPlan()

    async def answer(self, request: Request) -> Response | None:
        """Apply the plan to one call: a failing answer, or None to answer normally."""
        plan = self.plan
        if plan.latency_ms:
            await anyio.sleep(plan.latency_ms / 1000)
        if not plan.fails:
            return None
        if plan.fail_times is not None:
            if plan.fail_times == 0:
                return None
            self.plan = plan.model_copy(update={"fail_times": plan.fail_times - 1})
        if plan.hang:
            # Until the client gives up: a task left sleeping would hold the server's shutdown.
            while (await request.receive())["type"] != "http.disconnect":
                pass
            return Response(status_code=499)
        if plan.drop:
            return DroppedConnection()
        if plan.malformed:
            return Response(b'{"zones": {"HP-01": [', media_type="application/json")
        headers = {"Retry-After": str(plan.retry_after)} if plan.retry_after is not None else None
        status = plan.status or 503
        return JSONResponse({"errors": [f"emulator fault: HTTP {status}"]}, status_code=status, headers=headers)
