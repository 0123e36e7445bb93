"""Issue 16, Spot REST: the instrument catalogue (most-traded pairs, EUR
quotes, xStocks) and public pair lookups keyed by the name asked for."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from kraken.exceptions import KrakenUnknownAssetError
from kraken.spot import Market

from .helpers import Raw, ccxt_client, sdk

FIELDS = {
    "altname", "wsname", "aclass_base", "base", "aclass_quote", "quote", "lot", "cost_decimals", "pair_decimals",
    "lot_decimals", "lot_multiplier", "leverage_buy", "leverage_sell", "fees", "fees_maker", "fee_volume_currency",
    "margin_call", "margin_stop", "ordermin", "costmin", "tick_size", "status",
}  # fmt: skip


def test_catalogue_covers_the_most_traded_pairs(kraken_venue: Any) -> None:
    market = sdk(Market, kraken_venue)
    listed = market.get_asset_pairs()
    assert len(listed) >= 50
    for key, entry in listed.items():
        assert FIELDS <= set(entry), key
        assert entry["fees"] and entry["fees_maker"], key
        tick = Decimal(entry["tick_size"])
        assert (
            tick == Decimal(1).scaleb(-entry["pair_decimals"]) or tick % Decimal(1).scaleb(-entry["pair_decimals"]) == 0
        )
        assert Decimal(entry["ordermin"]) > 0 and Decimal(entry["costmin"]) > 0
    wsnames = {e["wsname"] for e in listed.values()}
    assert {"DOT/USD", "DOT/EUR", "XLM/USD", "XLM/EUR", "XRP/EUR", "ETH/EUR", "USDT/EUR"} <= wsnames
    assert sum(1 for e in listed.values() if e["quote"] == "ZEUR") >= 10
    assert all(e["aclass_base"] == "currency" for e in listed.values())  # xStocks only when asked for


def test_dot_and_doteur(kraken_venue: Any, raw: Raw) -> None:
    market = sdk(Market, kraken_venue)
    dot = market.get_assets(assets="DOT")
    assert dot == {
        "DOT": {
            "aclass": "currency",
            "altname": "DOT",
            "decimals": 10,
            "display_decimals": 8,
            "collateral_value": 0.9,
            "status": "enabled",
            "margin_rate": "0.02",
        }
    }
    pair = market.get_asset_pairs(pair="DOTEUR")["DOTEUR"]
    assert (pair["base"], pair["quote"], pair["wsname"]) == ("DOT", "ZEUR", "DOT/EUR")
    assert pair["pair_decimals"] == 4 and pair["tick_size"] == "0.0001" and pair["costmin"] == "0.45"
    assert pair["leverage_buy"] == [2, 3] and pair["margin_call"] == 80 and pair["margin_stop"] == 40
    assert pair["long_position_limit"] > 0 and pair["status"] == "online"
    assert set(raw.public("Assets", asset="XLM,DOT")["result"]) == {"XXLM", "DOT"}
    # a new pair trades from an empty book: a resting order is accepted and listed
    raw.ok("AddOrder", {"pair": "DOTEUR", "type": "buy", "ordertype": "limit", "price": "4.1234", "volume": "2"})
    best = raw.public("Depth", pair="DOT/EUR")["result"]["DOT/EUR"]["bids"][0]
    assert [Decimal(best[0]), Decimal(best[1])] == [Decimal("4.1234"), Decimal(2)]


def test_xstocks_are_tokenized_assets(kraken_venue: Any, raw: Raw) -> None:
    market = sdk(Market, kraken_venue)
    aapl = market.get_asset_pairs(pair="AAPLxUSD", aclass_base="tokenized_asset")["AAPLxUSD"]
    recorded = {  # nautilus_trader's recorded http_asset_pairs_tokenized.json
        "altname": "AAPLxUSD", "wsname": "AAPLx/USD", "aclass_base": "tokenized_asset", "base": "AAPLx",
        "aclass_quote": "currency", "quote": "ZUSD", "lot": "unit", "cost_decimals": 5, "pair_decimals": 2,
        "lot_decimals": 8, "lot_multiplier": 1, "leverage_buy": [2, 3], "leverage_sell": [2, 3], "fees": [[0, 0.1]],
        "fees_maker": [[0, -0.02]], "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40,
        "ordermin": "0.00000001", "costmin": "0.5", "tick_size": "0.01", "status": "online",
        "execution_venue": "international", "long_position_limit": 400, "short_position_limit": 400,
    }  # fmt: skip
    assert aapl == recorded
    listed = market.get_asset_pairs(aclass_base="tokenized_asset")
    assert "AAPLxUSD" in listed and all(e["aclass_base"] == "tokenized_asset" for e in listed.values())
    assets = market.get_assets(aclass="tokenized_asset")
    assert assets["AAPLx"]["aclass"] == "tokenized_asset"
    with pytest.raises(KrakenUnknownAssetError):
        market.get_asset_pairs(pair="NOPExUSD")


def test_asset_pairs_keyed_by_the_name_asked_for(kraken_venue: Any) -> None:
    """python-kraken-sdk's OrderbookClient reads get_asset_pairs(pair=...)[pair]."""
    market = sdk(Market, kraken_venue)
    assert market.get_asset_pairs(pair="BTC/USD")["BTC/USD"]["pair_decimals"] == 1
    assert set(market.get_asset_pairs(pair=["BTC/USD", "XBTEUR"])) == {"BTC/USD", "XXBTZEUR"}
    assert set(market.get_asset_pairs(pair="DOT/EUR", info="margin")) == {"DOT/EUR"}
    assert set(market.get_ticker(pair="DOT/EUR")) == {"DOT/EUR"}


def test_ccxt_loads_the_whole_catalogue(kraken_venue: Any) -> None:
    creds = kraken_venue.admin.create_account({"USD": "1000"})
    ex = ccxt_client(kraken_venue, creds)
    markets = ex.load_markets()
    assert len(markets) >= 50
    dot = markets["DOT/EUR"]
    assert dot["id"] == "DOTEUR" and dot["precision"]["price"] == 0.0001 and dot["limits"]["amount"]["min"] == 1.2
    assert markets["XLM/USD"]["id"] == "XXLMZUSD" and markets["BTC/JPY"]["precision"]["price"] == 1.0
