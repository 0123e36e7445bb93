"""Spot REST gateway: Kraken's https://api.kraken.com (`/0/public/*`, `/0/private/*`).

Modules: `routes` (HTTP edge and request pipeline), `auth` (API-Sign, nonce,
otp, permissions), `params` (form/JSON bodies, typed parameters), `public`,
`account`, `trading`, `funding` (the endpoints), `formatting` (Kraken's
shapes and number strings), `market` (ticker/OHLC/trades/spread from venue
state), `registry` (the method table).

`prepare(rt)` runs at every build/reset: funding state and its commands on
the spot sequencer, the Spread recorder on the event bus, and the WS token
store the WS gateway reads from `rt.hooks["ws_tokens"]`.
"""

from __future__ import annotations

from typing import Any

from simulator.core.funding import FundingConfig, FundingState
from simulator.core.ids import IdGenerator
from simulator.core.orders import Origin
from simulator.server.tokens import WsTokenStore

# the endpoint modules register their methods on import
from . import account, funding, public, trading  # noqa: F401
from .market import SpreadRecorder
from .registry import PRIVATE, PUBLIC, RestConfig
from .routes import install as _install

__all__ = ["PRIVATE", "PUBLIC", "RestConfig", "install", "prepare"]


def prepare(rt: Any) -> None:
    """Per-venue state of this gateway; the venue is fresh after a reset."""
    venue = rt.venue
    hooks = rt.hooks
    hooks.setdefault("spot_rest_config", RestConfig())
    if "ws_tokens" not in hooks:
        hooks["ws_tokens"] = WsTokenStore(venue.clock, IdGenerator(rt.settings.seed + 0x7070))
    else:  # a reset: account ids are handed out again, so no old token may open the new accounts
        hooks["ws_tokens"].tokens.clear()

    def create_account(engine: Any, origin: Origin, parent_id: str, tier: str) -> Any:
        return venue._create_account_cmd(engine, origin, None, tier, parent_id).account

    config: FundingConfig = hooks.setdefault("spot_funding_config", FundingConfig())
    state = FundingState(venue.spot, config, create_account)
    venue.extensions["spot_funding"] = state
    for kind, handler in state.handlers().items():
        venue.spot_seq.register(kind, handler)

    venue.extensions["spot_rest_spread"] = SpreadRecorder(venue.spot)
    if not hooks.get("spot_rest_bus"):
        hooks["spot_rest_bus"] = True

        def on_entry(entry: Any) -> None:
            rec = rt.venue.extensions.get("spot_rest_spread")
            if rec is not None:
                rec.on_entry(entry)

        rt.bus.subscribe(on_entry)


def install(site: Any, rt: Any) -> None:
    """Routes for `/0/public/{method}` and `/0/private/{method}`."""
    _install(site, rt)
