"""The contract check itself must be able to fail, or it proves nothing."""

from __future__ import annotations

from typing import Any

import pytest

from .contract import contract_violations

GOOD: dict[str, Any] = {
    "appId": "k",
    "secretKey": "s",
    "currentUrl": "https://shop.test/p/1?x=1",
    "userAgent": "UA",
    "ip": "203.0.113.9",
    "events": [{"name": "product_view", "data": {"id": "P1"}}],
    "zones": ["PP-01"],
}


def test_a_good_body_passes() -> None:
    assert contract_violations(GOOD) == []


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"ip": None}, "<body>"),  # required
        ({"currentUrl": "not a uri"}, "currentUrl"),
        ({"visitorId": 5}, "visitorId"),
        ({"zones": "PP-01"}, "zones"),
        ({"shopperName": "Ann"}, "<body>"),
        # The same data is fine for one event and wrong for another: the name decides.
        ({"events": [{"name": "page_view", "data": {"id": "P1"}}]}, "events/0/data"),
        ({"events": [{"name": "set_basket", "data": {"items": [{"id": "P1", "qty": 1}]}}]}, "events/0/data/items/0"),
        ({"events": [{"name": "order", "data": {"orderid": "O", "items": []}}]}, "events/0/data"),
        ({"events": [{"name": "product_rate", "data": {"id": "P1", "rating": "5"}}]}, "events/0/data/rating"),
        ({"events": [{"name": "customer_details", "data": {"firstname": "Ann"}}]}, "events/0/data"),
        ({"events": [{"name": "page_exit", "data": {}}]}, "events/0/name"),
    ],
)
def test_a_bad_body_is_caught_where_it_is_wrong(change: dict[str, Any], where: str) -> None:
    body = {key: value for key, value in (GOOD | change).items() if value is not None}
    problems = contract_violations(body)
    assert problems
    assert any(problem.startswith(f"{where}:") for problem in problems), problems
