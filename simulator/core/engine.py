"""The Spot matching engine: validation, matching, holds, fees, timers.

Pure domain logic.  Commands come in through the sequencer (one ordered
path); every state change is appended to `self.events`, which the sequencer
drains after each command.  Time is `self.now_ns`, set by the sequencer from
the venue clock, so a replay of the journal rebuilds identical state.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal

from .accounts import Account, AccountRegistry, LedgerEntry
from .amends import AmendHistory
from .book import Level, OrderBook
from .clock import NS_PER_S, in_range
from .commands import AmendRequest, CloseRequest, EditRequest, OrderRequest, PriceIn
from .digest import StateHash, record
from .errors import EngineError, Reject
from .events import BookEvent, Fill, NoticeEvent, OrderEvent, TradeEvent
from .exports import ExportRegistry
from .history import HistoryIndex
from .ids import IdGenerator
from .instruments import InstrumentRegistry, SpotPair
from .margin import R_REDUCE_ONLY, Margin, parse_leverage
from .marketdata import MarketData
from .numbers import PPM, ceil_div, to_units
from .orders import (
    BUY,
    CANCELED,
    CLOSED,
    EXPIRED,
    FOK,
    GTC,
    GTD,
    ICEBERG,
    IOC,
    LIMIT,
    LIMIT_AFTER_TRIGGER,
    MARKET,
    OPEN,
    ORDER_TYPES,
    PENDING,
    SELL,
    SETTLE_POSITION,
    STOP_LOSS,
    STOP_LOSS_LIMIT,
    STP_BOTH,
    STP_MODES,
    STP_OLDEST,
    TIFS,
    TRAILING_STOP_LIMIT,
    TRAILING_TYPES,
    TRIGGERED_TYPES,
    Order,
    Origin,
    RelPrice,
)
from .retention import Retention, RetentionPolicy, unpin_fills
from .timers import COMPACT_FLOOR, Timer
from .timers import push as push_timer
from .validation import deadline_elapsed

SYSTEM_STATUSES = ("online", "maintenance", "cancel_only", "post_only", "limit_only")

# reasons as Kraken words them (REST `reason`, WS `reason`)
R_USER = "User requested"
R_POST_ONLY = "Post only order"
R_IOC = "Immediate or cancel"
R_FOK = "Fill or kill"
R_STP = "Self trade prevention"
R_DMS = "Dead man's switch"
R_EXPIRED = "Order expired"
R_NO_LIQUIDITY = "No liquidity"
R_FUNDS = "Insufficient funds"
R_MPP = "Market price protection"
R_AMEND_QTY = "Order quantity amended below filled quantity"


@dataclass
class EngineConfig:
    post_only_reject: bool = True  # crossing post-only: reject (True) or accept-then-cancel
    market_protection_pct: Decimal = Decimal("10")  # market orders stop this far beyond the best
    max_open_orders: int = 0  # per pair per account; 0 = unlimited (rate-limit model sets it)
    amend_keeps_priority_on_decrease: bool = True
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)  # finished history kept in memory


def _ledger_ts(e: LedgerEntry) -> int:
    return e.time_ns


def _fill_ts(f: Fill) -> int:
    return f.ts


def _trade_ts(t: TradeEvent) -> int:
    return t.ts


def _closed_ts(o: Order) -> int:
    return o.closed_ns or 0


class AddResult:
    """What add_order reports back: the order (None for validate), the request,
    and the order's shape as placed (its quantity and prices can change later in
    the same command: a quote-sized buy's quantity, a trailing stop's trigger).
    Gateways word it (Spot REST's `descr` sentences); `as_requested`: an
    EditOrder validation, described from the request alone."""

    __slots__ = ("order", "shape", "req", "qty", "price", "trigger_price", "as_requested")

    def __init__(self, order: Order | None, shape: Order, req: OrderRequest, as_requested: bool = False) -> None:
        self.order = order
        self.shape = shape  # the placed order itself, or the one validation built
        self.req = req
        self.qty = shape.qty
        self.price = shape.price
        self.trigger_price = shape.trigger_price
        self.as_requested = as_requested


Admission = Callable[[str, Account, SpotPair | None, Order | None, int], None]

BATCH_MIN, BATCH_MAX = 2, 15  # orders in one AddOrderBatch / batch_add
# refusals that belong to one order of a batch: the others still go through (every other one refuses the batch)
BATCH_PER_ORDER = frozenset(
    {Reject.INSUFFICIENT_FUNDS, Reject.ORDERS_LIMIT, Reject.RATE_LIMIT, Reject.POST_ONLY, Reject.DUPLICATE_CL_ORD_ID}
)
BatchSlot = AddResult | EngineError  # one order's outcome in a batch


class SpotEngine:
    """One per venue.  All methods assume the caller is the sequencer."""

    def __init__(
        self,
        instruments: InstrumentRegistry,
        accounts: AccountRegistry,
        ids: IdGenerator,
        config: EngineConfig | None = None,
    ) -> None:
        self.instruments = instruments
        self.accounts = accounts
        self.ids = ids
        self.config = config or EngineConfig()
        self.now_ns = 0
        self.status = "online"
        self.events: list[object] = []
        self.books: dict[str, OrderBook] = {p: OrderBook(p) for p in instruments.pairs}
        self.orders: dict[str, Order] = {}
        self.open_orders: dict[str, dict[str, Order]] = {}  # account -> id -> order
        self.closed_orders: dict[str, list[Order]] = {}
        self.fills: dict[str, list[Fill]] = {}  # account -> fills
        self.trades: dict[str, list[TradeEvent]] = {p: [] for p in instruments.pairs}
        self.trade_seq: dict[str, int] = {p: 0 for p in instruments.pairs}
        self.history = HistoryIndex()  # derived: paged reads of the lists above, folded in on read
        self.market = MarketData(candle_keep=1000)  # derived: ticker stats and candles (>= 721 a interval)
        self.last_price: dict[str, int] = {}
        self.index_price: dict[str, int] = {}
        self.stops: dict[str, list[Order]] = {p: [] for p in instruments.pairs}
        self.cl_ids: dict[tuple[str, str], Order] = {}
        self.open_count: dict[tuple[str, str], int] = {}  # (account, pair) -> open orders
        self._fee_cache: dict[tuple[str, bool, Decimal], int] = {}
        self.dead_man: dict[str, int] = {}  # account -> trigger ns
        self.exports = ExportRegistry()  # AddExport reports
        self.amend_history = AmendHistory()  # OrderAmends: versions of amended orders
        self.retention = Retention(self.config.retention)  # finished history past the policy leaves memory
        self.retention.on_cut = self.history.forget  # an index into a cut list is rebuilt on its next read
        self._retain_floor = self.retention.floor()
        self._retain_trades_floor = self.retention.floor(trades=True)
        self._timers: list[Timer] = []
        self._timer_seq = 0
        self._timers_compact_at = COMPACT_FLOOR  # timers that can no longer fire leave past this (core/timers.py)
        self.admission: Admission | None = None  # rate-limit hook: raise EngineError to refuse
        # timers of other core modules (funding...): kind -> fn(ref), fired from on_time
        self.timer_handlers: dict[str, Callable[[str], None]] = {}
        self.margin = Margin(self)  # positions, margin reservations, rollover, margin calls, liquidation
        for pid, ref in instruments.reference_prices.items():
            pair = instruments.pairs.get(pid)
            if pair is not None:
                units = to_units(ref, pair.pair_decimals)
                if units:
                    self.index_price[pid] = units

    # ------------------------------------------------------------------ helpers
    def pair(self, name: str) -> SpotPair:
        p = self.instruments.pair(name)
        if p is None:
            raise EngineError(Reject.UNKNOWN_PAIR)
        return p

    def account(self, account_id: str) -> Account:
        a = self.accounts.get(account_id)
        if a is None:
            raise EngineError(Reject.PERMISSION_DENIED)
        return a

    def _ledger(self, acct: Account, asset: str, amount: int, fee: int, type_: str, refid: object, subtype: str = "") -> LedgerEntry:
        """Book `amount - fee` to the account; the entry is also the balance event.
        `refid` is the reference text, or the Fill whose id it is."""
        bal = acct.credit(asset, amount - fee)
        if acct.id in self.margin.open:  # its equity moved: re-rate it after the command
            self.margin.touch_account(acct.id)
        entry = LedgerEntry(self.ids.reserve(), refid, self.now_ns, type_, subtype, asset, amount, fee, bal, acct.id)
        ledger = acct.ledger
        ledger.append(entry)
        if len(ledger) > self._retain_floor:
            self.retention.appended(("ledger", acct.id), ledger, self.now_ns, _ledger_ts)
        self.events.append(entry)
        return entry

    def _add_timer(self, at_ns: int, kind: str, ref: str) -> None:
        self._timer_seq += 1
        self._timers_compact_at = push_timer(self._timers, (at_ns, self._timer_seq, kind, ref),
                                             self._timers_compact_at, self._timer_live)  # fmt: skip

    def _timer_live(self, t: Timer) -> bool:
        """Can this timer still do anything when due?  (Not: an expiry or a
        delayed start of an order that is gone or closed, a dead man's switch
        re-armed to another time or disarmed.)  Other modules' timers: kept."""
        at, _, kind, ref = t
        if kind == "expire":
            o = self.orders.get(ref)
            return o is not None and o.is_open
        if kind == "start":
            o = self.orders.get(ref)
            return o is not None and o.status == PENDING
        if kind == "dms":
            return self.dead_man.get(ref) == at
        return True

    def add_timer(self, at_ns: int, kind: str, ref: str) -> None:
        """Schedule `timer_handlers[kind](ref)` at venue time `at_ns` (journaled via tick)."""
        self._add_timer(at_ns, kind, ref)

    def next_timer_ns(self) -> int | None:
        return self._timers[0][0] if self._timers else None

    def state_digest(self) -> str:
        """Everything of the Spot market a replay must reproduce: every order
        (every field), the books in queue order, the untriggered stops, the
        fills, trades and prices, the timers (GTD expiry, delayed start, dead
        man's switch, funding's) and the per-account counters.  Not: events
        in flight, the fee cache, wiring (instruments, hooks, handlers), and
        `now_ns` (the last command's time, refused ones too: the journal's)."""
        h = StateHash()
        h.add("engine", self.status, self._timer_seq)
        h.add("timers", sorted(self._timers))
        h.add("dead_man", self.dead_man)
        for oid in sorted(self.orders):
            h.add("order", record(self.orders[oid]))
        for acct in sorted(self.open_orders):
            h.add("open", acct, sorted(self.open_orders[acct]))
        for acct in sorted(self.closed_orders):
            h.add("closed", acct, [o.id for o in self.closed_orders[acct]])
        for acct in sorted(self.fills):
            for f in self.fills[acct]:
                h.add("fill", record(f, skip=("_id",)))
        for pid in sorted(self.books):
            h.add("book", pid, self.books[pid].state_digest(), [o.id for o in self.stops.get(pid, ())])
        for pid in sorted(self.trades):
            for t in self.trades[pid]:
                h.add("trade", record(t))
        h.add("prices", self.trade_seq, self.last_price, self.index_price)
        h.add("cl_ids", sorted((k, o.id) for k, o in self.cl_ids.items()))
        h.add("open_count", self.open_count)
        h.add("margin", self.margin.digest())
        return h.hexdigest()

    def cost_units(self, pair: SpotPair, price: int, qty: int) -> int:
        """price*qty in cost_decimals units, half-even."""
        num = price * qty
        shift = pair.cost_shift
        if shift == 1:
            return num
        q, r = divmod(num, shift)
        twice = 2 * r
        if twice > shift or (twice == shift and q & 1):
            q += 1
        return q

    @staticmethod
    def _fee(amount: int, ppm: int) -> int:
        """amount * ppm / 1e6, half-even."""
        q, r = divmod(amount * ppm, PPM)
        twice = 2 * r
        if twice > PPM or (twice == PPM and q & 1):
            q += 1
        return q

    def _fee_ppm(self, acct: Account, pair: SpotPair, maker: bool) -> int:
        key = (pair.id, maker, acct.volume_30d)
        ppm = self._fee_cache.get(key)
        if ppm is None:
            ppm = self._fee_cache[key] = pair.fee_ppm(acct.volume_30d, maker)
        return ppm

    def _hold_for(self, o: Order, qty: int, price: int | None) -> int:
        """Balance units an order must hold for `qty` lots at `price`."""
        pair = o.pair
        if o.side == SELL:
            base = qty
            if o.fee_in_base:
                base += ceil_div(qty * self._fee_ppm(self.accounts.accounts[o.account_id], pair, False), PPM)
            return base * pair.base_mult
        if price is None:
            return 0
        cost = ceil_div(price * qty, pair.cost_shift)
        if not o.fee_in_base:
            cost += ceil_div(cost * self._fee_ppm(self.accounts.accounts[o.account_id], pair, False), PPM)
        return cost * pair.cost_mult

    def _hold_price(self, o: Order) -> int | None:
        if o.price is not None:
            return o.price
        return o.trigger_price

    # ----------------------------------------------------------- price parsing
    def _reference_price(self, pair: SpotPair) -> int:
        last = self.last_price.get(pair.id)
        if last is not None:
            return last
        idx = self.index_price.get(pair.id)
        if idx is not None:
            return idx
        book = self.books[pair.id]
        b, a = book.best_bid(), book.best_ask()
        if b is not None and a is not None:
            return (a + b) // 2
        return b or a or 0

    def _price_units(self, pair: SpotPair, value: PriceIn, side: str, otype: str, label: str) -> int | None:
        """Absolute or relative price -> units on the pair's tick grid."""
        if value is None:
            return None
        if isinstance(value, RelPrice):
            ref = self._reference_price(pair)
            if ref <= 0:
                raise EngineError(Reject.INVALID_PRICE)
            if value.percent:
                off = int((Decimal(ref) * value.amount / 100).to_integral_value(ROUND_HALF_EVEN))
            else:
                off_units = value.amount.scaleb(pair.pair_decimals)
                off = int(off_units.to_integral_value(ROUND_HALF_EVEN))
            sign = value.sign
            if sign == "#":
                up = (otype in (STOP_LOSS, STOP_LOSS_LIMIT)) == (side == BUY)
                sign = "+" if up else "-"
            units = ref + off if sign == "+" else ref - off
            units -= units % pair.tick_units
            if units <= 0:
                raise EngineError(Reject.INVALID_PRICE)
            return units
        abs_units = to_units(value, pair.pair_decimals)
        if abs_units is None:
            raise EngineError(
                Reject.INVALID_PRICE,
                f"{label} price can only be specified up to {pair.pair_decimals} decimals.",
            )
        units = abs_units
        if units <= 0:
            raise EngineError(Reject.INVALID_PRICE)
        if units % pair.tick_units:
            raise EngineError(Reject.TICK_SIZE)
        return units

    def _offset_units(self, pair: SpotPair, value: PriceIn) -> tuple[int, bool]:
        """Trailing offsets: (units, is_pct) where pct is in ppm of price."""
        if isinstance(value, RelPrice):
            if value.percent:
                return int(value.amount * 10_000), True
            units = to_units(value.amount, pair.pair_decimals)
            if units is None or units <= 0:
                raise EngineError(Reject.INVALID_PRICE)
            return units, False
        if value is None or value <= 0:
            raise EngineError(Reject.INVALID_ARGUMENTS, "price")
        units = to_units(value, pair.pair_decimals)
        if units is None:
            raise EngineError(Reject.INVALID_PRICE)
        return units, False

    def _qty_lots(self, pair: SpotPair, qty: Decimal, name: str = "volume") -> int:
        if qty <= 0:
            raise EngineError(Reject.INVALID_ARGUMENTS, name)
        lots = to_units(qty, pair.lot_decimals)
        if lots is None:
            raise EngineError(Reject.INVALID_ARGUMENTS, name)
        return lots

    # ------------------------------------------------------------------ add
    def _gate(self, pair: SpotPair, post_only: bool, market: bool) -> None:
        st = self.status
        if st == "maintenance":
            raise EngineError(Reject.UNAVAILABLE)
        if st == "cancel_only" or pair.status == "cancel_only":
            raise EngineError(Reject.CANCEL_ONLY)
        if (st == "post_only" or pair.status == "post_only") and not post_only:
            raise EngineError(Reject.POST_ONLY_MODE)
        if (st == "limit_only" or pair.status == "limit_only") and market:
            raise EngineError(Reject.LIMIT_ONLY_MODE)
        if pair.status in ("maintenance", "delisted", "work_in_progress"):
            raise EngineError(Reject.UNAVAILABLE)

    def build_order(self, account_id: str, req: OrderRequest, origin: Origin | None = None) -> Order:
        """Validate a request into an (unplaced) order; raises EngineError."""
        acct = self.account(account_id)
        if req.side not in (BUY, SELL):
            raise EngineError(Reject.INVALID_ARGUMENTS, "type")
        if req.ordertype not in ORDER_TYPES:
            raise EngineError(Reject.INVALID_ARGUMENTS, "ordertype")
        if req.tif not in TIFS:
            raise EngineError(Reject.INVALID_ARGUMENTS, "timeinforce")
        if req.stp not in STP_MODES:
            raise EngineError(Reject.INVALID_ARGUMENTS, "stptype")
        if req.cl_ord_id is not None and req.userref is not None:
            raise EngineError(Reject.INVALID_ARGUMENTS, "cl_ord_id and userref are mutually exclusive")
        if req.cl_ord_id is not None and req.close is not None:
            raise EngineError(Reject.INVALID_ARGUMENTS, "cl_ord_id")
        if req.trigger_ref not in ("last", "index"):
            raise EngineError(Reject.INVALID_ARGUMENTS, "trigger")
        pair = self.pair(req.pair)
        otype = req.ordertype
        leverage = parse_leverage(req.leverage) if req.leverage is not None else 0
        if leverage < 0:
            raise EngineError(Reject.INVALID_ARGUMENTS, "leverage")
        margin = bool(leverage) or otype == SETTLE_POSITION or req.reduce_only
        market = otype == MARKET
        if req.post_only and otype not in (LIMIT, ICEBERG):
            raise EngineError(Reject.INVALID_ARGUMENTS, "post")
        if req.viqc and not (market and req.side == BUY):
            raise EngineError(Reject.INVALID_ARGUMENTS, "viqc")
        if market and req.tif in (GTD,):
            raise EngineError(Reject.INVALID_ARGUMENTS, "timeinforce")
        if req.tif == GTD and req.expire_ns <= 0:
            raise EngineError(Reject.INVALID_ARGUMENTS, "expiretm")
        if self.status != "online" or pair.status != "online":
            self._gate(pair, req.post_only, market)
        label = req.pair
        if margin and req.qty == 0:
            lots = 0  # volume 0: the whole position (margin.prepare sizes it)
        else:
            lots = self._qty_lots(pair, req.qty) if not req.viqc else 0
        o = Order("", account_id, pair, req.side, otype, lots)
        o.tif = req.tif
        o.post_only = req.post_only
        o.stp = req.stp
        o.cl_ord_id = req.cl_ord_id
        o.userref = req.userref
        o.fee_in_base = bool(req.fee_in_base)
        o.viqc = req.viqc
        o.origin = origin
        o.trigger_ref = req.trigger_ref
        o.oflags = req.oflags
        if otype in (LIMIT, ICEBERG):
            if req.price is None:
                raise EngineError(Reject.INVALID_ARGUMENTS, "price")
            o.price = self._price_units(pair, req.price, req.side, otype, label)
        elif otype in TRAILING_TYPES:
            if not isinstance(req.price, RelPrice) or req.price.sign != "+":
                raise EngineError(Reject.INVALID_ARGUMENTS, "price")
            o.trail_offset, o.trail_pct = self._offset_units(pair, req.price)
            ref = self._trigger_reference(o)
            o.peak = ref
            o.trigger_price = self._trail_trigger(o, ref)
            if otype == TRAILING_STOP_LIMIT:
                if req.price2 is None:
                    raise EngineError(Reject.INVALID_ARGUMENTS, "price2")
                if isinstance(req.price2, RelPrice):
                    off, pct = self._offset_units(pair, req.price2)
                    if pct:
                        off = (o.trigger_price or 0) * off // PPM
                    o.limit_offset = off if req.price2.sign == "+" else -off
                else:
                    o.price = self._price_units(pair, req.price2, req.side, otype, label)
        elif otype in TRIGGERED_TYPES:
            if req.price is None:
                raise EngineError(Reject.INVALID_ARGUMENTS, "price")
            o.trigger_price = self._price_units(pair, req.price, req.side, otype, label)
            if otype in LIMIT_AFTER_TRIGGER:
                if req.price2 is None:
                    raise EngineError(Reject.INVALID_ARGUMENTS, "price2")
                o.price = self._price_units(pair, req.price2, req.side, otype, label)
        elif (market or otype == SETTLE_POSITION) and req.price is not None:
            raise EngineError(Reject.INVALID_ARGUMENTS, "price")
        if otype == ICEBERG or req.display_qty is not None:
            if otype not in (ICEBERG, LIMIT) or req.display_qty is None:
                raise EngineError(Reject.INVALID_ARGUMENTS, "displayvol")
            disp = self._qty_lots(pair, req.display_qty, "displayvol")
            if disp * 15 < lots or disp > lots:
                raise EngineError(Reject.INVALID_ARGUMENTS, "displayvol")
            o.display = disp
        if req.viqc:
            quote_units = to_units(req.qty, pair.cost_decimals)
            if quote_units is None or quote_units <= 0:
                raise EngineError(Reject.INVALID_ARGUMENTS, "volume")
            o.cost = 0
            o.qty = 0
            o.hold = quote_units  # remember the quote budget (cost units) until execution
        elif lots or not margin:
            if lots < pair.ordermin_lots:
                raise EngineError(Reject.ORDER_MINIMUM)
            ref_price = o.price or o.trigger_price or self._reference_price(pair)
            if ref_price and self.cost_units(pair, ref_price, lots) < pair.costmin_units:
                raise EngineError(Reject.COST_MINIMUM)
        if req.deadline_ns:
            deadline_elapsed(req.deadline_ns, self.now_ns)
        if req.start_ns and not in_range(req.start_ns):
            raise EngineError(Reject.INVALID_ARGUMENTS, "starttm")
        if req.start_ns and req.start_ns > self.now_ns:
            o.start_ns = req.start_ns
        if req.expire_ns:
            if req.expire_ns <= self.now_ns or not in_range(req.expire_ns):
                raise EngineError(Reject.INVALID_ARGUMENTS, "expiretm")
            o.expire_ns = req.expire_ns
            if o.tif == GTC:
                o.tif = GTD
        if req.cl_ord_id is not None and (account_id, req.cl_ord_id) in self.cl_ids:
            raise EngineError(Reject.DUPLICATE_CL_ORD_ID)
        if req.close is not None:
            self._check_close(pair, req.close, req.side, label)
            o.close = {"ordertype": req.close.ordertype, "price": req.close.price, "price2": req.close.price2}
        # funds
        if margin:
            # a margin order holds margin (or settles with funds), never the spot hold
            ref = o.price or o.trigger_price or self._best_opposite(o) or self._reference_price(pair)
            self.margin.prepare(acct, o, req, leverage, ref)
            o.hold_asset = pair.quote.id
            o.hold = 0
        elif not req.viqc:
            hp = self._hold_price(o)
            if market or (o.trigger_price is not None and hp is None):
                hp = self._market_hold_price(o)
            need = self._hold_for(o, lots, hp)
            asset = pair.quote.id if o.side == BUY else pair.base.id
            if need > acct.available(asset):
                raise EngineError(Reject.INSUFFICIENT_FUNDS)
            o.hold_asset = asset
            o.hold = need if not market else 0
        else:
            if o.hold * pair.cost_mult > acct.available(pair.quote.id):
                raise EngineError(Reject.INSUFFICIENT_FUNDS)
        if self.config.max_open_orders:
            n = sum(1 for x in self.open_orders.get(account_id, {}).values() if x.pair is pair)
            if n >= self.config.max_open_orders:
                raise EngineError(Reject.ORDERS_LIMIT)
        if o.post_only and self.config.post_only_reject and self._crosses(o):
            raise EngineError(Reject.POST_ONLY)
        return o

    def _check_close(self, pair: SpotPair, close: CloseRequest, side: str, label: str) -> None:
        if close.ordertype not in ORDER_TYPES or close.ordertype in (MARKET, SETTLE_POSITION):
            raise EngineError(Reject.INVALID_ARGUMENTS, "close[ordertype]")
        other = SELL if side == BUY else BUY
        if close.ordertype not in TRAILING_TYPES and close.price is None:
            raise EngineError(Reject.INVALID_ARGUMENTS, "close[price]")
        if isinstance(close.price, Decimal):
            self._price_units(pair, close.price, other, close.ordertype, label)
        if isinstance(close.price2, Decimal):
            self._price_units(pair, close.price2, other, close.ordertype, label)

    def _market_hold_price(self, o: Order) -> int:
        """The price a market/stop-market buy is funded at: protection bound."""
        ref = o.trigger_price or self._best_opposite(o) or self._reference_price(o.pair)
        pct = self.config.market_protection_pct
        bump = int(Decimal(ref) * pct / 100)
        return ref + bump if o.side == BUY else max(ref - bump, o.pair.tick_units)

    def _best_opposite(self, o: Order) -> int | None:
        book = self.books[o.pair.id]
        return book.best_ask() if o.side == BUY else book.best_bid()

    def _crosses(self, o: Order) -> bool:
        best = self._best_opposite(o)
        if best is None or o.price is None:
            return False
        return o.price >= best if o.side == BUY else o.price <= best

    def add_order(
        self, account_id: str, req: OrderRequest, origin: Origin | None = None, batch: bool = False, _charge: str = "add"
    ) -> AddResult:
        o = self.build_order(account_id, req, origin)
        if req.validate:
            return AddResult(None, o, req)
        acct = self.accounts.accounts[account_id]
        o.batch = batch
        if self.admission is not None and _charge:
            self.admission(_charge, acct, o.pair, o, self.now_ns)
        o.id = self.ids.order_id()
        o.opened_ns = self.now_ns
        o.rl_ns = self.now_ns
        o.last_update_ns = self.now_ns
        self.orders[o.id] = o
        opened = self.open_orders.get(account_id)
        if opened is None:  # (not setdefault: that would make a dict on every order)
            opened = self.open_orders[account_id] = {}
        opened[o.id] = o
        key = (account_id, o.pair.id)
        self.open_count[key] = self.open_count.get(key, 0) + 1
        if o.cl_ord_id is not None:
            self.cl_ids[(account_id, o.cl_ord_id)] = o
        if o.hold:
            if not o.viqc:
                acct.hold(o.hold_asset, o.hold)
        if o.margin_hold:
            self.margin.reserve(o)
        self.events.append(OrderEvent("pending_new", o, self.now_ns))
        if o.expire_ns:
            self._add_timer(o.expire_ns, "expire", o.id)
        if o.start_ns:
            self._add_timer(o.start_ns, "start", o.id)
        else:
            self._activate(o)
        return AddResult(o, o, req)

    def add_order_batch(
        self, account_id: str, reqs: list[OrderRequest], origin: Origin | None = None, validate: bool = False
    ) -> list[BatchSlot]:
        """Kraken's AddOrderBatch / WS `batch_add`: 2-15 orders on one pair.  Every
        order is validated first and any refusal outside BATCH_PER_ORDER refuses the
        whole batch (nothing placed); then each is placed on its own, a refusal
        taking that order's slot.  One command: one journal entry, replayed whole."""
        if not BATCH_MIN <= len(reqs) <= BATCH_MAX or len({r.pair for r in reqs}) != 1:
            raise EngineError(Reject.INVALID_ARGUMENTS, "orders")
        for r in reqs:
            try:
                self.build_order(account_id, r, origin)
            except EngineError as exc:
                if exc.code not in BATCH_PER_ORDER:
                    raise
        out: list[BatchSlot] = []
        for r in reqs:
            try:
                out.append(self.add_order(account_id, replace(r, validate=validate), origin, batch=True))
            except EngineError as exc:
                out.append(exc)
        return out

    def _activate(self, o: Order) -> None:
        """Pending -> live: triggers wait, everything else meets the book."""
        o.status = OPEN
        if o.ordertype == SETTLE_POSITION:
            self.events.append(OrderEvent("new", o, self.now_ns))
            try:
                self.margin.settle(self.accounts.accounts[o.account_id], o)
            except EngineError:  # a delayed settle that no longer has its position or funds
                self._close(o, CANCELED, R_FUNDS)
                return
            self._close(o, CLOSED if o.filled else CANCELED, None)
            return
        if o.ordertype in TRIGGERED_TYPES and not o.triggered:
            self.events.append(OrderEvent("new", o, self.now_ns))
            if self._should_trigger(o):
                self._trigger(o)
            else:
                self.stops[o.pair.id].append(o)
            return
        if o.post_only and self._crosses(o):
            self.events.append(OrderEvent("new", o, self.now_ns))
            self._close(o, CANCELED, R_POST_ONLY)
            return
        if o.tif == FOK and not self._fok_fillable(o):
            self.events.append(OrderEvent("new", o, self.now_ns))
            self._close(o, CANCELED, R_FOK)
            return
        self.events.append(OrderEvent("new", o, self.now_ns))
        self._execute(o)

    def _fok_fillable(self, o: Order) -> bool:
        need = o.remaining
        for lvl in self.books[o.pair.id].opposite(o.side):
            if o.price is not None and (lvl.price > o.price if o.side == BUY else lvl.price < o.price):
                break
            for m in lvl.live():
                if m.account_id != o.account_id:
                    need -= m.remaining
                    if need <= 0:
                        return True
        return need <= 0

    # -------------------------------------------------------------- matching
    def _execute(self, o: Order) -> None:
        """Match an arriving (or just triggered) order, then rest or finish it."""
        pair = o.pair
        book = self.books[pair.id]
        market = o.price is None
        limit = o.price
        if o.reduce_only and o.leverage and not self.margin.cap_reduce_only(o):
            self._close(o, CLOSED if o.filled else CANCELED, R_REDUCE_ONLY)
            return
        if market:
            ref = self._best_opposite(o)
            if ref is None:
                self._close(o, CANCELED if not o.filled else CLOSED, R_NO_LIQUIDITY)
                return
            bump = int(Decimal(ref) * self.config.market_protection_pct / 100)
            limit = ref + bump if o.side == BUY else ref - bump
            if o.viqc:
                self._execute_viqc(o, limit)
                return
            if o.side == BUY and not o.leverage and not self._market_buy_affordable(o, limit):
                self._close(o, CANCELED, R_FUNDS)
                return
        opp = book.asks if o.side == BUY else book.bids
        is_buy = o.side == BUY
        taker_acct = self.accounts.accounts[o.account_id]
        stp_stop = False
        while o.filled < o.qty and opp.keys:
            lvl = opp.levels[opp.keys[-1]]
            price = lvl.price
            if is_buy:
                if price > limit:  # type: ignore[operator]
                    break
            elif price < limit:  # type: ignore[operator]
                break
            orders = lvl.orders
            while orders and o.filled < o.qty:
                m = orders[0]
                if not m.in_book:
                    orders.popleft()
                    continue
                if m.account_id == o.account_id:
                    mode = o.stp
                    if mode == STP_OLDEST:
                        self._cancel_resting(m, R_STP)
                        continue
                    if mode == STP_BOTH:
                        self._cancel_resting(m, R_STP)
                    stp_stop = True
                    break
                qty = o.qty - o.filled
                if m.visible < qty:
                    qty = m.visible
                self._fill(o, m, lvl, price, qty, taker_acct)
                if m.visible == 0:
                    if m.filled >= m.qty:
                        orders.popleft()
                        self._finish_resting(m, lvl)
                    else:  # iceberg tranche done: refill at the back of the level
                        orders.popleft()
                        nxt = m.display if m.display < m.remaining else m.remaining
                        m.visible = nxt
                        lvl.visible += nxt
                        orders.append(m)
                        self.events.append(BookEvent(pair.id, m.side, price, lvl.visible, m.id, nxt, "add", self.now_ns))
                        self.events.append(OrderEvent("iceberg_refill", m, self.now_ns))
            if stp_stop:
                break
        if o.filled >= o.qty:
            self._close(o, CLOSED, None)
        elif stp_stop:
            self._close(o, CANCELED, R_STP)
        elif market:
            self._close(o, CLOSED if o.filled else CANCELED, R_MPP if opp.keys else R_NO_LIQUIDITY)
        elif o.tif == IOC or o.tif == FOK:
            self._close(o, CLOSED if o.filled else CANCELED, R_IOC if o.tif == IOC else R_FOK)
        else:
            self._rest(o)
        if self.stops[pair.id] and pair.id in self.last_price:
            self._check_triggers(pair)

    def _market_buy_affordable(self, o: Order, limit: int) -> bool:
        acct = self.accounts.accounts[o.account_id]
        pair = o.pair
        need_qty = o.remaining
        cost = 0
        for lvl in self.books[pair.id].asks:
            if lvl.price > limit or need_qty <= 0:
                break
            q = min(need_qty, lvl.visible)
            cost += self.cost_units(pair, lvl.price, q)
            need_qty -= q
        if not o.fee_in_base:
            cost += ceil_div(cost * self._fee_ppm(acct, pair, False), PPM)
        return cost * pair.cost_mult <= acct.available(pair.quote.id) + o.hold

    def _execute_viqc(self, o: Order, limit: int) -> None:
        """Market buy sized in quote: spend the budget level by level."""
        pair = o.pair
        acct = self.accounts.accounts[o.account_id]
        budget = o.hold  # cost units
        o.hold = 0
        # its base quantity is known only when the budget is spent: the events
        # that show it so far (pending_new, new, then each fill) get it at the end
        sized: list[OrderEvent] = []
        for prev in reversed(self.events):
            if not (isinstance(prev, OrderEvent) and prev.order is o):
                break
            sized.append(prev)
        ppm = self._fee_ppm(acct, pair, False)
        opp = self.books[pair.id].asks
        while budget > 0 and opp.keys:
            lvl = opp.levels[opp.keys[-1]]
            if lvl.price > limit:
                break
            m = lvl.orders[0]
            if not m.in_book:
                lvl.orders.popleft()
                continue
            if m.account_id == o.account_id:
                self._cancel_resting(m, R_STP)
                continue
            spend = budget * PPM // (PPM + ppm) if not o.fee_in_base else budget
            qty = min(m.visible, spend * pair.cost_shift // lvl.price)
            if qty <= 0:
                break
            o.qty += qty
            before = o.cost
            sized.append(self._fill(o, m, lvl, lvl.price, qty, acct))
            budget -= (o.cost - before) + (self._fee(o.cost - before, ppm) if not o.fee_in_base else 0)
            if m.visible == 0:
                lvl.orders.popleft()
                if m.filled >= m.qty:
                    self._finish_resting(m, lvl)
                else:
                    nxt = min(m.display, m.remaining)
                    m.visible = nxt
                    lvl.visible += nxt
                    lvl.orders.append(m)
                    self.events.append(BookEvent(pair.id, m.side, lvl.price, lvl.visible, m.id, nxt, "add", self.now_ns))
        for ev in sized:
            ev.qty = o.qty
        self._close(o, CLOSED if o.filled else CANCELED, None if o.filled else R_NO_LIQUIDITY)

    def _fill(self, taker: Order, maker: Order, lvl: Level, price: int, qty: int, taker_acct: Account) -> OrderEvent:
        pair = taker.pair
        now = self.now_ns
        maker_acct = self.accounts.accounts[maker.account_id]
        cost = self.cost_units(pair, price, qty)
        seq = self.trade_seq[pair.id] + 1
        self.trade_seq[pair.id] = seq
        trade = TradeEvent(pair.id, seq, price, qty, taker.side, now, maker.id, taker.id, taker.ordertype)
        trades = self.trades[pair.id]
        trades.append(trade)
        if len(trades) > self._retain_trades_floor:
            self.retention.appended(("trades", pair.id), trades, now, _trade_ts, trades=True)
        self.last_price[pair.id] = price
        if pair.id in self.margin.by_pair:  # the book and last price moved: its positions are re-rated
            self.margin.touch_pair(pair.id)
        # maker side of the book shrinks
        maker.visible -= qty
        lvl.visible -= qty
        tfill = self._settle(taker, taker_acct, price, qty, cost, False, seq, maker.id)
        mfill = self._settle(maker, maker_acct, price, qty, cost, True, seq, taker.id)
        self.events.append(trade)
        if maker.visible == 0 and maker.filled >= maker.qty:
            pass  # the delete book event is emitted by _finish_resting
        else:
            self.events.append(BookEvent(pair.id, maker.side, price, lvl.visible, maker.id, maker.visible, "modify", now))
        tev = OrderEvent("trade", taker, now, tfill)
        self.events.append(tev)
        self.events.append(OrderEvent("trade", maker, now, mfill))
        if taker.close is not None:
            self._place_close(taker, qty)
        if maker.close is not None:
            self._place_close(maker, qty)
        return tev

    def _settle(
        self, o: Order, acct: Account, price: int, qty: int, cost: int, maker: bool, seq: int, counter: str
    ) -> Fill:
        """Move balances for one side of a fill and release its hold."""
        pair = o.pair
        now = self.now_ns
        ppm = self._fee_ppm(acct, pair, maker)
        o.filled += qty
        o.cost += cost
        o.last_update_ns = now
        fill = Fill(self.ids.reserve(), seq, o, price, qty, cost, 0, maker, now, counter)
        base, quote = pair.base.id, pair.quote.id
        base_units = qty * pair.base_mult
        cost_bal = cost * pair.cost_mult
        in_base = o.fee_in_base
        if in_base:
            fee = self._fee(qty, ppm) * pair.base_mult
        else:
            fee = self._fee(cost, ppm) * pair.cost_mult
        fill.fee = fee
        o.fee += fee
        if o.leverage:  # a margin fill: positions and P&L, no exchange of balances
            fill.ledger = self.margin.on_fill(o, acct, fill)
        else:
            # release the part of the hold this fill used up
            if o.hold:
                new_hold = self._hold_for(o, o.qty - o.filled, self._hold_price(o)) if o.filled < o.qty else 0
                used = o.hold - new_hold
                if used < 0:
                    used = 0
                acct.held[o.hold_asset] -= used
                o.hold -= used
            if o.side == BUY:
                e1 = self._ledger(acct, quote, -cost_bal, 0 if in_base else fee, "trade", fill)
                e2 = self._ledger(acct, base, base_units, fee if in_base else 0, "trade", fill)
            else:
                e1 = self._ledger(acct, base, -base_units, fee if in_base else 0, "trade", fill)
                e2 = self._ledger(acct, quote, cost_bal, 0 if in_base else fee, "trade", fill)
            fill.ledger = (e1, e2)
        # keep it: on the order, and in the account's fills (retention cuts the oldest)
        if o.trades:
            o.trades.append(fill)
        else:
            o.trades = [fill]
        fills = self.fills.get(acct.id)
        if fills is None:
            self.fills[acct.id] = [fill]
        else:
            fills.append(fill)
            if len(fills) > self._retain_floor:
                n = self.retention.due(fills, now, _fill_ts)
                if n:
                    unpin_fills(fills, n)
                    self.retention.cut(("fills", acct.id), fills, n)
        return fill

    def _retain_closed(self, account_id: str, closed: list[Order]) -> None:
        """Closed orders past the retention policy leave memory, with
        everything keyed by their id (queries then know them no more)."""
        n = self.retention.due(closed, self.now_ns, _closed_ts)
        if not n:
            return
        versions = self.amend_history.by_order
        for o in closed[:n]:
            self.orders.pop(o.id, None)
            versions.pop(o.id, None)
        self.retention.cut(("closed", account_id), closed, n)

    def _rest(self, o: Order) -> None:
        pair = o.pair
        o.visible = o.display if o.display and o.display < o.remaining else o.remaining
        lvl = self.books[pair.id].insert(o)
        self.events.append(BookEvent(pair.id, o.side, o.price or 0, lvl.visible, o.id, o.visible, "add", self.now_ns))
        if pair.id in self.margin.by_pair:
            self.margin.touch_pair(pair.id)

    def _finish_resting(self, m: Order, lvl: object) -> None:
        """A resting order filled completely: out of the book, closed."""
        book = self.books[m.pair.id]
        level = book.remove(m)
        self.events.append(BookEvent(m.pair.id, m.side, m.price or 0, level.visible, m.id, 0, "delete", self.now_ns))
        self._close(m, CLOSED, None)

    def _cancel_resting(self, m: Order, reason: str) -> None:
        book = self.books[m.pair.id]
        level = book.remove(m)
        self.events.append(BookEvent(m.pair.id, m.side, m.price or 0, level.visible, m.id, 0, "delete", self.now_ns))
        self._close(m, CANCELED, reason)

    def _close(self, o: Order, status: str, reason: str | None) -> None:
        """Every order ends here exactly once: release holds, index, events."""
        o.status = status
        o.reason = reason
        o.closed_ns = self.now_ns
        o.last_update_ns = self.now_ns
        if o.hold:
            acct = self.accounts.accounts[o.account_id]
            acct.held[o.hold_asset] -= o.hold
            o.hold = 0
        if o.margin_hold:
            self.margin.on_order_closed(o)
        if o.pair.id in self.margin.by_pair:  # it may have left the book (expiry, amend): the mark may move
            self.margin.touch_pair(o.pair.id)
        opened = self.open_orders.get(o.account_id)
        if opened is not None and opened.pop(o.id, None) is not None:
            self.open_count[(o.account_id, o.pair.id)] -= 1
        closed = self.closed_orders.get(o.account_id)
        if closed is None:  # (not setdefault: that would make a list on every close)
            closed = self.closed_orders[o.account_id] = []
        closed.append(o)
        if len(closed) > self._retain_floor:
            self._retain_closed(o.account_id, closed)
        if o.cl_ord_id is not None:
            self.cl_ids.pop((o.account_id, o.cl_ord_id), None)
        if o.ordertype in TRIGGERED_TYPES and not o.triggered:
            stops = self.stops[o.pair.id]
            if o in stops:
                stops.remove(o)
        if status == CLOSED:
            kind = "filled"
        elif status == EXPIRED:
            kind = "expired"
        else:
            kind = "canceled"
        self.events.append(OrderEvent(kind, o, self.now_ns, reason=reason))

    # ------------------------------------------------------------- triggers
    def _trigger_reference(self, o: Order) -> int:
        pid = o.pair.id
        if o.trigger_ref == "index":
            ref = self.index_price.get(pid)
            if ref is None:
                raise EngineError(Reject.INVALID_ARGUMENTS, "Index unavailable")
            return ref
        return self._reference_price(o.pair)

    def _trail_trigger(self, o: Order, peak: int) -> int:
        off = peak * o.trail_offset // PPM if o.trail_pct else o.trail_offset
        t = o.pair.tick_units
        if o.side == SELL:
            v = peak - off
            return v - v % t
        v = peak + off
        return v + (-v) % t

    def _should_trigger(self, o: Order) -> bool:
        pid = o.pair.id
        ref = self.index_price.get(pid) if o.trigger_ref == "index" else self.last_price.get(pid)
        if ref is None or o.trigger_price is None:
            return False
        if o.ordertype in TRAILING_TYPES:
            peak = o.peak if o.peak is not None else ref
            if (o.side == SELL and ref > peak) or (o.side == BUY and ref < peak):
                o.peak = ref
                o.trigger_price = self._trail_trigger(o, ref)
            return ref <= o.trigger_price if o.side == SELL else ref >= o.trigger_price
        stop = o.ordertype in (STOP_LOSS, STOP_LOSS_LIMIT)
        up = stop == (o.side == BUY)  # buy stops and sell take-profits fire on the way up
        return ref >= o.trigger_price if up else ref <= o.trigger_price

    def _check_triggers(self, pair: SpotPair) -> None:
        # triggering can trade, which can trigger more: loop until quiet
        for _ in range(1000):
            fired = [o for o in self.stops[pair.id] if o.is_open and self._should_trigger(o)]
            if not fired:
                return
            for o in fired:
                if o in self.stops[pair.id]:
                    self.stops[pair.id].remove(o)
                    self._trigger(o)

    def _trigger(self, o: Order) -> None:
        o.triggered = True
        acct = self.accounts.accounts[o.account_id]
        if o.ordertype == TRAILING_STOP_LIMIT and o.limit_offset is not None and o.trigger_price is not None:
            o.price = o.trigger_price + (o.limit_offset if o.side == BUY else -o.limit_offset)
            o.price -= o.price % o.pair.tick_units
        if o.ordertype not in LIMIT_AFTER_TRIGGER:
            o.price = None
        # re-base the hold on the price the order now executes at
        if o.side == BUY and not o.leverage:
            hp = o.price if o.price is not None else self._market_hold_price(o)
            need = self._hold_for(o, o.remaining, hp)
            extra = need - o.hold
            if extra > 0 and extra > acct.available(o.hold_asset):
                self.events.append(OrderEvent("triggered", o, self.now_ns))
                self._close(o, CANCELED, R_FUNDS)
                return
            acct.held[o.hold_asset] = acct.held.get(o.hold_asset, 0) + extra
            o.hold = need
        self.events.append(OrderEvent("triggered", o, self.now_ns))
        self._execute(o)

    def _place_close(self, parent: Order, qty: int) -> None:
        """Conditional close: an opposite order for the filled quantity."""
        c = parent.close
        assert c is not None
        pair = parent.pair
        req = OrderRequest(
            pair=pair.id,
            side=SELL if parent.side == BUY else BUY,
            ordertype=str(c["ordertype"]),
            qty=Decimal(qty).scaleb(-pair.lot_decimals),
            price=c.get("price"),  # type: ignore[arg-type]
            price2=c.get("price2"),  # type: ignore[arg-type]
            trigger_ref=parent.trigger_ref,
            leverage=str(parent.leverage) if parent.leverage else None,
        )
        try:
            child = self.build_order(parent.account_id, req, parent.origin)
        except EngineError as exc:
            self.events.append(NoticeEvent("close_rejected", {"parent": parent.id, "error": exc.text}, self.now_ns))
            return
        child.id = self.ids.order_id()
        child.opened_ns = self.now_ns
        child.rl_ns = self.now_ns
        self.orders[child.id] = child
        self.open_orders.setdefault(child.account_id, {})[child.id] = child
        key = (child.account_id, pair.id)
        self.open_count[key] = self.open_count.get(key, 0) + 1
        acct = self.accounts.accounts[child.account_id]
        if child.hold:
            acct.hold(child.hold_asset, child.hold)
        self.margin.reserve(child)
        self.events.append(OrderEvent("pending_new", child, self.now_ns))
        self._activate(child)

    def place_internal(self, o: Order) -> None:
        """An order the venue itself places (a liquidation): no admission, no
        entry rules; it meets the book like any other and is recorded alike."""
        o.id = self.ids.order_id()
        o.opened_ns = o.rl_ns = o.last_update_ns = self.now_ns
        self.orders[o.id] = o
        self.open_orders.setdefault(o.account_id, {})[o.id] = o
        key = (o.account_id, o.pair.id)
        self.open_count[key] = self.open_count.get(key, 0) + 1
        self.events.append(OrderEvent("pending_new", o, self.now_ns))
        self._activate(o)

    # ---------------------------------------------------------------- cancel
    def _find(self, account_id: str, order_id: str | None = None, cl_ord_id: str | None = None) -> Order:
        if cl_ord_id is not None:
            o = self.cl_ids.get((account_id, cl_ord_id))
        else:
            o = self.orders.get(order_id or "")
        if o is None or o.account_id != account_id or not o.is_open:
            raise EngineError(Reject.UNKNOWN_ORDER)
        return o

    def cancel_order(
        self,
        account_id: str,
        order_id: str | None = None,
        cl_ord_id: str | None = None,
        userref: int | None = None,
        only_session: str | None = None,
        reason: str = R_USER,
        batch: bool = False,
    ) -> list[Order]:
        """Cancel by id, client id, or every open order with a userref.

        `only_session` restricts to orders placed by that FIX session instance
        (Kraken's single-cancel scope on FIX)."""
        if self.status == "maintenance":
            raise EngineError(Reject.UNAVAILABLE)
        acct = self.account(account_id)
        if userref is not None:
            targets = [o for o in self.open_orders.get(account_id, {}).values() if o.userref == userref]
        else:
            targets = [self._find(account_id, order_id, cl_ord_id)]
        if only_session is not None:
            for o in targets:
                if o.origin is None or o.origin.session != only_session:
                    raise EngineError(Reject.UNKNOWN_ORDER)
        if self.admission is not None:
            for o in targets:
                self.admission("batch_cancel" if batch else "cancel", acct, o.pair, o, self.now_ns)
        for o in targets:
            self._cancel(o, reason)
        return targets

    def _cancel(self, o: Order, reason: str) -> None:
        if o.in_book:
            self._cancel_resting(o, reason)
        else:
            self._close(o, CANCELED, reason)

    def cancel_all(
        self, account_id: str, only_session: str | None = None, pair: str | None = None, reason: str = R_USER
    ) -> list[Order]:
        if self.status == "maintenance":
            raise EngineError(Reject.UNAVAILABLE)
        self.account(account_id)
        p = self.pair(pair) if pair else None
        targets = [
            o
            for o in self.open_orders.get(account_id, {}).values()
            if (p is None or o.pair is p)
            and (only_session is None or (o.origin is not None and o.origin.session == only_session))
        ]
        for o in targets:
            self._cancel(o, reason)
        return targets

    def cancel_all_after(self, account_id: str, timeout_s: int) -> int:
        """Dead man's switch; returns the trigger time (0 when disabled)."""
        self.account(account_id)
        if timeout_s < 0 or timeout_s >= 86400:
            raise EngineError(Reject.INVALID_ARGUMENTS, "timeout")
        if timeout_s == 0:
            self.dead_man.pop(account_id, None)
            return 0
        at = self.now_ns + timeout_s * NS_PER_S
        self.dead_man[account_id] = at
        self._add_timer(at, "dms", account_id)
        return at

    # ----------------------------------------------------------- amend/edit
    def amend_order(self, account_id: str, req: AmendRequest) -> tuple[Order, str]:
        acct = self.account(account_id)
        if self.status in ("maintenance", "cancel_only"):
            raise EngineError(Reject.UNAVAILABLE if self.status == "maintenance" else Reject.CANCEL_ONLY)
        if (req.order_id is None) == (req.cl_ord_id is None):
            raise EngineError(Reject.INVALID_ARGUMENTS, "order_id")
        o = self._find(account_id, req.order_id, req.cl_ord_id)
        if o.close is not None:
            raise EngineError(Reject.INVALID_ARGUMENTS, "Orders with conditional close are not supported")
        pair = o.pair
        new_qty = self._qty_lots(pair, req.qty, "order_qty") if req.qty is not None else o.qty
        new_price = o.price
        if req.limit_price is not None:
            if o.price is None and o.ordertype not in LIMIT_AFTER_TRIGGER:
                raise EngineError(Reject.INVALID_ARGUMENTS, "limit_price")
            new_price = self._price_units(pair, req.limit_price, o.side, o.ordertype, pair.altname)
        new_trigger = o.trigger_price
        if req.trigger_price is not None:
            if o.ordertype not in TRIGGERED_TYPES or o.triggered:
                raise EngineError(Reject.INVALID_ARGUMENTS, "trigger_price")
            new_trigger = self._price_units(pair, req.trigger_price, o.side, o.ordertype, pair.altname)
        new_display = o.display
        if req.display_qty is not None:
            if not o.display:
                raise EngineError(Reject.INVALID_ARGUMENTS, "display_qty")
            new_display = self._qty_lots(pair, req.display_qty, "display_qty")
            if new_display * 15 < max(new_qty - o.filled, 0):
                raise EngineError(Reject.INVALID_ARGUMENTS, "display_qty")
        deadline_elapsed(req.deadline_ns, self.now_ns)
        price_moves = new_price != o.price
        post_only = req.post_only or o.post_only
        if price_moves and post_only and o.in_book:
            best = self._best_opposite(o)
            if best is not None and new_price is not None and (
                new_price >= best if o.side == BUY else new_price <= best
            ):
                raise EngineError(Reject.POST_ONLY)
        # funds for the new shape (buys hold quote; sells base)
        remaining = max(new_qty - o.filled, 0)
        margin_need = o.margin_hold
        if o.leverage:
            margin_need = self.margin.rehold(acct, o, remaining, new_price or new_trigger)
            need = o.hold
        elif new_price is not None or new_trigger is not None:
            saved = (o.price, o.trigger_price)
            o.price, o.trigger_price = new_price, new_trigger
            need = self._hold_for(o, remaining, self._hold_price(o))
            o.price, o.trigger_price = saved
        else:
            need = o.hold
        if need - o.hold > acct.available(o.hold_asset):
            raise EngineError(Reject.INSUFFICIENT_FUNDS)
        if self.admission is not None:
            self.admission("amend", acct, pair, o, self.now_ns)
        amend_id = self.ids.trade_id()
        o.rl_ns = self.now_ns
        acct.held[o.hold_asset] = acct.held.get(o.hold_asset, 0) + need - o.hold
        o.hold = need
        if margin_need != o.margin_hold:
            self.margin.set_hold(o, margin_need)
        o.amended = True
        o.last_update_ns = self.now_ns
        if new_qty <= o.filled:
            # quantity below what already filled: the rest is canceled
            o.qty = o.filled if o.filled else o.qty
            ev = OrderEvent("amended", o, self.now_ns)
            ev.amend_id = amend_id
            self.events.append(ev)
            if o.filled:
                o.qty = o.filled
                if o.in_book:
                    book = self.books[pair.id]
                    level = book.remove(o)
                    self.events.append(BookEvent(pair.id, o.side, o.price or 0, level.visible, o.id, 0, "delete", self.now_ns))
                self._close(o, CLOSED, R_AMEND_QTY)
            else:
                self._cancel(o, R_AMEND_QTY)
            return o, amend_id
        o.trigger_price = new_trigger
        if o.in_book:
            book = self.books[pair.id]
            old_visible = o.visible
            new_visible = min(new_display, new_qty - o.filled) if new_display else new_qty - o.filled
            loses = price_moves or new_qty > o.qty or (new_display != o.display and new_visible > old_visible)
            if price_moves:
                level = book.remove(o, purge=True)
                self.events.append(BookEvent(pair.id, o.side, o.price or 0, level.visible, o.id, 0, "delete", self.now_ns))
                o.qty, o.display, o.price = new_qty, new_display, new_price
                ev = OrderEvent("amended", o, self.now_ns)
                ev.amend_id = amend_id
                self.events.append(ev)
                self._execute(o)  # a price amend may now cross (non post-only)
                return o, amend_id
            lvl = book.side(o.side).level(o.price or 0)
            assert lvl is not None
            lvl.visible += new_visible - old_visible
            o.visible = new_visible
            o.qty, o.display = new_qty, new_display
            if loses or not self.config.amend_keeps_priority_on_decrease:
                book.requeue(o)
            self.events.append(BookEvent(pair.id, o.side, o.price or 0, lvl.visible, o.id, o.visible, "modify", self.now_ns))
        else:
            o.qty, o.display, o.price = new_qty, new_display, new_price
        ev = OrderEvent("amended", o, self.now_ns)
        ev.amend_id = amend_id
        self.events.append(ev)
        if o.ordertype in TRIGGERED_TYPES and not o.triggered and self._should_trigger(o):
            if o in self.stops[pair.id]:
                self.stops[pair.id].remove(o)
            self._trigger(o)
        return o, amend_id

    def edit_order(self, account_id: str, req: EditRequest, origin: Origin | None = None) -> tuple[Order, AddResult]:
        """Legacy cancel-replace: the new order gets a new id, fills stay."""
        o = self._find(account_id, req.order_id)
        if o.ordertype in TRIGGERED_TYPES or o.close is not None or o.cl_ord_id is not None:
            raise EngineError(Reject.INVALID_ORDER)
        pair = o.pair
        if req.pair is not None and self.pair(req.pair) is not pair:
            raise EngineError(Reject.INVALID_ARGUMENTS, "pair")
        new_total = self._qty_lots(pair, req.qty) if req.qty is not None else o.qty
        if new_total <= o.filled:
            raise EngineError(Reject.INVALID_ARGUMENTS, "volume")
        price: PriceIn = req.price
        if price is None and o.price is not None:
            price = Decimal(o.price).scaleb(-pair.pair_decimals)
        display = req.display_qty
        if display is None and o.display:
            display = Decimal(o.display).scaleb(-pair.lot_decimals)
        new_req = OrderRequest(
            pair=pair.id,
            side=o.side,
            ordertype=o.ordertype,
            qty=Decimal(new_total - o.filled).scaleb(-pair.lot_decimals),
            price=price,
            price2=req.price2,
            tif=o.tif if o.tif != IOC else GTC,
            post_only=o.post_only if req.post_only is None else req.post_only,
            stp=o.stp,
            userref=req.userref,
            display_qty=display,
            fee_in_base=o.fee_in_base,
            expire_ns=o.expire_ns,
            deadline_ns=req.deadline_ns,
            validate=req.validate,
            leverage=str(o.leverage) if o.leverage else None,
            reduce_only=o.reduce_only if req.reduce_only is None else req.reduce_only,
        )
        # validate the replacement with the old order's hold (and margin) counted as free
        acct = self.account(account_id)
        acct.held[o.hold_asset] = acct.held.get(o.hold_asset, 0) - o.hold
        old_margin = o.margin_hold
        self.margin.release(o, old_margin)
        try:
            shape = self.build_order(account_id, new_req, origin)
        finally:
            acct.held[o.hold_asset] += o.hold
            o.margin_hold = old_margin
            self.margin.reserve(o)
        if req.validate:
            return o, AddResult(None, shape, new_req, as_requested=True)
        if self.admission is not None:
            self.admission("edit", acct, pair, o, self.now_ns)
        self._cancel(o, "Order replaced")
        res = self.add_order(account_id, new_req, origin, _charge="")
        return o, res

    # ---------------------------------------------------------------- time
    def on_time(self) -> None:
        """Fire every timer due at `now_ns` (expiry, start, dead man's switch)."""
        timers = self._timers
        while timers and timers[0][0] <= self.now_ns:
            _, _, kind, ref = heapq.heappop(timers)
            if kind == "expire":
                o = self.orders.get(ref)
                if o is not None and o.is_open and o.expire_ns and o.expire_ns <= self.now_ns:
                    if o.in_book:
                        level = self.books[o.pair.id].remove(o)
                        self.events.append(BookEvent(o.pair.id, o.side, o.price or 0, level.visible, o.id, 0, "delete", self.now_ns))
                    self._close(o, EXPIRED, R_EXPIRED)
            elif kind == "start":
                o = self.orders.get(ref)
                if o is not None and o.status == PENDING:
                    self._activate(o)
            elif kind == "dms":
                at = self.dead_man.get(ref)
                if at is not None and at <= self.now_ns:
                    del self.dead_man[ref]
                    n = self.cancel_all(ref, reason=R_DMS)
                    self.events.append(NoticeEvent("dead_man_switch", {"account": ref, "canceled": len(n)}, self.now_ns))
            else:
                handler = self.timer_handlers.get(kind)
                if handler is not None:
                    handler(ref)

    def set_index_price(self, pair_name: str, price: Decimal) -> None:
        pair = self.pair(pair_name)
        units = to_units(price, pair.pair_decimals)
        if units is None or units <= 0:
            raise EngineError(Reject.INVALID_PRICE)
        self.index_price[pair.id] = units
        self.margin.touch_pair(pair.id)
        if self.stops[pair.id]:
            self._check_triggers(pair)

    def set_status(self, status: str) -> None:
        if status not in SYSTEM_STATUSES:
            raise EngineError(Reject.INVALID_ARGUMENTS, "status")
        self.status = status
        self.events.append(NoticeEvent("system_status", {"status": status}, self.now_ns))

    # ---------------------------------------------------------- accounting
    def adjust_balance(self, account_id: str, asset_name: str, amount: Decimal, type_: str = "deposit") -> int:
        """Credit (or debit) an account: deposits, withdrawals, admin seeding."""
        acct = self.account(account_id)
        asset = self.instruments.asset(asset_name)
        if asset is None:
            raise EngineError(Reject.UNKNOWN_ASSET)
        units = to_units(amount, 10)
        if units is None:
            raise EngineError(Reject.INVALID_ARGUMENTS, "amount")
        if units < 0 and -units > acct.available(asset.id):
            raise EngineError(Reject.INSUFFICIENT_FUNDS)
        self._ledger(acct, asset.id, units, 0, type_, self.ids.kraken_id("R"))
        return acct.balances[asset.id]

    def transfer(self, from_id: str, to_id: str, asset_name: str, amount: Decimal) -> None:
        src, dst = self.account(from_id), self.account(to_id)
        asset = self.instruments.asset(asset_name)
        if asset is None:
            raise EngineError(Reject.UNKNOWN_ASSET)
        units = to_units(amount, 10)
        if units is None or units <= 0:
            raise EngineError(Reject.INVALID_ARGUMENTS, "amount")
        if units > src.available(asset.id):
            raise EngineError(Reject.INSUFFICIENT_FUNDS)
        ref = self.ids.kraken_id("R")
        self._ledger(src, asset.id, -units, 0, "transfer", ref)
        self._ledger(dst, asset.id, units, 0, "transfer", ref)

    def to_state(self) -> dict[str, object]:
        """Orders, books, stops, fills, trades, prices, timers and counters as
        plain records (simulator/core/spot_state.py); not the wiring."""
        from . import spot_state

        return spot_state.to_state(self)

    def from_state(self, state: dict[str, object]) -> None:
        from . import spot_state

        spot_state.from_state(self, state)  # type: ignore[arg-type]


__all__ = ["AddResult", "BATCH_PER_ORDER", "BatchSlot", "EngineConfig", "SpotEngine", "SYSTEM_STATUSES"]
