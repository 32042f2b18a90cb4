"""Jinja2 helpers: a zone renders as accessible cards, everything PureClarity sends is escaped, only
http(s) and relative URLs become links, and html zones show only where the app opts in."""

from __future__ import annotations

import importlib
import re
import sys
from html.parser import HTMLParser
from typing import Any

import httpx
import jinja2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from pc_middleware import Zone
from pc_middleware.jinja import click_tracking_script, register_pureclarity, render_zone, safe_url

from .conftest import browser, shop
from .fake_api import FakePureClarity

CLICK = '_pc(\'zoneclick\', {"id": "P1"})'
PRODUCT = {
    "Id": "P1",
    "Title": "Kenyan AA",
    "Link": "/product/P1",
    "Image": "https://cdn.example/p1.jpg",
    "DisplayPrice": "£8.50",
    "DisplayWasPrice": "£9.99",
    "clickEvt": CLICK,
}
BANNER = "<div class='banner'>Free delivery <b>today</b></div>"


def templates_with(source: str, **options: Any) -> Jinja2Templates:
    templates = Jinja2Templates(
        env=jinja2.Environment(loader=jinja2.DictLoader({"page.html": source}), autoescape=True)
    )
    register_pureclarity(templates, **options)
    return templates


def answering(zones: dict[str, Any]) -> FakePureClarity:
    fake = FakePureClarity()
    fake.answer = lambda body: httpx.Response(200, json={"visitorId": "v1", "sessionId": "s1", "zones": zones})
    return fake


async def render_page(fake: FakePureClarity, templates: Jinja2Templates, *zone_ids: str) -> str:
    """Serve one page through the middleware and the templates, and return its HTML."""

    async def page(request: Request) -> Response:
        pc = request.state.pureclarity
        pc.track("page_view", {"page_type": "product_page", "product_id": "P9"})
        pc.add_zones(*zone_ids)
        result = await pc.fetch()
        return templates.TemplateResponse(request, "page.html", {"zones": result.zones})

    async with browser(shop(Route("/", page), fake=fake)) as client:
        response = await client.get("/")
    assert response.status_code == 200
    return response.text


def zone(**content: Any) -> dict[str, Zone]:
    return {"PP-01": Zone.model_validate(content)}


# --- through a real app -------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_zone_renders_as_an_accessible_list_of_cards() -> None:
    fake = answering({"PP-01": {"title": "Goes well with", "type": "recommender-product", "items": [PRODUCT]}})
    templates = templates_with('<main>{{ pureclarity_zone(zones, "PP-01") }}</main>')

    html = await render_page(fake, templates, "PP-01")

    assert html == (
        "<main>"
        '<section class="pureclarity-zone" data-pureclarity-zone="PP-01" aria-labelledby="pureclarity-zone-PP-01">\n'
        '<h2 id="pureclarity-zone-PP-01">Goes well with</h2>\n'
        '<ul class="pureclarity-cards" role="list">\n'
        '<li class="pureclarity-card" data-pureclarity-product="P1">\n'
        '  <a class="pureclarity-link" href="/product/P1"'
        ' data-pureclarity-click="_pc(&#39;zoneclick&#39;, {&#34;id&#34;: &#34;P1&#34;})"'
        ">Kenyan AA</a>\n"
        '  <img class="pureclarity-image" src="https://cdn.example/p1.jpg" alt="Kenyan AA" loading="lazy">\n'
        '  <p class="pureclarity-price">£8.50 <span class="pureclarity-was-price">was <s>£9.99</s></span></p>\n'
        "</li>\n"
        "</ul>\n"
        "</section>"
        "</main>"
    )
    assert fake.bodies[0]["zones"] == ["PP-01"]


@pytest.mark.anyio
async def test_the_filter_form_renders_the_same_html() -> None:
    content = {"title": "Goes well with", "items": [PRODUCT]}
    as_global = await render_page(
        answering({"PP-01": content}), templates_with('{{ pureclarity_zone(zones, "PP-01") }}')
    )
    as_filter = await render_page(
        answering({"PP-01": content}), templates_with('{{ zones | pureclarity_zone("PP-01") }}')
    )
    assert as_filter == as_global
    assert "Kenyan AA" in as_filter


@pytest.mark.anyio
async def test_a_zone_missing_from_the_answer_renders_nothing(fake: FakePureClarity) -> None:
    templates = templates_with('<main>{{ pureclarity_zone(zones, "NOT-ASKED") }}</main>')
    assert await render_page(fake, templates, "PP-01") == "<main></main>"


@pytest.mark.anyio
async def test_hostile_fields_are_escaped_in_the_page() -> None:
    hostile = {
        "Id": '"><script>alert(1)</script>',
        "Title": "<script>alert('title')</script>",
        "Link": '/product/P1?a=1&b="><script>',
        "Image": "javascript:alert(2)",
        "DisplayPrice": "<img src=x onerror=alert(3)>",
        "clickEvt": '"><script>alert(4)</script>',
    }
    fake = answering({"PP-01": {"title": "<i onmouseover=alert(5)>Hot</i>", "items": [hostile]}})
    html = await render_page(fake, templates_with('{{ pureclarity_zone(zones, "PP-01") }}'), "PP-01")

    assert "<script" not in html
    assert "<i " not in html
    assert "<img src=x" not in html
    assert "javascript:" not in html  # the image is dropped, the card kept
    assert '<h2 id="pureclarity-zone-PP-01">&lt;i onmouseover=alert(5)&gt;Hot&lt;/i&gt;</h2>' in html
    assert 'href="/product/P1?a=1&amp;b=&#34;&gt;&lt;script&gt;"' in html
    assert 'data-pureclarity-product="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert '<p class="pureclarity-price">&lt;img src=x onerror=alert(3)&gt;</p>' in html


@pytest.mark.anyio
async def test_an_html_zone_is_left_out_unless_the_app_opts_in() -> None:
    zones = {"HP-03": {"type": "html", "html": BANNER}}
    source = '<main>{{ pureclarity_zone(zones, "HP-03") }}</main>'

    default = await render_page(answering(zones), templates_with(source), "HP-03")
    trusted = await render_page(answering(zones), templates_with(source, allow_html=True), "HP-03")

    assert default == "<main></main>"
    assert trusted == (
        f'<main><div class="pureclarity-zone pureclarity-zone-html" data-pureclarity-zone="HP-03">{BANNER}</div></main>'
    )


# --- the rules, one by one ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "  javascript:alert(1)",
        "\x01javascript:alert(1)",
        "java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "java\rscript:alert(1)",
        "javascript\x00:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "//evil.example/p1",
        " //evil.example/p1",
        "/\\evil.example/p1",
        "\\\\evil.example/p1",
        "http:evil.example",
        "https:/evil.example",
        "http://",
        "",
        "   ",
    ],
)
def test_urls_that_are_not_http_or_relative_are_refused(url: str) -> None:
    assert safe_url(url) is None


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://shop.example/p/1", "https://shop.example/p/1"),
        ("HTTP://shop.example/p/1", "HTTP://shop.example/p/1"),
        ("/product/P1", "/product/P1"),
        ("product/P1", "product/P1"),
        ("../P1?colour=red#reviews", "../P1?colour=red#reviews"),
        ("  /product/P1\n", "/product/P1"),  # browsers trim the ends too
        ("/search?q=a:b", "/search?q=a:b"),  # a colon after the path starts is no scheme
    ],
)
def test_http_and_relative_urls_are_kept(url: str, kept: str) -> None:
    assert safe_url(url) == kept


def test_a_card_needs_a_title_and_a_safe_link() -> None:
    items = [
        PRODUCT | {"Id": "no-link", "Link": None},
        PRODUCT | {"Id": "bad-link", "Link": "javascript:alert(1)"},
        PRODUCT | {"Id": "no-title", "Title": ""},
        PRODUCT | {"Id": "kept", "Image": "data:image/png;base64,AAAA"},
    ]
    html = render_zone(zone(items=items), "PP-01")
    assert re.findall(r'data-pureclarity-product="([^"]*)"', html) == ["kept"]
    assert "<img" not in html  # its image was not http(s) or relative


def test_a_zone_whose_cards_are_all_refused_renders_nothing() -> None:
    assert render_zone(zone(title="Hot", items=[PRODUCT | {"Link": "javascript:x"}]), "PP-01") == ""


def test_a_zone_without_a_title_is_still_named_for_screen_readers() -> None:
    html = render_zone(zone(items=[PRODUCT]), "PP-01", heading_level=3, default_title="Für Sie")
    assert '<h3 id="pureclarity-zone-PP-01">Für Sie</h3>' in html
    assert 'aria-labelledby="pureclarity-zone-PP-01"' in html


def test_a_price_without_display_text_is_formatted_with_its_symbol() -> None:
    item = {"Id": "P1", "Title": "Mug", "Link": "/p/1", "Price": 1234.5, "CurrencySymbol": "$"}
    assert '<p class="pureclarity-price">$1,234.50</p>' in render_zone(zone(items=[item]), "PP-01")


def test_a_zone_id_that_is_no_html_id_is_made_one() -> None:
    html = render_zone({'P P"1': Zone.model_validate({"items": [PRODUCT]})}, 'P P"1')
    assert 'data-pureclarity-zone="P P&#34;1" aria-labelledby="pureclarity-zone-P-P-1"' in html
    assert '<h2 id="pureclarity-zone-P-P-1">' in html


def test_the_click_tracking_script_carries_an_escaped_nonce() -> None:
    script = click_tracking_script(nonce='n0"nce')
    assert script.startswith('<script nonce="n0&#34;nce">')
    assert "data-pureclarity-click" in script
    assert script.endswith("</script>")


def test_templates_render_nothing_when_the_page_has_no_zones() -> None:
    env = jinja2.Environment(autoescape=True)
    register_pureclarity(env)
    assert env.from_string('[{{ pureclarity_zone(zones, "PP-01") }}]').render() == "[]"


def test_registration_refuses_what_is_not_a_jinja_environment() -> None:
    with pytest.raises(TypeError, match=r"Jinja2Templates or a jinja2\.Environment"):
        register_pureclarity(object())  # type: ignore[arg-type]


def test_without_jinja2_the_import_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pc_middleware.jinja")
    monkeypatch.setitem(sys.modules, "jinja2", None)  # as if it were not installed
    with pytest.raises(ImportError, match=re.escape("pip install 'pc-middleware[jinja]'")):
        importlib.import_module("pc_middleware.jinja")


# --- whatever PureClarity sends -----------------------------------------------------------------

FRAGMENTS = [
    "<script>",
    "</script",
    "<ScRiPt",
    "javascript:",
    "JAVASCRIPT:",
    "data:",
    "vbscript:",
    "java",
    "script:",
    "\t",
    "\n",
    "\x00",
    " ",
    "//",
    "/",
    "\\",
    '"',
    "'",
    "`",
    "&",
    "&#",
    ">",
    "<",
    "=",
    "onerror",
    "http",
    "https://",
    ":",
    "#",
    "?",
]
# A dangerous scheme with a character slipped in, as browsers would read past: "java\tscript:".
obfuscated_scheme = st.builds(
    lambda scheme, junk, at: scheme[:at] + junk + scheme[at:],
    st.sampled_from(["javascript:", "data:", "vbscript:", "//"]),
    st.sampled_from(["\t", "\n", "\r", "\x00", "\x1f", " ", "\\"]),
    st.integers(0, 11),
)
hostile = st.lists(st.sampled_from(FRAGMENTS) | obfuscated_scheme | st.text(max_size=3), max_size=8).map("".join)
ALLOWED_TAGS = {"section", "h2", "ul", "li", "a", "img", "p", "span", "s"}
ALLOWED_ATTRIBUTES = {
    "class",
    "id",
    "role",
    "href",
    "src",
    "alt",
    "loading",
    "aria-labelledby",
    "data-pureclarity-zone",
    "data-pureclarity-product",
    "data-pureclarity-click",
}


class _Markup(HTMLParser):
    """Collects what a browser would see: tags, attributes and their (unescaped) values."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attributes.extend(attrs)


def browser_would_follow_only_http_or_relative(url: str) -> bool:
    # An independent reading, as a browser's URL parser would: trim, drop tabs and newlines, "\" is "/".
    url = re.sub(r"[\t\n\r]", "", url.strip("".join(map(chr, range(0x21))))).replace("\\", "/")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", url)
    if scheme:
        return scheme.group(1).lower() in ("http", "https")
    return not url.startswith("//")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(zone_id=hostile, zone_title=hostile, title=hostile, price=hostile, link=hostile, image=hostile, click=hostile)
def test_nothing_pureclarity_sends_becomes_markup_or_a_dangerous_url(
    zone_id: str, zone_title: str, title: str, price: str, link: str, image: str, click: str
) -> None:
    item = {"Id": title, "Title": title, "Link": link, "Image": image, "DisplayPrice": price, "clickEvt": click}
    content = Zone.model_validate({"title": zone_title, "items": [item, item | {"Link": "/p/1"}], "html": title})

    html = render_zone({zone_id: content}, zone_id)

    assert "<script" not in html.lower()
    parsed = _Markup()
    parsed.feed(html)
    parsed.close()
    assert parsed.tags <= ALLOWED_TAGS
    assert {name for name, _ in parsed.attributes} <= ALLOWED_ATTRIBUTES
    for name, value in parsed.attributes:
        if name in ("href", "src"):
            assert value is not None
            assert browser_would_follow_only_http_or_relative(value), (name, value)
