"""Running a coroutine beside the current task, on asyncio or trio, without a task group.

A task group per request would cost every request, used or not; what runs here is bounded by its
own deadline instead (a prefetched call), or lives as long as the event loop (the outbox worker
where the server runs no lifespan). Trio runs it as a system task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import sniffio

_RUNNING: set[asyncio.Task[None]] = set()  # strong references, so a running task is not collected


def start_beside(function: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Start ``function()`` now; it must not raise (trio would end the whole run)."""
    if sniffio.current_async_library() == "trio":
        import trio

        trio.lowlevel.spawn_system_task(function)
    else:
        task = asyncio.get_running_loop().create_task(function())
        _RUNNING.add(task)
        task.add_done_callback(_RUNNING.discard)
