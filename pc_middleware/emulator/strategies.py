"""How the emulator fills a recommender zone, learning from the events it has received.

Each strategy ranks product IDs; ``recommend`` then drops what must never be offered (the product
being viewed, what is already in the basket, products with no price in the currency) and, for the
strategies that would otherwise often be empty, tops the list up with what is trending.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .catalog import Catalog
from .config import Strategy, ZoneConfig
from .store import Store

TRENDING_WINDOW_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Shopper:
    """What a strategy may know about the call it answers."""

    visitor_id: str
    viewing: str | None  # the product on the page, when the call names one
    basket: tuple[str, ...]
    currency: str
    now: float


def _ranked(scores: Counter[str], catalog: Catalog) -> list[str]:
    # Highest score first; ties in catalog order, so answers are stable.
    order = {product.id: index for index, product in enumerate(catalog.products)}
    return sorted((p for p, score in scores.items() if score > 0 and p in order), key=lambda p: (-scores[p], order[p]))


def trending(store: Store, catalog: Catalog, shopper: Shopper) -> list[str]:
    ranked = _ranked(store.trending(shopper.now - TRENDING_WINDOW_SECONDS), catalog)
    # Until the emulator has learned enough, the rest of the catalog, in feed order, fills the zone.
    seen = set(ranked)
    return ranked + [product.id for product in catalog.products if product.id not in seen]


def recently_viewed(store: Store, catalog: Catalog, shopper: Shopper) -> list[str]:
    return store.recently_viewed(shopper.visitor_id)


def also_viewed(store: Store, catalog: Catalog, shopper: Shopper) -> list[str]:
    anchor = shopper.viewing or next(iter(store.recently_viewed(shopper.visitor_id)), None)
    return _ranked(store.viewed_in_same_sessions(anchor), catalog) if anchor else []


def bought_together(store: Store, catalog: Catalog, shopper: Shopper) -> list[str]:
    anchors = list(shopper.basket) or ([shopper.viewing] if shopper.viewing else [])
    return _ranked(store.bought_in_same_orders(anchors), catalog)


def personal(store: Store, catalog: Catalog, shopper: Shopper) -> list[str]:
    """Products in the categories and brands this visitor viewed, the most viewed first."""
    affinity: Counter[str] = Counter()
    for position, product_id in enumerate(store.recently_viewed(shopper.visitor_id)[:20]):
        product = catalog.get(product_id)
        if product is None:
            continue
        weight = 20 - position  # recent interest counts more
        affinity.update(dict.fromkeys((f"category:{c}" for c in product.categories), weight))
        if product.brand:
            affinity[f"brand:{product.brand}"] += weight
    scores = Counter(
        {
            product.id: sum(affinity[f"category:{c}"] for c in product.categories)
            + (affinity[f"brand:{product.brand}"] if product.brand else 0)
            for product in catalog.products
        }
    )
    return _ranked(scores, catalog)


def associated(store: Store, catalog: Catalog, shopper: Shopper) -> list[str]:
    product = catalog.get(shopper.viewing) if shopper.viewing else None
    if product is None:
        return []
    return [linked.id for sku in product.associated_skus if (linked := catalog.by_sku(sku)) is not None]


STRATEGIES: dict[Strategy, Callable[[Store, Catalog, Shopper], list[str]]] = {
    "trending": trending,
    "recently-viewed": recently_viewed,
    "also-viewed": also_viewed,
    "bought-together": bought_together,
    "personal": personal,
    "associated": associated,
}
_TOPPED_UP: set[Strategy] = {"also-viewed", "bought-together", "personal"}


def recommend(zone: ZoneConfig, store: Store, catalog: Catalog, shopper: Shopper) -> list[dict[str, Any]]:
    """Up to ``zone.items`` product items for a recommender zone."""
    assert zone.strategy is not None
    candidates = STRATEGIES[zone.strategy](store, catalog, shopper)
    if zone.strategy in _TOPPED_UP:
        candidates = candidates + trending(store, catalog, shopper)
    excluded = {shopper.viewing, *shopper.basket}
    items: list[dict[str, Any]] = []
    for product_id in dict.fromkeys(candidates):
        product = catalog.get(product_id)
        if product is None or product_id in excluded:
            continue
        item = product.item(shopper.currency, zone.id)
        if item is not None:
            items.append(item)
            if len(items) == zone.items:
                break
    return items
