"""Property: margin and PnL accounting conserve value.

Whatever mix of longs and shorts, fills, mark moves, hourly funding and
liquidations happens, the sum of every account's collateral plus unrealised
PnL plus the venue's own book (fees, residues, liquidated positions) equals
what was deposited: exactly for USD-settled contracts, to the last unit of
rounding per position for coin-settled (inverse) ones.  And no account is
left below maintenance margin.
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.core.derivatives.model import FLEX

from .conftest import make_market

SYMBOLS = ["PF_XBTUSD", "PF_ETHUSD", "PI_XBTUSD"]

order_action = st.tuples(
    st.just("order"),
    st.integers(0, 3),
    st.sampled_from(SYMBOLS),
    st.sampled_from(["buy", "sell"]),
    st.sampled_from(["lmt", "lmt", "mkt", "ioc", "post"]),
    st.integers(1, 40),  # size in steps
    st.integers(-20, 20),  # price offset from the mark, in 10-tick steps
)
mark_action = st.tuples(st.just("mark"), st.sampled_from(SYMBOLS), st.integers(-12, 12))
time_action = st.tuples(st.just("advance"), st.integers(1, 150))
cancel_action = st.tuples(st.just("cancel"), st.integers(0, 3))
actions = st.lists(
    st.one_of(order_action, order_action, order_action, mark_action, time_action, cancel_action),
    min_size=20,
    max_size=60,
)
deposits = st.lists(st.tuples(st.integers(500, 50000), st.integers(1, 100)), min_size=4, max_size=4)

STEP = {"PF_XBTUSD": D("0.01"), "PF_ETHUSD": D("0.1"), "PI_XBTUSD": D("500")}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deposits=deposits, script=actions)
def test_value_is_conserved(deposits: list[tuple[int, int]], script: list[tuple]) -> None:  # type: ignore[type-arg]
    m = make_market()
    eng = m.eng
    accounts = []
    usd_in = 0
    xbt_in = 0
    for usd, xbt_cents in deposits:
        accounts.append(m.account(USD=str(usd), XBT=str(D(xbt_cents) / 100)))
        usd_in += usd * 10**10
        xbt_in += xbt_cents * 10**8
    # a deep market maker on both sides keeps liquidity around the mark
    mm = m.account(USD="100000000", XBT="1000")
    usd_in += 100000000 * 10**10
    xbt_in += 1000 * 10**10
    for sym in SYMBOLS:
        spec = eng.specs[sym]
        mark = eng.mark_of(spec)
        for i in range(1, 6):
            off = spec.contract.tick_size * 40 * i
            m.send(mm, "lmt", sym, "buy", str(STEP[sym] * 20), str(mark - off))
            m.send(mm, "lmt", sym, "sell", str(STEP[sym] * 20), str(mark + off))

    def check() -> None:
        assert eng.total_value("ZUSD") == usd_in
        positions = sum(len(eng.fa(a).positions) for a in accounts + [mm]) + len(eng.house_positions)
        assert abs(eng.total_value("XXBT") - xbt_in) <= positions + 1
        for a in accounts:
            fa = eng.fa(a)
            for name in {p.spec.margin_account for p in fa.positions.values()}:
                view = eng.margin_view(fa, name)
                assert view.equity >= view.mm
            if not any(p.spec.margin_account == FLEX for p in fa.positions.values()):
                assert eng.margin_view(fa, FLEX).balance_value >= 0

    check()
    for act in script:
        kind = act[0]
        if kind == "order":
            _, who, sym, side, otype, steps, off = act
            spec = eng.specs[sym]
            mark = eng.mark_of(spec)
            tick = spec.contract.tick_size
            price = (mark / tick).to_integral_value() * tick + tick * 10 * off
            if price <= 0:
                continue
            m.send(accounts[who], otype, sym, side, str(STEP[sym] * steps), None if otype == "mkt" else str(price))
        elif kind == "mark":
            _, sym, pct = act
            spec = eng.specs[sym]
            new = (eng.mark_of(spec) * (100 + pct) / 100).quantize(D("0.01"))
            m.cmd("set_mark", symbol=sym, price=new)
        elif kind == "advance":
            m.advance(act[1] * 60)
        else:
            m.cmd("cancel_all", account_id=accounts[act[1]])
        check()
