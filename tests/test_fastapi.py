"""In FastAPI the object is a dependency: ``Annotated[Personalization, Depends(get_personalization)]``."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI

from pc_middleware import Personalization, PureClarityMiddleware, get_personalization

from .conftest import browser, make_settings
from .fake_api import FakePureClarity

pytestmark = pytest.mark.anyio

PersonalizationDep = Annotated[Personalization, Depends(get_personalization)]


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


async def test_the_dependency_hands_the_handler_its_request_object(fake: FakePureClarity) -> None:
    async with browser(make_app(fake)) as client:
        response = await client.get("/product/P7")

    assert response.json() == {"zones": ["PP-01"]}
    assert fake.bodies[0]["events"] == [{"name": "product_view", "data": {"id": "P7"}}]


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
