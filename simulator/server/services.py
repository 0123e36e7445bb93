"""What the runtime's parts publish to each other, as one typed object.

Every field is named and typed, so mypy checks each use (there are no string
keys to misspell or leave dead).  Objects here live as long as the runtime:
they survive venue resets (`on_reset` tells them); per-venue state lives on
the venue.  A gateway's own object (its hub, its config) is None until that
gateway's `prepare(rt)` first runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.core.venue import AccountCredentials

from .inflight import Inflight
from .tokens import WsTokenStore

if TYPE_CHECKING:
    from simulator.dashboard.feed import DashboardFeed
    from simulator.gateways.fix.gateway import FixGateway
    from simulator.gateways.futures_rest import FuturesRestConfig
    from simulator.gateways.futures_ws.hub import Hub as FuturesWsHub
    from simulator.gateways.spot_rest.registry import RestConfig
    from simulator.gateways.spot_ws.hub import Hub as SpotWsHub

    from .market import MarketManager
    from .persistence import JournalFile


@dataclass
class Services:
    ws_tokens: WsTokenStore  # minted by Spot REST GetWebSocketsToken, checked by Spot WS
    market: MarketManager  # living markets and market-data replays
    dashboard: DashboardFeed
    inflight: Inflight = field(default_factory=Inflight)  # requests on the loop: the WS fan-out gives way
    on_reset: list[Callable[[], None]] = field(default_factory=list)  # before the venue is rebuilt
    # seeding: who owns the seeded books, and the scenario's named accounts
    market_maker: AccountCredentials | None = None
    named_accounts: dict[str, AccountCredentials] = field(default_factory=dict)
    # persistence (with a state directory)
    journal_file: JournalFile | None = None
    restore_report: dict[str, Any] | None = None  # what the last start restored (snapshot, replayed)
    # gateways (set by their prepare)
    spot_rest_config: RestConfig | None = None
    spot_rest_asset_raw: dict[str, dict[str, Any]] | None = None  # instrument data per asset id (cache)
    futures_rest_config: FuturesRestConfig | None = None
    spot_ws: SpotWsHub | None = None
    futures_ws: FuturesWsHub | None = None
    fix: FixGateway | None = None
