"""Spot WebSocket v2 gateway: `spot_ws` (/v2), `spot_ws_auth` (/auth/v2) and
`spot_ws_l3` (/l3/v2) on the shared FastAPI app.

See hub.py for the engine feed, connection.py for one socket, methods.py for
trading, subscriptions.py for channels and router.py for the non-sticky
load-balancer model."""

from __future__ import annotations

from typing import Any

from starlette.websockets import WebSocket

from simulator.core.ids import IdGenerator
from simulator.server.runtime import Runtime
from simulator.server.site import Site
from simulator.server.tokens import WsTokenStore

from .connection import WsConnection
from .hub import Hub, HubConfig

__all__ = ["Hub", "HubConfig", "WsConnection", "install", "prepare", "start", "stop"]


def prepare(rt: Runtime) -> None:
    """Every build/reset: make sure the token store, hub and its feed exist once."""
    rt.hooks.setdefault("ws_tokens", WsTokenStore(rt.venue.clock, IdGenerator(rt.settings.seed ^ 0x70CE)))
    hub: Hub | None = rt.hooks.get("spot_ws")
    if hub is None:
        hub = Hub(rt)
        rt.hooks["spot_ws"] = hub
        rt.bus.subscribe(hub.on_entry)
        rt.hooks.setdefault("on_reset", []).append(hub.on_reset)


def install(site: Site, rt: Runtime) -> None:
    hub: Hub = rt.hooks["spot_ws"]

    def route(kind: str) -> Any:
        async def endpoint(websocket: WebSocket) -> None:
            await WsConnection(hub, websocket, kind).serve()

        endpoint.__name__ = f"spot_ws_{kind}"
        return endpoint

    site.websocket("/v2", route("public"))
    site.websocket("/auth/v2", route("auth"))
    site.websocket("/l3/v2", route("l3"))


async def start(rt: Runtime) -> None:
    rt.hooks["spot_ws"].bind_loop()


async def stop(rt: Runtime) -> None:
    hub: Hub = rt.hooks["spot_ws"]
    for c in list(hub.conns):
        await c.drop(1001, "shutting down")
    if hub._task is not None:
        hub._task.cancel()
