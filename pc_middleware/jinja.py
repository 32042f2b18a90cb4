"""Jinja2 helpers that render PureClarity zones as accessible HTML: ``pip install 'pc-middleware[jinja]'``.

One line registers them on a Starlette ``Jinja2Templates`` or a plain ``jinja2.Environment``::

    register_pureclarity(templates)

and a template shows a zone with ``{{ pureclarity_zone(zones, "HP-01") }}`` (or, as a filter,
``{{ zones | pureclarity_zone("HP-01") }}``). Everything PureClarity sends is untrusted: every value
is escaped, only http(s) and relative URLs become an ``href`` or ``src``, an html zone's markup is
shown only when the app asked for it (``allow_html=True``), and the click-tracking scripts run only
on pages that include ``{{ pureclarity_click_tracking() }}``. See docs/templates.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING

try:
    import jinja2
    from markupsafe import Markup
except ImportError as exc:
    raise ImportError(
        "pc_middleware.jinja needs Jinja2: install the extra with pip install 'pc-middleware[jinja]'"
    ) from exc

from .models import ProductItem, Zone

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

__all__ = ["click_tracking_script", "register_pureclarity", "render_zone", "safe_url"]

DEFAULT_TITLE = "Recommended products"

# Browsers strip these from both ends of a URL before they parse it...
_C0_OR_SPACE = "".join(chr(code) for code in range(0x21))
# ...and drop tabs and newlines inside it ("java\tscript:" is javascript:); a backslash counts as a
# slash ("/\evil.example" is protocol-relative). None of them belongs in a link we would follow.
_OBFUSCATION = re.compile(r"[\x00-\x1f\x7f\\]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_HTTP_URL = re.compile(r"https?://[^/?#]", re.IGNORECASE)
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

# Runs each card's click event (PureClarity's ``clickEvt``, a call to its browser script ``_pc``)
# when it is pressed, as PureClarity's ``onmousedown`` convention does, and on keyboard activation.
_CLICK_TRACKING_JS = Markup("""(function () {
  function track(event) {
    var target = event.target instanceof Element ? event.target : null;
    var link = target && target.closest(".pureclarity-zone [data-pureclarity-click]");
    if (link) Function(link.getAttribute("data-pureclarity-click"))();
  }
  document.addEventListener("mousedown", track, true);
  document.addEventListener("click", function (event) { if (event.detail === 0) track(event); }, true);
})();""")


def safe_url(value: object) -> str | None:
    """``value`` (trimmed) if a browser would read it as an http(s) or relative URL, else None.

    ``javascript:``, ``data:`` and every other scheme, protocol-relative ``//host``, backslashes and
    control characters (tabs and newlines included) are refused.
    """
    if not isinstance(value, str):
        return None
    url = value.strip(_C0_OR_SPACE)
    if not url or _OBFUSCATION.search(url):
        return None
    if _SCHEME.match(url):
        return url if _HTTP_URL.match(url) else None
    return None if url.startswith("//") else url


def render_zone(
    zones: object,
    zone_id: str,
    *,
    allow_html: bool = False,
    heading_level: int = 2,
    default_title: str = DEFAULT_TITLE,
    was_label: str = "was",
) -> Markup:
    """The zone ``zone_id`` of ``zones`` (``result.zones``) as HTML; empty when there is nothing to show.

    Product items become a ``<section>`` of cards, headed by the zone's title (``default_title``
    when it has none); a was-price reads "``was_label`` £5.00". An item without a title or a safe
    link is left out. An html zone's markup is passed through only with ``allow_html=True``.
    """
    if not 1 <= heading_level <= 6:
        raise ValueError(f"heading_level must be 1 to 6, not {heading_level!r}")
    zone = zones.get(zone_id) if isinstance(zones, Mapping) else None
    if not isinstance(zone, Zone):
        return Markup("")
    cards = [card for item in zone.items if (card := _card(item, was_label))]
    if cards:
        heading_id = "pureclarity-zone-" + _ID_UNSAFE.sub("-", zone_id)
        heading = Markup('<h{0} id="{1}">{2}</h{0}>').format(heading_level, heading_id, zone.title or default_title)
        return Markup(
            '<section class="pureclarity-zone" data-pureclarity-zone="{}" aria-labelledby="{}">\n{}\n'
            '<ul class="pureclarity-cards" role="list">\n{}\n</ul>\n</section>'
        ).format(zone_id, heading_id, heading, Markup("\n").join(cards))
    if zone.html and allow_html and not zone.items:
        return Markup('<div class="pureclarity-zone pureclarity-zone-html" data-pureclarity-zone="{}">{}</div>').format(
            zone_id,
            Markup(zone.html),  # noqa: S704 - the app opted in to trusting html zones
        )
    return Markup("")


def _card(item: ProductItem, was_label: str) -> Markup | None:
    # A card is something to read and something to follow: without both it is left out.
    link = safe_url(item.link)
    if link is None or not item.title:
        return None
    parts = [Markup('<a class="pureclarity-link" href="{}"').format(link)]
    if item.click_event:
        parts.append(Markup(' data-pureclarity-click="{}"').format(item.click_event))
    parts.append(Markup(">{}</a>").format(item.title))
    image = safe_url(item.image)
    if image is not None:
        parts.append(
            Markup('\n  <img class="pureclarity-image" src="{}" alt="{}" loading="lazy">').format(image, item.title)
        )
    amount = item.price if item.price is not None and math.isfinite(item.price) else None
    price = item.display_price or (f"{item.currency_symbol or ''}{amount:,.2f}" if amount is not None else None)
    if price:
        was = (
            Markup(' <span class="pureclarity-was-price">{} <s>{}</s></span>').format(was_label, item.display_was_price)
            if item.display_was_price
            else ""
        )
        parts.append(Markup('\n  <p class="pureclarity-price">{}{}</p>').format(price, was))
    product = Markup(' data-pureclarity-product="{}"').format(item.id) if item.id else ""
    return Markup('<li class="pureclarity-card"{}>\n  {}\n</li>').format(product, Markup("").join(parts))


def click_tracking_script(nonce: str | None = None) -> Markup:
    """A ``<script>`` that sends PureClarity each card's click event; include it once per page.

    It runs the scripts PureClarity sends, so it is an opt-in, like ``allow_html``. ``nonce`` is for
    a Content-Security-Policy (which then also needs ``'unsafe-eval'``, as the event is a script).
    """
    nonce_attribute = Markup(' nonce="{}"').format(nonce) if nonce else ""
    return Markup("<script{}>{}</script>").format(nonce_attribute, _CLICK_TRACKING_JS)


def register_pureclarity(templates: Jinja2Templates | jinja2.Environment, *, allow_html: bool = False) -> None:
    """Add ``pureclarity_zone`` (a global and a filter) and ``pureclarity_click_tracking`` to the templates.

    ``allow_html=True`` shows html zones' markup as PureClarity sends it: only for an app that trusts
    every html zone configured in its PureClarity account as much as its own templates.
    """
    env = getattr(templates, "env", templates)
    if not isinstance(env, jinja2.Environment):
        raise TypeError(f"expected a Jinja2Templates or a jinja2.Environment, not {type(templates).__name__}")
    zone = partial(render_zone, allow_html=allow_html)
    env.globals["pureclarity_zone"] = zone
    env.filters["pureclarity_zone"] = zone
    env.globals["pureclarity_click_tracking"] = click_tracking_script
