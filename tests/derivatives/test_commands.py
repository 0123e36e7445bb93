"""Derivatives commands are typed: the journal codec round-trips them, and a
journal written before them (dict requests keyed by Futures REST names)
still replays to the same state."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from simulator.core.commands import (
    FuturesCancelRequest,
    FuturesEditRequest,
    FuturesOrderRequest,
    decode_params,
    encode_params,
)
from simulator.core.derivatives import FuturesCode, FuturesError
from simulator.core.derivatives.errors import refusal
from simulator.core.validation import Invalid, Rule

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


def test_refusals_carry_their_own_typed_code(market: Market) -> None:
    """A derivatives refusal reports a FuturesCode (not Spot's `EGeneral:Invalid
    arguments` with the word tucked in the text); results carry one too."""
    a = market.account(USD="1000")
    with pytest.raises(FuturesError) as info:
        market.send(a, "lmt", "PF_NOPE", "buy", "1", "1")
    assert info.value.code is FuturesCode.CONTRACT_NOT_FOUND and info.value.text == "contractNotFound"
    res = market.send(a, "lmt", PF, "buy", "1.00001", "90000")
    assert res.status is FuturesCode.INVALID_SIZE
    assert market.cmd("cancel_order", account_id=a, req=FuturesCancelRequest("nope")).status is FuturesCode.NOT_FOUND


@pytest.mark.parametrize(("field", "rule", "code"), [
    ("size", Rule.PRECISION, FuturesCode.INVALID_SIZE),
    ("limit_price", Rule.MAGNITUDE, FuturesCode.INVALID_PRICE),
    ("trail_deviation", Rule.NEGATIVE_ZERO, FuturesCode.INVALID_PRICE),
    ("deadline_ns", Rule.DEADLINE_ELAPSED, FuturesCode.WOULD_PROCESS_AFTER_SPECIFIED_TIME),
    ("cl_ord_id", Rule.SYNTAX, FuturesCode.INVALID_ARGUMENT),
])
def test_a_broken_order_entry_rule_has_one_derivatives_code(field: str, rule: Rule, code: FuturesCode) -> None:
    assert refusal(Invalid(field, rule)) is code


def test_the_guard_refuses_a_typed_request_before_the_journal(market: Market) -> None:
    a = market.account(USD="1000")
    n = len(market.venue.journal.entries)
    with pytest.raises(Invalid) as info:
        market.seq.submit("send_order", ORIGIN, {"account_id": a, "req": FuturesOrderRequest(
            PF, "buy", "lmt", D("1"), limit_price=D("1e40"))})
    assert refusal(info.value) is FuturesCode.INVALID_PRICE
    with pytest.raises(Invalid) as info:
        market.seq.submit("cancel_order", ORIGIN, {"account_id": a, "req": FuturesCancelRequest(
            "x", deadline_ns=market.eng.now_ns - 1)})
    assert refusal(info.value) is FuturesCode.WOULD_PROCESS_AFTER_SPECIFIED_TIME
    assert len(market.venue.journal.entries) == n
