"""The HTTP+WebSocket application: /health, /admin, and every gateway."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from . import admin, derivatives, market_admin
from .runtime import Runtime


def build_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="kraken-sim",
        description="A faithful simulator of the Kraken exchange. Kraken's own paths are served as Kraken serves them; "
        "/admin is the test-control API.",
        version="0.1.0",
    )
    app.state.runtime = rt

    @app.get("/health", tags=["admin"], summary="Readiness probe")
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    admin.install(app, rt)
    derivatives.install(app, rt)
    for gw in rt.gateways:
        inst = getattr(gw, "install", None)
        if inst is not None:
            inst(app, rt)
    market_admin.install(app, rt)  # last: the dashboard's `/` and static files
    return app
