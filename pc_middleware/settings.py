"""Configuration, read from ``PURECLARITY_*`` environment variables."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REGION_URLS = {
    "eu": "https://api-eu-w-1.pureclarity.net",
    "us": "https://api-us-e-1.pureclarity.net",
}

# The access key becomes part of two cookie names, so it must be a plain token.
_ACCESS_KEY = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_DOMAIN = re.compile(
    r"\.?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class PureClaritySettings(BaseSettings):
    """Everything the middleware needs to know, from the environment or given in code.

    Every field maps to ``PURECLARITY_<FIELD NAME IN CAPITALS>``. Input values are kept
    out of validation errors, so that a misconfigured secret never lands in a traceback.
    """

    model_config = SettingsConfigDict(env_prefix="PURECLARITY_", extra="ignore", hide_input_in_errors=True, frozen=True)

    access_key: str | None = None
    secret_key: SecretStr | None = None
    region: Literal["eu", "us"] = "eu"
    base_url: str | None = None
    timeout: float = Field(default=1.0, gt=0, le=60)
    enabled: bool = True
    currency: str | None = None
    cookie_domain: str | None = None
    visitor_cookie_max_age: int = Field(default=34_560_000, ge=0)
    session_cookie_max_age: int = Field(default=300, ge=0)
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_cooldown: float = Field(default=30.0, gt=0)
    max_connections: int = Field(default=64, ge=1)
    max_response_bytes: int = Field(default=262_144, ge=1024)
    skip_bots: bool = False
    server_timing: bool = False
    outbox_path: str | None = None
    drain_timeout: float = Field(default=5.0, ge=0)
    transport: Literal["httpx", "aiohttp"] = "httpx"

    @field_validator("access_key", "secret_key", "base_url", "currency", "cookie_domain", "outbox_path", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `export PURECLARITY_CURRENCY=` means "not set", not "set to nothing".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("access_key")
    @classmethod
    def _check_access_key(cls, value: str | None) -> str | None:
        if value is not None and not _ACCESS_KEY.fullmatch(value):
            raise ValueError("PURECLARITY_ACCESS_KEY may hold only letters, digits, '.', '_' and '-'")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # No user or password in it: it is printed (python -m pc_middleware check) and logged.
        if not re.fullmatch(r"https?://[^\s/?#@]+(/[^\s?#]*)?", value):
            raise ValueError(
                "PURECLARITY_BASE_URL must be an http:// or https:// URL without a user or password, "
                "such as http://127.0.0.1:8801"
            )
        return value.rstrip("/")

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, value: str | None) -> str | None:
        if value is not None and not CURRENCY_CODE.fullmatch(value):
            raise ValueError("PURECLARITY_CURRENCY must be a three-letter ISO 4217 code in capitals, such as GBP")
        return value

    @field_validator("cookie_domain")
    @classmethod
    def _check_cookie_domain(cls, value: str | None) -> str | None:
        if value is not None and not _DOMAIN.fullmatch(value):
            raise ValueError("PURECLARITY_COOKIE_DOMAIN must be a domain name, such as .example.com")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_trusted_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"PURECLARITY_TRUSTED_PROXIES: {entry!r} is not an IP address, a CIDR network or '*'"
                ) from None
        return value

    @field_validator("transport")
    @classmethod
    def _aiohttp_installed(cls, value: str) -> str:
        if value == "aiohttp" and importlib.util.find_spec("aiohttp") is None:
            raise ValueError("PURECLARITY_TRANSPORT=aiohttp needs aiohttp: pip install 'pc-middleware[aiohttp]'")
        return value

    @model_validator(mode="after")
    def _keys_required_when_enabled(self) -> Self:
        if self.enabled:
            missing = [
                name
                for name, present in (
                    ("PURECLARITY_ACCESS_KEY", self.access_key is not None),
                    ("PURECLARITY_SECRET_KEY", self.secret_key is not None),
                )
                if not present
            ]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)} must be set while PureClarity is enabled "
                    "(find both keys in PureClarity's admin under My Account > Integrations), "
                    "or set PURECLARITY_ENABLED=false to run without it"
                )
        return self

    @property
    def api_url(self) -> str:
        """The base URL calls go to: ``base_url`` when set, else the region's."""
        return self.base_url or REGION_URLS[self.region]


class ConfigurationError(ValueError):
    """The ``PURECLARITY_*`` configuration is not valid; the message names each variable, never a value."""


def configuration_problems(exc: ValidationError, options: dict[str, str] | None = None) -> list[str]:
    """Each problem in plain words, named by its variable (or by the option in ``options`` that set
    the field); the input is never shown."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=False):
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            name = str(error["loc"][0])
            label = (options or {}).get(name, f"PURECLARITY_{name.upper()}")
            if not message.startswith(label):
                message = f"{label}: {message}"
        problems.append(message)
    return problems


def settings_from_environment() -> PureClaritySettings:
    """``PureClaritySettings()``, with a ``ConfigurationError`` naming each variable that is wrong."""
    try:
        return PureClaritySettings()
    except ValidationError as exc:
        listed = "\n".join(f"  - {problem}" for problem in configuration_problems(exc))
        raise ConfigurationError(f"the PureClarity configuration is not valid:\n{listed}") from None
