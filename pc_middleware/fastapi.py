"""FastAPI integration: ``pip install 'pc-middleware[fastapi]'``.

``PersonalizationDep`` hands a route the request's ``Personalization``; tests replace it with
``app.dependency_overrides[get_personalization] = ...``.
"""

from __future__ import annotations

from typing import Annotated

try:
    from fastapi import Depends
except ImportError as exc:
    raise ImportError(
        "pc_middleware.fastapi needs FastAPI: install the extra with pip install 'pc-middleware[fastapi]'"
    ) from exc

from .personalization import Personalization, get_personalization

__all__ = ["PersonalizationDep"]

PersonalizationDep = Annotated[Personalization, Depends(get_personalization)]
