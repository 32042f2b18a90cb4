from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette

from pc_middleware import ConfigurationError, PureClarityMiddleware, PureClaritySettings

from .conftest import SECRET


def test_settings_come_from_pureclarity_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURECLARITY_ACCESS_KEY", "abc123")
    monkeypatch.setenv("PURECLARITY_SECRET_KEY", SECRET)
    monkeypatch.setenv("PURECLARITY_REGION", "us")
    monkeypatch.setenv("PURECLARITY_TIMEOUT", "0.25")
    monkeypatch.setenv("PURECLARITY_CURRENCY", "GBP")
    monkeypatch.setenv("PURECLARITY_COOKIE_DOMAIN", ".example.com")
    monkeypatch.setenv("PURECLARITY_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7")

    settings = PureClaritySettings()

    assert settings.access_key == "abc123"
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == SECRET
    assert settings.api_url == "https://api-us-e-1.pureclarity.net"
    assert settings.timeout == 0.25
    assert settings.currency == "GBP"
    assert settings.cookie_domain == ".example.com"
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.7")


def test_defaults_follow_pureclarity_own_integration() -> None:
    settings = PureClaritySettings(access_key="k", secret_key="s")

    assert settings.api_url == "https://api-eu-w-1.pureclarity.net"
    assert settings.timeout == 1.0
    assert settings.enabled is True
    assert settings.currency is None
    assert settings.cookie_domain is None
    assert settings.visitor_cookie_max_age == 34_560_000  # 400 days, the browsers' cap
    assert settings.session_cookie_max_age == 300
    assert settings.trusted_proxies == ()


def test_base_url_replaces_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURECLARITY_BASE_URL", "http://127.0.0.1:8801/")
    settings = PureClaritySettings(access_key="k", secret_key="s", region="us")
    assert settings.api_url == "http://127.0.0.1:8801"


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({}, "PURECLARITY_ACCESS_KEY and PURECLARITY_SECRET_KEY"),
        ({"PURECLARITY_ACCESS_KEY": "k"}, "PURECLARITY_SECRET_KEY"),
        ({"PURECLARITY_SECRET_KEY": SECRET}, "PURECLARITY_ACCESS_KEY"),
        ({"PURECLARITY_ACCESS_KEY": "k", "PURECLARITY_SECRET_KEY": "  "}, "PURECLARITY_SECRET_KEY"),
    ],
)
def test_a_missing_key_is_named_when_the_middleware_is_built(
    monkeypatch: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    for name, value in present.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ConfigurationError) as raised:
        PureClarityMiddleware(Starlette())

    assert f"{missing} must be set" in str(raised.value)
    assert SECRET not in str(raised.value)


def test_disabled_needs_no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURECLARITY_ENABLED", "false")
    assert PureClarityMiddleware(Starlette()).settings.enabled is False


def test_the_secret_stays_out_of_reprs_and_validation_errors() -> None:
    settings = PureClaritySettings(access_key="k", secret_key=SECRET)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())
    assert SECRET not in repr(PureClarityMiddleware(Starlette(), settings=settings).client)

    with pytest.raises(ValidationError) as raised:
        PureClaritySettings(access_key="k", secret_key=SECRET, timeout="soon")
    assert SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("access_key", "key; Path=/evil", "PURECLARITY_ACCESS_KEY may hold only"),
        ("currency", "pounds", "three-letter ISO 4217 code"),
        ("cookie_domain", "example.com; HttpOnly", "PURECLARITY_COOKIE_DOMAIN must be a domain name"),
        ("trusted_proxies", "10.0.0.0/8,proxy.local", "'proxy.local' is not an IP address"),
        ("base_url", "ftp://pc.test", "PURECLARITY_BASE_URL must be an http:// or https:// URL"),
        ("base_url", "https://user:hunter2@pc.test", "without a user or password"),
        ("transport", "urllib3", "'httpx' or 'aiohttp'"),
        ("region", "ap", "'eu' or 'us'"),
        ("timeout", "0", "greater than 0"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, message: str
) -> None:
    monkeypatch.setenv("PURECLARITY_ACCESS_KEY", "k")
    monkeypatch.setenv("PURECLARITY_SECRET_KEY", SECRET)
    monkeypatch.setenv(f"PURECLARITY_{field.upper()}", value)

    with pytest.raises(ValidationError, match=message):
        PureClaritySettings()


def test_blank_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURECLARITY_CURRENCY", "")
    monkeypatch.setenv("PURECLARITY_BASE_URL", "")
    settings = PureClaritySettings(access_key="k", secret_key="s")
    assert settings.currency is None
    assert settings.base_url is None


def test_the_middleware_names_each_wrong_variable_and_never_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURECLARITY_ACCESS_KEY", "k")
    monkeypatch.setenv("PURECLARITY_SECRET_KEY", SECRET)
    monkeypatch.setenv("PURECLARITY_TIMEOUT", "0")
    monkeypatch.setenv("PURECLARITY_CURRENCY", SECRET)

    with pytest.raises(ConfigurationError) as raised:
        PureClarityMiddleware(Starlette())

    message = str(raised.value)
    assert "PURECLARITY_TIMEOUT: Input should be greater than 0" in message
    assert "PURECLARITY_CURRENCY must be a three-letter ISO 4217 code" in message
    assert SECRET not in message
