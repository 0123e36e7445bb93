"""Session profiles: which CompIDs are served, how logons authenticate, reset rules.

The same session layer serves the Kraken-faithful profile (four CompIDs,
553/554/5025 on trading sessions) and a plain FIX 4.4 profile for stock
initiators (fixed CompIDs, no credentials, reset on logon).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any, Literal

from simulator.gateways.fix.codec import DEFAULT_LIMITS, Limits

Market = Literal["spot", "derivatives"]
ServiceKind = Literal["trading", "market_data"]


@dataclass(frozen=True)
class ServiceSpec:
    """One logical FIX service, selected by the TargetCompID (56) a client sends."""

    venue_comp_id: str
    market: Market = "spot"
    kind: ServiceKind = "trading"
    require_signature: bool = False  # Kraken 553/554/5025 (trading sessions)


@dataclass(frozen=True)
class FixProfile:
    """Everything configurable about how sessions behave on one acceptor."""

    name: str
    services: tuple[ServiceSpec, ...]
    # Client SenderCompIDs accepted; None lets the application decide in authenticate().
    client_comp_ids: frozenset[str] | None = None
    begin_string: str = "FIX.4.4"
    # Reset both seqnums on every Logon, as QuickFIX's ResetOnLogon=Y.
    reset_on_logon: bool = False
    # Whether a graceful Logout (not only an abnormal drop) fires cancel-on-disconnect.
    # Kraken leaves this open (fix.md §7.2); cancelling on any disconnect is the safe reading.
    cod_on_logout: bool = True
    nonce_window_ms: int = 5000
    # Daily session reset (venue clock, UTC); None disables it.
    daily_reset_utc: time | None = time(22, 0)
    # Logons refused for this long after the daily reset (Kraken rollover ~30 s).
    rollover_blackout_s: float = 0.0
    # SendingTime accuracy (373=10): |SendingTime - venue clock| must stay within this many
    # seconds (QuickFIX's MaxLatency, 120 by default); None turns the check off. Measured
    # against the venue clock: with a frozen or shifted clock, wall-clock clients fall out
    # of the window (README "SendingTime accuracy").
    max_latency_s: float | None = 120.0
    logon_timeout_s: float = 10.0
    logout_timeout_s: float = 2.0
    max_heartbeat_s: int = 3600
    max_queued_messages: int = 10_000
    max_outbound_buffer_bytes: int = 16 * 1024 * 1024
    limits: Limits = field(default=DEFAULT_LIMITS)

    def service_for(self, venue_comp_id: str) -> ServiceSpec | None:
        for svc in self.services:
            if svc.venue_comp_id == venue_comp_id:
                return svc
        return None


def kraken_profile(*, sign_market_data: bool = False, **overrides: Any) -> FixProfile:
    """Kraken Unified FIX: Spot and Derivatives, trading (signed) and market data.

    Kraken guards market-data logons by SenderCompID plus an IP allow-list;
    `sign_market_data` asks for 553/554/5025 there too, for an acceptor that has
    no allow-list to tell an account's CompID from someone squatting it.
    """
    services = (
        ServiceSpec("KRAKEN-TRD", "spot", "trading", require_signature=True),
        ServiceSpec("KRAKEN-MD", "spot", "market_data", require_signature=sign_market_data),
        ServiceSpec("KRAKEN-DRV-TRD", "derivatives", "trading", require_signature=True),
        ServiceSpec("KRAKEN-DRV-MD", "derivatives", "market_data", require_signature=sign_market_data),
    )
    return FixProfile(name="kraken", services=services, **overrides)


def plain_profile(
    venue_comp_id: str = "KRAKEN-TRD",
    client_comp_ids: frozenset[str] | set[str] | tuple[str, ...] | None = None,
    *,
    market: Market = "spot",
    kind: ServiceKind = "trading",
    reset_on_logon: bool = True,
    **overrides: Any,
) -> FixProfile:
    """Plain FIX 4.4 for stock initiators: fixed CompIDs, no credentials."""
    return FixProfile(
        name="plain",
        services=(ServiceSpec(venue_comp_id, market, kind),),
        client_comp_ids=frozenset(client_comp_ids) if client_comp_ids is not None else None,
        reset_on_logon=reset_on_logon,
        **overrides,
    )
