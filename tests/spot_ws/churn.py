"""Random book activity driven on the venue thread (adds, cancels, crossing orders, amends)."""

from __future__ import annotations

import random
from decimal import Decimal

from simulator.core.commands import AmendRequest, OrderRequest
from simulator.core.errors import EngineError
from simulator.core.orders import Origin
from simulator.pytest_plugin import KrakenVenue

ORIGIN = Origin("admin", "churn")


def churn(
    venue: KrakenVenue, accounts: list[str], steps: int, seed: int, pair: str = "BTC/USD", mid: int = 914150
) -> int:
    """`steps` random commands; returns how many the engine accepted.  Prices in 0.1 ticks around `mid`."""
    rng = random.Random(seed)
    rt = venue.runtime

    def work() -> int:
        seq = rt.venue.spot_seq
        eng = rt.venue.spot
        ok = 0
        for _ in range(steps):
            acct = rng.choice(accounts)
            r = rng.random()
            try:
                opened = [o for o in eng.open_orders.get(acct, {}).values() if o.pair.symbol == pair]
                if r < 0.45 or not opened:
                    side = rng.choice(("buy", "sell"))
                    off = rng.randint(-30, 60)
                    units = mid - off if side == "buy" else mid + off
                    qty = Decimal(rng.randint(1, 40)) / 100 + Decimal(rng.randint(0, 999)) / 10**8
                    kind = rng.random()
                    req = OrderRequest(pair, side, "limit", qty, Decimal(units) / 10)
                    if kind < 0.1:
                        req.ordertype = "iceberg"
                        req.display_qty = (qty / 4).quantize(Decimal("0.00000001"))
                    elif kind < 0.15:
                        req.tif = "IOC"
                    seq.submit("add_order", ORIGIN, {"account_id": acct, "req": req})
                elif r < 0.8:
                    o = rng.choice(opened)
                    seq.submit("cancel_order", ORIGIN, {"account_id": acct, "order_id": o.id})
                else:
                    o = rng.choice(opened)
                    amend = AmendRequest(order_id=o.id)
                    if rng.random() < 0.5:
                        amend.qty = Decimal(o.filled + rng.randint(1, 3000000)) / 10**8
                    else:
                        off = rng.randint(-5, 5)
                        amend.limit_price = Decimal((o.price or mid) + off) / 10
                    seq.submit("amend_order", ORIGIN, {"account_id": acct, "req": amend})
                ok += 1
            except EngineError:
                pass
        return ok

    return int(venue.call(work))


def churn_accounts(venue: KrakenVenue, n: int = 3) -> list[str]:
    """Well-funded accounts with the trading rate limit switched off (they trade a lot)."""
    out = []
    for _ in range(n):
        aid = venue.admin.create_account({"USD": "100000000", "XBT": "10000"})["account_id"]
        venue.admin.request("POST", f"/accounts/{aid}/tier", {"rate_limits": False})
        out.append(aid)
    return out
