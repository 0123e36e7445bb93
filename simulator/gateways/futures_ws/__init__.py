"""Derivatives WebSocket v1 gateway: `futures_ws` (/ws/v1) plays
wss://futures.kraken.com/ws/v1 (over wss too when the server has a TLS port).

See hub.py for connections, challenge authentication and the feeds."""

from __future__ import annotations

from starlette.websockets import WebSocket

from simulator.server.runtime import Runtime
from simulator.server.site import Site

from .hub import FuturesConn, Hub, HubConfig

__all__ = ["FuturesConn", "Hub", "HubConfig", "install", "prepare", "start", "stop"]


def hub(rt: Runtime) -> Hub:
    """The runtime's hub (made by `prepare`)."""
    h = rt.services.futures_ws
    assert h is not None, "futures_ws.prepare(rt) has not run"
    return h


def prepare(rt: Runtime) -> None:
    """Every build/reset: the hub (and its bus subscription) exists once."""
    if rt.services.futures_ws is None:
        h = rt.services.futures_ws = Hub(rt)
        rt.bus.subscribe(h.on_entry)
        rt.services.on_reset.append(h.on_reset)


def install(site: Site, rt: Runtime) -> None:
    the_hub = hub(rt)

    async def futures_ws(websocket: WebSocket) -> None:
        await FuturesConn(the_hub, websocket).serve()

    site.websocket("/ws/v1", futures_ws)


async def start(rt: Runtime) -> None:
    hub(rt).bind_loop()


async def stop(rt: Runtime) -> None:
    h = hub(rt)
    for c in list(h.conns):
        await c.drop(1001, "shutting down")
    if h._task is not None:
        h._task.cancel()
