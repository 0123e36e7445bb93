"""Spot margin trading: leverage, positions, rollover, margin level, liquidation.

Kraken's model (docs: AddOrder `leverage`/`reduce_only`/`settle-position`,
OpenPositions, TradeBalance, the margin support pages): an order with
`leverage` does not exchange balances.  Each fill that opens exposure is a
position entry keyed by its trade id; an opposite leveraged fill closes open
entries first-in first-out and realises the profit or loss in the quote
currency (ledger type `margin`); what is left opens a new entry.  An entry
holds margin = cost / leverage, pays an opening fee at open and a rollover
fee every 4 hours of venue time (ledger type `rollover`).  The margin level
is equity / used margin * 100; at the pair's `margin_call` (80) the account is
flagged, at `margin_stop` (40) the venue closes its positions against the
book through the engine.  `settle-position` closes an entry with funds
(ledger type `settled`): a long pays its cost and receives the base.

Money inside is integers: position cost in the pair's cost units, fees,
margin and P&L in balance units (1e-10) of the quote asset.  Account-level
sums (TradeBalance) are exact Decimals in the valuation asset.

The engine calls in at fixed points (order entry, each fill of a leveraged
order, order close, the `rollover` timer, and `after_command` once per
command); this module owns every margin rule.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Any

from .digest import StateHash, record
from .errors import EngineError, Reject
from .events import NoticeEvent
from .numbers import BALANCE_DP, PPM, ceil_div, to_units
from .orders import BUY, MARKET, SELL, SETTLE_POSITION, Order, Origin

if TYPE_CHECKING:
    from .accounts import Account, LedgerEntry
    from .commands import OrderRequest
    from .engine import SpotEngine
    from .events import Fill
    from .instruments import InstrumentRegistry, SpotPair

NS = 1_000_000_000
ROLLOVER_NS = 4 * 3600 * NS  # Kraken charges rollover every 4 hours a position is open
MAX_ROLLOVER_CATCHUP = 42  # periods one clock jump charges per position (a week); older ones skipped, recorded
MAX_POSITIONS = 100  # open position entries per account (EOrder:Positions limit exceeded)
CLOSED_KEEP = 1000  # closed positions kept per account for TradesHistory/QueryTrades position fields
DEFAULT_OPEN_FEE = Decimal("0.02")  # percent of cost, Kraken's opening fee for most pairs
DEFAULT_ROLLOVER_FEE = Decimal("0.02")  # percent of cost per 4 hours
VALUATION_ASSET = "ZUSD"  # TradeBalance's default `asset`, and the currency margin level is computed in
VIA = ("ZUSD", "XXBT", "ZEUR", "USDT")  # intermediates when no pair joins two assets
ROLLOVER_TIMER = "rollover"
R_LIQUIDATION = "Liquidation"
R_REDUCE_ONLY = "Reduce only:Position is closed"
EXACT = 60  # Decimal digits for valuation (far beyond any balance)

OPEN = "open"
CLOSED = "closed"
ELIGIBLE_TIERS = ("intermediate", "pro")  # Kraken: Starter clients may not open margin positions
# Margin allowance: the most of each currency Kraken extends to one client, by verification tier
# (intermediate, pro), from Kraken's "Margin allowance limits" page; a currency not listed is unlimited.
# A long on X/Q extends Q (the cost less the client's own margin), a short extends X.
ALLOWANCE: dict[str, tuple[int, int]] = {
    "ZUSD": (70_000, 600_000), "ZEUR": (65_000, 550_000), "ZGBP": (10_000, 20_000), "ZCAD": (10_000, 50_000),
    "XXBT": (25, 250), "XETH": (250, 2_500), "USDT": (50_000, 500_000), "USDC": (10_000, 20_000),
    "ADA": (100_000, 1_000_000), "DOT": (10_000, 40_000), "XXRP": (250_000, 1_000_000), "XLTC": (500, 3_500),
    "BCH": (50, 500), "LINK": (2_500, 20_000), "XXLM": (120_000, 300_000), "XXMR": (500, 1_000),
    "TRX": (10_000_000, 25_000_000), "ATOM": (1_600, 4_000), "ALGO": (24_000, 60_000), "XETC": (2_500, 10_000),
}  # fmt: skip


@dataclass(frozen=True)
class MarginTerms:
    """A pair's margin terms as AssetPairs publishes them (plus the fee rates)."""

    leverage_buy: tuple[int, ...]
    leverage_sell: tuple[int, ...]
    margin_call: int
    margin_stop: int
    long_limit: int | None  # lots (long_position_limit is in base units)
    short_limit: int | None
    open_fee_ppm: int
    rollover_fee_ppm: int
    open_fee: Decimal  # percent, as `terms` words it
    rollover_fee: Decimal

    @property
    def enabled(self) -> bool:
        return bool(self.leverage_buy or self.leverage_sell)


def terms_of(pair: SpotPair) -> MarginTerms:
    raw = pair.raw

    def limit(key: str) -> int | None:
        v = raw.get(key)
        if v in (None, ""):
            return None
        return to_units(Decimal(str(v)), pair.lot_decimals)

    open_fee = Decimal(str(raw.get("margin_opening_fee", DEFAULT_OPEN_FEE)))
    roll_fee = Decimal(str(raw.get("margin_rollover_fee", DEFAULT_ROLLOVER_FEE)))
    return MarginTerms(
        tuple(int(x) for x in raw.get("leverage_buy", ())),
        tuple(int(x) for x in raw.get("leverage_sell", ())),
        int(raw.get("margin_call", 80)),
        int(raw.get("margin_stop", 40)),
        limit("long_position_limit"),
        limit("short_position_limit"),
        int(open_fee * 10_000),
        int(roll_fee * 10_000),
        open_fee,
        roll_fee,
    )


def max_leverage(pair: SpotPair, side: str, cap: int = 5) -> int:
    """The leverage an order that only says "on margin" gets: the pair's highest
    for its side, at most `cap` (Kraken WS v2 `margin: true`: "the maximum
    leverage for the pair (maximum is leverage of 5)"); 0 when the pair offers none."""
    t = terms_of(pair)
    offered = [x for x in (t.leverage_buy if side == BUY else t.leverage_sell) if x <= cap]
    return max(offered) if offered else 0


MARGIN_FLAG_CAP = 5  # WS v2 `margin: true` / FIX 5001=1: "the pair's maximum leverage (up to 5)"


def flag_leverage(pair: SpotPair, side: str) -> int:
    """The leverage a margin flag without a ratio (WS v2 `margin`, FIX 5001=1)
    puts on the order: `max_leverage`; on a pair offering none, the cap, which
    `prepare` refuses as it refuses any leverage there (never a spot order)."""
    return max_leverage(pair, side, MARGIN_FLAG_CAP) or MARGIN_FLAG_CAP


def check_leverage(req: OrderRequest, instruments: InstrumentRegistry) -> None:
    """The sequencer guard's margin rule: a leverage the pair does not offer for
    the order's side is refused before the command is journaled (an unknown
    pair is left to the engine)."""
    lev = parse_leverage(req.leverage)
    if lev <= 0:
        return  # none, or a syntax error the validation rules word
    pair = instruments.pair(req.pair)
    if pair is None:
        return
    t = terms_of(pair)
    if lev not in (t.leverage_buy if req.side == BUY else t.leverage_sell):
        raise EngineError(Reject.INVALID_ARGUMENTS, "leverage")


def parse_leverage(text: object) -> int:
    """AddOrder `leverage` ("2", "2:1", "none") as an int (0: none); -1 when it
    is not a leverage at all (the validation rule words that)."""
    if text is None:
        return 0
    if isinstance(text, bool):
        return -1
    if isinstance(text, int):
        return text if 0 < text <= 100 else -1
    s = str(text).strip().lower()
    if s in ("", "none", "0"):
        return 0
    if s.endswith(":1"):
        s = s[:-2]
    if not s.isdigit() or len(s) > 3:
        return -1
    n = int(s)
    return n if 0 < n <= 100 else -1


class Position:
    """One position entry: the exposure one opening trade created."""

    __slots__ = (
        "id", "account_id", "pair", "side", "ordertxid", "ordertype", "leverage", "opened_ns", "vol", "vol_closed",
        "cost", "basis_closed", "fee", "margin", "cmargin", "ccost", "cfee", "net", "trades", "status", "closed_ns",
        "rollover_ns", "rollovers", "rollovers_skipped", "oflags", "settled",
    )  # fmt: skip

    def __init__(self, pid: str, account_id: str, pair: SpotPair, side: str, ordertxid: str, ordertype: str,
                 leverage: int, opened_ns: int, vol: int, cost: int, fee: int, margin: int) -> None:  # fmt: skip
        self.id = pid  # the opening trade's id
        self.account_id = account_id
        self.pair = pair
        self.side = side
        self.ordertxid = ordertxid
        self.ordertype = ordertype
        self.leverage = leverage
        self.opened_ns = opened_ns
        self.vol = vol  # lots opened
        self.vol_closed = 0  # lots closed so far
        self.cost = cost  # opening cost, cost units
        self.basis_closed = 0  # the part of `cost` closed so far (cost units)
        self.fee = fee  # balance units of quote: trade fee + opening fee + rollovers
        self.margin = margin  # balance units of quote, initial margin of `vol`
        self.cmargin = 0  # margin released by closing
        self.ccost = 0  # closing proceeds/cost, cost units
        self.cfee = 0  # closing fees, balance units
        self.net = 0  # realised P&L minus closing fees, balance units (signed)
        self.trades: list[str] = []  # closing trade ids
        self.status = OPEN
        self.closed_ns = 0
        self.rollover_ns = opened_ns + ROLLOVER_NS
        self.rollovers = 0
        self.rollovers_skipped = 0
        self.oflags = ""
        self.settled = 0  # lots closed by settle-position

    @property
    def open_vol(self) -> int:
        return self.vol - self.vol_closed

    @property
    def open_cost(self) -> int:
        return self.cost - self.basis_closed

    @property
    def open_margin(self) -> int:
        return self.margin - self.cmargin

    @property
    def cvol(self) -> int:
        return self.vol_closed

    def __repr__(self) -> str:
        return f"Position({self.id} {self.side} {self.open_vol}/{self.vol} {self.pair.id} {self.status})"


@dataclass(frozen=True)
class TradeBalance:
    """TradeBalance in the valuation asset (Decimals, whole units)."""

    asset: str
    eb: Decimal  # equivalent balance: every currency
    tb: Decimal  # trade balance: equity currencies at their collateral value
    m: Decimal  # margin used by open positions
    n: Decimal  # unrealised net P&L of open positions
    c: Decimal  # cost basis of open positions
    v: Decimal  # current floating valuation of open positions
    e: Decimal  # equity = tb + n
    mf: Decimal  # free margin = e - m
    ml: Decimal | None  # margin level = e / m * 100 (None without positions)
    uv: Decimal  # value of unfilled and partially filled orders
    o: Decimal  # margin reserved by open leveraged orders


@dataclass(frozen=True)
class PositionCalcs:
    """OpenPositions docalcs: the remaining position priced at the book."""

    value: int  # cost units
    net: int  # cost units (signed): value - cost for a long, cost - value for a short
    price: int  # the price used (pair units)


class Margin:
    """The Spot engine's margin book: positions, reservations, flags, timers."""

    def __init__(self, engine: SpotEngine) -> None:
        self.eng = engine
        self.positions: dict[str, Position] = {}  # open and (the newest CLOSED_KEEP per account) closed
        self.open: dict[str, dict[str, list[Position]]] = {}  # account -> pair -> open entries, FIFO
        self.by_pair: dict[str, dict[str, int]] = {}  # pair -> account -> open entries
        self.open_n: dict[str, int] = {}  # account -> open entries
        self.closed: dict[str, deque[str]] = {}  # account -> closed position ids, oldest first
        self.closing: dict[str, str] = {}  # closing trade id -> the first position it closed
        self.reserved: dict[str, dict[str, int]] = {}  # account -> quote asset -> margin held by open orders
        self.called: dict[str, int] = {}  # account -> margin level (percent, floor) when flagged at margin_call
        self.liquidations = 0
        self.touched_pairs: set[str] = set()
        self.touched_accounts: set[str] = set()
        self.emptied: set[tuple[str, str]] = set()  # (account, pair) whose last position closed this command
        self._terms: dict[str, MarginTerms] = {}
        self._pair_of: dict[tuple[str, str], SpotPair] = {}
        # what pending withdrawals take off a balance (the venue wires Spot funding in)
        self.pending: Callable[[str, str], int] | None = None
        for p in engine.instruments.pairs.values():
            self._pair_of.setdefault((p.base.id, p.quote.id), p)
        engine.timer_handlers[ROLLOVER_TIMER] = self.rollover

    # ------------------------------------------------------------ terms
    def terms(self, pair: SpotPair) -> MarginTerms:
        t = self._terms.get(pair.id)
        if t is None:
            t = self._terms[pair.id] = terms_of(pair)
        return t

    def entries(self, account_id: str, pair_id: str) -> list[Position]:
        return self.open.get(account_id, {}).get(pair_id, [])

    def open_positions(self, account_id: str) -> list[Position]:
        """Every open entry of an account, oldest first per pair (pairs in id order)."""
        out: list[Position] = []
        for pid in sorted(self.open.get(account_id, {})):
            out.extend(self.open[account_id][pid])
        return out

    def account_positions(self, account_id: str) -> list[Position]:
        """Every position entry of an account still kept: the open ones, then the
        newest CLOSED_KEEP closed ones."""
        out = self.open_positions(account_id)
        out.extend(self.positions[x] for x in self.closed.get(account_id, ()) if x in self.positions)
        return out

    def closable(self, account_id: str, pair_id: str, side: str) -> int:
        """Lots an order on `side` would close (open entries of the other side)."""
        ents = self.entries(account_id, pair_id)
        if not ents or ents[0].side == side:
            return 0
        return sum(p.open_vol for p in ents)

    def same_side(self, account_id: str, pair_id: str, side: str) -> int:
        ents = self.entries(account_id, pair_id)
        if not ents or ents[0].side != side:
            return 0
        return sum(p.open_vol for p in ents)

    # ------------------------------------------------------------ order entry
    def prepare(self, acct: Account, o: Order, req: OrderRequest, leverage: int, ref_price: int) -> None:
        """Margin rules for one order (leveraged, reduce-only or settle-position),
        run by `build_order` before anything changes; raises EngineError.
        Sets the order's leverage, quantity (volume 0: the whole position) and
        the margin it will hold for the part that opens exposure."""
        pair = o.pair
        terms = self.terms(pair)
        closable = self.closable(acct.id, pair.id, o.side)
        if o.ordertype == SETTLE_POSITION:
            if not acct.margin_enabled:
                raise EngineError(Reject.MARGIN_UNSUPPORTED)
            if not closable:
                raise EngineError(Reject.UNKNOWN_POSITION)
            o.qty = closable if o.qty == 0 or o.qty > closable else o.qty
            o.leverage = leverage
            o.reduce_only = True
            self._settle_funds(acct, o)
            return
        if not leverage:  # reduce_only on a spot order: spot orders never close a position
            if self.entries(acct.id, pair.id):
                raise EngineError(Reject.REDUCE_ONLY_NON_PC)
            raise EngineError(Reject.REDUCE_ONLY_NO_POSITION)
        # an account no longer eligible (margin switched off, Starter) may still reduce what it holds
        eligible = acct.margin_enabled and acct.tier in ELIGIBLE_TIERS
        if not eligible and not closable:
            raise EngineError(Reject.MARGIN_UNSUPPORTED)
        offered = terms.leverage_buy if o.side == BUY else terms.leverage_sell
        if leverage not in offered:
            raise EngineError(Reject.INVALID_ARGUMENTS, "leverage")
        if o.viqc:
            raise EngineError(Reject.INVALID_ARGUMENTS, "viqc")
        o.leverage = leverage
        o.fee_in_base = False  # margin fees are in the quote currency
        o.reduce_only = bool(req.reduce_only)
        if o.qty == 0:  # volume 0: close the whole position
            if not closable:
                raise EngineError(Reject.REDUCE_ONLY_NO_POSITION if req.reduce_only else Reject.INVALID_ARGUMENTS,
                                  None if req.reduce_only else "volume")  # fmt: skip
            o.qty = closable
        if o.reduce_only:
            if not closable:
                if self.entries(acct.id, pair.id):
                    raise EngineError(Reject.REDUCE_ONLY_NON_PC)
                raise EngineError(Reject.REDUCE_ONLY_NO_POSITION)
            if o.qty > closable:
                o.qty = closable
        opening = max(o.qty - closable, 0)
        if not opening:
            o.margin_hold = 0
            return
        if not eligible:
            raise EngineError(Reject.MARGIN_OPPOSING)
        if self.open_n.get(acct.id, 0) >= MAX_POSITIONS:
            raise EngineError(Reject.POSITIONS_LIMIT)
        limit = terms.long_limit if o.side == BUY else terms.short_limit
        if limit is not None and self.same_side(acct.id, pair.id, o.side) + opening > limit:
            raise EngineError(Reject.MARGIN_POSITION_SIZE)
        if acct.id in self.called:
            raise EngineError(Reject.MARGIN_LEVEL_LOW)
        self._check_allowance(acct, pair, o.side, ref_price, opening, leverage)
        need = self.margin_for(acct, pair, ref_price, opening, leverage)
        free = self.free_margin(acct, pair.quote.id)
        if need > free:
            raise EngineError(Reject.INSUFFICIENT_MARGIN)
        o.margin_hold = need

    @staticmethod
    def extension(pair: SpotPair, side: str, cost: int, margin: int, lots: int) -> tuple[str, int]:
        """What a position borrows from Kraken's margin pool, in balance units:
        a long the quote (its cost less its margin), a short the base."""
        if side == BUY:
            return pair.quote.id, max(cost * pair.cost_mult - margin, 0)
        return pair.base.id, lots * pair.base_mult

    def _check_allowance(self, acct: Account, pair: SpotPair, side: str, price: int, lots: int, leverage: int) -> None:
        """`EOrder:Margin allowance exceeded`: the currency this opening extends,
        with what the account's open positions already extend of it, over its tier's allowance."""
        cost = ceil_div(price * lots, pair.cost_shift)
        asset, units = self.extension(pair, side, cost, ceil_div(cost * pair.cost_mult, leverage), lots)
        limits = ALLOWANCE.get(asset)
        if limits is None:
            return
        limit = limits[ELIGIBLE_TIERS.index(acct.tier)] * 10**BALANCE_DP
        used = 0
        for pos in self.open_positions(acct.id):
            a, u = self.extension(pos.pair, pos.side, pos.open_cost, pos.open_margin, pos.open_vol)
            if a == asset:
                used += u
        if used + units > limit:
            raise EngineError(Reject.MARGIN_ALLOWANCE)

    def margin_for(self, acct: Account, pair: SpotPair, price: int, lots: int, leverage: int) -> int:
        """Margin (balance units of quote) an opening of `lots` at `price` needs:
        cost / leverage, plus the taker fee and the opening fee it will pay."""
        cost = ceil_div(price * lots, pair.cost_shift)
        fee_ppm = self.eng._fee_ppm(acct, pair, False) + self.terms(pair).open_fee_ppm
        return ceil_div(cost * pair.cost_mult, leverage) + ceil_div(cost * fee_ppm, PPM) * pair.cost_mult

    def free_margin(self, acct: Account, asset: str) -> int:
        """Free margin less what open leveraged orders already hold, in balance units of `asset`."""
        tb = self.trade_balance(acct.id, VALUATION_ASSET, orders=False)
        free = tb.mf - tb.o
        rate = self.rate(VALUATION_ASSET, asset)
        if rate is None or free <= 0:
            return 0
        with localcontext() as ctx:
            ctx.prec = EXACT
            units = (free * rate).scaleb(BALANCE_DP).to_integral_value(ROUND_HALF_EVEN)
        return int(units)

    def withdrawable(self, acct: Account, asset: str) -> int | None:
        """Kraken: funds used as collateral are not available for withdrawal while
        a position is open.  At most the free margin (in `asset`'s balance units)
        may leave; None without open positions (no limit)."""
        if acct.id not in self.open:
            return None
        return max(self.free_margin(acct, asset), 0)

    def reserve(self, o: Order) -> None:
        if o.margin_hold:
            d = self.reserved.setdefault(o.account_id, {})
            q = o.pair.quote.id
            d[q] = d.get(q, 0) + o.margin_hold

    def release(self, o: Order, units: int) -> None:
        if units <= 0:
            return
        units = min(units, o.margin_hold)
        o.margin_hold -= units
        d = self.reserved.get(o.account_id)
        if d is not None:
            q = o.pair.quote.id
            left = d.get(q, 0) - units
            if left > 0:
                d[q] = left
            else:
                d.pop(q, None)
                if not d:
                    del self.reserved[o.account_id]

    def rehold(self, acct: Account, o: Order, remaining: int, price: int | None) -> int:
        """What a leveraged order's new shape (amend) holds; raises when free margin lacks it."""
        closable = self.closable(acct.id, o.pair.id, o.side)
        opening = max(remaining - closable, 0)
        if not opening:
            return 0
        ref = price or self.eng._reference_price(o.pair)
        need = self.margin_for(acct, o.pair, ref, opening, o.leverage)
        if need - o.margin_hold > self.free_margin(acct, o.pair.quote.id):
            raise EngineError(Reject.INSUFFICIENT_MARGIN)
        return need

    def set_hold(self, o: Order, need: int) -> None:
        self.release(o, o.margin_hold)
        o.margin_hold = need
        self.reserve(o)

    def cap_reduce_only(self, o: Order) -> bool:
        """Before a reduce-only order meets the book: at most what it can close.
        False when nothing is left to close (the engine cancels it)."""
        closable = self.closable(o.account_id, o.pair.id, o.side)
        if o.filled + closable < o.qty:
            o.qty = max(o.filled + closable, o.filled)
        return o.qty > o.filled

    # ------------------------------------------------------------ fills
    def on_fill(self, o: Order, acct: Account, fill: Fill) -> tuple[LedgerEntry, ...]:
        """One fill of a leveraged order: close opposite entries FIFO (P&L in
        quote), open a new entry with the rest.  One `margin` ledger entry
        carries the P&L and every fee of the fill."""
        eng = self.eng
        pair = o.pair
        qty, price = fill.qty, fill.price
        cost_mult = pair.cost_mult
        before = o.qty - (o.filled - qty)  # the order's unfilled lots before this fill
        self.release(o, o.margin_hold if o.filled >= o.qty else o.margin_hold * qty // max(before, 1))
        ents = self.open.setdefault(acct.id, {}).setdefault(pair.id, [])
        remaining = qty
        pnl_total = 0
        fee_left = fill.fee
        closed_any: list[Position] = []
        while remaining and ents and ents[0].side != o.side:
            pos = ents[0]
            c = min(remaining, pos.open_vol)
            full = c == pos.open_vol
            basis = pos.open_cost if full else pos.open_cost * c // pos.open_vol
            mrel = pos.open_margin if full else pos.open_margin * c // pos.open_vol
            close_cost = eng.cost_units(pair, price, c)
            pnl = close_cost - basis if pos.side == BUY else basis - close_cost
            fee_part = fee_left if c == remaining else min(fill.fee * c // qty, fee_left)
            fee_left -= fee_part
            pos.vol_closed += c
            pos.basis_closed += basis
            pos.cmargin += mrel
            pos.ccost += close_cost
            pos.cfee += fee_part
            pos.net += pnl * cost_mult - fee_part
            pos.trades.append(fill.id)
            pnl_total += pnl
            remaining -= c
            closed_any.append(pos)
            if full:
                ents.pop(0)
                self._close_position(pos)
        if closed_any:
            self.closing[fill.id] = closed_any[0].id
            fill.posid = closed_any[0].id
        fill.closed = qty - remaining
        fill.leverage = o.leverage
        if remaining:
            terms = self.terms(pair)
            cost = eng.cost_units(pair, price, remaining)
            open_fee = eng._fee(cost, terms.open_fee_ppm) * cost_mult
            margin = ceil_div(cost * cost_mult, o.leverage)
            pos = Position(fill.id, acct.id, pair, o.side, o.id, o.ordertype, o.leverage, eng.now_ns, remaining, cost,
                           fee_left + open_fee, margin)  # fmt: skip
            pos.oflags = o.oflags
            fill.fee += open_fee
            o.fee += open_fee
            fill.opened = remaining
            fill.margin = margin
            ents.append(pos)
            self.positions[pos.id] = pos
            self.open_n[acct.id] = self.open_n.get(acct.id, 0) + 1
            bp = self.by_pair.setdefault(pair.id, {})
            bp[acct.id] = bp.get(acct.id, 0) + 1
            eng.add_timer(pos.rollover_ns, ROLLOVER_TIMER, pos.id)
        if not ents:
            del self.open[acct.id][pair.id]
            if not self.open[acct.id]:
                del self.open[acct.id]
            if closed_any:
                self.emptied.add((acct.id, pair.id))
        fill.pnl = pnl_total * cost_mult
        if closed_any:  # every entry but the last it touched closed fully
            fill.pos_status = "closed" if closed_any[-1].status == CLOSED else "closing"
        elif remaining:
            fill.pos_status = "opened"
        self.touched_pairs.add(pair.id)
        self.touched_accounts.add(acct.id)
        entry = eng._ledger(acct, pair.quote.id, pnl_total * cost_mult, fill.fee, "margin", fill)
        return (entry,)

    def _close_position(self, pos: Position) -> None:
        pos.status = CLOSED
        pos.closed_ns = self.eng.now_ns
        aid = pos.account_id
        self.open_n[aid] -= 1
        if not self.open_n[aid]:
            del self.open_n[aid]
        bp = self.by_pair[pos.pair.id]
        bp[aid] -= 1
        if not bp[aid]:
            del bp[aid]
            if not bp:
                del self.by_pair[pos.pair.id]
        kept = self.closed.setdefault(aid, deque())
        kept.append(pos.id)
        if len(kept) > CLOSED_KEEP:  # the oldest closed entry leaves memory, with its closing-trade index
            old = self.positions.pop(kept.popleft(), None)
            if old is not None:
                for t in old.trades:
                    if self.closing.get(t) == old.id:
                        del self.closing[t]

    def on_order_closed(self, o: Order) -> None:
        if o.margin_hold:
            self.release(o, o.margin_hold)

    # ------------------------------------------------------------ settle-position
    def settle(self, acct: Account, o: Order) -> None:
        """`settle-position`: close entries with funds instead of a trade.  A
        long pays its opening cost in quote and receives the base; a short
        delivers the base and receives the cost.  No P&L is realised: the
        exposure becomes a holding (ledger type `settled`)."""
        eng = self.eng
        pair = o.pair
        ents = self.entries(acct.id, pair.id)
        todo = self._settle_funds(acct, o)  # what it takes, first: a refusal changes nothing
        long = ents[0].side == BUY
        left = todo
        ref = eng.ids.kraken_id("T")
        while left and ents:
            pos = ents[0]
            c = min(left, pos.open_vol)
            full = c == pos.open_vol
            basis = pos.open_cost if full else pos.open_cost * c // pos.open_vol
            mrel = pos.open_margin if full else pos.open_margin * c // pos.open_vol
            pos.vol_closed += c
            pos.basis_closed += basis
            pos.cmargin += mrel
            pos.ccost += basis
            pos.settled += c
            pos.trades.append(ref)
            o.cost += basis
            o.filled += c
            left -= c
            if full:
                ents.pop(0)
                self._close_position(pos)
        sign = -1 if long else 1
        eng._ledger(acct, pair.quote.id, sign * o.cost * pair.cost_mult, 0, "settled", ref)
        eng._ledger(acct, pair.base.id, -sign * o.filled * pair.base_mult, 0, "settled", ref)
        if not ents:
            self.open[acct.id].pop(pair.id, None)
            if not self.open[acct.id]:
                del self.open[acct.id]
            self.emptied.add((acct.id, pair.id))
        self.touched_accounts.add(acct.id)

    def _settle_funds(self, acct: Account, o: Order) -> int:
        """Lots a settle-position order settles; raises when the funds it pays lack."""
        pair = o.pair
        ents = self.entries(acct.id, pair.id)
        todo = min(o.qty - o.filled, self.closable(acct.id, pair.id, o.side))
        if not todo:
            raise EngineError(Reject.UNKNOWN_POSITION)
        need_cost = 0
        left = todo
        for pos in ents:
            if not left:
                break
            c = min(left, pos.open_vol)
            need_cost += pos.open_cost if c == pos.open_vol else pos.open_cost * c // pos.open_vol
            left -= c
        if ents[0].side == BUY:
            if need_cost * pair.cost_mult > acct.available(pair.quote.id):
                raise EngineError(Reject.INSUFFICIENT_FUNDS)
        elif todo * pair.base_mult > acct.available(pair.base.id):
            raise EngineError(Reject.INSUFFICIENT_FUNDS)
        return todo

    # ------------------------------------------------------------ time
    def rollover(self, pid: str) -> None:
        """The `rollover` timer of one entry: charge each 4-hour period due,
        at most MAX_ROLLOVER_CATCHUP per jump (the rest skipped and recorded)."""
        eng = self.eng
        pos = self.positions.get(pid)
        if pos is None or pos.status != OPEN or pos.rollover_ns > eng.now_ns:
            return
        due = (eng.now_ns - pos.rollover_ns) // ROLLOVER_NS + 1
        if due > MAX_ROLLOVER_CATCHUP:
            skipped = due - MAX_ROLLOVER_CATCHUP
            eng.events.append(NoticeEvent("rollover_skipped", {
                "account": pos.account_id, "position": pos.id, "periods": skipped,
                "from": pos.rollover_ns, "to": pos.rollover_ns + (skipped - 1) * ROLLOVER_NS,
            }, eng.now_ns))  # fmt: skip
            pos.rollovers_skipped += skipped
            pos.rollover_ns += skipped * ROLLOVER_NS
            due = MAX_ROLLOVER_CATCHUP
        acct = eng.accounts.accounts[pos.account_id]
        ppm = self.terms(pos.pair).rollover_fee_ppm
        for _ in range(due):
            fee = eng._fee(pos.open_cost, ppm) * pos.pair.cost_mult
            eng._ledger(acct, pos.pair.quote.id, 0, fee, "rollover", pos.id)
            pos.fee += fee
            pos.rollovers += 1
            pos.rollover_ns += ROLLOVER_NS
        eng.add_timer(pos.rollover_ns, ROLLOVER_TIMER, pos.id)
        self.touched_accounts.add(pos.account_id)

    # ------------------------------------------------------------ valuation
    def _mark(self, pair: SpotPair) -> int:
        """A pair's price for valuing balances: last trade, else book mid, else index/reference."""
        eng = self.eng
        last = eng.last_price.get(pair.id)
        if last:
            return last
        book = eng.books[pair.id]
        b, a = book.best_bid(), book.best_ask()
        if b is not None and a is not None:
            return (a + b) // 2
        return eng.index_price.get(pair.id) or 0

    def _direct(self, src: str, dst: str) -> Decimal | None:
        p = self._pair_of.get((src, dst))
        if p is not None:
            m = self._mark(p)
            if m:
                return Decimal(m).scaleb(-p.pair_decimals)
        p = self._pair_of.get((dst, src))
        if p is not None:
            m = self._mark(p)
            if m:
                with localcontext() as ctx:
                    ctx.prec = EXACT
                    return Decimal(1) / Decimal(m).scaleb(-p.pair_decimals)
        return None

    def rate(self, src: str, dst: str) -> Decimal | None:
        """Units of `dst` one unit of `src` is worth: a direct pair (either way
        round), else through one of the major currencies; None without a path."""
        if src == dst:
            return Decimal(1)
        r = self._direct(src, dst)
        if r is not None:
            return r
        for mid in VIA:
            if mid in (src, dst):
                continue
            a, b = self._direct(src, mid), self._direct(mid, dst)
            if a is not None and b is not None:
                with localcontext() as ctx:
                    ctx.prec = EXACT
                    return a * b
        return None

    def close_price(self, pos: Position) -> int:
        """The price the remaining position would close at: the best bid for a
        long, the best ask for a short; else last trade, else the reference."""
        eng = self.eng
        book = eng.books[pos.pair.id]
        best = book.best_bid() if pos.side == BUY else book.best_ask()
        return best or eng._reference_price(pos.pair)

    def calcs(self, pos: Position) -> PositionCalcs:
        price = self.close_price(pos)
        value = self.eng.cost_units(pos.pair, price, pos.open_vol)
        net = value - pos.open_cost if pos.side == BUY else pos.open_cost - value
        return PositionCalcs(value, net, price)

    def trade_balance(self, account_id: str, asset: str = VALUATION_ASSET, orders: bool = True) -> TradeBalance:
        """Kraken's TradeBalance for one account in `asset` (bounded: its balances,
        its open entries, and with `orders` its open orders for `uv`; the risk
        checks leave `uv` at 0)."""
        eng = self.eng
        acct = eng.accounts.accounts[account_id]
        inst = eng.instruments
        zero = Decimal(0)
        eb = tb = m = n = c = v = uv = o = zero
        with localcontext() as ctx:
            ctx.prec = EXACT
            pending = self.pending
            for aid, units in acct.balances.items():
                if pending is not None:
                    units -= pending(account_id, aid)
                if not units:
                    continue
                r = self.rate(aid, asset)
                if r is None:
                    continue
                val = Decimal(units).scaleb(-BALANCE_DP) * r
                eb += val
                a = inst.assets.get(aid)
                tb += val * Decimal(a.collateral_value if a is not None else "1")
            for pos in self.open_positions(account_id):
                pair = pos.pair
                r = self.rate(pair.quote.id, asset)
                if r is None:
                    continue
                calc = self.calcs(pos)
                m += Decimal(pos.open_margin).scaleb(-BALANCE_DP) * r
                n += Decimal(calc.net).scaleb(-pair.cost_decimals) * r
                c += Decimal(pos.open_cost).scaleb(-pair.cost_decimals) * r
                v += Decimal(calc.value).scaleb(-pair.cost_decimals) * r
            for od in eng.open_orders.get(account_id, {}).values() if orders else ():
                price = od.price or od.trigger_price or 0
                r = self.rate(od.pair.quote.id, asset) if price else None
                if r is not None:
                    uv += Decimal(eng.cost_units(od.pair, price, od.remaining)).scaleb(-od.pair.cost_decimals) * r
            for q, units in self.reserved.get(account_id, {}).items():
                r = self.rate(q, asset)
                if r is not None:
                    o += Decimal(units).scaleb(-BALANCE_DP) * r
            e = tb + n
            ml = e / m * 100 if m else None
            return TradeBalance(asset, eb, tb, m, n, c, v, e, e - m, ml, uv, o)

    # ------------------------------------------------------------ risk
    def after_command(self) -> None:
        """Once per command (the sequencer's after-hook): re-rate the accounts
        with positions on the pairs this command traded, and the accounts it
        charged; flag margin calls, liquidate at margin_stop.  Bounded by those
        accounts' own positions; one liquidation pass per account per command."""
        if self.emptied:
            self._cancel_stale_reduce_only()
        pairs, accounts = self.touched_pairs, self.touched_accounts
        if not pairs and not accounts:
            return
        self.touched_pairs, self.touched_accounts = set(), set()
        todo = set(accounts)
        for pid in pairs:
            todo.update(self.by_pair.get(pid, ()))
        for aid in sorted(todo):
            self._check(aid)
        self.touched_pairs.clear()
        self.touched_accounts.clear()

    def _cancel_stale_reduce_only(self) -> None:
        """Reduce-only orders left with no position to reduce (it closed in this
        command) are cancelled (after matching, never inside it)."""
        eng = self.eng
        emptied, self.emptied = sorted(self.emptied), set()
        for aid, pid in emptied:
            if self.entries(aid, pid):
                continue  # a new position opened meanwhile
            stale = [o for o in eng.open_orders.get(aid, {}).values() if o.reduce_only and o.leverage and o.pair.id == pid]
            for o in stale:
                eng._cancel(o, R_REDUCE_ONLY)

    def touch_pair(self, pair_id: str) -> None:
        """A price moved without a trade (book replaced, index set): re-rate its holders."""
        if pair_id in self.by_pair:
            self.touched_pairs.add(pair_id)

    def touch_account(self, account_id: str) -> None:
        self.touched_accounts.add(account_id)

    def thresholds(self, account_id: str) -> tuple[int, int]:
        """(margin_call, margin_stop) for an account: the strictest of its pairs'."""
        call, stop = 0, 0
        for pid in self.open.get(account_id, {}):
            t = self.terms(self.eng.instruments.pairs[pid])
            call, stop = max(call, t.margin_call), max(stop, t.margin_stop)
        return call, stop

    def _check(self, aid: str) -> None:
        eng = self.eng
        if aid not in self.open:
            if self.called.pop(aid, None) is not None:
                eng.events.append(NoticeEvent("margin_call_cleared", {"account": aid}, eng.now_ns))
            return
        tb = self.trade_balance(aid, orders=False)
        if tb.ml is None:
            return
        call, stop = self.thresholds(aid)
        level = int(tb.ml)
        if tb.ml <= stop:
            self.liquidate(aid, tb)
        elif tb.ml <= call:
            if aid not in self.called:
                self.called[aid] = level
                eng.events.append(NoticeEvent("margin_call", {"account": aid, "margin_level": str(tb.ml.quantize(
                    Decimal("0.01"))), "equity": str(tb.e), "margin": str(tb.m)}, eng.now_ns))  # fmt: skip
        elif aid in self.called:
            del self.called[aid]
            eng.events.append(NoticeEvent("margin_call_cleared", {"account": aid}, eng.now_ns))

    def liquidate(self, aid: str, tb: TradeBalance) -> None:
        """margin_stop reached: cancel the account's open leveraged orders, then
        close every position with a market order against the book (orders,
        trades and `margin` ledger entries like any other, misc `liquidated`).
        Equity left negative stays on the ledger, announced in the notice."""
        eng = self.eng
        self.liquidations += 1
        eng.events.append(NoticeEvent("liquidation", {"account": aid, "margin_level": str(
            (tb.ml or Decimal(0)).quantize(Decimal("0.01"))), "equity": str(tb.e)}, eng.now_ns))  # fmt: skip
        for od in [x for x in eng.open_orders.get(aid, {}).values() if x.leverage]:
            eng._cancel(od, R_LIQUIDATION)
        for pid in sorted(self.open.get(aid, {})):
            ents = self.open.get(aid, {}).get(pid)
            if not ents:
                continue
            pair = ents[0].pair
            vol = sum(p.open_vol for p in ents)
            side = SELL if ents[0].side == BUY else BUY
            o = Order("", aid, pair, side, MARKET, vol)
            o.leverage = ents[0].leverage
            o.reduce_only = True
            o.liquidation = True
            o.hold_asset = pair.quote.id
            o.origin = Origin("liquidation", "", aid)
            eng.place_internal(o)
        after = self.trade_balance(aid, orders=False)
        if aid not in self.open:
            self.called.pop(aid, None)
        eng.events.append(NoticeEvent("liquidated", {"account": aid, "equity": str(after.e), "deficit": str(
            -after.e if after.e < 0 else Decimal(0)), "open_positions": self.open_n.get(aid, 0)}, eng.now_ns))  # fmt: skip

    # ------------------------------------------------------------ state
    def digest(self) -> str:
        h = StateHash()
        for pid in sorted(self.positions):
            h.add("position", record(self.positions[pid]))
        h.add("open", sorted((a, p, [x.id for x in lst]) for a, d in self.open.items() for p, lst in d.items()))
        h.add("closed", {a: list(q) for a, q in self.closed.items()})
        h.add("closing", self.closing)
        h.add("reserved", self.reserved)
        h.add("called", self.called)
        h.add("counts", self.open_n, self.by_pair, self.liquidations)
        return h.hexdigest()

    _FIELDS = ("id", "account_id", "side", "ordertxid", "ordertype", "leverage", "opened_ns", "vol", "vol_closed",
               "cost", "basis_closed", "fee", "margin", "cmargin", "ccost", "cfee", "net", "trades", "status",
               "closed_ns", "rollover_ns", "rollovers", "rollovers_skipped", "oflags", "settled")  # fmt: skip

    def to_state(self) -> dict[str, Any]:
        return {
            "fields": list(self._FIELDS),
            "positions": [[p.pair.id, *[getattr(p, f) for f in self._FIELDS]] for p in self.positions.values()],
            "open": {a: {pid: [x.id for x in lst] for pid, lst in d.items()} for a, d in self.open.items()},
            "closed": {a: list(q) for a, q in self.closed.items()},
            "closing": dict(self.closing),
            "reserved": {a: dict(d) for a, d in self.reserved.items()},
            "called": dict(self.called),
            "liquidations": self.liquidations,
        }

    def from_state(self, state: dict[str, Any] | None) -> None:
        self.positions, self.open, self.by_pair, self.open_n = {}, {}, {}, {}
        self.closed, self.closing, self.reserved, self.called = {}, {}, {}, {}
        self.liquidations = 0
        if not state:
            return
        fields = state["fields"]
        pairs = self.eng.instruments.pairs
        for rec in state["positions"]:
            pair = pairs[rec[0]]
            d = dict(zip(fields, rec[1:], strict=True))
            p = Position(d["id"], d["account_id"], pair, d["side"], d["ordertxid"], d["ordertype"], d["leverage"],
                         d["opened_ns"], d["vol"], d["cost"], d["fee"], d["margin"])  # fmt: skip
            for f, val in d.items():
                setattr(p, f, list(val) if f == "trades" else val)
            self.positions[p.id] = p
        for a, d in state["open"].items():
            self.open[a] = {pid: [self.positions[x] for x in ids] for pid, ids in d.items()}
            for pid, ids in d.items():
                self.open_n[a] = self.open_n.get(a, 0) + len(ids)
                self.by_pair.setdefault(pid, {})[a] = len(ids)
        self.closed = {a: deque(q) for a, q in state["closed"].items()}
        self.closing = dict(state["closing"])
        self.reserved = {a: dict(d) for a, d in state["reserved"].items()}
        self.called = dict(state["called"])
        self.liquidations = int(state.get("liquidations", 0))


__all__ = [
    "MAX_POSITIONS",
    "MAX_ROLLOVER_CATCHUP",
    "ROLLOVER_NS",
    "Margin",
    "MarginTerms",
    "Position",
    "PositionCalcs",
    "TradeBalance",
    "check_leverage",
    "flag_leverage",
    "max_leverage",
    "parse_leverage",
    "terms_of",
]
