"""A restart with a state directory brings the venue back exactly."""

from __future__ import annotations

from pathlib import Path

from simulator.pytest_plugin import start_venue


def test_restart_restores_engine_state(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    tv, v = start_venue(seed=4, state_dir=state)
    try:
        a = v.admin.create_account({"USD": "100000", "XBT": "3"})
        v.admin.seed_book("BTC/USD", bids=[["60000.0", "0.5"]], asks=[["60100.0", "0.4"]])
        v.admin.freeze()
        v.admin.advance(5000)
        digest = v.admin.request("GET", "/state")["digest"]
        demo = v.demo_account["api_key"]
        n = len(v.admin.journal())
    finally:
        tv.stop()
    tv2, v2 = start_venue(seed=4, state_dir=state)
    try:
        assert v2.admin.request("GET", "/state")["digest"] == digest
        assert v2.demo_account["api_key"] == demo
        assert v2.admin.account(a["account_id"])["balances"]["USD"] == "100000"
        assert len(v2.admin.journal()) == n  # the replay rebuilt the journal itself
        # and it keeps recording: a third start still matches
        v2.admin.create_account({"USD": "1"})
        digest2 = v2.admin.request("GET", "/state")["digest"]
    finally:
        tv2.stop()
    tv3, v3 = start_venue(seed=4, state_dir=state)
    try:
        assert v3.admin.request("GET", "/state")["digest"] == digest2
        v3.admin.reset()  # a reset starts a fresh recording
    finally:
        tv3.stop()
    assert (Path(state) / "journal.jsonl").read_text().count("\n") < n


def test_journal_max_bounds_memory_and_the_download_stays_complete(tmp_path: Path) -> None:
    """`--journal-max N`: memory keeps the newest entries only; with a state
    directory the JSONL download is still the whole run (it replays to the
    same digest), without one it says how many entries it lacks."""
    import json
    import subprocess
    import sys

    import httpx

    from simulator.core.sequencer import Journal
    from simulator.server.runtime import Settings
    from simulator.server.server import ThreadedVenue

    j = Journal(8)
    for i in range(100):
        j.append(i)  # type: ignore[arg-type]
    assert 8 <= len(j.entries) <= 9 and j.entries[-1] == 99 and j.dropped + len(j.entries) == 100

    for state in (str(tmp_path / "state"), None):
        tv = ThreadedVenue(Settings(port=0, fix_port=0, seed=5, state_dir=state, journal_max=20))
        info = tv.start()
        try:
            admin = info["admin"]
            for i in range(60):
                httpx.post(admin + "/accounts", json={"balances": {"USD": str(i + 1)}}, timeout=10).raise_for_status()
            st = httpx.get(admin + "/state", timeout=10).json()
            r = httpx.get(admin + "/journal.jsonl", timeout=10)
            lines = [ln for ln in r.text.splitlines() if ln]
            mem = httpx.get(admin + "/journal", params={"since": 0}, timeout=10).json()
            assert len(mem["entries"]) <= 22 and mem["dropped"] > 0
        finally:
            tv.stop()
        if state is None:
            assert r.headers["X-Journal-Dropped"] == str(mem["dropped"]) and len(lines) == len(mem["entries"])
            continue
        assert len(lines) == st["journal_last"]  # every command since the start
        path = tmp_path / "full.jsonl"
        path.write_text(r.text)
        out = subprocess.run([sys.executable, "-m", "simulator", "replay", str(path), "--seed", "5"],
                             capture_output=True, text=True, timeout=60, check=True)
        assert json.loads(out.stdout)["digest"] == st["digest"]
