"""The HTTP+WebSocket application: /health, and one mounted sub-application per
protocol (see site.py), in the order the gateways declare them.

The root document (/openapi.json, /docs) describes the test-control surface:
/health plus every documented sub-application's operations under its mount
(the admin API, the dashboard's state).  Kraken's own paths have their own
documents (/openapi/spot-rest.json, /openapi/futures-rest.json)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from . import admin, derivatives, market_admin
from .runtime import Runtime
from .site import Site

TITLE = "kraken-sim"
DESCRIPTION = (
    "A faithful simulator of the Kraken exchange. Kraken's own paths are served as Kraken serves them; "
    "/admin is the test-control API."
)
VERSION = "0.1.0"


def build_site(rt: Runtime) -> Site:
    site = Site(rt, admin.build(rt))
    derivatives.install(site, rt)
    for gw in rt.gateways:
        inst = getattr(gw, "install", None)
        if inst is not None:
            inst(site, rt)
    market_admin.install(site, rt)  # last: the dashboard's `/` and static files
    site.mount("/admin", site.admin, documented=True)
    return site


def build_app(rt: Runtime) -> FastAPI:
    site = build_site(rt)
    app = FastAPI(title=TITLE, description=DESCRIPTION, version=VERSION, routes=site.routes)
    app.state.runtime = rt

    @app.get("/health", tags=["admin"], summary="Readiness probe")
    def health() -> dict[str, Any]:
        return {"status": "ok"}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, site)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _document(app: FastAPI, site: Site) -> dict[str, Any]:
    """The root app's own operations plus each documented sub-application's, prefixed by its mount."""
    doc = get_openapi(title=TITLE, version=VERSION, description=DESCRIPTION, routes=app.routes)
    paths: dict[str, Any] = doc.setdefault("paths", {})
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    for prefix, sub in site.documented:
        sub_doc = get_openapi(title=TITLE, version=VERSION, routes=sub.routes)
        for path, item in sub_doc.get("paths", {}).items():
            paths[prefix + path] = item
        schemas.update(sub_doc.get("components", {}).get("schemas", {}))
    if not schemas:
        doc["components"].pop("schemas")
    if not doc["components"]:
        doc.pop("components")
    return doc
