"""Non-sticky WS routing: with the load-balancer model on, back-to-back
messages on one connection can reach the engine in the other order —
reproducibly for a seed — and never with it off."""

from __future__ import annotations

from typing import Any

from .helpers import new_account, open_client, run

ADD = {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 50000.0, "symbol": "BTC/USD"}


def _pair_outcome(venue, seed: int | None) -> tuple[str, str, list[str]]:
    """add_order then cancel_order (by cl_ord_id) back to back; returns (add result, cancel result, journal order)."""
    if seed is None:
        venue.admin.faults(ws_reorder=False)
    else:
        venue.admin.faults(ws_reorder=True, seed=seed, ws_paths=4, ws_latency_ms=[0.0, 20.0])
    _, tok = new_account(venue)
    since = venue.admin.journal()[-1]["seq"]
    cl = f"c{seed}"

    async def go():
        c = await open_client(venue.spot_ws_auth)
        await c.send({"method": "add_order", "params": {**ADD, "cl_ord_id": cl, "token": tok}, "req_id": 1})
        await c.send({"method": "cancel_order", "params": {"cl_ord_id": [cl], "token": tok}, "req_id": 2})
        got: dict[str, Any] = {}
        while len(got) < 2:
            m = await c.recv()
            if m.get("method") in ("add_order", "cancel_order"):
                got[m["method"]] = m
        add, cancel = got["add_order"], got["cancel_order"]
        await c.ws.close()
        return add, cancel

    add, cancel = run(go())
    order = [e["command"] for e in venue.admin.journal(since) if e["protocol"] == "ws"]
    return ("ok" if add["success"] else add["error"]), ("ok" if cancel["success"] else cancel["error"]), order


def test_reorder_off_keeps_order(kraken_venue):
    for _ in range(5):
        add, cancel, order = _pair_outcome(kraken_venue, None)
        assert (add, cancel, order) == ("ok", "ok", ["add_order", "cancel_order"])


def test_reorder_on_cancel_overtakes_add_reproducibly(kraken_venue):
    outcomes = {}
    for seed in range(1, 40):
        outcomes[seed] = _pair_outcome(kraken_venue, seed)
        if outcomes[seed][2] == ["cancel_order", "add_order"]:
            break
    seed = next(s for s, o in outcomes.items() if o[2] == ["cancel_order", "add_order"])
    add, cancel, _ = outcomes[seed]
    assert add == "ok" and cancel == "EOrder:Unknown order"  # the cancel failed, the order rests
    acct_orders = kraken_venue.runtime.venue.spot.cl_ids
    assert any(k[1] == f"c{seed}" for k in acct_orders)
    # the same seed gives the same engine order again
    assert _pair_outcome(kraken_venue, seed)[2] == ["cancel_order", "add_order"]
    # and a seed that kept the order keeps it again
    kept = [s for s, o in outcomes.items() if o[2] == ["add_order", "cancel_order"]]
    if kept:
        assert _pair_outcome(kraken_venue, kept[0])[2] == ["add_order", "cancel_order"]
