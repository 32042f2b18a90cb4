"""What the emulator learns from the events it receives, in SQLite: in memory, or in a file that
keeps a demo's history across restarts. One code path for both."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (session_id TEXT PRIMARY KEY, visitor_id TEXT NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS views (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, visitor_id TEXT, session_id TEXT, product_id TEXT, at REAL);
CREATE INDEX IF NOT EXISTS views_by_visitor ON views (visitor_id, seq);
CREATE INDEX IF NOT EXISTS views_by_session ON views (session_id);
CREATE INDEX IF NOT EXISTS views_by_product ON views (product_id);
CREATE TABLE IF NOT EXISTS orders (order_id TEXT PRIMARY KEY, visitor_id TEXT, at REAL);
CREATE TABLE IF NOT EXISTS order_lines (order_id TEXT, product_id TEXT, qty REAL);
CREATE INDEX IF NOT EXISTS order_lines_by_product ON order_lines (product_id);
CREATE TABLE IF NOT EXISTS baskets (visitor_id TEXT PRIMARY KEY, product_ids TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ratings (visitor_id TEXT, product_id TEXT, rating REAL, at REAL);
CREATE TABLE IF NOT EXISTS customers (visitor_id TEXT PRIMARY KEY, details TEXT NOT NULL);
"""


class Store:
    """The emulator's memory. Calls are short and synchronous; a lock keeps threads apart."""

    def __init__(self, database: str = ":memory:") -> None:
        self._db = sqlite3.connect(database, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _rows(self, sql: str, *args: object) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, *args: object) -> None:
        with self._lock:
            self._db.execute(sql, args)

    # --- sessions ---------------------------------------------------------------------------

    def session_is_live(self, session_id: str, now: float, idle_seconds: float) -> bool:
        """False for a session idle longer than ``idle_seconds``; one never seen is taken as new and live."""
        rows = self._rows("SELECT last_seen FROM sessions WHERE session_id = ?", session_id)
        return not rows or now - rows[0][0] <= idle_seconds

    def touch_session(self, session_id: str, visitor_id: str, now: float) -> None:
        self._write(
            "INSERT INTO sessions VALUES (?, ?, ?)"
            " ON CONFLICT (session_id) DO UPDATE SET last_seen = excluded.last_seen",
            session_id,
            visitor_id,
            now,
        )

    # --- what shoppers do ------------------------------------------------------------------

    def record_view(self, visitor_id: str, session_id: str, product_id: str, now: float) -> None:
        self._write(
            "INSERT INTO views (visitor_id, session_id, product_id, at) VALUES (?, ?, ?, ?)",
            visitor_id,
            session_id,
            product_id,
            now,
        )

    def record_order(self, order_id: str, visitor_id: str, lines: Iterable[tuple[str, float]], now: float) -> bool:
        """Record an order once; a repeated orderid is dropped, as PureClarity does. True when new."""
        with self._lock:
            if self._db.execute("SELECT 1 FROM orders WHERE order_id = ?", (order_id,)).fetchone():
                return False
            self._db.execute("INSERT INTO orders VALUES (?, ?, ?)", (order_id, visitor_id, now))
            self._db.executemany("INSERT INTO order_lines VALUES (?, ?, ?)", [(order_id, p, q) for p, q in lines])
            return True

    def set_basket(self, visitor_id: str, product_ids: list[str]) -> None:
        self._write(
            "INSERT INTO baskets VALUES (?, ?)"
            " ON CONFLICT (visitor_id) DO UPDATE SET product_ids = excluded.product_ids",
            visitor_id,
            json.dumps(product_ids),
        )

    def record_rating(self, visitor_id: str, product_id: str, rating: float, now: float) -> None:
        self._write("INSERT INTO ratings VALUES (?, ?, ?, ?)", visitor_id, product_id, rating, now)

    def set_customer(self, visitor_id: str, details: dict[str, object]) -> None:
        self._write(
            "INSERT INTO customers VALUES (?, ?) ON CONFLICT (visitor_id) DO UPDATE SET details = excluded.details",
            visitor_id,
            json.dumps(details),
        )

    # --- what strategies ask ---------------------------------------------------------------

    def basket(self, visitor_id: str) -> list[str]:
        rows = self._rows("SELECT product_ids FROM baskets WHERE visitor_id = ?", visitor_id)
        return list(json.loads(str(rows[0][0]))) if rows else []

    def order_ids(self) -> list[str]:
        return [str(row[0]) for row in self._rows("SELECT order_id FROM orders ORDER BY at")]

    def recently_viewed(self, visitor_id: str) -> list[str]:
        rows = self._rows(
            "SELECT product_id FROM views WHERE visitor_id = ? GROUP BY product_id ORDER BY MAX(seq) DESC", visitor_id
        )
        return [str(row[0]) for row in rows]

    def trending(self, since: float) -> Counter[str]:
        """Views count once and ordered lines three times, since ``since``."""
        scores: Counter[str] = Counter()
        for product_id, views in self._rows(
            "SELECT product_id, COUNT(*) FROM views WHERE at >= ? GROUP BY product_id", since
        ):
            scores[str(product_id)] += int(views)
        ordered = self._rows(
            "SELECT l.product_id, COUNT(*) FROM order_lines l JOIN orders o USING (order_id)"
            " WHERE o.at >= ? GROUP BY l.product_id",
            since,
        )
        for product_id, orders in ordered:
            scores[str(product_id)] += 3 * int(orders)
        return scores

    def viewed_in_same_sessions(self, product_id: str) -> Counter[str]:
        """Other products, by the number of sessions that viewed them beside ``product_id``."""
        rows = self._rows(
            """SELECT other.product_id, COUNT(DISTINCT other.session_id) FROM views AS this
               JOIN views AS other ON other.session_id = this.session_id AND other.product_id != this.product_id
               WHERE this.product_id = ? GROUP BY other.product_id""",
            product_id,
        )
        return Counter({str(p): int(n) for p, n in rows})

    def bought_in_same_orders(self, product_ids: list[str]) -> Counter[str]:
        if not product_ids:
            return Counter()
        marks = ",".join("?" * len(product_ids))
        rows = self._rows(
            f"""SELECT other.product_id, COUNT(DISTINCT other.order_id) FROM order_lines AS this
                JOIN order_lines AS other ON other.order_id = this.order_id AND other.product_id != this.product_id
                WHERE this.product_id IN ({marks}) GROUP BY other.product_id""",  # noqa: S608 - only placeholders
            *product_ids,
        )
        return Counter({str(p): int(n) for p, n in rows})
