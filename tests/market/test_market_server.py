"""The server running participants: admin API, frozen clock, scenario, feeds, reset."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from simulator.pytest_plugin import AdminError, KrakenVenue, start_venue
from simulator.scenario import ScenarioError, load_scenario, parse_scenario

BTC = {"symbol": "BTC/USD", "makers": 2, "takers": 2, "taker": {"rate": 0.6}}


def bot_entries(kv: KrakenVenue, since: int = 0) -> list[dict[str, Any]]:
    return [e for e in kv.admin.journal(since) if e["protocol"] == "bot" and e["command"] != "create_account"]


def test_participants_act_only_when_the_frozen_clock_moves(kraken_venue: KrakenVenue) -> None:
    a = kraken_venue.admin
    a.freeze()
    st = a.request("POST", "/market", BTC)
    assert st["enabled"] and st["steps"] == 0 and len(st["accounts"]) == 4
    time.sleep(0.3)  # wall time passes; venue time does not
    assert bot_entries(kraken_venue) == []
    a.advance(5000)  # 10 steps of 500 ms, run before the admin call returns
    st = a.request("GET", "/market")["markets"][0]
    assert st["steps"] == 10
    entries = bot_entries(kraken_venue)
    seed_mm = kraken_venue.call(lambda: kraken_venue.runtime.services.market_maker.account.id)
    # the first command takes the static seed ladder away; then only the participants' own accounts
    assert (entries[0]["command"], entries[0]["account"]) == ("cancel_all", seed_mm)
    assert {e["account"] for e in entries[1:]} <= set(st["accounts"].values())
    assert {e["command"] for e in entries} >= {"add_order", "amend_order"}
    spot = kraken_venue.runtime.venue.spot
    assert kraken_venue.call(lambda: [o for o in spot.open_orders[seed_mm].values() if o.pair.id == "XXBTZUSD"]) == []
    a.advance(30_000)
    st = a.request("GET", "/market")["markets"][0]
    assert st["steps"] == 70
    trades = kraken_venue.call(lambda: list(kraken_venue.runtime.venue.spot.trades["XXBTZUSD"]))
    assert len(trades) > 5


def test_disable_withdraws_and_reenable_resumes(kraken_venue: KrakenVenue) -> None:
    a = kraken_venue.admin
    a.freeze()
    st = a.request("POST", "/market", {**BTC, "takers": 0})
    a.advance(2000)
    accounts = st["accounts"]
    assert all(a.account(x)["open_orders"] for x in accounts.values())
    off = a.request("POST", "/market", {"symbol": "XBTUSD", "enabled": False})
    assert off["enabled"] is False
    assert all(a.account(x)["open_orders"] == [] for x in accounts.values())
    a.advance(5000)
    assert a.request("GET", "/market")["markets"][0]["steps"] == 4
    # change the shape while running: fewer makers, the dropped one's orders go
    on = a.request("POST", "/market", {"symbol": "BTC/USD", "enabled": True, "makers": 3})
    assert on["accounts"]["maker-1"] == accounts["maker-1"]  # accounts are kept per agent
    a.advance(1000)
    fewer = a.request("POST", "/market", {"symbol": "BTC/USD", "makers": 1})
    assert fewer["makers"] == 1
    assert a.account(on["accounts"]["maker-3"])["open_orders"] == []
    a.advance(1000)
    assert a.account(on["accounts"]["maker-1"])["open_orders"]


def test_admin_rejects_bad_market_requests(kraken_venue: KrakenVenue) -> None:
    a = kraken_venue.admin
    for body, text in (
        ({"symbol": "NOPE/USD"}, "unknown symbol"),
        ({"symbol": "BTC/USD", "walk": {"kind": "levy"}}, "walk.kind"),
        ({"symbol": "BTC/USD", "walk": {"kind": "series", "file": "/no/such.csv"}}, "file not found"),
        ({"symbol": "BTC/USD", "taker": {"rate": 3}}, "taker.rate"),
    ):
        with pytest.raises(AdminError) as exc:
            a.request("POST", "/market", body)
        assert exc.value.status in (400, 422) and (exc.value.status == 422 or text in str(exc.value.detail))
    assert a.request("GET", "/market") == {"markets": [], "replays": []}


def test_scenario_market_section_runs_from_start_and_after_reset() -> None:
    sc = parse_scenario({
        "seed": 5,
        "clock": {"mode": "frozen"},
        "market": [{"symbol": "ETH/USD", "makers": 1, "takers": 1, "interval_ms": 1000, "walk": {"vol_bps": 2}}],
    })
    assert sc.market[0]["symbol"] == "ETH/USD"
    tv, kv = start_venue(scenario=sc)
    try:
        a = kv.admin
        a.advance(3000)
        st = a.request("GET", "/market")["markets"]
        assert [m["symbol"] for m in st] == ["ETH/USD"] and st[0]["steps"] == 3
        a.request("POST", "/market", {"symbol": "BTC/USD"})
        a.reset()  # back to the scenario: BTC/USD's admin-enabled market is gone, ETH/USD's is back
        st = a.request("GET", "/market")["markets"]
        assert [(m["symbol"], m["steps"]) for m in st] == [("ETH/USD", 0)]
        a.advance(2000)
        assert a.request("GET", "/market")["markets"][0]["steps"] == 2
    finally:
        tv.stop()


def test_scenario_files_take_a_market_section(tmp_path: Path) -> None:
    toml = tmp_path / "s.toml"
    toml.write_text('[[market]]\nsymbol = "BTC/USD"\nmakers = 3\n[market.walk]\nkind = "series"\nspeed = 60\n')
    sc = load_scenario(str(toml))
    assert sc.market == [{"symbol": "BTC/USD", "makers": 3, "walk": {"kind": "series", "speed": 60}}]
    yml = tmp_path / "s.yaml"
    yml.write_text("market:\n  symbol: ETH/USD\n  taker: {rate: 0.5}\n  walk: {vol_bps: 2.5}\n")
    assert load_scenario(str(yml)).market == [{"symbol": "ETH/USD", "taker": {"rate": 0.5}, "walk": {"vol_bps": 2.5}}]
    yml.write_text("market:\n  - symbol: ETH/USD\n    walk: {vol_bps: lots}\n")
    with pytest.raises(ScenarioError, match=r"market\[0\]\.walk\.vol_bps: not a number"):
        load_scenario(str(yml))


def test_scenario_market_errors_name_the_field() -> None:
    with pytest.raises(ScenarioError, match=r"market\[0\]\.makers"):
        parse_scenario({"market": [{"symbol": "BTC/USD", "makers": "many"}]})
    with pytest.raises(ScenarioError, match=r"market\[1\]\.symbol"):
        parse_scenario({"market": [{"symbol": "BTC/USD"}, {"makers": 1}]})


def test_participants_run_on_a_real_clock() -> None:
    tv, kv = start_venue()
    try:
        kv.admin.request("POST", "/market", {**BTC, "interval_ms": 100})
        deadline = time.monotonic() + 10
        steps = 0
        while time.monotonic() < deadline and steps < 5:
            time.sleep(0.1)
            steps = kv.admin.request("GET", "/market")["markets"][0]["steps"]
        assert steps >= 5
    finally:
        tv.stop()


def test_bot_trades_reach_the_public_ws_feed(kraken_venue: KrakenVenue) -> None:
    websockets = pytest.importorskip("websockets.asyncio.client")
    if not any(getattr(r, "path", "") == "/v2" for r in kraken_venue.asgi_app().routes):
        pytest.skip("spot WS gateway not present in this build")
    a = kraken_venue.admin
    a.freeze()
    a.request("POST", "/market", {**BTC, "taker": {"rate": 1}})

    async def go() -> list[dict[str, Any]]:
        async with websockets.connect(kraken_venue.spot_ws, ping_interval=None) as ws:
            await ws.send(json.dumps({"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USD"]}, "req_id": 1}))
            got: list[dict[str, Any]] = []
            deadline = time.monotonic() + 15
            advanced = False
            while time.monotonic() < deadline and not got:
                try:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 0.5), parse_float=Decimal)
                except TimeoutError:
                    msg = {}
                if msg.get("method") == "subscribe" and not advanced:
                    await asyncio.to_thread(a.advance, 3000)
                    advanced = True
                if msg.get("channel") == "trade" and msg.get("type") == "update":
                    got.extend(msg["data"])
            return got

    trades = asyncio.run(asyncio.wait_for(go(), 30))
    assert trades and all(t["symbol"] == "BTC/USD" for t in trades)
