"""Self-check for the peer side of the benchmark.

1. Correctness: replay a small workload (default 5,000 ops) through the
   brute-force reference and through each peer; report whether fills agree.
2. Throughput: time the full workload (default 200,000 ops) through each
   peer, best of ``--repeat`` runs, and print ops/s.

Run from the repo root:  python -m benchmarks.check_peers [--check-ops N]
[--ops N] [--seed S] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

from benchmarks import peers, reference
from benchmarks.workload import generate, workload_stats

Fill = tuple[int, int, int, int]


def _first_mismatch(want: list[Fill], got: list[Fill]) -> str:
    """Describe where two fill lists first differ (for a useful failure)."""
    for i, (w, g) in enumerate(zip(want, got, strict=False)):
        if w != g:
            return f"fill #{i}: reference {w} vs peer {g}"
    return f"lengths differ: reference {len(want)} vs peer {len(got)}"


def check_fills(n_ops: int, seed: int) -> bool:
    """Compare every peer's fills with the reference; True if all agree."""
    ops = generate(n_ops, seed)
    want = reference.run(ops)
    print(
        f"correctness on {n_ops:,} ops (seed {seed}): reference has {len(want):,} fills"
    )
    ok = True
    fills_of: dict[str, Callable[[list[tuple]], list[Fill]]] = {
        "pyorderbook": peers.fills_of_pyorderbook,
        "lightmatchingengine": peers.fills_of_lightmatchingengine,
    }
    for name, fn in fills_of.items():
        got = fn(ops)
        same = got == want
        ok &= same
        verdict = "MATCH" if same else "MISMATCH, " + _first_mismatch(want, got)
        print(f"  {name:<20} {len(got):>7,} fills  {verdict}")
    return ok


def time_peers(n_ops: int, seed: int, repeat: int) -> None:
    """Print best-of-``repeat`` ops/s for each peer on the full workload."""
    ops = generate(n_ops, seed)
    print(f"\nworkload (seed {seed}):\n{workload_stats(ops)}")
    print(f"\nthroughput on {n_ops:,} ops, best of {repeat}:")
    runs: dict[str, Callable[[list[tuple]], tuple[float, int]]] = {
        "pyorderbook": peers.run_pyorderbook,
        "pyorderbook+orders": lambda o: peers.run_pyorderbook(
            o, include_order_construction=True
        ),
        "lightmatchingengine": peers.run_lightmatchingengine,
    }
    for name, fn in runs.items():
        results = [fn(ops) for _ in range(repeat)]
        fill_counts = {n for _, n in results}
        secs = [s for s, _ in results]
        best = min(secs)
        print(
            f"  {name:<20} {n_ops / best:>10,.0f} ops/s  "
            f"(best {best:.3f}s, median {statistics.median(secs):.3f}s, "
            f"fills {sorted(fill_counts)})"
        )
    print(
        "  (pyorderbook+orders = Order objects built inside the timed loop; "
        "plain pyorderbook gets them prebuilt)"
    )


def main() -> int:
    """Parse arguments, run both checks, exit non-zero if fills disagree."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check-ops", type=int, default=5_000)
    ap.add_argument("--ops", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    ok = check_fills(args.check_ops, args.seed)
    time_peers(args.ops, args.seed, args.repeat)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
