"""Orders whose call failed, kept and sent again in the background until PureClarity accepts them.

A page view must never be retried (it would be counted twice), but an order may: PureClarity drops
an orderid it has already seen. So when a call carrying orders fails (network error, timeout, 5xx,
429, an unusable answer, or the circuit is open), its orders go here, without zones and without the
keys, which the client adds at send time: the secret is never stored.

The outbox is SQLite: in memory and bounded by default, or a file (``PURECLARITY_OUTBOX_PATH``)
that survives a restart. A worker started at lifespan startup re-sends with capped exponential
backoff and full jitter; shutdown drains for at most ``PURECLARITY_DRAIN_TIMEOUT`` seconds and
leaves the rest in the file.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from .tasks import start_beside

if TYPE_CHECKING:
    from .client import PureClarityClient

logger = logging.getLogger("pc_middleware")

MEMORY_LIMIT = 10_000  # orders held in memory at most; a file has no limit but the disk


@dataclass(frozen=True, slots=True)
class QueuedOrder:
    id: int
    body: dict[str, Any]
    attempts: int


class Outbox:
    """The queue itself: put, take what is due, mark sent or retry later. Thread-safe, synchronous, quick."""

    def __init__(self, path: str | None) -> None:
        self._path = path
        self._limit = None if path else MEMORY_LIMIT
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def _connection(self) -> sqlite3.Connection:
        # Opened in the serving process, on first use: never shared across a fork.
        if self._db is None or self._pid != os.getpid():
            self._db = sqlite3.connect(self._path or ":memory:", check_same_thread=False, isolation_level=None)
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, body TEXT NOT NULL,"
                " attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL)"
            )
            self._pid = os.getpid()
        return self._db

    def put(self, body: dict[str, Any], now: float) -> bool:
        """Queue one body; False when the in-memory outbox is full and it was dropped."""
        with self._lock:
            db = self._connection()
            if self._limit is not None and db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] >= self._limit:
                return False
            db.execute("INSERT INTO outbox (body, next_at) VALUES (?, ?)", (json.dumps(body), now))
            return True

    def due(self, now: float | None) -> list[QueuedOrder]:
        """Entries whose next attempt has come (all of them when ``now`` is None), oldest first."""
        with self._lock:
            rows = self._connection().execute(
                "SELECT id, body, attempts FROM outbox WHERE ? IS NULL OR next_at <= ? ORDER BY id", (now, now)
            )
            return [QueuedOrder(row[0], json.loads(row[1]), row[2]) for row in rows.fetchall()]

    def next_due_at(self) -> float | None:
        with self._lock:
            return self._connection().execute("SELECT MIN(next_at) FROM outbox").fetchone()[0]  # type: ignore[no-any-return]

    def sent(self, entry: QueuedOrder) -> None:
        with self._lock:
            self._connection().execute("DELETE FROM outbox WHERE id = ?", (entry.id,))

    def retry_later(self, entry: QueuedOrder, next_at: float) -> None:
        with self._lock:
            self._connection().execute(
                "UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?", (next_at, entry.id)
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._connection().execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    @property
    def persistent(self) -> bool:
        return self._path is not None

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._pid == os.getpid():
                self._db.close()
            self._db = None


class Resender:
    """The background worker that empties the outbox. One per middleware instance, in its process."""

    def __init__(
        self, outbox: Outbox, client: PureClarityClient, *, retry_base: float = 1.0, retry_cap: float = 60.0
    ) -> None:
        self.outbox = outbox
        self.retry_base = retry_base  # seconds before the first re-send; doubles each time up to retry_cap
        self.retry_cap = retry_cap
        self._client = client
        self._stats = client.stats
        self._wake: anyio.Event | None = None
        self._lock: anyio.Lock | None = None
        self._running = False
        self._stopping = False

    def queue(self, body: dict[str, Any]) -> None:
        """Keep the orders of a failed call for a later re-send. Never blocks, never raises."""
        orders = len(body.get("events", []))
        if not self.outbox.put(body, time.time()):
            self._stats.orders_dropped += orders
            logger.error("PureClarity outbox full: %d order event(s) dropped", orders)
            return
        self._stats.orders_queued += orders
        if self._running:
            self._nudge()
        else:
            self._start_without_lifespan()

    async def run(self) -> None:
        """Send what is due, sleep until the next is due or something new arrives; until drained."""
        self._running = True
        self._stopping = False
        try:
            while not self._stopping:
                await self._send(due_by=time.time())
                next_at = self.outbox.next_due_at()
                wait = 60.0 if next_at is None else max(0.0, min(60.0, next_at - time.time()))
                self._wake = anyio.Event()
                with anyio.move_on_after(wait):
                    await self._wake.wait()
        finally:
            self._running = False

    async def drain(self, seconds: float) -> None:
        """At shutdown: stop the worker and try everything once more, for at most ``seconds``."""
        self._stopping = True
        self._nudge()
        with anyio.move_on_after(seconds):
            await self._send(due_by=None)
        left = len(self.outbox)
        if left and self.outbox.persistent:
            logger.warning("PureClarity outbox: %d order call(s) left for the next start", left)
        elif left:
            lost = sum(len(entry.body.get("events", [])) for entry in self.outbox.due(None))
            self._stats.orders_dropped += lost
            logger.error("PureClarity outbox: %d order event(s) lost at shutdown (set PURECLARITY_OUTBOX_PATH)", lost)

    async def _send(self, due_by: float | None) -> None:
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:  # the worker and a drain never send the same entry twice
            for entry in self.outbox.due(due_by):
                outcome = await self._client.call(entry.body, background=True)
                orders = len(entry.body.get("events", []))
                if outcome.settled and outcome.status == 400:
                    self.outbox.sent(entry)
                    self._stats.orders_dropped += orders
                    logger.error("PureClarity refused a queued order call for good: %s", "; ".join(outcome.errors))
                elif outcome.settled:
                    self.outbox.sent(entry)
                    self._stats.orders_sent += orders
                else:
                    delay = min(self.retry_cap, self.retry_base * 2**entry.attempts) * random.uniform(0.5, 1.0)  # noqa: S311
                    self.outbox.retry_later(entry, time.time() + delay)

    def _nudge(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _start_without_lifespan(self) -> None:
        # Servers that run no lifespan give no place for a worker: start one beside the request.
        self._running = True  # now, not when it starts: a second order before then must not start another
        start_beside(self.run)
