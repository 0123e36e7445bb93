"""Spot REST gateway: Kraken's https://api.kraken.com (`/0/public/*`, `/0/private/*`).

Modules: `routes` (HTTP edge and request pipeline), `auth` (API-Sign, nonce,
otp, permissions), `params` (form/JSON bodies, typed parameters), `public`,
`account`, `trading`, `funding` (the endpoints), `formatting` (Kraken's
shapes and number strings), `market` (ticker/OHLC/trades/spread from venue
state), `registry` (the method table).

`prepare(rt)` runs at every build/reset: the Spread recorder on the fresh
spot sequencer.  Funding state is the venue's (`venue.funding`); the WS
token store is the runtime's (`rt.services.ws_tokens`).
"""

from __future__ import annotations

from typing import Any

from simulator.server.runtime import Runtime

# the endpoint modules register their methods on import
from . import account, exports, funding, public, trading  # noqa: F401
from .market import SpreadRecorder
from .registry import PRIVATE, PUBLIC, RestConfig
from .routes import install as _install

__all__ = ["PRIVATE", "PUBLIC", "RestConfig", "install", "prepare"]


def prepare(rt: Runtime) -> None:
    """Per-venue state of this gateway (the venue is fresh after a reset): the
    Spread recorder, fed by the fresh spot sequencer."""
    if rt.services.spot_rest_config is None:
        rt.services.spot_rest_config = RestConfig()
    venue = rt.venue
    rec = SpreadRecorder(venue.spot)
    venue.extensions["spot_rest_spread"] = rec
    venue.spot_seq.subscribe(rec.on_entry)


def install(site: Any, rt: Any) -> None:
    """Routes for `/0/public/{method}` and `/0/private/{method}`."""
    _install(site, rt)
