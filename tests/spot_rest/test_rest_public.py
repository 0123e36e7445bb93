"""Public endpoints through ccxt, python-kraken-sdk and krakenex (GET), plus
old-style POST; market data comes from the venue's own books and trades."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import ccxt
import pytest
from kraken.exceptions import KrakenUnknownAssetError
from kraken.spot import Market

from .helpers import Raw, ccxt_client, kx, sdk


def _buy(raw: Raw, volume: str, pair: str = "XBTUSD") -> None:
    raw.ok("AddOrder", {"pair": pair, "type": "buy", "ordertype": "market", "volume": volume})


def test_time_and_status(kraken_venue: Any, raw: Raw) -> None:
    t = raw.public("Time")["result"]
    clock_s = kraken_venue.admin.clock["now_ns"] // 10**9
    assert abs(t["unixtime"] - clock_s) <= 2
    assert re.fullmatch(r"[A-Z][a-z]{2}, [ \d]\d [A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d \+0000", t["rfc1123"])
    status = sdk(Market, kraken_venue).get_system_status()
    assert status["status"] == "online" and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", status["timestamp"])
    kraken_venue.admin.faults(status="cancel_only")
    assert raw.public("SystemStatus")["result"]["status"] == "cancel_only"


def test_assets(kraken_venue: Any, raw: Raw) -> None:
    all_assets = sdk(Market, kraken_venue).get_assets()
    assert all_assets["XXBT"] == {
        "aclass": "currency",
        "altname": "XBT",
        "decimals": 10,
        "display_decimals": 5,
        "collateral_value": 0.99,
        "status": "enabled",
        "margin_rate": "0.01",
    }
    assert all_assets["ZUSD"]["decimals"] == 4
    assert set(raw.public("Assets", asset="XBT,ZUSD")["result"]) == {"XXBT", "ZUSD"}
    assert raw.public("Assets", asset="NOPE") == {"error": ["EQuery:Unknown asset"]}
    xstocks = raw.public("Assets", aclass="tokenized_asset")["result"]
    assert {"AAPLx", "TSLAx"} <= set(xstocks) and all(a["aclass"] == "tokenized_asset" for a in xstocks.values())
    assert not set(xstocks) & set(all_assets)  # the default class is currency


def test_asset_pairs_every_spelling_and_info(kraken_venue: Any, raw: Raw) -> None:
    full = raw.public("AssetPairs", pair="XXBTZUSD")["result"]["XXBTZUSD"]
    assert raw.public("AssetPairs", pair="XBTUSD", country_code="GB")["result"] == {"XXBTZUSD": full}
    for name in ("XBT/USD", "BTC/USD"):  # a slash name keys the result as asked
        assert raw.public("AssetPairs", pair=name, country_code="GB")["result"] == {name: full}
    assert full["pair_decimals"] == 1 and full["lot_decimals"] == 8 and full["cost_decimals"] == 5
    assert full["ordermin"] == "0.00005" and full["costmin"] == "0.5" and full["tick_size"] == "0.1"
    assert full["fees"][0] == [0, 0.4] and full["fees_maker"][0] == [0, 0.25]
    assert raw.public("AssetPairs", pair="XDGUSD")["result"]["XDGUSD"]["tick_size"] == "0.0000001"
    assert raw.public("AssetPairs", pair="XBTUSD", info="leverage")["result"]["XXBTZUSD"].keys() == {
        "leverage_buy",
        "leverage_sell",
    }
    assert raw.public("AssetPairs", pair="XBTUSD", info="fees")["result"]["XXBTZUSD"].keys() == {
        "fees",
        "fees_maker",
        "fee_volume_currency",
    }
    assert raw.public("AssetPairs", pair="XBTUSD", info="margin")["result"]["XXBTZUSD"] == {
        "margin_call": 80,
        "margin_stop": 40,
    }
    assert raw.public("AssetPairs", info="bogus") == {"error": ["EGeneral:Invalid arguments"]}
    assert raw.public("AssetPairs", pair="XBTUSD,NOPE") == {"error": ["EQuery:Unknown asset pair"]}
    assert raw.public("AssetPairs")["result"]["ACAEUR"]["status"] == "cancel_only"


def test_ccxt_markets_and_market_data(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    ex = ccxt_client(kraken_venue, funded)
    markets = ex.load_markets()
    btc = markets["BTC/USD"]
    assert btc["id"] == "XXBTZUSD" and btc["precision"]["price"] == 0.1 and btc["limits"]["amount"]["min"] == 0.00005
    _buy(raw, "0.15")
    t = ex.fetch_ticker("BTC/USD")
    assert t["last"] == 91417.0 and t["baseVolume"] == 0.15 and t["bid"] == 91414.0 and t["ask"] == 91417.0
    book = ex.fetch_order_book("BTC/USD", limit=3)
    assert [p for p, _, _ in book["asks"]] == [91417.0, 91418.0, 91419.0]
    assert [p for p, _, _ in book["bids"]] == [91414.0, 91413.0, 91412.0]
    assert book["asks"][0][1] == 0.05
    trades = ex.fetch_trades("BTC/USD")
    assert [(x["price"], x["amount"], x["side"]) for x in trades] == [(91416.0, 0.1, "buy"), (91417.0, 0.05, "buy")]
    candles = ex.fetch_ohlcv("BTC/USD", "1m")
    assert candles[-1][1:] == [91416.0, 91417.0, 91416.0, 91417.0, 0.15]


def test_ticker_shape_and_keys(kraken_venue: Any, raw: Raw) -> None:
    _buy(raw, "0.1")
    res = raw.public("Ticker", pair="XBTUSD,BTC/USD")["result"]
    assert set(res) == {"XXBTZUSD", "BTC/USD"}
    t = res["XXBTZUSD"]
    assert t["a"] == ["91417.00000", "0", "0.100"] and t["b"] == ["91414.00000", "0", "0.100"]
    assert t["c"] == ["91416.00000", "0.10000000"]
    assert t["v"] == ["0.10000000", "0.10000000"] and t["t"] == [1, 1]
    assert t["p"] == ["91416.00000", "91416.00000"] and t["o"] == "91416.00000"
    assert t["l"] == t["h"] == ["91416.00000", "91416.00000"]
    pairs = kraken_venue.runtime.venue.instruments.pairs.values()
    xstocks = {p.id for p in pairs if p.raw.get("aclass_base") == "tokenized_asset"}
    assert xstocks and set(raw.public("Ticker")["result"]) == {p.id for p in pairs} - xstocks
    assert set(raw.public("Ticker", asset_class="tokenized_asset")["result"]) == xstocks


def test_ohlc_candles_intervals_and_since(kraken_venue: Any, raw: Raw) -> None:
    kraken_venue.admin.freeze()
    kraken_venue.admin.set_clock(set="2030-01-01T00:00:10Z")
    _buy(raw, "0.1")  # 91416.0
    kraken_venue.admin.advance(120_000)  # two minutes later, one empty candle between
    _buy(raw, "0.15")  # 91417 x0.1 + 91418 x0.05
    res = sdk(Market, kraken_venue).get_ohlc(pair="XBTUSD", interval=1)
    rows = res["XXBTZUSD"]
    t0 = 1893456000
    assert rows == [
        [t0, "91416.0", "91416.0", "91416.0", "91416.0", "91416.0", "0.10000000", 1],
        [t0 + 60, "91416.0", "91416.0", "91416.0", "91416.0", "0.0", "0.00000000", 0],
        [t0 + 120, "91417.0", "91418.0", "91417.0", "91418.0", "91417.3", "0.15000000", 2],
    ]
    assert res["last"] == t0 + 60
    assert raw.public("OHLC", pair="XBTUSD", since=t0)["result"]["XXBTZUSD"][0][0] == t0 + 60
    five = raw.public("OHLC", pair="BTC/USD", interval=5)["result"]
    assert five["BTC/USD"] == [[t0, "91416.0", "91418.0", "91416.0", "91418.0", "91416.8", "0.25000000", 3]]
    assert raw.public("OHLC", pair="XBTUSD", interval=7) == {"error": ["EGeneral:Invalid arguments"]}
    assert raw.public("OHLC") == {"error": ["EGeneral:Invalid arguments"]}


def test_depth_and_count(kraken_venue: Any, raw: Raw) -> None:
    res = raw.public("Depth", pair="ETHUSD", count=2)["result"]["XETHZUSD"]
    assert [r[0] for r in res["asks"]] == ["3200.60000", "3200.70000"]
    assert [r[0] for r in res["bids"]] == ["3200.40000", "3200.30000"]
    assert res["asks"][0][1] == "4.000" and isinstance(res["asks"][0][2], int)
    big = sdk(Market, kraken_venue).get_order_book(pair="XBTUSD", count=500)["XXBTZUSD"]
    assert len(big["asks"]) == len(big["bids"]) == 10
    with pytest.raises(KrakenUnknownAssetError, match="EQuery:Unknown asset pair"):
        sdk(Market, kraken_venue).get_order_book(pair="NOPEUSD")


def test_trades_since_and_count(kraken_venue: Any, raw: Raw) -> None:
    _buy(raw, "0.25")  # three makers at one time: 0.1 + 0.1 + 0.05
    _buy(raw, "0.05")
    res = raw.public("Trades", pair="XBTUSD")["result"]
    rows = res["XXBTZUSD"]
    assert [r[6] for r in rows] == [1, 2, 3, 4]
    assert rows[0][:2] == ["91416.00000", "0.10000000"] and rows[0][3:6] == ["b", "m", ""]
    assert isinstance(rows[0][2], float) and isinstance(res["last"], str)
    first = raw.public("Trades", pair="XBTUSD", count=2)["result"]
    assert [r[6] for r in first["XXBTZUSD"]] == [3, 4]  # the most recent
    # a page never splits one timestamp: `last` is safe to feed back
    page = raw.public("Trades", pair="XBTUSD", since=0, count=2)["result"]
    assert [r[6] for r in page["XXBTZUSD"]] == [1, 2, 3]
    rest = raw.public("Trades", pair="XBTUSD", since=page["last"])["result"]
    assert [r[6] for r in rest["XXBTZUSD"]] == [4]
    sdk_rows = sdk(Market, kraken_venue).get_recent_trades(pair="XBTUSD", since=page["last"])
    assert [r[6] for r in sdk_rows["XXBTZUSD"]] == [4]


def test_spread(kraken_venue: Any, raw: Raw) -> None:
    _buy(raw, "0.1")
    res = sdk(Market, kraken_venue).get_recent_spreads(pair="XBTUSD")
    rows = res["XXBTZUSD"]
    assert rows[-1][1:] == ["91414.00000", "91417.00000"] and isinstance(rows[-1][0], int)
    assert res["last"] == rows[-1][0]
    assert raw.public("Spread", pair="XBTUSD", since=res["last"])["result"]["XXBTZUSD"] == []


def test_krakenex_get_and_old_style_post(kraken_venue: Any, funded: dict[str, Any], raw: Raw) -> None:
    api = kx(kraken_venue, funded)
    assert (
        api.query_public("Depth", {"pair": "XBTUSD", "count": 1})["result"]["XXBTZUSD"]["asks"][0][0] == "91416.00000"
    )
    r = raw.http.post(raw.base + "/0/public/Ticker", data={"pair": "ETHUSD"})
    assert set(r.json()["result"]) == {"XETHZUSD"}
    r = raw.http.post(raw.base + "/0/public/Ticker", json={"pair": "SOLUSD"})
    assert set(r.json()["result"]) == {"SOLUSD"}


def test_ccxt_public_errors(kraken_venue: Any, funded: dict[str, Any]) -> None:
    ex = ccxt_client(kraken_venue, funded)
    ex.load_markets()
    with pytest.raises(ccxt.BadRequest):
        ex.public_get_ohlc({"pair": "XXBTZUSD", "interval": 2})
    assert Decimal(ex.public_get_time()["result"]["unixtime"]) > 0
