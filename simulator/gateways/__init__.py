"""Protocol gateways: parse, authenticate, call the core, format.

Each module may define `prepare(rt)` (run at every build/reset: its own
per-venue state), `install(site, rt)` (its sub-application, WebSocket
endpoints and admin routes on the HTTP site, see simulator/server/site.py) and
`async start(rt)` / `async stop(rt)` (own listeners, e.g. FIX).
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType

GATEWAY_MODULES = (
    "simulator.gateways.spot_rest",
    "simulator.gateways.spot_ws",
    "simulator.gateways.futures_rest",
    "simulator.gateways.futures_ws",
    "simulator.gateways.fix.gateway",
)


def load_gateways() -> list[ModuleType]:
    """Import the gateways that exist in this build, in order."""
    mods = []
    for name in GATEWAY_MODULES:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise
            logging.getLogger("kraken_sim").debug("gateway %s not present", name)
    return mods
