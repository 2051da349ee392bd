"""Clinician review pages (issue #14): the recommendation page and the model card.

`ui_routes()` gives the Starlette routes (serving/http/routes.py adds them to ROUTES); the rest
of the package is imported lazily so `serving.audit` can import `serving.ui.store` cheaply.
"""

from __future__ import annotations

from typing import Any


def ui_routes() -> list[Any]:
    """Routes of the review pages (`GET /ui/recommendations/{id}`, `GET /ui/model-card`)."""
    from serving.ui.routes import routes

    return routes()
