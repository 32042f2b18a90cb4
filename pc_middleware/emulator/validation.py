"""The emulator checks a request as PureClarity's API would: by the spec, no stricter.

Written apart from ``pc_middleware.models`` on purpose (only the spec's list of page types is
shared): the middleware is stricter than the spec (it refuses unknown fields, for one), and the
emulator must accept every spec-valid request.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..models import PAGE_TYPES

REQUIRED = ("appId", "secretKey", "currentUrl", "userAgent", "ip")
TEXT_FIELDS = ("appId", "secretKey", "currentUrl", "userAgent", "ip", "visitorId", "sessionId", "referer", "currency")

# Each event's data: field -> (kind, required). Kinds: text, number, email, page_type, lines.
_BASKET_LINE = {"id": ("text", True), "qty": ("number", True), "unitprice": ("number", True)}
_CUSTOMER = {"userid": ("text", False), "email": ("email", False), "accid": ("text", False)}
EVENT_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "page_view": {
        "page_type": ("page_type", True),
        "product_id": ("text", False),
        "category_id": ("text", False),
        "brand_id": ("text", False),
    },
    "product_view": {"id": ("text", True)},
    "product_rate": {"id": ("text", True), "rating": ("number", True)},
    "set_basket": {"items": ("lines", False)},
    "order": {
        "orderid": ("text", True),
        "items": ("lines", True),
        "ordertotal": ("number", False),
        **_CUSTOMER,
        **{
            name: ("text", False)
            for name in ("groupid", "title", "firstname", "lastname", "zipcode", "postcode", "dob")
        },
    },
    "customer_details": {
        **_CUSTOMER,
        **{name: ("text", False) for name in ("firstname", "lastname", "title", "group_id")},
    },
}
_NEEDS_CUSTOMER = {"order", "customer_details"}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _kind_problem(kind: str, value: object) -> str | None:
    if kind == "number":
        return None if _is_number(value) else "must be a number"
    if not isinstance(value, str):
        return "must be a string"
    if kind == "email" and "@" not in value:
        return "must be an email address"
    if kind == "page_type" and value not in PAGE_TYPES:
        return f"must be one of {', '.join(sorted(PAGE_TYPES))}"
    return None


def _record_problems(where: str, data: object, fields: dict[str, tuple[str, bool]]) -> list[str]:
    if not isinstance(data, dict):
        return [f"{where} must be an object"]
    problems = []
    for name, (kind, required) in fields.items():
        if name not in data:
            if required:
                problems.append(f"{where}.{name} is required")
            continue
        if kind == "lines":
            lines = data[name]
            if not isinstance(lines, list):
                problems.append(f"{where}.{name} must be an array")
                continue
            for index, line in enumerate(lines):
                problems += _record_problems(f"{where}.{name}[{index}]", line, _BASKET_LINE)
        elif (problem := _kind_problem(kind, data[name])) is not None:
            problems.append(f"{where}.{name} {problem}")
    return problems


def _event_problems(where: str, event: object) -> list[str]:
    if not isinstance(event, dict):
        return [f"{where} must be an object"]
    name = event.get("name")
    if name not in EVENT_FIELDS:
        return [
            f"{where}.name must be one of {', '.join(EVENT_FIELDS)}" if "name" in event else f"{where}.name is required"
        ]
    if "data" not in event:
        return []
    data = event["data"]
    problems = _record_problems(f"{where}.data", data, EVENT_FIELDS[name])
    if name in _NEEDS_CUSTOMER and isinstance(data, dict) and not any(key in data for key in _CUSTOMER):
        problems.append(f"{where}.data needs at least one of userid, email or accid")
    return problems


def request_problems(body: Any) -> list[str]:
    """Every way ``body`` breaks the API's rules, each naming its field; empty when it is valid."""
    if not isinstance(body, dict):
        return ["the request body must be a JSON object"]
    problems = [f"{name} is required" for name in REQUIRED if name not in body]
    problems += [f"{name} must be a string" for name in TEXT_FIELDS if name in body and not isinstance(body[name], str)]
    url = body.get("currentUrl")
    if isinstance(url, str) and not (urlsplit(url).scheme and " " not in url):
        problems.append("currentUrl must be an absolute URI")
    events = body.get("events", [])
    if not isinstance(events, list):
        problems.append("events must be an array")
    else:
        for index, event in enumerate(events):
            problems += _event_problems(f"events[{index}]", event)
    zones = body.get("zones", [])
    if not isinstance(zones, list) or not all(isinstance(zone, str) for zone in zones):
        problems.append("zones must be an array of strings")
    return problems
