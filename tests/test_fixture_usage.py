"""The pytest fixture as a user would use it, and reset isolation."""

from __future__ import annotations

import json
import threading
import urllib.request
from typing import Any

import pytest

from simulator.pytest_plugin import AdminError, KrakenVenue


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def test_fixture_exposes_every_url(kraken_venue: KrakenVenue) -> None:
    for attr in ("spot_rest", "spot_ws", "spot_ws_auth", "spot_ws_l3", "futures_rest", "futures_ws", "admin_url"):
        assert getattr(kraken_venue, attr).startswith(("http://127.0.0.1:", "ws://127.0.0.1:"))
    assert kraken_venue.demo_account["api_key"]
    assert get(kraken_venue.spot_rest + "/health") == {"status": "ok"}
    assert "/admin/accounts" in get(kraken_venue.spot_rest + "/openapi.json")["paths"]


def test_reset_restores_the_scenario(kraken_venue: KrakenVenue) -> None:
    admin = kraken_venue.admin

    def recipe() -> list[tuple[Any, ...]]:
        """What built the state: the same commands from the same seed are the same
        state, stamped with the time they ran (which the digest covers too)."""
        return [(e["engine"], e["command"], e["params"], e.get("error")) for e in admin.journal(events=False)]

    before, digest = recipe(), admin.request("GET", "/state")["digest"]
    acct = admin.create_account({"USD": "5"})
    admin.seed_book("BTC/USD", bids=[["1000.0", "1"]], asks=[])
    assert admin.request("GET", "/state")["digest"] != digest
    out = admin.reset()
    assert out["demo_account"]["api_key"] == kraken_venue.demo_account["api_key"]  # stable keys
    assert recipe() == before
    with pytest.raises(AdminError) as ei:
        admin.account(acct["account_id"])
    assert ei.value.status == 404


def test_clock_control(kraken_venue: KrakenVenue) -> None:
    admin = kraken_venue.admin
    c = admin.freeze()
    assert c["mode"] == "frozen"
    later = admin.advance(60_000)
    assert later["now_ns"] - c["now_ns"] == 60_000_000_000
    admin.set_clock(set="2030-01-01T00:00:00Z")
    assert admin.clock["now"].startswith("2030-01-01T00:00:00")
    with pytest.raises(AdminError):
        admin.set_clock(set="2029-01-01T00:00:00Z")  # never backwards
    admin.set_clock(mode="real")


def test_admin_validation_errors(kraken_venue: KrakenVenue) -> None:
    admin = kraken_venue.admin
    with pytest.raises(AdminError) as ei:
        admin.create_account({"NOPE": "1"})
    assert ei.value.status == 400 and "EQuery:Unknown asset" in str(ei.value.detail)
    with pytest.raises(AdminError) as ei:
        admin.create_account({"USD": "abc"})
    assert ei.value.status == 400
    with pytest.raises(AdminError) as ei:
        admin.faults(unavailable_share=2)
    assert ei.value.status == 422


def test_two_venues_are_isolated(kraken_venue: KrakenVenue) -> None:
    from simulator.pytest_plugin import start_venue

    tv, other = start_venue(seed=5)
    try:
        assert other.spot_rest != kraken_venue.spot_rest
        other.admin.create_account({"USD": "1"})
        assert len(other.admin.request("GET", "/accounts")) == len(kraken_venue.admin.request("GET", "/accounts")) + 1
    finally:
        tv.stop()


def test_no_threads_leak() -> None:
    from simulator.pytest_plugin import start_venue

    before = set(threading.enumerate())
    for _ in range(3):
        tv, _v = start_venue()
        tv.stop()
    assert set(threading.enumerate()) <= before


def test_admin_token_guard() -> None:
    from simulator.pytest_plugin import AdminClient, start_venue

    tv, v = start_venue(admin_token="s3cret")
    try:
        v.admin.create_account({"USD": "1"})  # the fixture's client sends the token
        with pytest.raises(AdminError) as ei:
            AdminClient(v.admin_url).create_account({"USD": "1"})
        assert ei.value.status == 401
    finally:
        tv.stop()


def test_journal_download_replays_to_the_same_state(kraken_venue: KrakenVenue, tmp_path) -> None:
    import subprocess
    import sys

    admin = kraken_venue.admin
    acct = admin.create_account({"USD": "100000", "XBT": "2"})
    admin.seed_book("BTC/USD", bids=[["50000.0", "0.5"]], asks=[["50010.0", "0.5"]])
    admin.seed_book("BTC/USD", bids=[["50020.0", "0.1"]], asks=[])  # crosses the ask: a trade
    assert acct["account_id"]
    with urllib.request.urlopen(kraken_venue.admin_url + "/journal.jsonl", timeout=10) as r:
        (tmp_path / "j.jsonl").write_bytes(r.read())
    digest = admin.request("GET", "/state")["digest"]
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "replay", str(tmp_path / "j.jsonl")], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["digest"] == digest


def test_latency_profile_shapes_protocols(kraken_venue: KrakenVenue) -> None:
    import time

    admin = kraken_venue.admin
    out = admin.faults(latency_profile="kraken", seed=1)
    assert out["latency_ms"]["rest"] == [20.0, 120.0] and out["latency_ms"]["fix"] == [0.5, 2.0]
    rt = kraken_venue.runtime
    rest = [kraken_venue.call(rt.latency_s, "rest") for _ in range(50)]
    fix = [kraken_venue.call(rt.latency_s, "fix") for _ in range(50)]
    assert min(rest) >= 0.02 and max(fix) <= 0.002 and len(set(rest)) > 40  # variable REST, tight FIX
    t0 = time.perf_counter()
    get(kraken_venue.spot_rest + "/0/public/Time")
    assert time.perf_counter() - t0 >= 0.02  # the REST gateway waits it out
    assert admin.faults(latency_profile="off")["latency_ms"] == {}
    with pytest.raises(AdminError):
        admin.faults(latency_profile="slow")
