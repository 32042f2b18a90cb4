"""PureClarity's two cookies: their names, reading them safely, and the Set-Cookie strings."""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders

from .settings import PureClaritySettings

# RFC 6265 section 4.1.1 cookie-octets, 1 to 256 of them: no controls, space, '"', ',', ';' or '\'.
# Anything else is treated as absent when read and never written, so no value can inject an
# attribute or a header.
_COOKIE_VALUE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{1,256}")


def is_valid_id(value: object) -> bool:
    """True when ``value`` can be a visitor or session ID: 1 to 256 RFC 6265 cookie-octets."""
    return isinstance(value, str) and _COOKIE_VALUE.fullmatch(value) is not None


def read_cookies(cookie_headers: Iterable[bytes], names: tuple[str, str]) -> tuple[str | None, str | None]:
    """The values of the two named cookies, or None for each that is absent or not a valid ID.

    Only these two are looked for, so the rest of a large Cookie header is never parsed into
    anything. Where a name repeats, the first one counts: browsers send the most specific first.
    """
    found: dict[str, str] = {}
    for header in cookie_headers:
        for pair in header.decode("latin-1").split(";"):
            name, eq, value = pair.partition("=")
            name = name.strip()
            if eq and name in names and name not in found:
                found[name] = value.strip()
    visitor, session = (found.get(name) for name in names)
    return (visitor if is_valid_id(visitor) else None, session if is_valid_id(session) else None)


class CookiePolicy:
    """The cookie names and attribute strings, worked out once from the settings."""

    __slots__ = ("_attributes", "_expired", "_secure_attributes", "names")

    def __init__(self, settings: PureClaritySettings) -> None:
        key = settings.access_key or ""
        self.names = (f"pc_v_{key}", f"pc_sessid_{key}")
        # Not HttpOnly: PureClarity's browser script reads both IDs. Lax keeps them on links in.
        common = "; Path=/; SameSite=Lax"
        if settings.cookie_domain:
            common += f"; Domain={settings.cookie_domain}"
        self._attributes = (
            f"; Max-Age={settings.visitor_cookie_max_age}{common}",
            f"; Max-Age={settings.session_cookie_max_age}{common}",
        )
        self._secure_attributes = tuple(attributes + "; Secure" for attributes in self._attributes)
        self._expired = [f"{name}=; Max-Age=0{common}" for name in self.names]

    def set_cookie_values(self, visitor_id: str | None, session_id: str | None, *, secure: bool) -> list[str]:
        """Set-Cookie values for each valid ID given; an invalid one is left out."""
        attributes = self._secure_attributes if secure else self._attributes
        return [
            f"{name}={value}{attrs}"
            for name, value, attrs in zip(self.names, (visitor_id, session_id), attributes, strict=True)
            if is_valid_id(value)
        ]

    def expire_cookie_values(self, *, secure: bool) -> list[str]:
        """Set-Cookie values that delete both cookies (the shopper signed out)."""
        return [value + "; Secure" if secure else value for value in self._expired]


def mark_private(headers: MutableHeaders) -> None:
    """A personalised page must not be served to another shopper by a shared cache."""
    vary = headers.get("vary")
    if vary is None:
        headers["vary"] = "Cookie"
    elif vary.strip() != "*" and "cookie" not in {part.strip().lower() for part in vary.split(",")}:
        headers["vary"] = f"{vary}, Cookie"
    if "cache-control" not in headers:
        headers["cache-control"] = "private"
