"""In FastAPI the object is a dependency: ``pc: PersonalizationDep``, from ``pc_middleware.fastapi``."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys

import pytest
from fastapi import FastAPI

from pc_middleware import PureClarityMiddleware, get_personalization
from pc_middleware.fastapi import PersonalizationDep

from .conftest import browser, make_settings
from .fake_api import FakePureClarity


def make_app(fake: FakePureClarity) -> FastAPI:
    app = FastAPI()
    app.add_middleware(PureClarityMiddleware, settings=make_settings(), transport=fake.transport)

    @app.get("/product/{product_id}")
    async def product(product_id: str, pc: PersonalizationDep) -> dict[str, list[str]]:
        pc.track("product_view", {"id": product_id})
        pc.add_zones("PP-01")
        result = await pc.fetch()
        return {"zones": list(result.zones)}

    return app


@pytest.mark.anyio
async def test_the_dependency_hands_the_handler_its_request_object(fake: FakePureClarity) -> None:
    async with browser(make_app(fake)) as client:
        response = await client.get("/product/P7")

    assert response.json() == {"zones": ["PP-01"]}
    assert fake.bodies[0]["events"] == [{"name": "product_view", "data": {"id": "P7"}}]


@pytest.mark.anyio
async def test_tests_can_override_the_dependency(fake: FakePureClarity) -> None:
    class NoPersonalisation:
        def track(self, name: str, data: object = None) -> None:
            pass

        def add_zones(self, *zone_ids: str) -> None:
            pass

        async def fetch(self) -> object:
            from pc_middleware import PersonalizationResult

            return PersonalizationResult()

    app = make_app(fake)
    app.dependency_overrides[get_personalization] = NoPersonalisation
    async with browser(app) as client:
        response = await client.get("/product/P7")

    assert response.json() == {"zones": []}
    assert fake.calls == 0


def test_without_fastapi_the_import_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "pc_middleware.fastapi")
    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if it were not installed
    with pytest.raises(ImportError, match=re.escape("pip install 'pc-middleware[fastapi]'")):
        importlib.import_module("pc_middleware.fastapi")


def test_the_core_package_imports_neither_fastapi_nor_jinja2() -> None:
    script = "import sys, pc_middleware; print(sorted({'fastapi', 'jinja2'} & set(sys.modules)))"
    imported = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
