"""The order-entry rules (simulator/core/validation.py) and the sequencers' guard:
a command that breaks a rule is refused before it is journaled, whoever built it."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from simulator.core import validation as v
from simulator.core.commands import AmendRequest, OrderRequest
from simulator.core.errors import Reject
from simulator.core.orders import Origin, RelPrice

from .conftest import T0, Desk


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("1e999999", v.Rule.MAGNITUDE),
        ("1e40", v.Rule.MAGNITUDE),
        ("1e-40", v.Rule.MAGNITUDE),
        ("NaN", v.Rule.SYNTAX),
        ("Infinity", v.Rule.SYNTAX),
        ("-inf", v.Rule.SYNTAX),
        ("abc", v.Rule.SYNTAX),
        ("1" * 65, v.Rule.SYNTAX),
        ("-0", v.Rule.NEGATIVE_ZERO),
        ("-0.000", v.Rule.NEGATIVE_ZERO),
        ("1." + "0" * 30 + "1", v.Rule.PRECISION),
    ],
)
def test_number_rules_name_field_and_rule(text: str, rule: v.Rule) -> None:
    with pytest.raises(v.Invalid) as exc:
        v.number(text, "volume")
    assert (exc.value.field, exc.value.rule) == ("volume", rule)
    assert exc.value.text == "EGeneral:Invalid arguments:volume"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (D("NaN123"), v.Rule.SYNTAX),  # short plain text ending in a digit, but a NaN
        (D("-sNaN7"), v.Rule.SYNTAX),
        (D("-Infinity"), v.Rule.SYNTAX),
        (D("-0E-5"), v.Rule.NEGATIVE_ZERO),
        (D("-0.00"), v.Rule.NEGATIVE_ZERO),
        (D("9" * 29), v.Rule.PRECISION),
        (D("1E+31"), v.Rule.MAGNITUDE),
    ],
)
def test_check_number_on_values_built_in_process(value: D, rule: v.Rule) -> None:
    """The guard sees Decimals no parser made (bots, scripts, the admin API)."""
    with pytest.raises(v.Invalid) as exc:
        v.check_number(value, "price")
    assert exc.value.rule is rule


@pytest.mark.parametrize("value", [D("9" * 28), D("0.000001"), D("1E-27"), D("1E+30"), D("0E-50"), D("-5.25"), D(0)])
def test_check_number_passes_what_the_rules_allow(value: D) -> None:
    assert v.check_number(value, "price") is value


def test_number_accepts_plain_and_exponent_forms() -> None:
    assert v.number("1.25", "x") == D("1.25")
    assert v.number("1e2", "x") == D(100)
    assert v.number(7, "x") == D(7)
    assert v.number(D("0"), "x") == 0
    assert v.number("", "x") is None and v.number(None, "x") is None
    with pytest.raises(v.Invalid) as exc:
        v.number("", "x", required=True)
    assert exc.value.rule is v.Rule.MISSING
    with pytest.raises(v.Invalid) as exc:
        v.number("1e2", "x", exponent=False)  # FIX decimals have no exponent
    assert exc.value.rule is v.Rule.SYNTAX
    with pytest.raises(v.Invalid):
        v.number(True, "x")
    with pytest.raises(v.Invalid) as exc:
        v.number(10**200, "x")
    assert exc.value.rule is v.Rule.MAGNITUDE


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("0b1c2d3e-0000-4000-8000-123456789abc", True),
        ("0123456789abcdef0123456789ABCDEF", True),
        ("my order 17", True),
        ("a" * 18, True),
        ("a" * 19, False),
        ("", False),
        ("caf\u00e9", False),
        ("tab\there", False),
    ],
)
def test_cl_ord_id(value: str, ok: bool) -> None:
    if ok:
        assert v.cl_ord_id(value) == value
    else:
        with pytest.raises(v.Invalid) as exc:
            v.cl_ord_id(value)
        assert exc.value.rule is v.Rule.CL_ORD_ID


def test_userref_is_int32() -> None:
    assert v.userref("-2147483648") == -(2**31)
    assert v.userref(2**31 - 1) == 2**31 - 1
    for bad in (2**31, "2147483648", "-2147483649", "1.5", True):
        with pytest.raises(v.Invalid):
            v.userref(bad)


def test_deadline_window_and_elapsed() -> None:
    now = T0
    assert v.deadline(0, now) == 0
    assert v.deadline(now + 60 * v.NS_PER_S, now) == now + 60 * v.NS_PER_S
    with pytest.raises(v.Invalid) as exc:
        v.deadline(now + 60 * v.NS_PER_S + 1, now)
    assert exc.value.rule is v.Rule.DEADLINE_WINDOW
    v.deadline_elapsed(now, now)
    with pytest.raises(v.Invalid) as exc:
        v.deadline_elapsed(now - 1, now)
    assert exc.value.code is Reject.DEADLINE and exc.value.text == "EService:Deadline elapsed"


def _journal(desk: Desk) -> tuple[int, str]:
    return len(desk.venue.journal.entries), desk.venue.state_digest()


@pytest.mark.parametrize(
    "req",
    [
        OrderRequest("XBTUSD", "buy", "limit", D("1e999999"), D(100)),
        OrderRequest("XBTUSD", "buy", "limit", D("1e40"), D(100)),
        OrderRequest("XBTUSD", "buy", "limit", D(1), D("NaN")),
        OrderRequest("XBTUSD", "buy", "limit", D(1), RelPrice("+", D("1e50"), False)),
        OrderRequest("XBTUSD", "buy", "limit", D("-0"), D(100)),
        OrderRequest("XBTUSD", "buy", "limit", D(1), D(100), cl_ord_id="x" * 40),
        OrderRequest("XBTUSD", "buy", "limit", D(1), D(100), userref=2**40),
        OrderRequest("XBTUSD", "buy", "limit", D(1), D(100), deadline_ns=T0 - 1),
        OrderRequest("XBTUSD", "buy", "limit", D(1), D(100), deadline_ns=T0 + 61 * v.NS_PER_S),
    ],
)
def test_engine_refuses_bad_command_before_journal(desk: Desk, req: OrderRequest) -> None:
    """The core defends itself: a command no gateway checked is refused, typed, unjournaled."""
    acct = desk.account(ZUSD=1000)
    before = _journal(desk)
    with pytest.raises(v.Invalid):
        desk.seq.submit("add_order", Origin("rest", "s1", acct), {"account_id": acct, "req": req})
    assert _journal(desk) == before


def test_guard_covers_amend_and_admin_numbers(desk: Desk) -> None:
    acct = desk.account(ZUSD=1000)
    before = _journal(desk)
    with pytest.raises(v.Invalid):
        desk.seq.submit("amend_order", Origin("rest", "s1", acct),
                        {"account_id": acct, "req": AmendRequest(order_id="O1", qty=D("1e999"))})
    with pytest.raises(v.Invalid):
        desk.seq.submit("adjust_balance", Origin("admin"), {"account_id": acct, "asset": "ZUSD", "amount": D("1e5000")})
    assert _journal(desk) == before


def test_good_command_still_runs(desk: Desk) -> None:
    acct = desk.account(ZUSD=100000)
    n = len(desk.venue.journal.entries)
    res: Any = desk.add(acct, "buy", "0.01", "100", deadline_ns=T0 + 60 * v.NS_PER_S)
    assert res.order is not None and len(desk.venue.journal.entries) == n + 1
