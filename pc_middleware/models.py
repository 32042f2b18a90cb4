"""The wire contract of ``POST /api/serverside``: the events we send and the zones we get back.

Events are validated strictly, by their name, when a handler registers them: a mistake shows at
once, in the handler that made it. The spec's ``oneOf`` over event data is ambiguous (its own
example matches three schemas), so the event's name alone picks the schema here.

Responses are untrusted and parsed leniently: a zone or an item that does not fit is dropped on
its own, and fields we do not know are kept (custom feed attributes, ``clickEvt``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    OnErrorOmit,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "PAGE_TYPES",
    "InvalidEventError",
    "ProductItem",
    "ServerSideResponse",
    "Zone",
    "validate_event",
]


class InvalidEventError(ValueError):
    """An event given to ``track()`` does not follow PureClarity's schema for its name."""


# --- events we send -----------------------------------------------------------------------


def _int_id_as_text(value: object) -> object:
    # Shops' IDs are often integers; the API wants strings. bool is an int too, but never an ID.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _looks_like_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain.strip(".") or any(c.isspace() for c in value):
        raise ValueError("must be an email address")
    return value


def _finite_number(value: object) -> float:
    # An int stays an int on the wire (qty 2, not 2.0); text, bool, NaN and infinity are refused.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _iso_date(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value


def _check_iso_date(value: str) -> str:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date in YYYY-MM-DD form")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real date") from None
    return value


Identifier = Annotated[str, BeforeValidator(_int_id_as_text), Field(min_length=1)]
Number = Annotated[int | float, PlainValidator(_finite_number)]
Email = Annotated[str, AfterValidator(_looks_like_email)]
IsoDate = Annotated[str, BeforeValidator(_iso_date), AfterValidator(_check_iso_date)]
PageType = Literal[
    "homepage",
    "search_results",
    "category_listing_page",
    "product_page",
    "basket_page",
    "order_complete_page",
    "other",
]


PAGE_TYPES = frozenset(get_args(PageType))


class _EventData(BaseModel):
    # Unknown keys are rejected: a misspelt field would otherwise vanish without a word.
    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)


class _CustomerIdentity(_EventData):
    userid: Identifier | None = None
    email: Email | None = None
    accid: Identifier | None = None

    @model_validator(mode="after")
    def _one_identifier(self) -> Self:
        if self.userid is None and self.email is None and self.accid is None:
            raise ValueError("needs at least one of userid, email or accid")
        return self


class PageViewData(_EventData):
    page_type: PageType
    product_id: Identifier | None = None
    category_id: Identifier | None = None
    brand_id: Identifier | None = None


class ProductViewData(_EventData):
    id: Identifier


class ProductRateData(_EventData):
    id: Identifier
    rating: Number


class BasketItem(_EventData):
    id: Identifier
    qty: Number
    unitprice: Number


class SetBasketData(_EventData):
    # The whole basket, every time; an empty list clears it.
    items: list[BasketItem]


class OrderData(_CustomerIdentity):
    orderid: Identifier
    items: list[BasketItem] = Field(min_length=1)
    ordertotal: Number | None = None
    groupid: Identifier | None = None
    title: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    zipcode: str | None = None
    postcode: str | None = None
    dob: IsoDate | None = None


class CustomerDetailsData(_CustomerIdentity):
    firstname: str | None = None
    lastname: str | None = None
    title: str | None = None
    group_id: Identifier | None = None


_EVENT_SCHEMAS: dict[str, type[_EventData]] = {
    "page_view": PageViewData,
    "product_view": ProductViewData,
    "product_rate": ProductRateData,
    "set_basket": SetBasketData,
    "order": OrderData,
    "customer_details": CustomerDetailsData,
}


def is_valid_text(text: str) -> bool:
    """False for text that cannot go into a UTF-8 body, such as a lone surrogate (``"\\ud800"``)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def validate_event(name: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check one event against the schema its name selects; return it as it goes on the wire."""
    schema = _EVENT_SCHEMAS.get(name) if isinstance(name, str) else None
    if schema is None:
        known = ", ".join(sorted(_EVENT_SCHEMAS))
        raise InvalidEventError(f"unknown PureClarity event {name!r}: expected one of {known}")
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidEventError(f"{name!r} event: data must be a dict, not {type(data).__name__}")
    try:
        validated = schema.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidEventError(f"{name!r} event: {_describe(exc)}") from None
    wire = validated.model_dump(mode="json", exclude_none=True)
    if not is_valid_text(json.dumps(wire, ensure_ascii=False)):
        raise InvalidEventError(f"{name!r} event: some text is not valid Unicode (a lone surrogate)")
    return {"name": name, "data": wire}


def _describe(exc: ValidationError) -> str:
    # Field names and reasons only: the input may hold a shopper's personal details.
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"field {where!r}: {message[:1].lower()}{message[1:]}" if where else message)
    return "; ".join(problems)


# --- what comes back ----------------------------------------------------------------------

_LENIENT = ConfigDict(extra="allow", populate_by_name=True, coerce_numbers_to_str=True, frozen=True)


class ProductItem(BaseModel):
    """A product in a recommender zone. PureClarity's PascalCase fields become snake_case here;
    fields it sends that are not listed (custom feed attributes, ``clickEvt``) are kept as extras."""

    model_config = _LENIENT

    id: str | None = Field(default=None, alias="Id")
    sku: str | None = Field(default=None, alias="Sku")
    title: str | None = Field(default=None, alias="Title")
    description: str | None = Field(default=None, alias="Description")
    link: str | None = Field(default=None, alias="Link")
    image: str | None = Field(default=None, alias="Image")
    image_overlay: str | None = Field(default=None, alias="ImageOverlay")
    all_images: list[str] = Field(default_factory=list, alias="AllImages")
    price: float | None = Field(default=None, alias="Price")
    was_price: float | None = Field(default=None, alias="WasPrice")
    saving_price: float | None = Field(default=None, alias="SavingPrice")
    display_price: str | None = Field(default=None, alias="DisplayPrice")
    display_was_price: str | None = Field(default=None, alias="DisplayWasPrice")
    saving_display_price: str | None = Field(default=None, alias="SavingDisplayPrice")
    currency_symbol: str | None = Field(default=None, alias="CurrencySymbol")
    saving_percent: str | None = Field(default=None, alias="SavingPercent")
    categories: list[str] = Field(default_factory=list, alias="Categories")
    brand: dict[str, Any] | str | None = Field(default=None, alias="Brand")
    search_tags: list[str] = Field(default_factory=list, alias="SearchTags")
    on_offer: bool | None = Field(default=None, alias="OnOffer")
    new_arrival: bool | None = Field(default=None, alias="NewArrival")

    @property
    def click_event(self) -> str | None:
        """PureClarity's click-tracking script for ``onmousedown``, when the item carries one."""
        extra = self.model_extra or {}
        value = extra.get("clickEvt", extra.get("ClickEvt"))
        return value if isinstance(value, str) else None


def _empty_list(_: object) -> list[Any]:
    return []


def _empty_dict(_: object) -> dict[str, Any]:
    return {}


def _or_empty(container: Any, empty: Callable[[object], object]) -> Any:
    # A bad element is dropped on its own (OnErrorOmit) and anything that is not the container at
    # all becomes an empty one; valid input never leaves pydantic-core, so an answer is one pass.
    return Annotated[container | Annotated[Any, AfterValidator(empty)], Field(union_mode="left_to_right")]


if TYPE_CHECKING:
    _Items = list[ProductItem]
else:
    _Items = _or_empty(list[OnErrorOmit[ProductItem]], _empty_list)


class Zone(BaseModel):
    """One zone's content: product ``items`` for recommenders, ``html`` for html and image zones."""

    model_config = _LENIENT

    title: str | None = None
    type: str | None = None
    items: _Items = Field(default_factory=list)
    html: str | None = None


if TYPE_CHECKING:
    _Zones = dict[str, Zone]
else:
    _Zones = _or_empty(dict[str, OnErrorOmit[Zone]], _empty_dict)


class ServerSideResponse(BaseModel):
    """The body of an answer from ``/api/serverside`` (a 200, or the ``errors`` of a 400 or 403)."""

    model_config = ConfigDict(populate_by_name=True, coerce_numbers_to_str=True, frozen=True)

    visitor_id: str | None = Field(default=None, alias="visitorId")
    session_id: str | None = Field(default=None, alias="sessionId")
    errors: list[str] = Field(default_factory=list)
    zones: _Zones = Field(default_factory=dict)

    @field_validator("visitor_id", "session_id", mode="before")
    @classmethod
    def _text_or_nothing(cls, value: object) -> object:
        return value if isinstance(value, str) else None

    @field_validator("errors", mode="before")
    @classmethod
    def _text_errors(cls, value: object) -> list[str]:
        if isinstance(value, str):
            return [value]
        return (
            [str(error) for error in value if isinstance(error, str | int | float)] if isinstance(value, list) else []
        )
