"""Small pieces: body parsing, booleans, number strings, order sentences."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from simulator.core.orders import RelPrice
from simulator.gateways.spot_rest.parse import ApiError, Params, parse_body, parse_form, parse_json, parse_price
from simulator.gateways.spot_rest.render import balance, book_volume, pub_price, rfc1123

from .helpers import Raw


def test_form_nesting() -> None:
    assert parse_form(b"nonce=1&close[ordertype]=limit&close[price]=5") == {
        "nonce": "1",
        "close": {"ordertype": "limit", "price": "5"},
    }
    assert parse_form(b"orders[0][type]=buy&orders[1][type]=sell&pair=XBTUSD") == {
        "orders": [{"type": "buy"}, {"type": "sell"}],
        "pair": "XBTUSD",
    }
    assert parse_form(b"orders[]=A&orders[]=B&")["orders"] == ["A", "B"]
    assert parse_form(b"starttm=%2B60&x=a+b")["starttm"] == "+60"
    assert parse_body(b"a=1", None) == {"a": "1"}
    assert parse_body(b'{"a": 1.10}', "application/json; charset=utf-8") == {"a": Decimal("1.10")}


def test_json_bracket_keys_merge_with_objects() -> None:
    assert parse_json(b'{"close[ordertype]": "limit", "close": {"price": "5"}}') == {
        "close": {"ordertype": "limit", "price": "5"}
    }
    with pytest.raises(ApiError):
        parse_json(b'{"close[price]": "1", "close": {"price": "2"}}')


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("false", False),
        ("False", False),
        (True, True),
        (False, False),
        ("1", True),
        ("0", False),
    ],
)
def test_booleans_as_clients_send_them(value: Any, expected: bool) -> None:
    assert Params({"validate": value}).flag("validate") is expected


def test_prices() -> None:
    assert parse_price("+5%", "price") == RelPrice("+", Decimal(5), True)
    assert parse_price("#10", "price") == RelPrice("#", Decimal(10), False)
    assert parse_price("27500.5", "price") == Decimal("27500.5")
    for bad in ("5%", "+", "abc", "++5", True):
        with pytest.raises(ApiError):
            parse_price(bad, "price")


def test_number_strings(kraken_venue: Any) -> None:
    pairs = kraken_venue.runtime.venue.instruments.pairs
    assert pub_price(pairs["XXBTZUSD"], 914160) == "91416.00000"
    assert pub_price(pairs["XDGUSD"], 1600000) == "0.1600000"
    assert book_volume(pairs["XXBTZUSD"], 10_000_000) == "0.100"
    assert book_volume(pairs["XXBTZUSD"], 5_000) == "0.00005"
    assert book_volume(pairs["XXBTZUSD"], 300_000_000) == "3.000"
    assert balance(12_345_678_901_234, 4) == "1234.5678"
    assert balance(-12_345_678_901_234, 4) == "-1234.5678"
    assert rfc1123(1551737935 * 10**9) == "Mon,  4 Mar 19 22:18:55 +0000"


SENTENCES = [
    ({"ordertype": "market", "type": "sell", "volume": "0.21804"}, "sell 0.21804000 XBTUSD @ market"),
    ({"ordertype": "limit", "price": "27500"}, "buy 1.25000000 XBTUSD @ limit 27500.0"),
    ({"ordertype": "stop-loss", "type": "sell", "price": "80000"}, "sell 1.25000000 XBTUSD @ stop loss 80000.0"),
    ({"ordertype": "take-profit", "type": "sell", "price": "99000"}, "sell 1.25000000 XBTUSD @ take profit 99000.0"),
    (
        {"ordertype": "stop-loss-limit", "type": "sell", "price": "80000", "price2": "79000"},
        "sell 1.25000000 XBTUSD @ stop loss 80000.0 -> limit 79000.0",
    ),
    (
        {"ordertype": "take-profit-limit", "type": "sell", "price": "99000", "price2": "98000"},
        "sell 1.25000000 XBTUSD @ take profit 99000.0 -> limit 98000.0",
    ),
    (
        {"ordertype": "trailing-stop", "type": "sell", "price": "+50%"},
        "sell 1.25000000 XBTUSD @ trailing stop +50.0000%",
    ),
    ({"ordertype": "trailing-stop", "type": "sell", "price": "+100"}, "sell 1.25000000 XBTUSD @ trailing stop +100.0"),
    (
        {"ordertype": "trailing-stop-limit", "type": "sell", "price": "+5%", "price2": "-10"},
        "sell 1.25000000 XBTUSD @ trailing stop +5.0000% -> limit -10.0",
    ),
    ({"ordertype": "iceberg", "price": "27500", "displayvol": "0.1"}, "buy 1.25000000 XBTUSD @ iceberg 27500.0"),
]


@pytest.mark.parametrize(("params", "sentence"), SENTENCES)
def test_descr_order_sentences(kraken_venue: Any, params: dict[str, str], sentence: str) -> None:
    raw = Raw(kraken_venue, kraken_venue.admin.create_account({"XBT": "5", "USD": "1000000"}))
    body = {"pair": "XBTUSD", "type": "buy", "volume": "1.25", "validate": "true", **params}
    assert raw.ok("AddOrder", body, as_json="%" in params.get("price", "")) == {"descr": {"order": sentence}}
    body.pop("validate")
    txid = raw.ok("AddOrder", body)["txid"][0]
    stored = raw.ok("QueryOrders", {"txid": txid})[txid]
    if params["ordertype"] != "market":
        assert stored["descr"]["order"] == sentence  # the stored order reads the same
