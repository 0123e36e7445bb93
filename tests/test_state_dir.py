"""A damaged state directory never restarts as something else.

The rule (README, "Journal, replay, restarts"): a start restores the newest
state that is provably consistent -- the newest snapshot whose journal line
is still there plus the journal after it, else the whole journal -- and every
replayed line must be the next seq, a known command, and replay to the
outcome the run recorded.  When no such state exists, the start is refused
with one message on stderr naming the file and the reason, a non-zero exit
code, no traceback, and the directory left as it was.

Driven through the real CLI in a subprocess."""

from __future__ import annotations

import json
import shutil
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simulator.pytest_plugin import AdminClient
from simulator.server.persistence import IDENTITY, JOURNAL, snapshot_files, snapshot_header
from tests.cli_serve import Served, run_to_exit, serve_cmd
from tests.prove.kit import Rest, fund

SEED = 7
ENV = {"KRAKEN_SIM_SNAPSHOT_EVERY": "25"}  # a periodic snapshot and one at the stop


def _record(state: Path) -> dict[str, Any]:
    """A short mixed run (accounts, resting and filled orders, a cancel)
    stopped cleanly; returns its digest and last seq."""
    srv = Served(serve_cmd(state, "--seed", str(SEED)), ENV)
    try:
        venue = types.SimpleNamespace(spot_rest=srv.info["spot_rest"], admin=AdminClient(srv.admin))
        a, b = fund(venue), fund(venue)
        with Rest(venue) as rest:  # type: ignore[arg-type]
            for i in range(6):
                rest.ok(a, "AddOrder", {"pair": "XBTUSD", "type": "sell", "ordertype": "limit",
                                        "price": str(200000 + i * 10), "volume": "0.01"})
            rest.ok(b, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                    "price": "200010", "volume": "0.015"})
            gone = rest.ok(a, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                           "price": "1000", "volume": "0.01"})["txid"][0]
            rest.ok(a, "CancelOrder", {"txid": gone})
        state_view = venue.admin.request("GET", "/state")
    finally:
        rc, err = srv.stop()
    assert rc == 0, err
    return {"digest": state_view["digest"], "last": state_view["journal_last"]}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    state = tmp_path_factory.mktemp("recorded") / "state"
    run = _record(state)
    snaps = snapshot_files(state)
    assert len(snaps) == 2, snaps  # the periodic one and the one at the stop
    heads = [snapshot_header(p) for p in snaps]
    assert heads[0] is not None and heads[0]["seq"] == run["last"]
    assert heads[1] is not None and 0 < heads[1]["seq"] < run["last"]
    run["older_snapshot"] = heads[1]
    return state, run


def _copy(recorded: tuple[Path, dict[str, Any]], tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    src, run = recorded
    dst = tmp_path / "state"
    shutil.copytree(src, dst)
    return dst, run


def _lines(state: Path) -> list[str]:
    return (state / JOURNAL).read_text().splitlines(keepends=True)


def _files(state: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in state.iterdir() if p.is_file()}


# ------------------------------------------------------------------ damage
def _journal_deleted(state: Path, run: dict[str, Any]) -> None:
    (state / JOURNAL).unlink()


def _journal_emptied(state: Path, run: dict[str, Any]) -> None:
    (state / JOURNAL).write_text("")


def _journal_deleted_no_snapshots(state: Path, run: dict[str, Any]) -> None:
    (state / JOURNAL).unlink()
    for p in snapshot_files(state):
        p.unlink()


def _cut_before_newest_snapshot(state: Path, run: dict[str, Any]) -> None:
    """Cut to just after the older snapshot's line: that snapshot still
    checks out, and the old code rolled back to it."""
    (state / JOURNAL).write_bytes((state / JOURNAL).read_bytes()[: run["older_snapshot"]["offset"]])


def _cut_before_both_snapshots(state: Path, run: dict[str, Any]) -> None:
    lines = _lines(state)
    (state / JOURNAL).write_text("".join(lines[: run["older_snapshot"]["seq"] - 3]))


def _appended(command: str, engine: str = "spot") -> Callable[[Path, dict[str, Any]], None]:
    def damage(state: Path, run: dict[str, Any]) -> None:
        last = json.loads(_lines(state)[-1])
        line = {**last, "seq": last["seq"] + 1, "engine": engine, "command": command, "params": {}}
        line.pop("error", None)
        with open(state / JOURNAL, "a") as fh:
            fh.write(json.dumps(line) + "\n")

    damage.__name__ = f"_appended_{engine}_{command}"
    return damage


def _no_snapshots(edit: Callable[[list[str]], list[str]]) -> Callable[[Path, dict[str, Any]], None]:
    """Edit the journal's lines with no snapshot to skip past them."""

    def damage(state: Path, run: dict[str, Any]) -> None:
        for p in snapshot_files(state):
            p.unlink()
        (state / JOURNAL).write_text("".join(edit(_lines(state))))

    return damage


def _garble(lines: list[str]) -> list[str]:
    lines[5] = lines[5][: len(lines[5]) // 2] + "\n"
    return lines


def _drop(lines: list[str]) -> list[str]:
    del lines[5]
    return lines


def _unknown_kind(lines: list[str]) -> list[str]:
    d = json.loads(lines[5])
    d["command"] = "frobnicate"
    lines[5] = json.dumps(d) + "\n"
    return lines


def _changed_outcome(lines: list[str]) -> list[str]:
    """A command that succeeded now claims it was refused: a replay cannot
    reproduce what was acknowledged."""
    i = next(i for i, ln in enumerate(lines) if json.loads(ln)["command"] == "add_order" and "error" not in ln)
    d = json.loads(lines[i])
    d["error"] = "EOrder:Insufficient funds"
    lines[i] = json.dumps(d) + "\n"
    return lines


def _other_seed(state: Path, run: dict[str, Any]) -> None:
    """Nothing damaged: the start names another seed (ids and keys would differ)."""
    assert json.loads((state / IDENTITY).read_text())["seed"] == SEED


def _identity_garbled(state: Path, run: dict[str, Any]) -> None:
    (state / IDENTITY).write_text('{"demo": ')


REFUSED = [
    (_journal_deleted, JOURNAL, "the journal is missing, but snapshot-"),
    (_journal_emptied, JOURNAL, "the journal is empty, but snapshot-"),
    (_journal_deleted_no_snapshots, JOURNAL, f"the journal is missing, but {IDENTITY} shows a run"),
    (_cut_before_newest_snapshot, JOURNAL, "the journal was cut short"),
    (_cut_before_both_snapshots, JOURNAL, "the journal was cut short"),
    (_appended("frobnicate"), JOURNAL, "unknown command 'frobnicate' for engine 'spot'"),
    (_appended("add_order", engine="options"), JOURNAL, "unknown engine 'options'"),
    (_no_snapshots(_unknown_kind), JOURNAL, "line 6: unknown command 'frobnicate'"),
    (_no_snapshots(_garble), JOURNAL, "line 6: not a journal entry"),
    (_no_snapshots(_drop), JOURNAL, "line 6: seq 7 follows seq 5"),
    (_no_snapshots(_changed_outcome), JOURNAL, "the replay diverged"),
    (_identity_garbled, IDENTITY, "not a JSON object"),
    (_other_seed, IDENTITY, f"recorded with seed {SEED}, this start uses seed {SEED + 1}"),
]


@pytest.mark.parametrize(("damage", "file", "reason"), REFUSED, ids=[d.__name__.strip("_") for d, _, _ in REFUSED])
def test_a_damaged_state_directory_refuses_to_start(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path, damage: Any, file: str, reason: str
) -> None:
    state, run = _copy(recorded, tmp_path)
    damage(state, run)
    before = _files(state)
    seed = SEED + 1 if damage is _other_seed else SEED
    out = run_to_exit(serve_cmd(state, "--seed", str(seed)), ENV)
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert out.stdout == ""  # no ready line: nothing was served
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    msg = lines[0]
    assert msg.startswith(f"kraken-sim: refusing to start from --state-dir {state}: {state / file}: "), msg
    assert reason in msg, msg
    assert _files(state) == before  # a refused start changes nothing


def test_an_intact_or_torn_state_directory_restarts_as_recorded(
    recorded: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The other side of the rule: what is provably consistent starts.  An
    intact directory comes back from its newest snapshot; a torn last line
    (a kill mid-write: never acknowledged) is dropped; a directory whose
    snapshots are gone replays the whole journal; a snapshot that does not
    match the journal is passed over for the journal."""
    state, run = _copy(recorded, tmp_path)
    variants = {"intact": state}
    torn = tmp_path / "torn"
    shutil.copytree(state, torn)
    with open(torn / JOURNAL, "a") as fh:
        fh.write('{"seq": 999, "ts": 1, "engine": "spot", "comm')
    variants["torn"] = torn
    bare = tmp_path / "bare"
    shutil.copytree(state, bare)
    for p in snapshot_files(bare):
        p.unlink()
    variants["no snapshots"] = bare
    for name, d in variants.items():
        srv = Served(serve_cmd(d, "--seed", str(SEED)), ENV)
        try:
            got = AdminClient(srv.admin).request("GET", "/state")
        finally:
            rc, err = srv.stop()
        assert rc == 0 and "Traceback" not in err, (name, err)
        assert (got["digest"], got["journal_last"]) == (run["digest"], run["last"]), name
