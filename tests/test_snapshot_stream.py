"""A snapshot's body is written part by part (issue 15.11: the body of a
venue at its retention bounds was built as one string, then as bytes, on
top of its records: ~70 MB more resident for every snapshot), byte for byte
what one `json.dumps` wrote, so every snapshot before it still loads."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

from simulator.core.commands import OrderRequest
from simulator.core.orders import Origin
from simulator.core.state import expand
from simulator.core.venue import Venue, VenueConfig
from simulator.server.persistence import decode_state, stream_state

T0 = 1_767_225_600_000_000_000


def encode_state(state: dict[str, Any]) -> bytes:
    """The body as the snapshots before the stream wrote it: one json.dumps."""
    return json.dumps({"venue": state}, separators=(",", ":"), check_circular=False, default=expand).encode()


def _venue() -> Venue:
    v = Venue(VenueConfig(seed=3, clock_mode="frozen", clock_start_ns=T0, rate_limits=False))
    maker, taker = (v.create_account({"USD": D(10**6), "XBT": D(100)}).account.id for _ in range(2))
    for i in range(300):
        v.clock.advance_ms(7)
        for acct, side, tif in ((maker, "sell", "GTC"), (taker, "buy", "IOC")):
            req = OrderRequest("XBTUSD", side, "limit", D("0.01"), D(50000 + i % 3), tif=tif)
            v.spot_seq.submit("add_order", Origin("rest", "s", acct), {"account_id": acct, "req": req})
    return v


def test_the_streamed_body_is_the_one_piece_body_in_parts() -> None:
    v = _venue()
    whole = encode_state(v.capture_state())
    parts: list[bytes] = []
    stream_state(v.capture_state(), parts.append)
    assert b"".join(parts) == whole
    assert len(parts) > 20 and max(map(len, parts)) < len(whole) / 3
    assert decode_state(b"".join(parts)) == decode_state(whole)
