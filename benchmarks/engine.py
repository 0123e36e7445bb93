"""Engine benchmark: one seeded workload through kraken-sim's engine and, in
the same run, through pyorderbook and lightmatchingengine.

    python -m benchmarks.engine [--ops 200000] [--seed 1] [--memory-orders 1000000]

Our engine runs through its public path (the sequencer: journal on, events,
holds, fees and balance ledgers on).  Every contender runs twice: under the
collector thresholds `kraken-sim serve` applies (the headline) and under
CPython's defaults.  Prints ops/s and the ratio to each peer,
checks our fills against the brute-force reference on a smaller run, and
measures peak memory with 1M resting orders in a subprocess.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import time
from decimal import Decimal

from benchmarks import peers, reference
from benchmarks.workload import generate, workload_stats
from simulator.core.commands import OrderRequest
from simulator.core.orders import Origin
from simulator.core.venue import Venue, VenueConfig
from simulator.server.gcpolicy import SERVER_THRESHOLDS

Fill = tuple[int, int, int, int]
PAIR = "XBTUSD"  # tick 0.1 -> a price tick is one price unit; lots are 1e-8


def _venue() -> tuple[Venue, str, str]:
    v = Venue(VenueConfig(seed=1, clock_mode="frozen", clock_start_ns=1_767_225_600_000_000_000, rate_limits=False))
    big = {"XBT": Decimal("100000000"), "USD": Decimal("100000000000000")}
    buyer = v.create_account(big).account.id
    seller = v.create_account(big).account.id
    return v, buyer, seller


def _prepare(ops: list[tuple], buyer: str, seller: str) -> list[tuple]:
    """Build the request objects outside the timed loop (as for the peers)."""
    out = []
    for op in ops:
        if op[0] == "add":
            _, oid, side, price, qty = op
            acct = buyer if side == "buy" else seller
            req = OrderRequest(PAIR, side, "limit", Decimal(qty).scaleb(-8), Decimal(price).scaleb(-1))
            out.append(("add", oid, acct, {"account_id": acct, "req": req}, Origin("bench", "", acct)))
        else:
            out.append(("cancel", op[1]))
    return out


def run_kraken_sim(ops: list[tuple]) -> tuple[float, int, list[Fill]]:
    v, buyer, seller = _venue()
    prepared = _prepare(ops, buyer, seller)
    submit = v.spot_seq.submit
    ids: dict[int, tuple[str, str]] = {}
    gc.collect()
    t0 = time.perf_counter()
    for op in prepared:
        if op[0] == "add":
            res = submit("add_order", op[4], op[3])
            ids[op[1]] = (res.order.id, op[2])
        else:
            oid, acct = ids[op[1]]
            submit("cancel_order", Origin("bench", "", acct), {"account_id": acct, "order_id": oid})
    elapsed = time.perf_counter() - t0
    back = {kid: oid for oid, (kid, _) in ids.items()}
    fills = [(back[t.taker_order_id], back[t.maker_order_id], t.price, t.qty) for t in v.spot.trades["XXBTZUSD"]]
    return elapsed, len(fills), fills


def memory_child(n: int, journal: bool) -> None:
    """Rest `n` non-crossing orders; print peak RSS (run in a fresh process)."""
    import resource

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    v, buyer, seller = _venue()
    if not journal:
        v.journal.max_entries = 0
    submit = v.spot_seq.submit
    o_b, o_s = Origin("bench", "", buyer), Origin("bench", "", seller)
    for i in range(n):
        side = i & 1
        level = (i >> 1) % 2000
        if side:
            req = OrderRequest(PAIR, "sell", "limit", Decimal("0.01"), Decimal(700000 + level).scaleb(-1))
            submit("add_order", o_s, {"account_id": seller, "req": req})
        else:
            req = OrderRequest(PAIR, "buy", "limit", Decimal("0.01"), Decimal(500000 - level).scaleb(-1))
            submit("add_order", o_b, {"account_id": buyer, "req": req})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    resting = sum(len(list(b.orders())) for b in v.spot.books.values())
    print(json.dumps({"peak_kib": peak, "base_kib": base, "resting": resting}))


def measure_memory(n: int, journal: bool) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.engine", "--memory-child", str(n)] + ([] if journal else ["--no-journal"]),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--check-ops", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--memory-orders", type=int, default=1_000_000)
    ap.add_argument("--memory-child", type=int, default=None)
    ap.add_argument("--no-journal", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line too")
    a = ap.parse_args()
    if a.memory_child is not None:
        memory_child(a.memory_child, not a.no_journal)
        return 0

    # correctness first: our fills == the brute-force reference's
    small = generate(a.check_ops, a.seed)
    want = reference.run(small)
    _, _, got = run_kraken_sim(small)
    same = got == want
    print(f"fills vs brute-force reference on {a.check_ops:,} ops: {'IDENTICAL' if same else 'DIFFERENT'} ({len(got):,} fills)")

    ops = generate(a.ops, a.seed)
    print(workload_stats(ops))
    contenders = (
        ("kraken-sim", lambda o: run_kraken_sim(o)[:2]),
        ("pyorderbook", peers.run_pyorderbook),
        ("pyorderbook+orders", lambda o: peers.run_pyorderbook(o, include_order_construction=True)),
        ("lightmatchingengine", peers.run_lightmatchingengine),
    )
    # every contender runs under the same collector settings: the server's
    # (what `kraken-sim serve` applies, the headline) and CPython's default
    by_gc: dict[str, dict[str, float]] = {}
    default_thresholds = gc.get_threshold()
    for gc_name, thresholds in (("server", SERVER_THRESHOLDS), ("default", default_thresholds)):
        gc.set_threshold(*thresholds)
        best = by_gc[gc_name] = {}
        for _ in range(a.repeat):
            for name, fn in contenders:
                secs, _n = fn(ops)
                rate = len(ops) / secs
                best[name] = max(best.get(name, 0.0), rate)
    gc.set_threshold(*default_thresholds)
    for gc_name, best in by_gc.items():
        ours = best["kraken-sim"]
        print(f"\nthroughput, {a.ops:,} ops, best of {a.repeat} (same run), gc thresholds "
              f"{SERVER_THRESHOLDS if gc_name == 'server' else default_thresholds} ({gc_name}):")
        print(f"  {'engine':<22}{'ops/s':>12}{'kraken-sim ÷ peer':>20}")
        for name, rate in best.items():
            ratio = "" if name == "kraken-sim" else f"{ours / rate:.2f}x"
            print(f"  {name:<22}{rate:>12,.0f}{ratio:>20}")
    print("  target: kraken-sim >= 2.00x pyorderbook")
    best = by_gc["server"]

    mem = {}
    if a.memory_orders:
        for journal in (True, False):
            m = measure_memory(a.memory_orders, journal)
            mib = (m["peak_kib"]) / 1024
            mem["journal" if journal else "no_journal"] = mib
            print(
                f"\npeak RSS with {m['resting']:,} resting orders ({'journal on' if journal else 'journal off'}): "
                f"{mib:,.0f} MiB (target < 1024 MiB)"
            )
    if a.json:
        print(json.dumps({"fills_identical": same, "ops_per_s": best, "ops_per_s_default_gc": by_gc["default"],
                          "peak_mib": mem, "memory_orders": a.memory_orders}))
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
