"""Hypothesis stateful tests of the engine's invariants.

Random sequences of adds (limit, market, IOC, FOK, post-only, iceberg,
stops), cancels, amends, edits and clock moves; after every step the book is
uncrossed, value is conserved, fills pair up, every order is in exactly one
state; at the end a journal replay rebuilds identical state."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal as D

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from simulator.core.commands import AmendRequest, EditRequest, OrderRequest
from simulator.core.errors import EngineError
from simulator.core.orders import OPEN, PENDING, TERMINAL, Origin
from simulator.core.venue import Venue, VenueConfig

T0 = 1_767_225_600_000_000_000
PAIRS = {"XBTUSD": (600000, 1), "ETHXBT": (35011, 1)}  # pair -> (mid in units, tick units)
STATUSES = {PENDING, OPEN} | set(TERMINAL)


class EngineMachine(RuleBasedStateMachine):
    @initialize(seed=st.integers(0, 2**16))
    def setup(self, seed: int) -> None:
        self.venue = Venue(VenueConfig(seed=seed, clock_mode="frozen", clock_start_ns=T0, rate_limits=False))
        self.eng = self.venue.spot
        self.seq = self.venue.spot_seq
        self.deposits: Counter[str] = Counter()
        self.accts = []
        for _ in range(3):
            bal = {"XBT": D("20"), "USD": D("2000000"), "ETH": D("300")}
            self.accts.append(self.venue.create_account(bal).account.id)
            for k, v in (("XXBT", 20), ("ZUSD", 2000000), ("XETH", 300)):
                self.deposits[k] += v * 10**10

    def _submit(self, kind: str, acct: str, **params: object) -> object:
        try:
            return self.seq.submit(kind, Origin("rest", "s", acct), {"account_id": acct, **params})
        except EngineError:
            return None

    @rule(
        acct=st.integers(0, 2),
        pair=st.sampled_from(sorted(PAIRS)),
        side=st.sampled_from(["buy", "sell"]),
        offset=st.integers(-30, 30),
        lots=st.integers(1, 400),
        kind=st.sampled_from(["limit", "limit", "limit", "ioc", "fok", "post", "iceberg", "market", "stop", "tp_limit"]),
        stp=st.sampled_from(["cancel-newest", "cancel-oldest", "cancel-both"]),
    )
    def add(self, acct: int, pair: str, side: str, offset: int, lots: int, kind: str, stp: str) -> None:
        mid, tick = PAIRS[pair]
        p = self.eng.pair(pair)
        price = D((mid + offset) * tick).scaleb(-p.pair_decimals)
        qty = D(lots * 10_000_000).scaleb(-p.lot_decimals)  # 0.1 .. 40 base units
        kw: dict[str, object] = {"stp": stp}
        otype = "limit"
        if kind == "ioc":
            kw["tif"] = "IOC"
        elif kind == "fok":
            kw["tif"] = "FOK"
        elif kind == "post":
            kw["post_only"] = True
        elif kind == "iceberg":
            otype = "iceberg"
            kw["display_qty"] = max(qty / 10, D(1).scaleb(-p.lot_decimals) * ((lots * 10_000_000 + 14) // 15))
        elif kind == "market":
            otype, price = "market", None  # type: ignore[assignment]
        elif kind == "stop":
            otype = "stop-loss"
        elif kind == "tp_limit":
            otype = "take-profit-limit"
            kw["price2"] = price
        req = OrderRequest(pair, side, otype, qty, price, **kw)  # type: ignore[arg-type]
        self._submit("add_order", self.accts[acct], req=req)

    def _open(self) -> list:
        return sorted((o for d in self.eng.open_orders.values() for o in d.values()), key=lambda o: o.id)

    @precondition(lambda self: any(self.eng.open_orders.values()))
    @rule(i=st.integers(0, 10_000))
    def cancel(self, i: int) -> None:
        opens = self._open()
        o = opens[i % len(opens)]
        self._submit("cancel_order", o.account_id, order_id=o.id)

    @precondition(lambda self: any(self.eng.open_orders.values()))
    @rule(i=st.integers(0, 10_000), lots=st.integers(1, 400), offset=st.integers(-30, 30), what=st.sampled_from(["qty", "price", "both"]))
    def amend(self, i: int, lots: int, offset: int, what: str) -> None:
        opens = self._open()
        o = opens[i % len(opens)]
        p = o.pair
        mid, tick = PAIRS[p.altname]
        req = AmendRequest(order_id=o.id)
        if what in ("qty", "both"):
            req.qty = D(lots * 10_000_000).scaleb(-p.lot_decimals)
        if what in ("price", "both") and o.price is not None and not (o.ordertype.startswith("stop") and not o.triggered):
            req.limit_price = D((mid + offset) * tick).scaleb(-p.pair_decimals)
        self._submit("amend_order", o.account_id, req=req)

    @precondition(lambda self: any(self.eng.open_orders.values()))
    @rule(i=st.integers(0, 10_000), offset=st.integers(-30, 30))
    def edit(self, i: int, offset: int) -> None:
        opens = self._open()
        o = opens[i % len(opens)]
        mid, tick = PAIRS[o.pair.altname]
        price = D((mid + offset) * tick).scaleb(-o.pair.pair_decimals)
        self._submit("edit_order", o.account_id, req=EditRequest(order_id=o.id, price=price))

    @rule(acct=st.integers(0, 2))
    def cancel_all(self, acct: int) -> None:
        self._submit("cancel_all", self.accts[acct])

    @rule(ms=st.integers(1, 5000))
    def advance(self, ms: int) -> None:
        self.venue.clock.advance_ms(ms)
        self.seq.poll_timers()

    @rule(pair=st.sampled_from(sorted(PAIRS)), offset=st.integers(-40, 40))
    def move_index(self, pair: str, offset: int) -> None:
        mid, tick = PAIRS[pair]
        p = self.eng.pair(pair)
        self.seq.submit("set_index_price", Origin("admin"), {"pair": pair, "price": D((mid + offset) * tick).scaleb(-p.pair_decimals)})

    # ------------------------------------------------------------ invariants
    @invariant()
    def book_never_crossed(self) -> None:
        for book in self.eng.books.values():
            assert not book.is_crossed(), book.symbol

    @invariant()
    def value_conserved(self) -> None:
        totals: Counter[str] = Counter()
        for a in self.venue.accounts.accounts.values():
            for asset, units in a.balances.items():
                totals[asset] += units
        fees: Counter[str] = Counter()
        for fills in self.eng.fills.values():
            for f in fills:
                fees[f.fee_asset] += f.fee
        for asset in set(totals) | set(self.deposits):
            assert totals[asset] + fees[asset] == self.deposits[asset], asset

    @invariant()
    def holds_match_open_orders(self) -> None:
        want: dict[tuple[str, str], int] = defaultdict(int)
        for d in self.eng.open_orders.values():
            for o in d.values():
                if o.hold:
                    want[(o.account_id, o.hold_asset)] += o.hold
        for a in self.venue.accounts.accounts.values():
            for asset, held in a.held.items():
                assert held >= 0
                assert held == want[(a.id, asset)], (a.id, asset)
            for asset in a.balances:
                assert a.balances[asset] >= 0, (a.id, asset)

    @invariant()
    def fills_pair_up(self) -> None:
        by_trade: dict[tuple[str, int], list] = defaultdict(list)
        for fills in self.eng.fills.values():
            for f in fills:
                by_trade[(f.pair_id, f.trade_id)].append(f)
        for key, fs in by_trade.items():
            assert len(fs) == 2, key
            a, b = fs
            assert (a.price, a.qty, a.cost) == (b.price, b.qty, b.cost)
            assert {a.side, b.side} == {"buy", "sell"}
            assert a.maker != b.maker
            assert a.account_id != b.account_id
        n_trades = sum(len(t) for t in self.eng.trades.values())
        assert n_trades == len(by_trade)

    @invariant()
    def every_order_in_one_state(self) -> None:
        fills_by_order: Counter[str] = Counter()
        for fills in self.eng.fills.values():
            for f in fills:
                fills_by_order[f.order.id] += f.qty
        open_ids = {oid for d in self.eng.open_orders.values() for oid in d}
        closed_ids = [o.id for lst in self.eng.closed_orders.values() for o in lst]
        assert len(closed_ids) == len(set(closed_ids))
        assert not (open_ids & set(closed_ids))
        in_book = Counter(o.id for b in self.eng.books.values() for o in b.orders())
        for o in self.eng.orders.values():
            assert o.status in STATUSES
            assert (o.id in open_ids) == (o.status in (OPEN, PENDING))
            assert (o.id in set(closed_ids)) == (o.status in TERMINAL)
            assert 0 <= o.filled <= o.qty
            assert fills_by_order[o.id] == o.filled
            assert in_book[o.id] == (1 if o.in_book else 0)
            if o.in_book:
                assert o.status == OPEN and 0 < o.visible <= o.remaining
        for b in self.eng.books.values():
            for side in (b.bids, b.asks):
                for lvl in side:
                    live = list(lvl.live())
                    assert lvl.count == len(live) > 0
                    assert lvl.visible == sum(o.visible for o in live)
                    assert all(o.price == lvl.price for o in live)

    def teardown(self) -> None:
        if not hasattr(self, "venue"):
            return
        import os
        import tempfile

        fd, path = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)
        try:
            self.venue.journal.write_jsonl(path)
            fresh = Venue(VenueConfig(seed=self.venue.config.seed, clock_mode="frozen", clock_start_ns=T0, rate_limits=False))
            fresh.replay(fresh.journal.read_commands(path))
            assert fresh.state_digest() == self.venue.state_digest()
        finally:
            os.unlink(path)


TestEngineInvariants = EngineMachine.TestCase
TestEngineInvariants.settings = settings(
    max_examples=150, stateful_step_count=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
