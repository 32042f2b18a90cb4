"""The emulator's configuration: keys, catalog, zones, session idle time, storage and test switches."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .faults import FaultPlan

DEMO_ACCESS_KEY = "demo"
DEMO_SECRET_KEY = "demo-secret"  # noqa: S105 - the public key of a local demo, not a credential

Strategy = Literal["trending", "also-viewed", "bought-together", "recently-viewed", "personal", "associated"]


class ZoneConfig(BaseModel):
    """One zone as the emulator serves it: a recommender with a strategy, or html / image content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    type: Literal["recommender-product", "html", "image"] = "recommender-product"
    title: str = ""
    strategy: Strategy | None = None
    items: int = Field(default=4, ge=1, le=50)
    html: str | None = None

    @model_validator(mode="after")
    def _content_fits_type(self) -> ZoneConfig:
        if self.type == "recommender-product" and self.strategy is None:
            raise ValueError(f"zone {self.id}: a recommender zone needs a strategy")
        if self.type != "recommender-product" and self.html is None:
            raise ValueError(f"zone {self.id}: an {self.type} zone needs html")
        return self


class EmulatorConfig(BaseModel):
    """Everything an emulator instance needs. ``EmulatorConfig()`` is the demo configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: dict[str, str] = Field(default_factory=lambda: {DEMO_ACCESS_KEY: DEMO_SECRET_KEY})
    catalog_path: Path | None = None  # a product feed; None is the bundled demo catalog
    zones: tuple[ZoneConfig, ...] = Field(default_factory=lambda: load_zones(None))
    default_currency: str = "GBP"
    session_idle_seconds: float = Field(default=1800, gt=0)
    database: str = ":memory:"  # a SQLite file keeps what the emulator learned across restarts
    inspection: bool = False  # GET /_emulator/requests lists what was received (secret redacted)
    faults: bool = False  # /_emulator/faults injects latency, errors, hangs and dropped connections
    fault_plan: FaultPlan = Field(default_factory=FaultPlan)  # in force from the start, when faults is on


def _demo_file(name: str) -> str:
    return resources.files("pc_middleware.emulator").joinpath("demo", name).read_text(encoding="utf-8")


def load_zones(path: Path | None) -> tuple[ZoneConfig, ...]:
    """Zones from a JSON file ``{"zones": [{"id", "type", "title", "strategy", "items", "html"}]}``."""
    text = path.read_text(encoding="utf-8") if path else _demo_file("zones.json")
    return tuple(ZoneConfig.model_validate(zone) for zone in json.loads(text)["zones"])


def load_feed(path: Path | None) -> dict[str, object]:
    """A product feed in PureClarity's JSON format; the bundled demo catalog when no path is given."""
    text = path.read_text(encoding="utf-8") if path else _demo_file("catalog.json")
    feed = json.loads(text)
    if not isinstance(feed, dict) or not isinstance(feed.get("Products"), list):
        raise ValueError('a product feed is a JSON object with a "Products" list')
    return feed
