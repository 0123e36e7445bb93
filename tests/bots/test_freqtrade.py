"""A real bot end to end: freqtrade in live mode (dry_run off) against a venue.

freqtrade is installed in its own virtualenv (it brings pandas, scipy, TA-Lib;
`.ci/run` makes `.venv-bot`), and runs as a subprocess pointed at the venue by
ccxt's URLs only.  It trades BTC/USD on the venue's background market: entries,
an on-exchange stop-loss per trade (placed, then cancelled at exit), exits.
Afterwards its own records (the sqlite database) must match the venue's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import krakenex
import pytest

from simulator.pytest_plugin import KrakenVenue, start_venue
from simulator.scenario import Scenario

ROOT = Path(__file__).resolve().parents[2]
RUN_S = 240  # wall-clock bound: the first complete 1m candle, then round trips
STRATEGY = '''
from datetime import datetime, timedelta

from freqtrade.strategy import IStrategy


class SimStrategy(IStrategy):
    """Enter on every complete candle, leave after a few seconds."""

    INTERFACE_VERSION = 3
    timeframe = "1m"
    minimal_roi = {"0": 10}
    stoploss = -0.5
    startup_candle_count = 0
    process_only_new_candles = False
    can_short = False

    def populate_indicators(self, dataframe, metadata):
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe["enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe["exit_long"] = 0
        return dataframe

    def custom_exit(self, pair, trade, current_time, current_rate, current_profit, **kwargs):
        if current_time - trade.open_date_utc > timedelta(seconds=8):
            return "sim_timeout"
        return None
'''


def freqtrade_exe() -> str | None:
    exe = os.environ.get("KRAKEN_SIM_FREQTRADE") or str(ROOT / ".venv-bot" / "bin" / "freqtrade")
    return exe if Path(exe).exists() else shutil.which("freqtrade")


@pytest.fixture
def market_venue() -> Iterator[KrakenVenue]:
    """A venue whose BTC/USD has a background market (makers quote, takers trade)."""
    sc = Scenario(market=[{"symbol": "BTC/USD", "takers": 1, "interval_ms": 500}])
    tv, venue = start_venue(scenario=sc)
    try:
        yield venue
    finally:
        tv.stop()


def _config(venue: KrakenVenue, creds: dict[str, Any], tmp: Path) -> Path:
    urls = {"api": {"public": venue.spot_rest, "private": venue.spot_rest}}
    cfg = {
        "max_open_trades": 1,
        "stake_currency": "USD",
        "stake_amount": 200,
        "dry_run": False,
        "timeframe": "1m",
        "trading_mode": "spot",
        "unfilledtimeout": {"entry": 20, "exit": 20, "unit": "seconds"},
        "entry_pricing": {"price_side": "other", "use_order_book": False, "price_last_balance": 0.0},
        "exit_pricing": {"price_side": "other", "use_order_book": False},
        "order_types": {"entry": "limit", "exit": "limit", "stoploss": "market", "stoploss_on_exchange": True,
                        "stoploss_on_exchange_interval": 5},  # fmt: skip
        "exchange": {
            "name": "kraken",
            "key": creds["api_key"],
            "secret": creds["api_secret"],
            # only the URLs change; ccxt's own rate limiter stays on, as freqtrade runs it live
            "ccxt_config": {"urls": urls},
            "ccxt_async_config": {"urls": urls},
            "pair_whitelist": ["BTC/USD"],
        },
        "pairlists": [{"method": "StaticPairList"}],
        "internals": {"process_throttle_secs": 1, "heartbeat_interval": 0},
        "bot_name": "kraken-sim",
        "initial_state": "running",
        "force_entry_enable": False,
        "db_url": f"sqlite:///{tmp / 'trades.sqlite'}",
        "user_data_dir": str(tmp / "user_data"),
        "strategy": "SimStrategy",
        "strategy_path": str(tmp / "strategies"),
        "dataformat_ohlcv": "feather",
    }
    (tmp / "strategies").mkdir()
    (tmp / "strategies" / "sim_strategy.py").write_text(STRATEGY)
    path = tmp / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def _closed_trades(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as con:
            return int(con.execute("select count(*) from trades where is_open = 0").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_freqtrade_live_cycle_matches_the_venue(market_venue: KrakenVenue, tmp_path: Path) -> None:
    exe = freqtrade_exe()
    if exe is None:
        pytest.skip("freqtrade is not installed (.ci/run installs it into .venv-bot)")
    creds = market_venue.admin.create_account({"USD": "100000"})
    config = _config(market_venue, creds, tmp_path)
    (tmp_path / "user_data").mkdir()
    db = tmp_path / "trades.sqlite"
    log = tmp_path / "freqtrade.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [exe, "trade", "--config", str(config)],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + RUN_S
            while time.monotonic() < deadline and proc.poll() is None and _closed_trades(db) < 2:
                time.sleep(1)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    text = log.read_text(errors="replace")
    assert _closed_trades(db) >= 2, text[-6000:]
    for bad in ("Invalid arguments", "Traceback", "Unknown method", "Internal error"):
        assert bad not in text, text[-6000:]

    # every order freqtrade recorded is the venue's order, with the same outcome
    api = krakenex.API(creds["api_key"], creds["api_secret"])
    api.uri = market_venue.spot_rest
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select order_id, ft_order_side, status, filled, average from orders where order_id is not null"
        ).fetchall()
    assert rows, "freqtrade recorded no order"
    sides = {r[1] for r in rows}
    assert {"buy", "sell", "stoploss"} <= sides, sides
    ids = [r[0] for r in rows]
    venue_orders: dict[str, Any] = {}
    for i in range(0, len(ids), 50):
        res = api.query_private("QueryOrders", {"txid": ",".join(ids[i : i + 50]), "trades": True})
        assert res["error"] == [], res
        venue_orders.update(res["result"])
    for oid, _side, status, filled, average in rows:
        o = venue_orders[oid]
        assert o["status"] in ("closed", "canceled", "open"), o
        assert status == o["status"], (oid, status, o)
        assert Decimal(str(filled or 0)) == Decimal(o["vol_exec"]), (oid, filled, o)
        if o["status"] == "closed" and Decimal(o["vol_exec"]):
            assert abs(Decimal(str(average)) - Decimal(o["price"])) <= Decimal("0.01"), (oid, average, o)
    # and every order the venue has for this account is one freqtrade knows
    closed = api.query_private("ClosedOrders", {})["result"]["closed"]
    opened = api.query_private("OpenOrders", {})["result"]["open"]
    assert set(closed) | set(opened) <= set(ids), (set(closed) | set(opened)) - set(ids)
    # the balance the venue holds is what freqtrade's closed trades imply (no open trade left over)
    with sqlite3.connect(db) as con:
        open_trades = con.execute("select count(*) from trades where is_open = 1").fetchone()[0]
    bal = api.query_private("Balance")["result"]
    if open_trades == 0:
        assert Decimal(bal.get("XXBT", "0")) < Decimal("0.0001"), bal  # everything bought was sold
