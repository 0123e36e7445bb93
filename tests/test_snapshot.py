"""Snapshots of the venue in the state directory: a restart loads the newest
valid one and replays only the journal after it, and ends in exactly the
state a full replay of the journal reaches (same digest, same next ids); a
corrupt, truncated or stale snapshot is refused and the full journal replayed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from simulator.core.clock import rfc3339_us
from simulator.core.orders import Origin
from simulator.pytest_plugin import KrakenVenue
from simulator.scenario import Scenario
from simulator.server.persistence import JOURNAL, snapshot_files
from simulator.server.runtime import Settings
from simulator.server.server import ThreadedVenue
from tests.prove.kit import FuturesRest, Rest, fund, futures_fund

SEED = 21


class Run:
    """One simulator on a state directory; stopped cleanly on exit."""

    def __init__(self, state: Path, every: int = 0) -> None:
        settings = Settings(port=0, fix_port=0, seed=SEED, state_dir=str(state), snapshot_every=every)
        # no seeded books: the test's own orders are the whole book, so matching is predictable
        self.tv = ThreadedVenue(settings, Scenario(books=[]))
        self.tv.start()
        self.v = KrakenVenue(self.tv)
        # snapshot exactly every `every` commands, however long the last one took (counts, not timings)
        store = self.v.runtime.services.journal_file
        assert store is not None
        store.duty = 0

    @property
    def restore(self) -> dict[str, Any]:
        out: dict[str, Any] = self.v.runtime.services.restore_report or {}
        return out

    def digest(self) -> tuple[str, int]:
        st = self.v.admin.request("GET", "/state")
        return st["digest"], st["journal_last"]

    def stop(self) -> None:
        self.tv.stop()


@pytest.fixture
def runs() -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for r in started:
        r.stop()


def start(runs: list[Run], state: Path, every: int = 0) -> Run:
    r = Run(state, every)
    runs.append(r)
    return r


def copy_state(r: Run, src: Path, dst: Path) -> None:
    """What a kill -9 leaves behind, taken between two commands (on the
    venue's own thread, so no command or snapshot is half done)."""

    def cp() -> None:
        store = r.v.runtime.services.journal_file
        assert store is not None
        store.wait_written()  # a snapshot still being written is a .tmp file: the one before it is the newest
        dst.mkdir(parents=True)
        for p in src.iterdir():
            if p.is_file() and not p.name.endswith(".tmp"):
                shutil.copy2(p, dst / p.name)

    r.v.call(cp)


def without_snapshots(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in snapshot_files(dst):
        p.unlink()
    return dst


def trade_a_little(v: KrakenVenue) -> dict[str, Any]:
    """Spot and derivatives orders: some rest, some fill, one is cancelled."""
    a, b = fund(v), fund(v)
    fa, fb = futures_fund(v), futures_fund(v)
    ids: dict[str, Any] = {"spot_resting": [], "futures_resting": [], "all": set(), "accounts": (a, b, fa, fb)}
    with Rest(v) as rest, FuturesRest(v) as fr:
        for i in range(4):
            res = rest.ok(a, "AddOrder", {"pair": "XBTUSD", "type": "sell", "ordertype": "limit",
                                          "price": str(70000 + i * 10), "volume": "0.01"})
            ids["spot_resting"].append(res["txid"][0])
        # b takes the best two asks (one fully, one partly)
        res = rest.ok(b, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                      "price": "70010", "volume": "0.015"})
        ids["all"].add(res["txid"][0])
        gone = rest.ok(a, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                       "price": "1000", "volume": "0.01"})["txid"][0]
        rest.ok(a, "CancelOrder", {"txid": gone})
        ids["all"].add(gone)
        for i in range(3):
            ids["futures_resting"].append(fr.place(fa, "PF_XBTUSD", "sell", "0.01", str(90000 + i * 10)))
        res = fr.ok(fb, "POST", "sendorder", {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy",
                                              "size": "0.01", "limitPrice": "90000"})
        assert res["sendStatus"]["status"] == "placed", res
        ids["all"].add(res["sendStatus"]["order_id"])
    ids["all"] |= set(ids["spot_resting"]) | set(ids["futures_resting"])
    return ids


def test_restart_from_snapshot_equals_full_replay_and_keeps_trading(tmp_path: Path, runs: list[Run]) -> None:
    state = tmp_path / "state"
    r1 = start(runs, state)
    ids = trade_a_little(r1.v)
    digest, last = r1.digest()
    journal_len = len(r1.v.admin.journal(events=False))
    r1.stop()  # clean stop: a snapshot at the last seq
    snaps = snapshot_files(state)
    assert len(snaps) == 1 and json.loads(snaps[0].read_bytes().split(b"\n", 1)[0])["seq"] == last

    full_dir = without_snapshots(state, tmp_path / "full")
    r2 = start(runs, state)
    assert r2.restore["mode"] == "snapshot" and r2.restore["snapshot_seq"] == last, r2.restore
    assert r2.restore["replayed"] == 0
    assert r2.digest() == (digest, last)
    assert len(r2.v.admin.journal(events=False)) == journal_len  # the in-memory journal came back too
    r3 = start(runs, full_dir)
    assert r3.restore["mode"] == "full" and r3.restore["replayed"] == last, r3.restore
    assert r3.digest() == (digest, last)

    # both keep trading identically: a taker matches the restored resting orders,
    # ids continue (never repeat) and equal what the full replay hands out
    a, b, fa, fb = ids["accounts"]
    # one venue time for both from here on: the digest covers every timestamp (fills, ledgers...)
    at = max(r.v.admin.request("GET", "/clock")["now_ns"] for r in (r2, r3)) + 1_000_000_000
    for r in (r2, r3):
        r.v.admin.set_clock(mode="frozen", set=rfc3339_us(at))
    out = []
    for r in (r2, r3):
        with Rest(r.v) as rest, FuturesRest(r.v) as fr:
            take = rest.ok(b, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                           "price": "70030", "volume": "0.02"})["txid"][0]
            q = rest.ok(a, "QueryOrders", {"txid": ",".join(ids["spot_resting"])})
            ftake = fr.ok(fb, "POST", "sendorder", {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy",
                                                    "size": "0.015", "limitPrice": "90020"})
            fopen = fr.ok(fa, "GET", "openorders")["openOrders"]
        assert take not in ids["all"] and ftake["sendStatus"]["order_id"] not in ids["all"]
        statuses = [q[t]["status"] for t in ids["spot_resting"]]
        assert statuses == ["closed", "closed", "closed", "open"], statuses  # the taker ate the next two
        events = ftake["sendStatus"]["orderEvents"]
        assert [e["type"] for e in events if e["type"] == "EXECUTION"] == ["EXECUTION", "EXECUTION"], events
        assert {o["order_id"] for o in fopen} == set(ids["futures_resting"][2:])
        out.append((take, ftake["sendStatus"]["order_id"], r.digest()))
    assert out[0] == out[1]


def test_journal_tail_after_the_snapshot_is_replayed(tmp_path: Path, runs: list[Run]) -> None:
    state = tmp_path / "state"
    r1 = start(runs, state, every=40)
    trade_a_little(r1.v)
    trade_a_little(r1.v)
    crashed = tmp_path / "crashed"
    copy_state(r1, state, crashed)
    digest, last = r1.digest()
    snaps = snapshot_files(crashed)
    assert snaps, "no periodic snapshot was written"
    snap_seq = json.loads(snaps[0].read_bytes().split(b"\n", 1)[0])["seq"]
    assert 0 < snap_seq < last  # the newest snapshot is behind the journal: a tail to replay
    r1.stop()
    r2 = start(runs, crashed, every=40)
    assert r2.restore["mode"] == "snapshot" and r2.restore["snapshot_seq"] == snap_seq, r2.restore
    assert r2.restore["replayed"] == last - snap_seq
    assert r2.digest() == (digest, last)


def _corrupt_body(p: Path, journal: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-50] ^= 0xFF
    p.write_bytes(bytes(data))


def _truncate(p: Path, journal: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _bad_header(p: Path, journal: Path) -> None:
    p.write_bytes(b"{not json\n" + p.read_bytes().split(b"\n", 1)[1])


def _unloadable(p: Path, journal: Path) -> None:
    """Checksums fine, but the records cannot be loaded into this venue
    (an order of a pair the venue does not list)."""
    import hashlib

    head, body = p.read_bytes().split(b"\n", 1)
    header = json.loads(head)
    data = json.loads(body)
    spot = data["venue"]["spot"]
    spot["live_orders"].append(spot["live_orders"][0][:])
    spot["live_orders"][-1][spot["order_fields"].index("pair")] = "NOSUCHPAIR"
    body = json.dumps(data).encode()
    header.update(body_sha256=hashlib.sha256(body).hexdigest(), body_len=len(body))
    p.write_bytes(json.dumps(header).encode() + b"\n" + body)


def _stale(p: Path, journal: Path) -> None:
    """The journal was replaced under the snapshot (another run's file)."""
    lines = journal.read_text().splitlines(keepends=True)
    last = json.loads(lines[-1])
    last["ts"] += 1
    lines[-1] = json.dumps(last) + "\n"
    journal.write_text("".join(lines))


def _seed_mismatch(p: Path, journal: Path) -> None:
    import hashlib

    head, body = p.read_bytes().split(b"\n", 1)
    header = json.loads(head)
    header["seed"] = SEED + 1
    assert header["body_sha256"] == hashlib.sha256(body).hexdigest()
    p.write_bytes(json.dumps(header).encode() + b"\n" + body)


@pytest.mark.parametrize("damage", [_corrupt_body, _truncate, _bad_header, _unloadable, _stale, _seed_mismatch])
def test_a_bad_snapshot_falls_back_to_the_full_journal(tmp_path: Path, runs: list[Run], damage: Any) -> None:
    state = tmp_path / "state"
    r1 = start(runs, state)
    trade_a_little(r1.v)
    r1.stop()
    digest, last = start(runs, without_snapshots(state, tmp_path / "reference")).digest()
    (snap,) = snapshot_files(state)
    damage(snap, state / JOURNAL)
    if damage is _stale:  # the journal itself changed: its full replay is the reference
        digest, last = start(runs, without_snapshots(state, tmp_path / "reference2")).digest()
    r2 = start(runs, state)
    assert r2.restore["mode"] == "full" and r2.restore["rejected_snapshots"] == [snap.name], r2.restore
    assert r2.restore["replayed"] == last
    assert r2.digest() == (digest, last)
    with Rest(r2.v) as rest:  # and the venue works
        rest.ok(fund(r2.v), "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                         "price": "1000", "volume": "0.01"})


def test_newest_bad_snapshot_falls_back_to_the_previous_one(tmp_path: Path, runs: list[Run]) -> None:
    state = tmp_path / "state"
    r1 = start(runs, state, every=30)
    trade_a_little(r1.v)
    trade_a_little(r1.v)
    r1.stop()
    snaps = snapshot_files(state)
    assert len(snaps) == 2, snaps  # the newest (at stop) and one before it are kept
    digest, last = start(runs, without_snapshots(state, tmp_path / "reference")).digest()
    _corrupt_body(snaps[0], state / JOURNAL)
    older = json.loads(snaps[1].read_bytes().split(b"\n", 1)[0])["seq"]
    r2 = start(runs, state, every=30)
    assert r2.restore["mode"] == "snapshot" and r2.restore["snapshot_seq"] == older, r2.restore
    assert r2.restore["rejected_snapshots"] == [snaps[0].name]
    assert r2.restore["replayed"] == last - older
    assert r2.digest() == (digest, last)


def test_long_journal_replays_only_the_tail(tmp_path: Path, runs: list[Run]) -> None:
    """Counts, not timings: with a snapshot the start replays fewer than
    `snapshot_every` commands of a journal many times that long."""
    state = tmp_path / "state"
    every = 500
    r1 = start(runs, state, every=every)
    acct = fund(r1.v)["account_id"]
    venue = r1.v.runtime.venue

    def burst(n: int) -> None:
        for i in range(n):
            venue.spot_seq.submit("adjust_balance", Origin("admin"),
                                  {"account_id": acct, "asset": "ZUSD", "amount": Decimal(i % 7 + 1)})

    for _ in range(8):
        r1.v.call(burst, 500)
    r1.v.call(burst, 123)
    crashed = tmp_path / "crashed"
    copy_state(r1, state, crashed)
    digest, last = r1.digest()
    r1.stop()
    assert last > 4000
    fast = start(runs, crashed, every=every)
    assert fast.restore["mode"] == "snapshot", fast.restore
    assert 0 < fast.restore["replayed"] < every
    assert fast.restore["snapshot_seq"] + fast.restore["replayed"] == last
    assert fast.digest() == (digest, last)
    full = start(runs, without_snapshots(crashed, tmp_path / "full"), every=every)
    assert full.restore["mode"] == "full" and full.restore["replayed"] == last
    assert full.digest() == (digest, last)
    assert fast.restore["replayed"] * 8 < full.restore["replayed"]
    full.stop()  # a venue restored by a full replay snapshots at its stop too
    again = start(runs, tmp_path / "full", every=every)
    assert again.restore["mode"] == "snapshot" and again.restore["replayed"] == 0, again.restore
    assert again.digest() == (digest, last)


def test_reset_discards_snapshots(tmp_path: Path, runs: list[Run]) -> None:
    state = tmp_path / "state"
    r1 = start(runs, state, every=20)
    trade_a_little(r1.v)
    store = r1.v.runtime.services.journal_file
    assert store is not None
    r1.v.call(store.wait_written)  # snapshots are written off the loop: wait for the one in flight
    assert snapshot_files(state)
    r1.v.admin.reset()
    assert not snapshot_files(state)  # they described the run the reset threw away
    fresh = r1.digest()
    r1.stop()
    r2 = start(runs, state)
    assert r2.digest() == fresh


def test_an_older_format_snapshot_is_ignored(tmp_path: Path, runs: list[Run]) -> None:
    """A format-1 snapshot (a pickled venue, before snapshots became explicit
    state) is never loaded: the start replays the whole journal, then writes
    its own snapshot, which the next start uses."""
    state = tmp_path / "state"
    r1 = start(runs, state)
    trade_a_little(r1.v)
    digest, last = r1.digest()
    r1.stop()
    (snap,) = snapshot_files(state)
    header = json.loads(snap.read_bytes().split(b"\n", 1)[0])
    header["format"] = 1
    old = snap.with_name(snap.name.replace(".state", ".pickle"))
    old.write_bytes(json.dumps(header).encode() + b"\n" + b"\x80\x05old pickle")
    snap.unlink()
    r2 = start(runs, state)
    assert r2.restore["mode"] == "full" and r2.restore["rejected_snapshots"] == [old.name], r2.restore
    assert r2.digest() == (digest, last)
    r2.stop()
    assert [p.suffix for p in snapshot_files(state)] == [".state", ".pickle"]
    r3 = start(runs, state)
    assert r3.restore["mode"] == "snapshot" and r3.restore["replayed"] == 0, r3.restore
    assert r3.digest() == (digest, last)
