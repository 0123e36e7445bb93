"""Soak: does a long-lived sidecar stay flat?  Steady mixed traffic against a
real `kraken-sim serve` subprocess (default flags unless given), its resident
memory sampled, the slope fitted after a warm-up, and the 24 h projection
printed beside the target (issue 15.11: under 1 GiB at 200 commands/s).

    python -m benchmarks.soak [--minutes 3] [--rate 200] [--json] [-- serve flags, e.g. --journal-max 10000]

Traffic, paced to `--rate` commands/s in all: the background market on
XBTUSD (`POST /admin/market` with its defaults: two makers and a taker every
500 ms, about 10 commands/s), and one Spot REST, one Spot WS v2 and one FIX
4.4 client on one trading account, placing limit orders around the touch
(half of them crossing it as IOC: fills against the background market's
makers) and cancelling their oldest resting order once they hold a few; every tenth
step the REST client also reads its ClosedOrders page, and once a second the pair's Ticker is read.  One trading account on
purpose: a short run then fills its history to the retention bound, so the
tail of the run shows the plateau a day-long run would.  The commands/s
figure is the venue's own (journal seqs per second).

Memory grows for two reasons: history filling up to its retention bounds
(bounded by design: the background makers' lists take an hour or more to fill
at the default bounds, longer than a run), and anything else (a leak).  So
every sample also records how many history items the venue holds
(`GET /admin/retention`: closed orders, fills, ledger entries, public trades
and journal entries), and RSS is fitted over the samples after warm-up as
`a + b*t + c*items` (least squares).  `b` is the growth over time that the
history does not explain; `c` is the cost of one retained item.  The
projection is RSS at the end + b x the rest of 24 h + c x the items still to
come before every list is at its bound (each list's bound plus the eighth it
is cut at; `b` and `c` counted as 0 when negative).

Warm-up ends at `--warmup` seconds or, later, once the journal, the trading
account's closed orders, fills and ledger, and the pair's public trades have
been cut to their bounds: from there the history grows more slowly than time,
which is what lets the fit tell the two apart.  When the run ends before
that, or time and history still move together, the fit falls back to RSS
alone over the last 40 % (the filling projected across the day: an upper
bound, and the run says so).  The plain linear projection is printed beside
the model's either way.

Runs (2026-12-07, 2 shared cores, other sessions' work beside them; `b`: growth
not explained by held history, `c`: KiB per held item):

- defaults, 60 min, 201 commands/s (before the fills unpinning, no Ticker
  reads): RSS 59 -> 214 MiB, bounds at 590 s,
  b +96.6 MiB/h, c 0.39, 124,923 of 202,500 items held: 24 h 2,466 MiB, NOT met.
- `--state-dir`, 30 min, 184 commands/s (before the snapshot stream and the
  fills unpinning): 59 -> 299 MiB, b +194.7 MiB/h: 4,983 MiB, NOT met.
- `--state-dir`, 30 min, 198 commands/s (snapshot stream, Ticker reads; before
  the fills unpinning): 59 -> 224 MiB, b +121.4 MiB/h, c 0.63: 3,134 MiB, NOT met;
  the directory at most 224 MB (two journal segments, two 43 MB snapshots,
  the FIX store under 20,000 lines), 208 MB at the end.
- defaults, 20 min, 203 commands/s, every fix in (partly beside the two runs
  above): 59 -> 146 MiB, bounds at 529 s, b +62.8 MiB/h over the last 11
  minutes, c 0.51, 106,267 items held: 1,681 MiB, NOT met (RSS +1.8 MiB over
  its last 2 minutes: too short to show the plateau).
- defaults, 45 min, 204 commands/s, every fix in (551k commands; beside a
  test run): RSS 59 -> 164 MiB, flat over its last 2 minutes, b +23.9 MiB/h,
  c 0.69, 123,672 of 202,500 items held: 24 h 774 MiB, met (RSS alone,
  linear: 1,419 MiB, the upper bound).
- `--state-dir`, 60 min, 204 commands/s, every fix in (733k commands; beside
  benchmark and test runs): RSS 59 -> 240 MiB (+5 MiB over its last 7
  minutes), bounds at 496 s, b +35.6 MiB/h, c 1.03, 126,087 items held:
  24 h 1,135 MiB, NOT met (linear: 1,893 MiB); the directory 191 MB at the
  end (one sealed journal segment, two 47 MB snapshots).  Three of the five
  closed-order lists (the background makers') were still filling at the end,
  linearly in time, which the fit counts in `b`.

What made `b`: a retained closed order kept every fill it ever had in its
`trades` (and each fill its two ledger entries) after the fills list had cut
them, so the background makers' resting orders, filled piece by piece,
pinned fills without bound (fixed: `core/retention.unpin_fills`); at
default bounds the makers' closed-order lists also fill for an hour or
more, and in the last part of a run they are the only list still growing,
linearly in time, which no fit can tell apart from `b` (a run of two hours
or more settles it).  With a state directory a snapshot also held its whole
body as one string and again as bytes on top of its records (now streamed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from benchmarks.load import (
    PAIR,
    WSSYM,
    FixSession,
    LoadConfig,
    Shared,
    View,
    WsSession,
    fix_time,
    qty,
    rest_call,
    setup_accounts,
    ws_token,
)

TARGET_MIB = 1024.0
PAIR_ID = "XXBTZUSD"  # PAIR's id (the retention view's key)
DAY_S = 86_400.0
KINDS = ("closed", "fills", "ledger", "trades")  # GET /admin/retention's history kinds
COLLINEAR = 0.01  # 1 - r^2 of time vs items below this: the model fit is not trusted
BACKGROUND_RATE = 10.0  # the default background market's commands/s (server/market.py)


def rss_mib(pid: int) -> float:
    """Resident set size of `pid` (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def retained(r: dict[str, Any]) -> tuple[int, int | None]:
    """(history items held now, most they can be once every list is at its bound) from
    `GET /admin/retention`; the bound is None when a kind is unbounded."""
    pol = r["policy"]
    kept = sum(int(r[k]["kept"]) for k in KINDS) + int(r["journal"]["kept"])
    cap: int | None = 0
    for k in KINDS:
        keep = pol["trades_keep"] if k == "trades" else pol["keep"]
        cap = None if keep is None or cap is None else cap + int(r[k]["lists"]) * (keep + (keep >> 3))
    jmax = r["journal"]["max"]
    cap = None if jmax is None or cap is None else cap + jmax + (jmax >> 3)
    return kept, cap


def fit_model(samples: list[tuple[float, int, float]]) -> tuple[float, float] | None:
    """Least squares of rss = a + b*t + c*items over (t, items, rss) samples: (b per second,
    c per item), or None when time and items move together (the two cannot be told apart)."""
    n = len(samples)
    if n < 4:
        return None
    mt = sum(s[0] for s in samples) / n
    mk = sum(s[1] for s in samples) / n
    mr = sum(s[2] for s in samples) / n
    stt = sum((t - mt) ** 2 for t, _, _ in samples)
    skk = sum((k - mk) ** 2 for _, k, _ in samples)
    stk = sum((t - mt) * (k - mk) for t, k, _ in samples)
    str_ = sum((t - mt) * (r - mr) for t, _, r in samples)
    skr = sum((k - mk) * (r - mr) for _, k, r in samples)
    det = stt * skk - stk * stk
    if stt <= 0 or skk <= 0 or det <= COLLINEAR * stt * skk:
        return None
    return (skk * str_ - stk * skr) / det, (stt * skr - stk * str_) / det


def fit(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares (slope per second, intercept) of (t, rss) samples."""
    n = len(samples)
    if n < 2:
        return 0.0, samples[0][1] if samples else 0.0
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    slope = sum((t - mt) * (r - mr) for t, r in samples) / var if var else 0.0
    return slope, mr - slope * mt


class Pacer:
    """Steps at a fixed rate (catching up after a slow step, never bursting more than one second's worth)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    async def wait(self) -> None:
        self.next = max(self.next + self.interval, time.monotonic() - 1.0)
        delay = self.next - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


class Counts:
    def __init__(self) -> None:
        self.commands = 0
        self.errors = 0
        self.reads = 0


def _order(sh: Shared, rng: random.Random, side: str) -> tuple[Decimal, bool]:
    """(price, immediate-or-cancel): half the orders cross the touch as IOC (they fill against the
    background market's makers), the others rest 50-100 ticks behind it, clear of the crossing
    ones (one account: a cross into its own resting order would only be self-trade prevention)."""
    if rng.random() < 0.5:
        ticks = rng.randint(0, 30)
        return (sh.ask + ticks * sh.tick if side == "buy" else max(sh.bid - ticks * sh.tick, sh.tick)), True
    ticks = rng.randint(50, 100)
    return (sh.bid - ticks * sh.tick if side == "buy" else sh.ask + ticks * sh.tick), False


async def rest_loop(sh: Shared, creds: dict[str, Any], rate: float, rng: random.Random, c: Counts) -> None:
    opened: list[str] = []
    pace = Pacer(rate)
    async with httpx.AsyncClient(timeout=10) as http:
        step = 0
        while not sh.done():
            await pace.wait()
            step += 1
            if len(opened) > 4:
                res = await rest_call(sh, http, creds, "CancelOrder", {"txid": opened.pop(0)})
            else:
                side = rng.choice(("buy", "sell"))
                price, ioc = _order(sh, rng, side)
                res = await rest_call(sh, http, creds, "AddOrder", {
                    "pair": PAIR, "type": side, "ordertype": "limit", "volume": str(qty(rng)),
                    "price": str(price), "timeinforce": "IOC" if ioc else "GTC"})
                if not res.get("error") and not ioc:
                    opened.extend(res["result"]["txid"])
            c.commands += 1
            c.errors += bool(res.get("error"))
            if step % 10 == 0:
                await rest_call(sh, http, creds, "ClosedOrders", {})
                c.reads += 1


async def ws_loop(sh: Shared, creds: dict[str, Any], rate: float, rng: random.Random, c: Counts) -> None:
    v = View("ws", "ws", creds["account_id"])
    s = WsSession(sh, v, await ws_token(sh, creds))
    await s.open()
    opened: list[str] = []
    pace = Pacer(rate)
    try:
        while not sh.done():
            await pace.wait()
            if len(opened) > 4:
                reply = await s.request("cancel_order", {"order_id": [opened.pop(0)], "token": s.token})
            else:
                side = rng.choice(("buy", "sell"))
                price, ioc = _order(sh, rng, side)
                reply = await s.request("add_order", {
                    "order_type": "limit", "side": side, "symbol": WSSYM, "order_qty": float(qty(rng)),
                    "limit_price": float(price), "time_in_force": "ioc" if ioc else "gtc", "token": s.token})
                if reply and reply[0].get("success") and not ioc:
                    opened.append(reply[0]["result"]["order_id"])
            c.commands += 1
            c.errors += not (reply and reply[0].get("success"))
            s.replies.clear()  # the client's own memory stays flat too
            v.fills.clear()
            v.exec_ids.clear()
    finally:
        await s.close()


async def fix_loop(sh: Shared, creds: dict[str, Any], rate: float, rng: random.Random, c: Counts) -> None:
    v = View("fix", "fix", creds["account_id"])
    s = FixSession(sh, v, creds)
    await s.open()
    opened: list[tuple[str, str]] = []
    pace = Pacer(rate)
    try:
        while not sh.done():
            await pace.wait()
            cl = sh.next_cl()
            if len(opened) > 4:
                oid, side = opened.pop(0)
                reply = await s.request(cl, "F", [(11, cl), (37, oid), (55, WSSYM), (54, side), (60, fix_time())])
                ok = reply.get(35) == "8"
            else:
                side = rng.choice(("1", "2"))
                price, ioc = _order(sh, rng, "buy" if side == "1" else "sell")
                reply = await s.request(cl, "D", [(11, cl), (55, WSSYM), (54, side), (38, qty(rng)), (40, "2"),
                                                  (44, price), (59, "3" if ioc else "1"), (60, fix_time())])
                ok = reply.get(35) == "8" and reply.get(150) != "8"
                if ok and not ioc and reply.get(39) not in ("2", "4", "C"):
                    opened.append((reply.get(37, ""), side))
            c.commands += 1
            c.errors += not ok
            v.in_seqs.clear()
            v.fills.clear()
            v.exec_ids.clear()
            s.by_seq.clear()
    finally:
        await s.close()


async def journal_head(http: httpx.AsyncClient, info: dict[str, Any]) -> int:
    """The venue's newest journal seq (every command, the background market's too)."""
    r = await http.get(info["admin"] + "/journal", params={"since": 2**62, "limit": 1, "events": "false"})
    return int(r.json()["head"])


async def retention(http: httpx.AsyncClient, info: dict[str, Any]) -> dict[str, Any] | None:
    with contextlib.suppress(Exception):
        return (await http.get(info["admin"] + "/retention")).json()  # type: ignore[no-any-return]
    return None


def at_bounds(r: dict[str, Any], account: str) -> bool:
    """Have the journal, the trading account's every history list and the pair's public trades been cut back
    to their bounds?"""
    return (bool(r["journal"]["dropped"]) and all(account in r[k]["at_bound_keys"] for k in ("closed", "fills", "ledger"))
            and PAIR_ID in r["trades"]["at_bound_keys"])


async def touch(sh: Shared, http: httpx.AsyncClient) -> None:
    """Keep the clients' idea of the touch current (the background market walks), and read the
    pair's ticker as a dashboard would (its rolling 24 hours are kept by the venue as they pass)."""
    while not sh.done():
        with contextlib.suppress(Exception):
            depth = (await http.get(sh.info["spot_rest"] + f"/0/public/Depth?pair={PAIR}&count=1")).json()["result"]
            book = next(iter(depth.values()))
            sh.bid, sh.ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
            await http.get(sh.info["spot_rest"] + f"/0/public/Ticker?pair={PAIR}")
        await asyncio.sleep(1.0)


async def soak(info: dict[str, Any], pid: int, minutes: float, rate: float, sample_s: float,
               warmup_s: float) -> dict[str, Any]:
    cfg = LoadConfig(seconds=minutes * 60, kill_every_s=None, admin_drop_ws=False, slow_consumer=False,
                     cross_share=0.5)
    sh = Shared(info, cfg)
    rng = random.Random(7)
    async with httpx.AsyncClient(timeout=10) as http:
        sh.http = http
        (trader,) = await setup_accounts(sh, http, ["trader"])
        creds = [trader, trader, trader]
        r = await http.post(info["admin"] + "/market", json={"symbol": PAIR, "enabled": True})
        r.raise_for_status()
        head0 = await journal_head(http, info)
        depth = (await http.get(info["spot_rest"] + f"/0/public/Depth?pair={PAIR}&count=1")).json()["result"]
        book = next(iter(depth.values()))
        sh.bid, sh.ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
        client_rate = max(rate - BACKGROUND_RATE, 3.0)
        shares = {"rest": 0.4, "ws": 0.3, "fix": 0.3}
        c = Counts()
        t0 = time.monotonic()
        sh.deadline = t0 + minutes * 60
        samples: list[tuple[float, float]] = [(0.0, rss_mib(pid))]
        items: list[tuple[float, int, float]] = []  # (t, history items held, rss)
        cap: int | None = None
        tasks = [
            asyncio.ensure_future(rest_loop(sh, creds[0], client_rate * shares["rest"], random.Random(1), c)),
            asyncio.ensure_future(ws_loop(sh, creds[1], client_rate * shares["ws"], random.Random(2), c)),
            asyncio.ensure_future(fix_loop(sh, creds[2], client_rate * shares["fix"], random.Random(3), c)),
            asyncio.ensure_future(touch(sh, http)),
        ]
        del rng
        bounded_at: float | None = None
        while time.monotonic() < sh.deadline:
            await asyncio.sleep(sample_s)
            t = time.monotonic() - t0
            samples.append((t, rss_mib(pid)))
            view = await retention(http, info)
            if view is not None:
                kept, cap = retained(view)
                items.append((t, kept, samples[-1][1]))
            if bounded_at is None and view is not None and at_bounds(view, trader["account_id"]):
                bounded_at = t
                print(f"  t={t:6.0f} s  journal and the trading account's history at their retention bounds",
                      flush=True)
            if any(tk.done() and tk.exception() for tk in tasks):
                break
            print(f"  t={t:6.0f} s  rss={samples[-1][1]:7.1f} MiB  client commands={c.commands:,}", flush=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = [repr(r) for r in results if isinstance(r, BaseException)]
        elapsed = time.monotonic() - t0
        venue_commands = await journal_head(http, info) - head0
        final = (await http.get(info["admin"] + "/retention")).json()
    end = samples[-1][1]
    rest = max(0.0, DAY_S - elapsed)
    # plain: RSS alone, linear, over the samples after the bounds (else the last 40 %)
    start = max(warmup_s, bounded_at) if bounded_at is not None else elapsed * 0.6
    tail = [s for s in samples if s[0] >= start]
    if len(tail) < 3:
        tail = samples[-3:]
    linear, _ = fit(tail)
    linear_projected = end + linear * rest
    # model: time and history apart, over every sample after warm-up
    model = None
    if bounded_at is not None and cap is not None:
        model = fit_model([s for s in items if s[0] >= warmup_s])
    to_come = max(0, cap - items[-1][1]) if cap is not None and items else 0
    if model is not None:
        per_s, per_item = model
        slope = per_s
        projected = end + max(per_s, 0.0) * rest + max(per_item, 0.0) * to_come
    else:
        slope, projected = linear, linear_projected
    return {
        "minutes": round(elapsed / 60, 2),
        "commands_per_s": round(venue_commands / elapsed, 1),
        "venue_commands": venue_commands,
        "client_commands": c.commands,
        "refused": c.errors,
        "history_reads": c.reads,
        "rss_start_mib": round(samples[0][1], 1),
        "rss_end_mib": round(end, 1),
        "rss_peak_mib": round(max(r for _, r in samples), 1),
        "warmup_s": round(start, 1),
        "at_bounds_s": None if bounded_at is None else round(bounded_at, 1),
        "retention": final,
        "slope_mib_per_h": round(slope * 3600, 2),
        "model": model is not None,
        "kib_per_item": None if model is None else round(model[1] * 1024, 3),
        "items_kept": items[-1][1] if items else None,
        "items_cap": cap,
        "linear_slope_mib_per_h": round(linear * 3600, 2),
        "linear_projected_24h_mib": round(linear_projected, 1),
        "projected_24h_mib": round(projected, 1),
        "target_mib": TARGET_MIB,
        "ok": projected < TARGET_MIB and not failed,
        "failed": failed,
        "samples": [(round(t, 1), k, round(r, 1)) for t, k, r in items],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.0, help="how long to run (default 3)")
    ap.add_argument("--rate", type=float, default=200.0, help="commands/s in all, background market included")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=None, help="least seconds before the fit (default: 30)")
    ap.add_argument("--json", action="store_true", help="end with one JSON line (benchmarks.report)")
    ap.add_argument("serve_flags", nargs=argparse.REMAINDER, help="after --: extra `kraken-sim serve` flags")
    a = ap.parse_args(argv)
    extra = [f for f in a.serve_flags if f != "--"]
    warmup = a.warmup if a.warmup is not None else 30.0
    cmd = [sys.executable, "-m", "simulator", "serve", "--port", "0", "--fix-port", "0", "--log-level", "error", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("simulator did not start")
        info = json.loads(line)
        print(f"soak: {a.minutes:g} min at {a.rate:g} commands/s against `kraken-sim serve {' '.join(extra)}`"
              f" (pid {proc.pid})", flush=True)
        out = asyncio.run(soak(info, proc.pid, a.minutes, a.rate, a.sample, warmup))
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    out["flags"] = " ".join(extra) or "defaults"
    print(f"venue commands/s: {out['commands_per_s']:,.0f} ({out['venue_commands']:,} in all; clients "
          f"{out['client_commands']:,}, of which refused {out['refused']:,}; the rest: the background market)")
    print(f"RSS: start {out['rss_start_mib']:.0f} MiB, end {out['rss_end_mib']:.0f} MiB, "
          f"peak {out['rss_peak_mib']:.0f} MiB")
    if out["at_bounds_s"] is None:
        print("history did not reach its retention bounds in this run: the fit takes the last 40 %, "
              "the projection is an upper bound (run longer)")
    ret = out["retention"]
    print("retained: " + ", ".join(f"{k} {ret[k]['kept']:,} (cut {ret[k]['dropped']:,})"
                                   for k in ("closed", "fills", "ledger", "trades"))
          + f", journal {ret['journal']['kept']:,} (cut {ret['journal']['dropped']:,})")
    if out["model"]:
        print(f"fit after {out['warmup_s']:.0f} s warm-up: {out['slope_mib_per_h']:+.1f} MiB/h not explained by "
              f"history, {out['kib_per_item']:.2f} KiB per history item held; items held {out['items_kept']:,}, "
              f"at most {out['items_cap']:,} once every list is at its bound")
    else:
        print(f"slope after {out['warmup_s']:.0f} s warm-up: {out['slope_mib_per_h']:+.1f} MiB/h (RSS alone)")
    print(f"RSS alone, linear: {out['linear_slope_mib_per_h']:+.1f} MiB/h, "
          f"{out['linear_projected_24h_mib']:,.0f} MiB after 24 h (filling counted as if it never stopped)")
    print(f"24 h projection: {out['projected_24h_mib']:,.0f} MiB (target < {TARGET_MIB:,.0f} MiB): "
          f"{'met' if out['ok'] else 'NOT met'}")
    if out["failed"]:
        print(f"client failures: {out['failed']}")
    if a.json:
        print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
