"""track() checks each event against the schema its name selects, at once, in the handler."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from pc_middleware import InvalidEventError
from pc_middleware.models import validate_event

from .contract import check_request

BASKET = [{"id": "P1", "qty": 2, "unitprice": 9.5}, {"id": 77, "qty": 1, "unitprice": 20}]

VALID_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("page_view", {"page_type": "homepage"}),
    ("page_view", {"page_type": "product_page", "product_id": "P1"}),
    ("page_view", {"page_type": "category_listing_page", "category_id": 12, "brand_id": "B1"}),
    ("product_view", {"id": "P1"}),
    ("product_rate", {"id": "P1", "rating": 4.5}),
    ("set_basket", {"items": BASKET}),
    ("set_basket", {"items": []}),
    ("order", {"orderid": "O-1", "email": "ann@example.com", "items": BASKET}),
    (
        "order",
        {
            "orderid": 1001,
            "userid": 5,
            "accid": "A1",
            "ordertotal": 39,
            "groupid": "trade",
            "title": "Ms",
            "firstname": "Ann",
            "lastname": "Lee",
            "zipcode": "10001",
            "postcode": "SW1A 1AA",
            "dob": date(1990, 1, 15),
            "items": BASKET,
        },
    ),
    ("customer_details", {"userid": "U1"}),
    ("customer_details", {"email": "ann@example.com", "firstname": "Ann", "lastname": "Lee", "title": "Ms"}),
    ("customer_details", {"accid": "ACME", "group_id": 3}),
]


@pytest.mark.parametrize(("name", "data"), VALID_EVENTS)
def test_valid_events_pass_and_follow_the_contract(name: str, data: dict[str, Any]) -> None:
    event = validate_event(name, data)

    assert event["name"] == name
    check_request(
        {"appId": "k", "secretKey": "s", "currentUrl": "http://x/", "userAgent": "", "ip": "::1", "events": [event]}
    )


def test_integer_ids_are_sent_as_strings() -> None:
    assert validate_event("product_view", {"id": 42})["data"] == {"id": "42"}
    order = validate_event("order", {"orderid": 7, "userid": 9, "items": [{"id": 3, "qty": 1, "unitprice": 2}]})
    assert order["data"] == {"orderid": "7", "userid": "9", "items": [{"id": "3", "qty": 1, "unitprice": 2}]}


def test_optional_fields_given_as_none_are_left_out() -> None:
    event = validate_event("page_view", {"page_type": "product_page", "product_id": None})
    assert event["data"] == {"page_type": "product_page"}


def test_a_date_of_birth_may_be_a_date() -> None:
    event = validate_event("order", {"orderid": "O", "userid": "U", "items": BASKET[:1], "dob": date(1990, 1, 15)})
    assert event["data"]["dob"] == "1990-01-15"


INVALID_EVENTS: list[tuple[str, Any, str]] = [
    ("page_vew", {"page_type": "homepage"}, "unknown PureClarity event 'page_vew'"),
    ("page_view", None, "'page_view' event: field 'page_type'"),
    ("page_view", {"page_type": "landing"}, "field 'page_type'"),
    ("page_view", {"page_type": "homepage", "prodct_id": "P1"}, "field 'prodct_id'"),
    ("page_view", ["homepage"], "data must be a dict"),
    ("product_view", {}, "'product_view' event: field 'id'"),
    ("product_view", {"id": ""}, "field 'id'"),
    ("product_view", {"id": True}, "field 'id'"),
    ("product_view", {"id": 4.2}, "field 'id'"),
    ("product_rate", {"id": "P1"}, "field 'rating'"),
    ("product_rate", {"id": "P1", "rating": "5"}, "field 'rating'"),
    ("product_rate", {"id": "P1", "rating": float("nan")}, "field 'rating'"),
    ("set_basket", {}, "'set_basket' event: field 'items'"),
    ("set_basket", {"items": [{"id": "P1", "qty": 1}]}, "field 'items.0.unitprice'"),
    ("set_basket", {"items": [{"id": "P1", "unitprice": 1}]}, "field 'items.0.qty'"),
    ("set_basket", {"items": [{"qty": 1, "unitprice": 1}]}, "field 'items.0.id'"),
    ("set_basket", {"items": [{"id": "P1", "qty": "2", "unitprice": 1}]}, "field 'items.0.qty'"),
    ("order", {"userid": "U", "items": BASKET}, "'order' event: field 'orderid'"),
    ("order", {"orderid": "O", "userid": "U"}, "field 'items'"),
    ("order", {"orderid": "O", "userid": "U", "items": []}, "field 'items'"),
    ("order", {"orderid": "O", "items": BASKET}, "needs at least one of userid, email or accid"),
    ("order", {"orderid": "O", "email": "not-an-email", "items": BASKET}, "field 'email': must be an email address"),
    ("order", {"orderid": "O", "userid": "U", "items": BASKET, "dob": "15/01/1990"}, "field 'dob'"),
    ("order", {"orderid": "O", "userid": "U", "items": BASKET, "dob": "1990-02-31"}, "field 'dob'"),
    ("order", {"orderid": "O", "userid": "U", "items": BASKET, "ordertotal": "39.00"}, "field 'ordertotal'"),
    ("customer_details", {"firstname": "Ann"}, "'customer_details' event: needs at least one of userid"),
    ("customer_details", None, "needs at least one of userid, email or accid"),
    ("customer_details", {"userid": "U", "firstname": 7}, "field 'firstname'"),
]


@pytest.mark.parametrize(("name", "data", "message"), INVALID_EVENTS)
def test_invalid_events_raise_naming_the_event_and_the_field(name: str, data: Any, message: str) -> None:
    with pytest.raises(InvalidEventError) as raised:
        validate_event(name, data)

    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_error_messages_do_not_repeat_the_shoppers_details() -> None:
    with pytest.raises(InvalidEventError) as raised:
        validate_event("order", {"orderid": "O", "email": "ann.lee.private@example", "items": BASKET})
    assert "ann.lee.private" not in str(raised.value)


def test_text_that_is_not_valid_unicode_is_refused_before_it_can_break_a_call() -> None:
    with pytest.raises(InvalidEventError, match="not valid Unicode"):
        validate_event("product_view", {"id": "P\ud800"})
