"""The emulator's catalog: a PureClarity product feed, turned into zone items in a currency."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

CURRENCY_SYMBOLS = {"GBP": "£", "USD": "$", "EUR": "€", "JPY": "¥", "AUD": "A$", "CAD": "C$"}


def _prices(entries: object) -> dict[str, Decimal]:
    """``["3.49 GBP", "4.99 USD"]`` as ``{"GBP": Decimal("3.49"), ...}``; entries that do not parse are skipped."""
    prices: dict[str, Decimal] = {}
    if not isinstance(entries, list):
        return prices
    for entry in entries:
        amount, _, currency = str(entry).strip().partition(" ")
        try:
            prices[currency.strip().upper()] = Decimal(amount)
        except InvalidOperation:
            continue
    return prices


def _texts(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    sku: str
    title: str
    fields: Mapping[str, Any]  # the feed record as given, for the text fields passed through
    categories: tuple[str, ...]
    brand: str | None
    prices: Mapping[str, Decimal]
    sale_prices: Mapping[str, Decimal]
    associated_skus: tuple[str, ...]

    @classmethod
    def from_feed(cls, record: Mapping[str, Any]) -> Product:
        return cls(
            id=str(record["Id"]),
            sku=str(record.get("Sku") or record["Id"]),
            title=str(record.get("Title", "")),
            fields=record,
            categories=_texts(record.get("Categories")),
            brand=str(record["Brand"]) if record.get("Brand") else None,
            prices=_prices(record.get("Prices")),
            sale_prices=_prices(record.get("SalePrices")),
            associated_skus=_texts(record.get("AssociatedSkus")),
        )

    def item(self, currency: str, zone_id: str) -> dict[str, Any] | None:
        """This product as a ProductRecommenderItem in ``currency``; None when it has no price in it."""
        price = self.prices.get(currency)
        if price is None:
            return None
        symbol = CURRENCY_SYMBOLS.get(currency, f"{currency} ")
        item: dict[str, Any] = {"Id": self.id, "Sku": self.sku, "Title": self.title}
        for name in ("Description", "Link", "Image", "ImageOverlay"):
            if isinstance(self.fields.get(name), str):
                item[name] = self.fields[name]
        images = _texts(self.fields.get("AllImages")) or ((self.fields["Image"],) if self.fields.get("Image") else ())
        item["AllImages"] = list(images)
        sale = self.sale_prices.get(currency)
        if sale is not None and sale < price:
            saving = price - sale
            item |= {
                "Price": float(sale),
                "WasPrice": float(price),
                "SavingPrice": float(saving),
                "DisplayPrice": f"{symbol}{sale:.2f}",
                "DisplayWasPrice": f"{symbol}{price:.2f}",
                "SavingDisplayPrice": f"{symbol}{saving:.2f}",
                "SavingPercent": f"{round(saving / price * 100)}%",
            }
        else:
            item |= {"Price": float(price), "DisplayPrice": f"{symbol}{price:.2f}"}
        item["CurrencySymbol"] = symbol.strip()
        item["Categories"] = list(self.categories)
        if self.brand:
            item["Brand"] = {"Id": self.brand, "DisplayName": self.brand}
        item["SearchTags"] = list(_texts(self.fields.get("SearchTags")))
        item["OnOffer"] = bool(self.fields.get("OnOffer", sale is not None))
        item["NewArrival"] = bool(self.fields.get("NewArrival", False))
        # What PureClarity's browser script runs on mousedown to record the click.
        item["clickEvt"] = "_pc('zoneclick', " + json.dumps({"zone": zone_id, "id": self.id}) + ")"
        return item


class Catalog:
    """Products in feed order, found by Id or by Sku."""

    def __init__(self, records: Iterable[Mapping[str, Any]]) -> None:
        self.products = [
            Product.from_feed(record) for record in records if isinstance(record, Mapping) and "Id" in record
        ]
        self._by_id = {product.id: product for product in self.products}
        self._by_sku = {product.sku: product for product in self.products}

    def get(self, product_id: str) -> Product | None:
        return self._by_id.get(product_id)

    def by_sku(self, sku: str) -> Product | None:
        return self._by_sku.get(sku) or self._by_id.get(sku)
