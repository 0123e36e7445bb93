"""Derivatives commands are typed: the journal codec round-trips them, and a
journal written before them (dict requests keyed by Futures REST names)
still replays to the same state."""

from __future__ import annotations

from decimal import Decimal as D

from simulator.core.commands import (
    FuturesCancelRequest,
    FuturesEditRequest,
    FuturesOrderRequest,
    decode_params,
    encode_params,
)

from .conftest import ORIGIN, Market, make_market

PF = "PF_XBTUSD"


def test_codec_round_trips_every_derivatives_command() -> None:
    params = {
        "account_id": "a",
        "instructions": [
            FuturesOrderRequest(PF, "sell", "take_profit", D("0.0100"), limit_price=D("91000.5"),
                                stop_price=D("90000"), trigger_signal="mark", cl_ord_id="x", reduce_only=True,
                                deadline_ns=123, tag="7"),
            FuturesEditRequest("oid", size=D("2"), absolute_size=True, stop_price=D("1")),
            FuturesCancelRequest(None, "x", 5),
        ],
    }
    back = decode_params(encode_params(params))
    assert back == params
    assert str(back["instructions"][0].size) == "0.0100"  # exact, trailing zeros kept


def test_old_journal_with_dict_requests_replays(market: Market) -> None:
    a = market.account(USD="100000")
    b = market.account(USD="100000")
    old = [
        ("send_order", {"account_id": a, "req": {"orderType": "lmt", "symbol": PF, "side": "buy", "size": D("1"),
                                                 "limitPrice": D("91000"), "cliOrdId": "c1", "reduceOnly": False}}),
        ("send_order", {"account_id": b, "req": {"orderType": "lmt", "symbol": PF, "side": "buy", "size": D("1"),
                                                 "limitPrice": D("90000"), "cliOrdId": "c2", "reduceOnly": False}}),
        ("edit_order", {"account_id": a, "req": {"orderId": None, "cliOrdId": "c1", "size": D("2"),
                                                 "qtyMode": "ABSOLUTE"}}),
        ("batch", {"account_id": b, "instructions": [
            {"order": "send", "order_tag": "1", "orderType": "ioc", "symbol": PF, "side": "sell", "size": D("0.5"),
             "limitPrice": D("91000")},
            {"order": "cancel", "order_id": None, "cliOrdId": "c2"},
        ]}),
    ]
    for kind, params in old:
        market.seq.submit(kind, ORIGIN, params)
    fa = market.eng.fa(a)
    (o,) = fa.open.values()
    assert (o.qty, o.filled) == (20000, 5000)  # edited to 2, then half a contract taken by b's IOC
    assert not market.eng.fa(b).open  # b's resting order cancelled by client id
    typed = make_market()
    for c in market.venue.journal.entries:
        typed.venue.replay([{**c.to_json(with_events=False), "params": decode_params(encode_params(c.params))}])
    assert typed.eng.state_digest() == market.eng.state_digest()
