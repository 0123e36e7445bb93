"""What a snapshot costs the event loop as history grows.

    python -m benchmarks.snapshot [--n 57000]

A venue (no listeners) takes a steady mix of commands: Spot limit orders
that rest, cross and are cancelled (at most 300 resting), derivatives
orders, deposits.  At n/4 and at n commands it is snapshotted the way a
running server does: the records taken with the sequencers held (the
event loop's share) and the encoding and writing on the writer thread.
Target: the loop's share does not grow with history (it is bounded by the
live state: open orders, books, balances, counters)."""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from decimal import Decimal
from typing import Any

from simulator.core.commands import OrderRequest
from simulator.core.errors import EngineError
from simulator.core.orders import Origin
from simulator.server.gcpolicy import tune_for_server
from simulator.server.persistence import capture, write_snapshot
from simulator.server.runtime import Settings
from simulator.server.server import VenueServer

REST = Origin("rest", "bench")
RESTING_MAX = 300


class Workload:
    def __init__(self, state_dir: str, seed: int = 5) -> None:
        self.vs = VenueServer(Settings(port=0, fix_port=0, seed=seed, state_dir=state_dir, snapshot_every=0))
        v = self.venue = self.vs.rt.venue
        self.rng = random.Random(seed)
        self.accounts = [
            v.create_account({"ZUSD": Decimal("100000000"), "XXBT": Decimal("1000")}, rate_limits=False).account.id
            for _ in range(6)
        ]
        for a in self.accounts:
            v.deposit_derivatives(a, "USD", Decimal("10000000"))
        self.resting: list[tuple[str, str]] = []
        self.fresting: list[tuple[str, str]] = []

    def run_to(self, n: int) -> None:
        v, rng = self.venue, self.rng
        while v.journal._seq < n:
            a = rng.choice(self.accounts)
            r = rng.random()
            try:
                if r < 0.55:
                    side = rng.choice(["buy", "sell"])
                    off = rng.randint(-20, 60)
                    px = Decimal(70000) + (-off if side == "buy" else off) * 5
                    req = OrderRequest("XBTUSD", side, "limit", Decimal("0.01") * rng.randint(1, 5), price=px)
                    res = v.spot_seq.submit("add_order", REST, {"account_id": a, "req": req})
                    if res.order is not None and res.order.is_open:
                        self.resting.append((a, res.order.id))
                    if len(self.resting) > RESTING_MAX:
                        self._cancel_spot(self.resting.pop(0))
                elif r < 0.8 and self.resting:
                    self._cancel_spot(self.resting.pop(rng.randrange(len(self.resting))))
                elif r < 0.95:
                    self._futures(a)
                else:
                    v.spot_seq.submit("adjust_balance", Origin("admin"),
                                      {"account_id": a, "asset": "ZUSD", "amount": Decimal(rng.randint(1, 100))})
            except EngineError:
                pass

    def _cancel_spot(self, which: tuple[str, str]) -> None:
        try:
            self.venue.spot_seq.submit("cancel_order", REST, {"account_id": which[0], "order_id": which[1]})
        except EngineError:
            pass  # it filled meanwhile

    def _futures(self, a: str) -> None:
        v, rng = self.venue, self.rng
        side = rng.choice(["buy", "sell"])
        off = rng.randint(-10, 40)
        px = Decimal(90000) + (-off if side == "buy" else off) * 5
        req: dict[str, Any] = {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": side,
                               "size": Decimal("0.001") * rng.randint(1, 5), "limitPrice": px, "reduceOnly": False}
        res = v.derivatives_seq.submit("send_order", REST, {"account_id": a, "req": req})
        if res.order_id and res.status == "placed":
            self.fresting.append((a, res.order_id))
        if len(self.fresting) > RESTING_MAX:
            a2, oid = self.fresting.pop(0)
            v.derivatives_seq.submit("cancel_order", REST, {"account_id": a2, "order_id": oid})

    def snapshot(self) -> tuple[float, float, int]:
        """(ms on the loop, ms on the writer thread, bytes)."""
        rt = self.vs.rt
        store = rt.services.journal_file
        assert store is not None
        store.open()
        t0 = time.perf_counter()
        seq, state = capture(rt)
        t1 = time.perf_counter()
        path = write_snapshot(store.dir, seq, store.offset, store.path, rt.venue.config.seed, state)
        t2 = time.perf_counter()
        return (t1 - t0) * 1e3, (t2 - t1) * 1e3, path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=57000, help="commands at the last measurement")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    tune_for_server()  # the collector settings `kraken-sim serve` runs with
    with tempfile.TemporaryDirectory() as d:
        w = Workload(d)
        rows = []
        for n in (args.n // 4, args.n):
            w.run_to(n)
            runs = [w.snapshot() for _ in range(args.repeat)]
            loop = statistics.median(r[0] for r in runs)
            thread = statistics.median(r[1] for r in runs)
            size = runs[-1][2]
            spot = w.venue.spot
            rows.append((n, loop, thread, size, len(spot.orders), sum(len(x) for x in spot.open_orders.values())))
    print(f"{'commands':>9} {'on the loop ms':>15} {'writer thread ms':>17} {'MB':>6} {'orders':>7} {'open':>5}")
    for n, loop, thread, size, orders, live in rows:
        print(f"{n:>9} {loop:>15.1f} {thread:>17.0f} {size / 1e6:>6.1f} {orders:>7} {live:>5}")
    growth = rows[-1][1] / rows[0][1] if rows[0][1] else 0.0
    print(f"loop share at {rows[-1][0]} vs {rows[0][0]} commands: x{growth:.2f} (history x{rows[-1][4] / rows[0][4]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
