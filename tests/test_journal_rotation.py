"""With a state directory the journal's disk is bounded (issue 15.11): the
journal file is sealed as a segment at a snapshot once it passes
`--journal-rotate-mb`, and sealed segments every kept snapshot is past are
deleted.  A restart still comes back to the same state (newest snapshot +
the journal after it), the download is still a consistent run of whole
lines (saying how many seqs were rotated away), `kraken-sim replay` refuses
a file that does not start at seq 1, and a start whose snapshots are gone
once the journal's beginning is gone is refused, never run as something
else.  The venue runs in-process (snapshots by count); refusals and `kraken-sim
replay` through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.pytest_plugin import KrakenVenue
from simulator.scenario import Scenario
from simulator.server.persistence import JOURNAL, snapshot_files, snapshot_header
from simulator.server.runtime import Settings
from simulator.server.segments import Segments, sealed_files
from simulator.server.server import ThreadedVenue
from tests.cli_serve import ROOT, run_to_exit, serve_cmd
from tests.prove.kit import Rest, fund

SEED = 11
ROTATE = 4000  # bytes: a segment every few snapshots
ORDERS = 200


def _journal_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.glob("journal*.jsonl"))


class Run:
    """One simulator on a state directory, snapshotting exactly every 20 commands."""

    def __init__(self, state: Path, rotate: int = ROTATE, journal_max: int | None = 50) -> None:
        settings = Settings(port=0, fix_port=0, seed=SEED, state_dir=str(state), snapshot_every=20,
                            journal_rotate_bytes=rotate, journal_max=journal_max)
        self.tv = ThreadedVenue(settings, Scenario(books=[]))
        self.tv.start()
        self.v = KrakenVenue(self.tv)
        store = self.v.runtime.services.journal_file
        assert store is not None
        store.duty = 0  # counts, not timings

    def state(self) -> tuple[str, int]:
        st = self.v.admin.request("GET", "/state")
        return st["digest"], st["journal_last"]

    def stop(self) -> None:
        self.tv.stop()


def _record(state: Path, rotate: int = ROTATE) -> dict[str, Any]:
    """Orders placed, filled and cancelled, stopped cleanly; the digest, the
    last seq and a download taken before the stop."""
    run = Run(state, rotate)
    try:
        a, b = fund(run.v), fund(run.v)
        with Rest(run.v) as rest:
            for i in range(ORDERS):
                who, side = (a, "sell") if i % 2 else (b, "buy")
                txid = rest.ok(who, "AddOrder", {"pair": "XBTUSD", "type": side, "ordertype": "limit",
                                                 "price": str(50000 + i % 7), "volume": "0.01"})["txid"][0]
                if i % 5 == 0:
                    rest.private(who, "CancelOrder", {"txid": txid})  # filled already: refused, journaled
        download = httpx.get(run.v.admin.base + "/journal.jsonl", timeout=30)
        digest, last = run.state()
    finally:
        run.stop()
    return {"digest": digest, "last": last, "download": download}


def _restarted(state: Path) -> tuple[str, int]:
    run = Run(state)
    try:
        return run.state()
    finally:
        run.stop()


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    state = tmp_path_factory.mktemp("rotated") / "state"
    return state, _record(state)


def test_the_journal_disk_is_bounded_and_a_restart_restores_the_same_state(
    rotated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    src, run = rotated
    sealed = sealed_files(src)
    assert sealed, "no segment was sealed"
    assert sealed[0][0] > 0  # the oldest segments were deleted
    first = Segments(src / JOURNAL).first_seq()
    assert first is not None and first > 1
    # bounded: what stays is about two segments plus what follows the newest snapshot, never the whole run
    unbounded = tmp_path / "unbounded"
    _record(unbounded, rotate=0)
    assert not sealed_files(unbounded)
    assert _journal_bytes(src) < _journal_bytes(unbounded) / 2, (_journal_bytes(src), _journal_bytes(unbounded))
    # every kept snapshot's line is still on disk, and the newest takes the restart
    heads = [snapshot_header(p) for p in snapshot_files(src)]
    assert all(h is not None and h["offset"] > sealed[0][0] for h in heads)
    for name in ("as stopped", "again"):
        assert _restarted(src) == (run["digest"], run["last"]), name


def test_a_restart_from_the_older_snapshot_replays_across_segments(
    rotated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The newest snapshot damaged: the older one, and the journal after it
    (which may start in a sealed segment), still restore the same state."""
    src, run = rotated
    state = tmp_path / "state"
    shutil.copytree(src, state)
    newest = snapshot_files(state)[0]
    newest.write_bytes(newest.read_bytes()[:-10] + b"0123456789")
    assert _restarted(state) == (run["digest"], run["last"])


def test_no_snapshot_left_once_the_start_is_rotated_away_refuses_to_start(
    rotated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    src, _ = rotated
    state = tmp_path / "state"
    shutil.copytree(src, state)
    for p in snapshot_files(state):
        p.unlink()
    before = {p.name: p.read_bytes() for p in state.iterdir() if p.is_file()}
    out = run_to_exit(serve_cmd(state, "--seed", str(SEED)))
    assert out.returncode == 1 and out.stdout == "", out.stderr
    assert "the journal on disk starts at seq" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert {p.name: p.read_bytes() for p in state.iterdir() if p.is_file()} == before


def test_the_active_journal_deleted_after_rotation_refuses_to_start(
    rotated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A rotation never leaves journal.jsonl missing: gone beside sealed
    segments, the commands after the newest segment may be lost."""
    src, _ = rotated
    state = tmp_path / "state"
    shutil.copytree(src, state)
    (state / JOURNAL).unlink()
    out = run_to_exit(serve_cmd(state, "--seed", str(SEED)))
    assert out.returncode == 1 and out.stdout == "", out.stderr
    assert "the journal is missing, but sealed journal segments" in out.stderr, out.stderr


def test_the_download_after_rotation_is_consistent_and_replay_refuses_it(
    rotated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """Whole lines, consecutive seqs from the first one on disk, the header
    saying how many came before; `kraken-sim replay` will not rebuild a
    state from it (it would be another state), and says why."""
    _, run = rotated
    r = run["download"]
    assert r.status_code == 200
    body = r.content
    assert body.endswith(b"\n") and int(r.headers["content-length"]) == len(body)
    seqs = [json.loads(ln)["seq"] for ln in body.splitlines()]
    before = int(r.headers["x-journal-dropped"])
    assert before > 0 and seqs == list(range(before + 1, before + 1 + len(seqs)))
    path = tmp_path / "journal.jsonl"
    path.write_bytes(body)
    out = subprocess.run([sys.executable, "-m", "simulator", "replay", str(path), "--seed", str(SEED)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 2 and f"starts at seq {before + 1}, not 1" in out.stderr, out.stderr


def test_a_rotation_cut_short_by_a_kill_is_finished_on_the_next_start(
    rotated: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """A kill between sealing (a hard link) and the fresh active file leaves
    both names on one file: the start finishes the rotation instead of
    reading the segment twice."""
    src, run = rotated
    state = tmp_path / "state"
    shutil.copytree(src, state)
    # rebuild the moment of the kill: the newest segment (sealed at the stop) also as the active file
    newest = sealed_files(state)[-1][1]
    assert (state / JOURNAL).stat().st_size == 0 and newest.stat().st_size > 0
    (state / JOURNAL).unlink()
    os.link(newest, state / JOURNAL)
    assert _restarted(state) == (run["digest"], run["last"])


@pytest.mark.parametrize("value", ["-1", "nan", "1e12"])
def test_serve_refuses_a_rotation_size_out_of_range(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    assert main(["serve", "--journal-rotate-mb", value]) == 2
    assert "--journal-rotate-mb must be between 0 and 1000000000" in capsys.readouterr().err
