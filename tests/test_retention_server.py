"""Retention through a running venue (issue 15.11): Kraken's history
endpoints answer from what is retained, the admin view says what was cut,
and a restart from the state directory rebuilds the same state."""

from __future__ import annotations

from pathlib import Path

from simulator.pytest_plugin import start_venue
from simulator.scenario import parse_scenario
from tests.prove.kit import Rest

KEEP = 8


def test_history_is_bounded_and_a_restart_rebuilds_it(tmp_path: Path) -> None:
    scenario = parse_scenario({"retention": {"keep": KEEP, "trades_keep": KEEP}})
    state = str(tmp_path / "state")
    tv, v = start_venue(seed=2, scenario=scenario, state_dir=state)
    try:
        creds = v.demo_account
        rest = Rest(v)
        first = None
        for _ in range(40):  # market buys: each closes an order, fills and books two ledger entries
            res = rest.ok(creds, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": "0.001"})
            first = first or res["txid"][0]
        closed = rest.ok(creds, "ClosedOrders")
        assert KEEP <= closed["count"] <= KEEP + KEEP // 8 + 1
        assert first not in closed["closed"]
        assert len(rest.ok(creds, "TradesHistory")["trades"]) <= KEEP + KEEP // 8 + 1
        assert rest.error(creds, "QueryOrders", {"txid": first}).startswith("EOrder:")  # as if it never existed
        view = v.admin.request("GET", "/retention")
        assert view["policy"]["keep"] == KEEP
        for kind in ("closed", "fills", "ledger", "trades"):
            assert view[kind]["dropped"] > 0 and view[kind]["at_bound"] >= 1, (kind, view[kind])
        digest = v.admin.request("GET", "/state")["digest"]
    finally:
        tv.stop()
    tv2, v2 = start_venue(seed=2, scenario=scenario, state_dir=state)
    try:
        assert v2.admin.request("GET", "/state")["digest"] == digest
    finally:
        tv2.stop()


def test_history_pages_stay_right_across_retention_cuts() -> None:
    """The history indexes (O(page) reads) rebuild after retention cuts the front
    of a list: pages show exactly the newest retained rows, newest first."""
    from simulator.pytest_plugin import start_venue
    from simulator.scenario import Scenario
    from tests.spot_rest.helpers import Raw

    tv, venue = start_venue(scenario=Scenario(retention={"keep": 16}))
    try:
        creds = venue.admin.create_account({"USD": "1000000", "XBT": "10"})
        venue.admin.request("POST", f"/accounts/{creds['account_id']}/tier", {"rate_limits": False})
        raw = Raw(venue, creds)
        seen: list[str] = []
        for i in range(60):
            oid = raw.ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": str(1000 + i),
                                      "volume": "0.01"})["txid"][0]  # fmt: skip
            raw.ok("CancelOrder", {"txid": oid})
            seen.append(oid)
            if i % 7 == 0:  # reads between cuts build the indexes the next cut must invalidate
                closed = raw.ok("ClosedOrders")
                assert list(closed["closed"])[0] == oid and closed["count"] <= 16 + 16 // 8
        closed = raw.ok("ClosedOrders")
        kept = list(closed["closed"])
        assert kept == list(reversed(seen))[: len(kept)] and 16 <= len(kept) <= 18
        assert closed["count"] == len(kept)
        page2 = raw.ok("ClosedOrders", {"ofs": "10"})
        assert list(page2["closed"]) == kept[10:]
    finally:
        tv.stop()
