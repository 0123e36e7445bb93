"""Derivatives WebSocket v1 gateway: `futures_ws` (/ws/v1) plays
wss://futures.kraken.com/ws/v1 (over wss too when the server has a TLS port).

See hub.py for connections, challenge authentication and the feeds."""

from __future__ import annotations

from starlette.websockets import WebSocket

from simulator.server.runtime import Runtime
from simulator.server.site import Site

from .hub import FuturesConn, Hub, HubConfig

__all__ = ["FuturesConn", "Hub", "HubConfig", "install", "prepare", "start", "stop"]


def prepare(rt: Runtime) -> None:
    """Every build/reset: the hub (and its bus subscription) exists once."""
    hub: Hub | None = rt.hooks.get("futures_ws")
    if hub is None:
        hub = Hub(rt)
        rt.hooks["futures_ws"] = hub
        rt.bus.subscribe(hub.on_entry)
        rt.hooks.setdefault("on_reset", []).append(hub.on_reset)


def install(site: Site, rt: Runtime) -> None:
    hub: Hub = rt.hooks["futures_ws"]

    async def futures_ws(websocket: WebSocket) -> None:
        await FuturesConn(hub, websocket).serve()

    site.websocket("/ws/v1", futures_ws)


async def start(rt: Runtime) -> None:
    rt.hooks["futures_ws"].bind_loop()


async def stop(rt: Runtime) -> None:
    hub: Hub = rt.hooks["futures_ws"]
    for c in list(hub.conns):
        await c.drop(1001, "shutting down")
    if hub._task is not None:
        hub._task.cancel()
