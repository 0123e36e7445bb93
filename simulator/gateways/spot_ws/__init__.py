"""Spot WebSocket v2 gateway: `spot_ws` (/v2), `spot_ws_auth` (/auth/v2) and
`spot_ws_l3` (/l3/v2) on the shared FastAPI app.

See hub.py for the engine feed, connection.py for one socket, methods.py for
trading, subscriptions.py for channels and router.py for the non-sticky
load-balancer model."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket

from simulator.gateways.ws_common import attach
from simulator.server.runtime import Runtime
from simulator.server.site import Site

from .connection import WsConnection
from .hub import Hub, HubConfig

__all__ = ["Hub", "HubConfig", "WsConnection", "install", "prepare", "start", "stop"]


def hub(rt: Runtime) -> Hub:
    """The runtime's hub, made once: it outlives venue resets (`prepare` runs at each)."""
    if rt.services.spot_ws is None:
        rt.services.spot_ws = attach(rt, Hub(rt))
    return rt.services.spot_ws


prepare = hub


def install(site: Site, rt: Runtime) -> None:
    the_hub = hub(rt)

    def route(kind: str) -> Any:
        async def endpoint(websocket: WebSocket) -> None:
            await WsConnection(the_hub, websocket, kind).serve()

        endpoint.__name__ = f"spot_ws_{kind}"
        return endpoint

    site.websocket("/v2", route("public"))
    site.websocket("/auth/v2", route("auth"))
    site.websocket("/l3/v2", route("l3"))


async def start(rt: Runtime) -> None:
    hub(rt).bind_loop()


async def stop(rt: Runtime) -> None:
    await hub(rt).shutdown()
