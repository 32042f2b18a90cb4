"""PureClarity server-side personalisation for Starlette, FastAPI and any ASGI app."""

from __future__ import annotations

from .middleware import PureClarityMiddleware
from .models import InvalidEventError, ProductItem, Zone
from .personalization import (
    CallRecord,
    Personalization,
    PersonalizationResult,
    get_personalization,
    get_personalization_from_scope,
)
from .settings import ConfigurationError, PureClaritySettings

__version__ = "0.1.0"

__all__ = [
    "CallRecord",
    "ConfigurationError",
    "InvalidEventError",
    "Personalization",
    "PersonalizationResult",
    "ProductItem",
    "PureClarityMiddleware",
    "PureClaritySettings",
    "Zone",
    "__version__",
    "get_personalization",
    "get_personalization_from_scope",
]
