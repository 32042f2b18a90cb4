"""What a call says about the request: the shopper's IP, the page's URL, user agent and referer."""

from __future__ import annotations

from typing import Any

import pytest

from pc_middleware.proxies import TrustedProxies
from pc_middleware.request_info import MAX_REFERER, MAX_URL, MAX_USER_AGENT, current_url, describe_request


def scope(
    *, client: tuple[str, int] | None = ("198.51.100.7", 5000), headers: list[tuple[str, str]] = (), **extra: Any
) -> dict[str, Any]:
    return {
        "type": "http",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8000),
        "client": client,
        "headers": [(name.encode(), value.encode("latin-1")) for name, value in headers],
        **extra,
    }


def forwarded(chain: str, peer: str = "10.0.0.2") -> dict[str, Any]:
    return scope(client=(peer, 443), headers=[("x-forwarded-for", chain)])


def test_without_trusted_proxies_the_peer_is_the_client_and_x_forwarded_for_is_ignored() -> None:
    assert TrustedProxies([]).client_ip(forwarded("203.0.113.1")) == "10.0.0.2"


@pytest.mark.parametrize(
    ("trusted", "chain", "peer", "client"),
    [
        (["10.0.0.0/8"], "203.0.113.1", "10.0.0.2", "203.0.113.1"),
        # A spoofed leftmost entry is skipped: the first untrusted hop from the right is the client.
        (["10.0.0.0/8"], "1.2.3.4, 203.0.113.1, 10.0.0.9", "10.0.0.2", "203.0.113.1"),
        (["10.0.0.2"], "1.2.3.4, 203.0.113.1", "10.0.0.2", "203.0.113.1"),
        # The peer is not a trusted proxy: its header is not believed at all.
        (["10.0.0.0/8"], "203.0.113.1", "198.51.100.7", "198.51.100.7"),
        # Every hop trusted: the leftmost is all there is.
        (["*"], "203.0.113.1, 10.0.0.9", "10.0.0.2", "203.0.113.1"),
        # Garbage where an address should be: stop at the last good hop.
        (["10.0.0.0/8"], "evil, not-an-ip, 10.0.0.9", "10.0.0.2", "10.0.0.9"),
        (["10.0.0.0/8"], "", "10.0.0.2", "10.0.0.2"),
        (["10.0.0.0/8", "2001:db8::/32"], "[2001:db8::5]:443, 203.0.113.1:5555", "2001:db8::1", "203.0.113.1"),
    ],
)
def test_x_forwarded_for_is_walked_from_the_right_past_trusted_hops(
    trusted: list[str], chain: str, peer: str, client: str
) -> None:
    assert TrustedProxies(trusted).client_ip(forwarded(chain, peer)) == client


def test_several_x_forwarded_for_headers_form_one_chain() -> None:
    request = scope(
        client=("10.0.0.2", 1), headers=[("x-forwarded-for", "203.0.113.1"), ("x-forwarded-for", "10.0.0.5")]
    )
    assert TrustedProxies(["10.0.0.0/8"]).client_ip(request) == "203.0.113.1"


def test_a_request_without_a_client_address_gets_an_unspecified_one() -> None:
    assert TrustedProxies([]).client_ip(scope(client=None)) == "0.0.0.0"


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        ({"headers": [("host", "shop.test")]}, "http://shop.test/"),
        ({"headers": [("host", "Shop.TEST:8080")]}, "http://shop.test:8080/"),
        ({"headers": [("host", "shop.test:80")]}, "http://shop.test/"),
        ({"scheme": "https", "headers": [("host", "shop.test:443")]}, "https://shop.test/"),
        ({"scheme": "https", "headers": [("host", "shop.test:80")]}, "https://shop.test:80/"),
        ({"headers": [("host", "[::1]:8000")]}, "http://[::1]:8000/"),
        ({"headers": []}, "http://127.0.0.1:8000/"),
        ({"headers": [("host", "evil.test/<script>")]}, "http://127.0.0.1:8000/"),
        (
            {"raw_path": b"/caf%C3%A9/a b", "query_string": b"q=a b&x=%41"},
            "http://127.0.0.1:8000/caf%C3%A9/a%20b?q=a%20b&x=%41",
        ),
        ({"raw_path": b'/\xff"<>', "query_string": b"\"'"}, "http://127.0.0.1:8000/%FF%22%3C%3E?%22'"),
        ({"raw_path": None, "path": "/café", "root_path": "/shop"}, "http://127.0.0.1:8000/shop/caf%C3%A9"),
    ],
)
def test_current_url_is_the_full_url_as_a_valid_uri(extra: dict[str, Any], url: str) -> None:
    assert current_url(scope(**extra)) == url


def test_a_long_url_is_cut_without_leaving_half_an_escape() -> None:
    url = current_url(scope(raw_path=b"/" + b"%41" * 1000))
    assert len(url) <= MAX_URL
    assert url.endswith("%41")


def test_user_agent_and_referer_are_cut_and_a_missing_referer_is_left_out() -> None:
    proxies = TrustedProxies([])
    long_headers = [("user-agent", "U" * 5000), ("referer", "http://r.test/" + "r" * 5000)]

    facts = describe_request(scope(headers=long_headers), proxies)
    bare = describe_request(scope(), proxies)

    assert len(facts["userAgent"]) == MAX_USER_AGENT
    assert len(facts["referer"]) == MAX_REFERER
    assert bare == {"currentUrl": "http://127.0.0.1:8000/", "userAgent": "", "ip": "198.51.100.7"}


def test_header_bytes_that_are_not_utf8_do_not_break_anything() -> None:
    facts = describe_request(
        scope(headers=[("user-agent", "Mozilla \xff\xfe"), ("referer", "\xe9")]), TrustedProxies([])
    )
    assert facts["userAgent"] == "Mozilla \xff\xfe"
    assert facts["referer"] == "\xe9"
