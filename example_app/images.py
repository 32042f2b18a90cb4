"""Placeholder product images drawn as SVG on the fly: the demo needs no network and no image files."""

from __future__ import annotations

from html import escape

from .catalog import CATALOG

_COLOURS = {
    "coffee": "#6f4e37",
    "tea": "#5b8a3c",
    "brewing": "#3a6ea5",
    "mugs": "#b5651d",
    "treats": "#c2477a",
    "gifts": "#7a4fa3",
}


def product_svg(product_id: str) -> str | None:
    product = CATALOG.get(product_id)
    if product is None:
        return None
    colour = _COLOURS.get(product.categories[0] if product.categories else "", "#555")
    words = product.title.split()
    lines = [" ".join(words[i : i + 3]) for i in range(0, min(len(words), 6), 3)]
    text = "".join(
        f'<text x="160" y="{110 + 26 * n}" font-size="20" text-anchor="middle" fill="#fff">{escape(line)}</text>'
        for n, line in enumerate(lines)
    )
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240" viewBox="0 0 320 240">'
        f'<rect width="320" height="240" rx="12" fill="{colour}"/>'
        f'<circle cx="160" cy="60" r="28" fill="#fff" fill-opacity=".25"/>{text}</svg>'
    )


BANNER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="960" height="120" viewBox="0 0 960 120">'
    '<rect width="960" height="120" fill="#24324a"/>'
    '<text x="480" y="72" font-size="34" text-anchor="middle" fill="#ffd479">'
    "Winter warmers: teas, chai and cocoa</text></svg>"
)
