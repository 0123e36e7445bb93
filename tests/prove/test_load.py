"""Load with reconciliation, short and bounded for CI (benchmarks/load.py is the
longer run): Spot REST, WS and FIX and Derivatives REST v3 / WS v1 clients on
their own accounts, connections killed mid-request, the venue dropping WS
connections, a slow WS consumer; then every acknowledged order, every client's
view and every balance is reconciled against the journal.  The restart tests
run the venue in its own process on a state directory and stop it (SIGTERM,
or SIGKILL) mid-run; the reconciliation then spans both processes.
KRAKEN_SIM_LOAD_SECONDS makes it longer."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from benchmarks.load import LoadConfig, LoadResult, SimProcess, run_load
from simulator.pytest_plugin import KrakenVenue, start_venue
from simulator.server.server import ThreadedVenue

from .kit import assert_alive

pytestmark = pytest.mark.load
SECONDS = float(os.environ.get("KRAKEN_SIM_LOAD_SECONDS", "4"))
MAX_QUEUE = 200  # the WS hub's per-connection queue, lowered so the slow consumer overflows in seconds
MIN_ACKS = 20  # restart runs: acknowledged orders per client on each side of the restart
PHASE_CAP_S = 30.0  # ... reached within this (else the client stalled)
RATE_FLOOR = 5  # ... and the second half's ack rate is at least 1/5 of the first's


@pytest.fixture
def fresh() -> Iterator[tuple[ThreadedVenue, KrakenVenue]]:
    tv, v = start_venue(seed=5)
    try:
        yield tv, v
    finally:
        tv.stop()


def _has_fix(v: KrakenVenue) -> bool:
    return bool(v.fix_port) and v.runtime.services.fix is not None


def _run(tv: ThreadedVenue, v: KrakenVenue, cfg: LoadConfig) -> LoadResult:
    rt = v.runtime
    hub = rt.services.spot_ws
    v.call(lambda: setattr(hub.config, "max_queue", MAX_QUEUE))

    async def probe() -> dict[str, Any]:
        return {"ws_queue": max((len(c.queue) for c in list(hub.conns)), default=0)}

    async def small_buffers(addr: tuple[str, int]) -> None:
        """The slow consumer's server-side socket gets small kernel/transport buffers, so
        its backlog reaches the venue's queue within seconds, not megabytes."""
        assert tv.server is not None

        def shrink() -> None:
            conns = tv.server._servers[0].server_state.connections  # type: ignore[union-attr]
            proto: Any = next(p for p in conns if tuple(getattr(p, "client", None) or ())[:2] == tuple(addr))
            proto.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            proto.transport.set_write_buffer_limits(high=4096)

        v.call(shrink)

    async def bounded() -> LoadResult:
        return await asyncio.wait_for(run_load(v.info, cfg, probe, small_buffers), cfg.seconds + 90)

    return asyncio.run(bounded())


def _windows_with_progress(res: LoadResult, protocol: str) -> list[int]:
    """Answers per whole second of the run, for one protocol."""
    t0 = res.stats["started"]
    counts = [0] * max(1, int(res.seconds))
    for view in res.views:
        if view.protocol == protocol:
            for t in view.ack_times:
                i = int(t - t0)
                if i < len(counts):
                    counts[i] += 1
    return counts


def test_load_with_faults_reconciles(fresh: tuple[ThreadedVenue, KrakenVenue]) -> None:
    tv, v = fresh
    fix = 2 if _has_fix(v) else 0
    cfg = LoadConfig(seconds=SECONDS, rest=2, ws=2, fix=fix, futures_rest=1, futures_ws=1, seed=7, kill_every_s=1.0)
    res = _run(tv, v, cfg)
    print("\n" + res.table(), {k: res.stats[k] for k in ("orders", "fills", "in_doubt", "in_doubt_executed")})
    assert res.problems == [], "\n".join(res.problems[:30])
    s = res.stats
    assert s["kills"] >= 3 and s["dropped_by_venue"] >= 1, s  # the faults really happened
    assert s["timeouts"] == 0, s  # no request on a live connection went unanswered
    assert s["fills"] >= 20, s  # clients traded with each other and the market maker
    assert s["futures_fills"] >= 5 and s["futures_value"]["before"] is not None, s  # derivatives traded too
    assert s.get("margin_fills", 0) >= 3, s  # leveraged REST orders opened and closed positions, reconciled
    assert s["margin_orders"].get("ws", 0) >= 3, s["margin_orders"]  # WS v2 `margin: true` orders too
    for proto in ("rest", "ws", "futures_rest", "futures_ws") + (("fix",) if fix else ()):
        views = [x for x in res.views if x.protocol == proto]
        assert sum(len(x.acked) for x in views) >= 50, (proto, [len(x.acked) for x in views])
        per_second = _windows_with_progress(res, proto)
        assert all(n > 0 for n in per_second), (proto, per_second)  # nobody stalled, slow consumer or not
        lat = sorted(t for x in views for t in x.latencies)
        assert lat[int(len(lat) * 0.99)] < 1.0, (proto, lat[-5:])
    slow = s["slow_consumer"]
    assert (slow["close_code"], slow["close_reason"]) == (1008, "slow consumer"), slow
    assert s["probe_max"]["ws_queue"] <= MAX_QUEUE, s["probe_max"]
    assert slow["drained_messages"] < 5_000, slow  # what was still buffered for it was bounded
    assert_alive(v)


def test_load_without_faults_every_view_matches(fresh: tuple[ThreadedVenue, KrakenVenue]) -> None:
    """No faults: no request is in doubt and every WS/FIX client's own fills equal the venue's."""
    tv, v = fresh
    cfg = LoadConfig(seconds=min(SECONDS, 3.0), rest=1, ws=2, fix=2 if _has_fix(v) else 0, seed=9,
                     futures_rest=1, futures_ws=1, kill_every_s=None, admin_drop_ws=False, slow_consumer=False,
                     cross_share=0.4)
    res = _run(tv, v, cfg)
    assert res.problems == [], "\n".join(res.problems[:30])
    assert res.stats["in_doubt"] == 0 and res.stats["kills"] == 0 and res.stats["timeouts"] == 0, res.stats
    assert not any(x.gapped for x in res.views)
    assert sum(len(f) for x in res.views for f in x.fills.values()) >= 10  # feeds carried fills to compare


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_load_across_a_restart_reconciles(tmp_path: Any, sig: int) -> None:
    """The venue process is stopped mid-run and started again on its state
    directory and the same ports; the clients reconnect (FIX resumes its
    sequence numbers), and the reconciliation covers both halves: every order
    acknowledged before the stop is in the restored journal in exactly one
    state, nothing is duplicated, the venue's FIX MsgSeqNums continue, fills
    match, balances and derivatives value are conserved.  SIGKILL: no clean
    shutdown, no final snapshot -- the journal (flushed per command) and the
    last periodic snapshot are all there is.

    Each half lasts its seconds and until every client has MIN_ACKS acknowledged
    orders in it (at most PHASE_CAP_S), so a loaded machine makes the run longer,
    not thinner; the restarted venue's ack rate is judged against the first
    half's, measured in the same run."""
    sim = SimProcess(str(tmp_path / "state"), env={"KRAKEN_SIM_SNAPSHOT_EVERY": "300"})
    info = sim.start()
    try:
        cfg = LoadConfig(seconds=min(SECONDS, 4.0), rest=1, ws=1, fix=1, futures_rest=1, futures_ws=1, seed=13,
                         kill_every_s=None, admin_drop_ws=False, slow_consumer=False, fix_resume=True,
                         min_acks_per_phase=MIN_ACKS, max_phase_s=PHASE_CAP_S)

        async def bounded() -> LoadResult:
            return await asyncio.wait_for(run_load(info, cfg, restart=lambda: sim.restart(sig)),
                                          cfg.seconds + 2 * PHASE_CAP_S + 80)

        res = asyncio.run(bounded())
    finally:
        sim.close()
    print("\n" + res.table(), {k: res.stats[k] for k in ("acked", "acked_before_restart", "in_doubt", "fills",
                                                          "futures_fills", "phase_s")}, res.stats["restart"]["outage_s"])
    assert res.problems == [], "\n".join(res.problems[:30])  # incl. no ExecID seen twice across the restart
    s = res.stats
    assert s["restart"] is not None and s["restart"]["ready"]["spot_rest"] == info["spot_rest"]
    for v in res.views:  # both halves traded, on every protocol (short of it only if a client stalled for good)
        assert v.acked_before_restart >= MIN_ACKS and len(v.acked) - v.acked_before_restart >= MIN_ACKS, \
            (v.name, v.acked_before_restart, len(v.acked), s["phase_s"])
    # the restarted venue serves at a rate comparable to the first half's (same run, same machine load)
    before, after = s["acked_before_restart"], s["acked"] - s["acked_before_restart"]
    first_s, second_s = s["phase_s"]
    assert after / second_s >= before / first_s / RATE_FLOOR, (before, first_s, after, second_s)
    fix = [v for v in res.views if v.protocol == "fix"]
    for v in fix:  # it logged on again after the restart, resuming both sequences
        assert len(v.logons) >= 2 and v.seq_resets == 0, v.logons
        ours, theirs = v.logons[-1]
        assert ours > 1 and theirs > 1, v.logons
    assert s["futures_fills"] >= 5 and s["fills"] >= 20, s
