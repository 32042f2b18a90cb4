"""``python -m pc_middleware check``: is this setup right?

Reads the configuration exactly as the middleware does (``PureClaritySettings()``), prints it with
the secret key masked, then makes one call with the middleware's own client and says in plain
words whether the keys were accepted. The call carries no events and no zones, so PureClarity
counts no page view for it.
"""

from __future__ import annotations

import asyncio

from pydantic import SecretStr, ValidationError

from .client import ENDPOINT, CallOutcome, PureClarityClient
from .proxies import UNKNOWN_IP
from .settings import PureClaritySettings, configuration_problems

# Only the fields the spec requires: no events (nothing is counted), no zones (nothing is billed).
CHECK_BODY = {
    "currentUrl": "http://localhost/pc-middleware-check",
    "userAgent": "pc-middleware check",
    "ip": UNKNOWN_IP,
}


def run_check(*, timeout: float | None = None) -> int:
    """Print the configuration and the result of one call; return the exit code (0 success, 1 failure)."""
    options = {"timeout": "--timeout"} if timeout is not None else {}
    try:
        settings = PureClaritySettings() if timeout is None else PureClaritySettings(timeout=timeout)
    except ValidationError as exc:
        print("The configuration is not valid:")
        for problem in configuration_problems(exc, options):
            print(f"  - {problem}")
        return 1

    print("Configuration:")
    for line in describe_settings(settings, options):
        print(f"  {line}")
    url = settings.api_url + ENDPOINT
    print(f"  calls go to {url}")
    secret = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if secret != secret.strip():
        print("  note: PURECLARITY_SECRET_KEY starts or ends with a space or a line break (copied by mistake?)")

    if not settings.enabled:
        if settings.access_key is None or settings.secret_key is None:
            print("PureClarity is disabled (PURECLARITY_ENABLED=false) and the keys are not both set:")
            print("the middleware makes no calls, so there is nothing to check.")
            return 0
        print("PureClarity is disabled (PURECLARITY_ENABLED=false): the middleware makes no calls.")
        print("Checking the keys anyway.")

    print(f"Calling {url} once, with no events and no zones (nothing is counted) ...")
    outcome = asyncio.run(_call_once(settings))
    answered = f"HTTP {outcome.status} in" if outcome.status is not None else "no answer after"
    print(f"Answer: {answered} {outcome.latency_ms:.0f} ms")
    for error in outcome.errors:
        print(f"  {error}")
    accepted, verdict = judge(outcome, url, settings.timeout)
    print(f"{'OK' if accepted else 'FAILED'}: {verdict}")
    return 0 if accepted else 1


def describe_settings(settings: PureClaritySettings, options: dict[str, str]) -> list[str]:
    """One line per setting: its variable, its value (the secret masked) and where it came from."""
    rows = []
    for name in PureClaritySettings.model_fields:
        source = options.get(name) or ("environment" if name in settings.model_fields_set else "default")
        rows.append((f"PURECLARITY_{name.upper()}", _shown(getattr(settings, name)), source))
    name_width = max(len(name) for name, _, _ in rows)
    value_width = max(len(value) for _, value, _ in rows)
    return [f"{name:<{name_width}}  {value:<{value_width}}  ({source})" for name, value, source in rows]


def _shown(value: object) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, SecretStr):
        # The length helps to spot a key cut short when pasted; no character of it is shown.
        return f"******** ({len(value.get_secret_value())} characters)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value) or "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def judge(outcome: CallOutcome, url: str, timeout: float) -> tuple[bool, str]:
    """Whether the keys were accepted, and what to do about it if not."""
    if outcome.status is None:
        if outcome.kind == "timeout":
            return False, f"could not reach {url} within {timeout:g}s."
        return False, (
            f"could not reach {url}: check PURECLARITY_BASE_URL (or PURECLARITY_REGION), "
            "that the service is up, and any proxy variables."
        )
    if outcome.status == 200:
        if outcome.response is None:
            return False, f"{url} answered HTTP 200, but not as PureClarity would: check PURECLARITY_BASE_URL."
        return True, "keys accepted."
    if outcome.status == 403:
        return False, "PureClarity refused the keys: check PURECLARITY_ACCESS_KEY and PURECLARITY_SECRET_KEY."
    return False, f"PureClarity answered HTTP {outcome.status} where 200 was expected, so the keys are not confirmed."


async def _call_once(settings: PureClaritySettings) -> CallOutcome:
    client = PureClarityClient(settings)
    try:
        return await client.call(dict(CHECK_BODY))
    finally:
        await client.aclose()
