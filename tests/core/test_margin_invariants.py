"""Hypothesis invariants over random Spot margin flows: the TradeBalance
arithmetic, closing realises exactly the P&L that was marked, liquidation
leaves nothing unaccounted, rollover accrues per schedule."""

from __future__ import annotations

from decimal import Decimal as D
from decimal import localcontext

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.core.commands import OrderRequest
from simulator.core.errors import EngineError
from simulator.core.margin import ROLLOVER_NS
from simulator.core.orders import Origin
from simulator.core.venue import Venue, VenueConfig

from .conftest import T0

ADMIN = Origin("admin")
DEPTH = "1000"  # BTC per level: every close in these flows fills at the top of the book

step = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(["buy", "sell"]), st.integers(1, 40), st.sampled_from([2, 3, 5, 10])),
    st.tuples(st.just("close"), st.just(""), st.integers(0, 0), st.sampled_from([2, 5])),
    st.tuples(st.just("move"), st.just(""), st.integers(-4000, 4000), st.just(0)),
    st.tuples(st.just("time"), st.just(""), st.integers(1, 30), st.just(0)),
    st.tuples(st.just("rest"), st.sampled_from(["buy", "sell"]), st.integers(1, 40), st.sampled_from([2, 3])),
    st.tuples(st.just("cancel"), st.just(""), st.integers(0, 5), st.just(0)),
)


class Flow:
    def __init__(self) -> None:
        self.v = Venue(VenueConfig(seed=11, clock_mode="frozen", clock_start_ns=T0, rate_limits=False))
        self.seq = self.v.spot_seq
        self.eng = self.v.spot
        self.mm = self.v.create_account({"ZUSD": D(10**9), "XXBT": D(10**5)}, tier="pro").account.id
        self.a = self.v.create_account({"ZUSD": D(20_000)}, margin=True).account.id
        self.mid = 50_000
        self.quote()

    def submit(self, kind: str, params: dict) -> object:
        return self.seq.submit(kind, Origin("rest", "s", params.get("account_id", "")), params)

    def quote(self) -> None:
        self.submit("cancel_all", {"account_id": self.mm})
        for side, px in (("buy", self.mid - 5), ("sell", self.mid + 5)):
            req = OrderRequest("XBTUSD", side, "limit", D(DEPTH), D(px))
            self.submit("add_order", {"account_id": self.mm, "req": req})

    def order(self, side: str, qty: D, lev: int) -> object:
        req = OrderRequest("XBTUSD", side, "market", qty, leverage=str(lev))
        return self.submit("add_order", {"account_id": self.a, "req": req})

    def rest(self, side: str, qty: D, lev: int) -> object:
        """A leveraged limit order away from the touch: it rests and holds margin."""
        px = self.mid - 2000 if side == "buy" else self.mid + 2000
        req = OrderRequest("XBTUSD", side, "limit", qty, D(px), leverage=str(lev))
        return self.submit("add_order", {"account_id": self.a, "req": req})

    def tb(self):  # type: ignore[no-untyped-def]
        with self.seq.exclusive() as eng:
            return eng.margin.trade_balance(self.a)


def check_accounting(f: Flow) -> None:
    acct = f.v.accounts.accounts[f.a]
    for asset, bal in acct.balances.items():
        assert bal == sum(e.amount - e.fee for e in acct.ledger if e.asset == asset), asset
    t = f.tb()
    with localcontext() as ctx:
        ctx.prec = 60
        assert t.e == t.tb + t.n
        assert t.mf == t.e - t.m
        assert (t.ml is None) == (t.m == 0)
        if t.m:
            assert t.ml == t.e / t.m * 100
    m = f.eng.margin
    # what open leveraged orders hold is exactly what the margin book says is reserved
    held = sum(o.margin_hold for o in f.eng.open_orders.get(f.a, {}).values())
    assert held == sum(m.reserved.get(f.a, {}).values())
    assert all(o.margin_hold == 0 for o in f.eng.orders.values() if not o.is_open)
    for p in m.open_positions(f.a):
        assert 0 < p.open_vol <= p.vol and p.open_cost > 0 and p.open_margin > 0
        assert p.status == "open"
    # every open position owes exactly one rollover per 4 hours it has been open (no clock jump beyond the cap)
    for p in m.open_positions(f.a):
        assert p.rollovers + p.rollovers_skipped == (f.eng.now_ns - p.opened_ns) // ROLLOVER_NS


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=25))
def test_margin_flows_keep_their_invariants(steps: list[tuple[str, str, int, int]]) -> None:
    f = Flow()
    m = f.eng.margin
    for kind, side, n, lev in steps:
        if kind == "open":
            try:
                f.order(side, D(n) / 100, lev)
            except EngineError as exc:
                assert exc.text in ("EOrder:Insufficient margin", "EOrder:Margin level too low",
                                    "EOrder:Margin allowance exceeded"), exc.text  # fmt: skip
        elif kind == "close":
            ents = m.open_positions(f.a)
            if ents:
                # closing realises exactly what was marked: net P&L at the book, before fees
                marked = sum(m.calcs(p).net for p in ents) * ents[0].pair.cost_mult
                close_side = "sell" if ents[0].side == "buy" else "buy"
                res = f.order(close_side, D(0), lev)
                realised = sum(fl.pnl for fl in res.order.trades)  # type: ignore[attr-defined]
                assert realised == marked
                assert m.open_positions(f.a) == []
        elif kind == "rest":
            try:
                f.rest(side, D(n) / 100, lev)
            except EngineError as exc:
                assert exc.text in ("EOrder:Insufficient margin", "EOrder:Margin level too low",
                                    "EOrder:Margin allowance exceeded"), exc.text  # fmt: skip
        elif kind == "cancel":
            live = sorted(f.eng.open_orders.get(f.a, {}))
            if live:
                f.submit("cancel_order", {"account_id": f.a, "order_id": live[n % len(live)]})
        elif kind == "move":
            f.mid = max(1000, f.mid + n)
            f.quote()
        else:
            f.v.clock.advance_ms(n * 3600 * 1000 // 4)
            f.seq.poll_timers()
        check_accounting(f)
        if m.liquidations:
            # liquidation closed everything against the deep book: no exposure left, and the
            # equity (negative or not) is exactly the ledger's balance
            assert m.open_positions(f.a) == []
            t = f.tb()
            assert t.m == 0 and t.n == 0
            assert t.e == t.tb
            names = [e for j in f.v.journal.entries for e in j.events if getattr(e, "name", "") == "liquidated"]
            assert names and D(names[-1].data["deficit"]) == (-t.e if t.e < 0 else 0)
            return


def test_a_crash_liquidates_and_accounts_for_a_negative_equity() -> None:
    f = Flow()
    f.seq.submit("set_tier", ADMIN, {"account_id": f.a, "tier": "pro"})  # a 157 500 USD extension
    f.order("buy", D("3.5"), 10)  # margin ~17500 on 20000
    f.mid = 40_000  # a gap far through the stop: the loss exceeds the equity
    f.quote()
    m = f.eng.margin
    assert m.liquidations == 1 and m.open_positions(f.a) == []
    t = f.tb()
    assert t.e < 0
    check_accounting(f)
    notes = [e for j in f.v.journal.entries for e in j.events if getattr(e, "name", "") == "liquidated"]
    assert D(notes[-1].data["deficit"]) == -t.e
