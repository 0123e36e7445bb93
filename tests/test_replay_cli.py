"""`kraken-sim replay FILE` rebuilds a run with the core alone: every market
(Spot with its funding state, Derivatives) is the venue's own, so the replay
loads no server and no gateway code, and still reaches the same digest."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from simulator.core.commands import FuturesOrderRequest, OrderRequest
from simulator.core.orders import Origin
from simulator.pytest_plugin import KrakenVenue

PROBE = """
import json, sys
from simulator.cli import main
code = main(["replay", sys.argv[1]])
loaded = sorted(m for m in sys.modules if m.startswith(("simulator.gateways", "simulator.server", "fastapi", "uvicorn")))
print(json.dumps({"code": code, "loaded": loaded}))
"""


def _activity(v: KrakenVenue) -> None:
    """Commands on both markets and on funding, each through its sequencer."""
    rt = v.runtime
    acct = v.admin.create_account({"USD": "100000", "XBT": "2"}, futures_balances={"USD": "50000"})["account_id"]
    origin = Origin("test", "replay", acct)

    def run() -> None:
        venue = rt.venue
        req = OrderRequest("XXBTZUSD", "buy", "market", Decimal("0.01"))
        venue.spot_seq.submit("add_order", origin, {"account_id": acct, "req": req})
        venue.spot_seq.submit("funding_new_address", origin, {"account_id": acct, "asset_name": "XBT", "method": None})
        fut = FuturesOrderRequest("PF_XBTUSD", "buy", "mkt", Decimal("0.01"))
        res = venue.derivatives_seq.submit("send_order", origin, {"account_id": acct, "req": fut})
        assert res.status == "placed", res.status

    v.call(run)


def test_replay_needs_neither_server_nor_gateways(kraken_venue: KrakenVenue, tmp_path: Path) -> None:
    _activity(kraken_venue)
    rt = kraken_venue.runtime
    digest: str = kraken_venue.call(rt.venue.state_digest)
    kinds = {(e["engine"], e["command"]) for e in kraken_venue.admin.journal(events=False)}
    assert {("spot", "add_order"), ("spot", "funding_new_address"), ("futures", "send_order")} <= kinds
    path = tmp_path / "journal.jsonl"
    path.write_text(kraken_venue.call(lambda: "".join(
        json.dumps(e.to_json(with_events=False)) + "\n" for e in rt.venue.journal.entries
    )))
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, timeout=120, check=True
    )
    lines = out.stdout.strip().splitlines()
    replay: dict[str, Any] = json.loads(lines[0])
    probe: dict[str, Any] = json.loads(lines[1])
    assert probe == {"code": 0, "loaded": []}
    assert replay["replayed"] == len(rt.venue.journal.entries)
    assert replay["digest"] == digest
