"""Derivatives WebSocket v1 gateway: `futures_ws` (/ws/v1) plays
wss://futures.kraken.com/ws/v1 (over wss too when the server has a TLS port).

See hub.py for connections, challenge authentication and the feeds."""

from __future__ import annotations

from starlette.websockets import WebSocket

from simulator.gateways.ws_common import attach
from simulator.server.runtime import Runtime
from simulator.server.site import Site

from .hub import FuturesConn, Hub, HubConfig

__all__ = ["FuturesConn", "Hub", "HubConfig", "install", "prepare", "start", "stop"]


def hub(rt: Runtime) -> Hub:
    """The runtime's hub, made once: it outlives venue resets (`prepare` runs at each)."""
    if rt.services.futures_ws is None:
        rt.services.futures_ws = attach(rt, Hub(rt))
    return rt.services.futures_ws


prepare = hub


def install(site: Site, rt: Runtime) -> None:
    the_hub = hub(rt)

    async def futures_ws(websocket: WebSocket) -> None:
        await FuturesConn(the_hub, websocket).serve()

    site.websocket("/ws/v1", futures_ws)


async def start(rt: Runtime) -> None:
    hub(rt).bind_loop()


async def stop(rt: Runtime) -> None:
    await hub(rt).shutdown()
