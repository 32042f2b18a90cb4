"""What a call tells PureClarity about the shopper's request: URL, user agent, referer and IP.

Built only when a call is made, never for requests that do not personalise. Header values come
from the shopper and are cut to a sane length; they travel inside a JSON body, never in a header.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, quote_from_bytes

from starlette.types import Scope

from .proxies import TrustedProxies

MAX_USER_AGENT = 512
MAX_REFERER = 2048
MAX_URL = 2048

# Characters that may stand unescaped in a URI path or query (RFC 3986), '%' included so that
# escapes the client already made are kept as they are.
_URI_SAFE = "/:@!$&'()*+,;=-._~%?"
_HOST = re.compile(rb"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_DEFAULT_PORTS = {"http": b":80", "https": b":443"}
_PARTIAL_ESCAPE = re.compile(r"%[0-9A-Fa-f]?$")


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit]


def current_url(scope: Scope) -> str:
    """The full URL the shopper asked for, as a valid URI of at most ``MAX_URL`` characters."""
    scheme = scope.get("scheme", "http")
    host = _header(scope, b"host")
    if host is None or not _HOST.fullmatch(host):
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}".encode() if server and server[1] is not None else b"localhost"
    default_port = _DEFAULT_PORTS.get(scheme)
    if default_port and host.endswith(default_port):
        host = host[: -len(default_port)]
    raw_path = scope.get("raw_path")
    if raw_path:
        path = quote_from_bytes(raw_path, safe=_URI_SAFE)
    else:
        path = quote(scope.get("root_path", "") + scope.get("path", "/"), safe=_URI_SAFE)
    url = f"{scheme}://{host.decode('ascii').lower()}{path}"
    query = scope.get("query_string")
    if query:
        url += "?" + quote_from_bytes(query, safe=_URI_SAFE)
    if len(url) > MAX_URL:
        url = _PARTIAL_ESCAPE.sub("", url[:MAX_URL])
    return url


# Crawlers that identify themselves. Not exhaustive: the point is to not bill and skew analytics for
# the big ones when the shop asks (PURECLARITY_SKIP_BOTS); polite bots say "bot", "crawler" or "spider".
_KNOWN_BOT = re.compile(
    rb"bot\b|crawler|spider|slurp|facebookexternalhit|embedly|quora link preview|whatsapp|"
    rb"bingpreview|lighthouse|headlesschrome|python-requests|curl/|wget/",
    re.IGNORECASE,
)


def is_known_bot(scope: Scope) -> bool:
    user_agent = _header(scope, b"user-agent")
    return user_agent is not None and _KNOWN_BOT.search(user_agent[:MAX_USER_AGENT]) is not None


def is_prefetch(scope: Scope) -> bool:
    """A speculative load (Sec-Purpose or Purpose: prefetch / prerender): no one has seen the page yet."""
    for name in (b"sec-purpose", b"purpose", b"x-purpose", b"x-moz"):
        value = _header(scope, name)
        if value is not None and (b"prefetch" in value.lower() or b"prerender" in value.lower()):
            return True
    return False


def describe_request(scope: Scope, proxies: TrustedProxies) -> dict[str, Any]:
    """The request fields of a ``/api/serverside`` body: currentUrl, userAgent, ip and referer."""
    user_agent = _header(scope, b"user-agent")
    facts: dict[str, Any] = {
        "currentUrl": current_url(scope),
        "userAgent": _cut(user_agent.decode("latin-1"), MAX_USER_AGENT) if user_agent else "",
        "ip": proxies.client_ip(scope),
    }
    referer = _header(scope, b"referer")
    if referer:
        facts["referer"] = _cut(referer.decode("latin-1"), MAX_REFERER)
    return facts
