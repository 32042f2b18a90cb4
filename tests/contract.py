"""Our own contract check of ``POST /api/serverside``, written from PureClarity's OpenAPI page.

It is deliberately independent of ``pc_middleware.models``: a body the middleware builds is checked
here by a second, separate reading of the spec, so a mistake in one is caught by the other.

Two choices beyond a literal transcription:
- the spec's ``oneOf`` over event data is ambiguous, so each event's ``data`` is checked against
  the schema its ``name`` selects;
- the rules in the spec's prose hold too (an order or customer_details names the customer), and
  nothing is sent that the spec does not define (``additionalProperties: false``).
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

TEXT: dict[str, Any] = {"type": "string"}
NUMBER: dict[str, Any] = {"type": "number"}
ONE_CUSTOMER_ID: dict[str, Any] = {
    "anyOf": [{"required": ["userid"]}, {"required": ["email"]}, {"required": ["accid"]}]
}


def record(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


BASKET_LINE = record(["id", "qty", "unitprice"], id=TEXT, qty=NUMBER, unitprice=NUMBER)
BASKET_LINES: dict[str, Any] = {"type": "array", "items": BASKET_LINE}
PAGE_TYPES = [
    "homepage",
    "search_results",
    "category_listing_page",
    "product_page",
    "basket_page",
    "order_complete_page",
    "other",
]

EVENT_DATA: dict[str, dict[str, Any]] = {
    "page_view": record(
        ["page_type"], page_type={"enum": PAGE_TYPES}, product_id=TEXT, category_id=TEXT, brand_id=TEXT
    ),
    "product_view": record(["id"], id=TEXT),
    "product_rate": record(["id", "rating"], id=TEXT, rating=NUMBER),
    "set_basket": record([], items=BASKET_LINES),
    "order": record(
        ["orderid", "items"],
        orderid=TEXT,
        ordertotal=NUMBER,
        userid=TEXT,
        email={"type": "string", "format": "email"},
        accid=TEXT,
        groupid=TEXT,
        title=TEXT,
        firstname=TEXT,
        lastname=TEXT,
        zipcode=TEXT,
        postcode=TEXT,
        dob={"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
        items=BASKET_LINES,
    )
    | ONE_CUSTOMER_ID,
    "customer_details": record(
        [],
        userid=TEXT,
        email={"type": "string", "format": "email"},
        accid=TEXT,
        firstname=TEXT,
        lastname=TEXT,
        title=TEXT,
        group_id=TEXT,
    )
    | ONE_CUSTOMER_ID,
}

EVENT: dict[str, Any] = {
    **record(["name"], name={"enum": sorted(EVENT_DATA)}, data={"type": "object"}),
    "allOf": [
        {"if": {"properties": {"name": {"const": name}}}, "then": {"properties": {"data": schema}}}
        for name, schema in EVENT_DATA.items()
    ],
}

REQUEST = record(
    ["appId", "secretKey", "currentUrl", "userAgent", "ip"],
    appId=TEXT,
    secretKey=TEXT,
    currentUrl={"type": "string", "format": "uri"},
    userAgent=TEXT,
    ip=TEXT,
    visitorId=TEXT,
    sessionId=TEXT,
    referer=TEXT,
    currency=TEXT,
    events={"type": "array", "items": EVENT},
    zones={"type": "array", "items": TEXT},
)

PRODUCT_ITEM: dict[str, Any] = {
    "type": "object",
    "properties": {
        **{name: TEXT for name in ("Id", "Sku", "Title", "Description", "Link", "Image", "ImageOverlay")},
        **{name: TEXT for name in ("DisplayPrice", "DisplayWasPrice", "SavingDisplayPrice", "CurrencySymbol")},
        "SavingPercent": TEXT,
        "AllImages": {"type": "array", "items": TEXT},
        "Categories": {"type": "array", "items": TEXT},
        "SearchTags": {"type": "array", "items": TEXT},
        "Price": NUMBER,
        "WasPrice": NUMBER,
        "SavingPrice": NUMBER,
        "Brand": {"type": "object"},
        "OnOffer": {"type": "boolean"},
        "NewArrival": {"type": "boolean"},
    },
}
ZONE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": TEXT,
        "type": {
            "enum": [
                "recommender-product",
                "recommender-category",
                "recommender-brand",
                "image-carousel",
                "image",
                "html",
            ]
        },
        "items": {"type": "array", "items": PRODUCT_ITEM},
        "html": TEXT,
    },
}
RESPONSE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "visitorId": TEXT,
        "sessionId": TEXT,
        "errors": {"type": "array", "items": TEXT},
        "zones": {"type": "object", "additionalProperties": ZONE},
    },
}

_FORMATS = FormatChecker()
REQUEST_VALIDATOR = Draft202012Validator(REQUEST, format_checker=_FORMATS)
RESPONSE_VALIDATOR = Draft202012Validator(RESPONSE, format_checker=_FORMATS)


def contract_violations(body: Any) -> list[str]:
    """Every way ``body`` breaks the request contract, as readable lines; empty when it conforms."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<body>'}: {error.message}"
        for error in REQUEST_VALIDATOR.iter_errors(body)
    ]


def check_request(body: Any) -> None:
    problems = contract_violations(body)
    assert not problems, "request breaks the /api/serverside contract:\n" + "\n".join(problems)


def check_response(body: Any) -> None:
    problems = [error.message for error in RESPONSE_VALIDATOR.iter_errors(body)]
    assert not problems, "response breaks the /api/serverside contract:\n" + "\n".join(problems)
