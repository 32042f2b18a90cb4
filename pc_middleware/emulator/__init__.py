"""A local stand-in for PureClarity's ``POST /api/serverside``, as stripe-mock is for Stripe.

``create_app()`` returns it as an ASGI app with the demo configuration (access key ``demo``,
secret ``demo-secret``, a bundled catalog and zones); ``python -m pc_middleware.emulator`` serves it.
"""

from __future__ import annotations

from .app import Emulator, create_app
from .config import DEMO_ACCESS_KEY, DEMO_SECRET_KEY, EmulatorConfig, ZoneConfig, load_zones
from .faults import FaultPlan

__all__ = [
    "DEMO_ACCESS_KEY",
    "DEMO_SECRET_KEY",
    "Emulator",
    "EmulatorConfig",
    "FaultPlan",
    "ZoneConfig",
    "create_app",
    "load_zones",
]
