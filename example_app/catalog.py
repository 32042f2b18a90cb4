"""The shop's catalog: the same product feed the emulator serves, so pages and zones agree."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pc_middleware.emulator.catalog import CURRENCY_SYMBOLS, Product
from pc_middleware.emulator.config import load_feed

CURRENCIES = ("GBP", "USD")


@dataclass(frozen=True)
class Category:
    id: str
    name: str


class ShopCatalog:
    def __init__(self, feed: dict[str, Any]) -> None:
        self.products = [Product.from_feed(record) for record in feed["Products"]]
        self._by_id = {product.id: product for product in self.products}
        self.categories = [Category(c["Id"], c["DisplayName"]) for c in feed.get("Categories", [])]

    def get(self, product_id: str) -> Product | None:
        return self._by_id.get(product_id)

    def in_category(self, category_id: str) -> list[Product]:
        return [product for product in self.products if category_id in product.categories]

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)


def unit_price(product: Product, currency: str) -> Decimal | None:
    """What one costs now: the sale price when there is one."""
    price = product.prices.get(currency)
    sale = product.sale_prices.get(currency)
    return sale if price is not None and sale is not None and sale < price else price


def money(amount: Decimal | float | None, currency: str) -> str:
    if amount is None:
        return "not sold in " + currency
    return f"{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{Decimal(str(amount)):.2f}"


CATALOG = ShopCatalog(load_feed(None))
