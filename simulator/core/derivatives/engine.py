"""The derivatives (futures) engine: orders, matching, positions, margin,
funding, liquidation, triggers, dead man's switch.

Pure domain logic like the Spot engine: commands arrive through the
sequencer, time is `self.now_ns`, every change is appended to `self.events`.
Value is conserved by construction: every amount credited to one party is
debited from another (the counterparty, or the venue's `house` book that
collects fees, rounding residues and bankrupt accounts' deficits), which the
property tests check.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from simulator.core.clock import NS_PER_S

from ..accounts import AccountRegistry
from ..book import OrderBook
from ..commands import FuturesCancelRequest, FuturesEditRequest, FuturesInstruction, FuturesOrderRequest
from ..digest import StateHash, record
from ..ids import IdGenerator
from ..instruments import InstrumentRegistry
from ..marketdata import MarketData
from ..numbers import BALANCE_DP
from ..retention import bound
from ..timers import COMPACT_FLOOR, Timer
from ..timers import push as push_timer
from .errors import FuturesCode, FuturesError
from .events import (
    ACCEPTED,
    EDIT_ACCEPTED,
    FAccountEvent,
    FBookEvent,
    FFillEvent,
    FMarketEvent,
    FNoticeEvent,
    FOrderEvent,
    FPositionEvent,
    FTradeEvent,
)
from .model import (
    BUY,
    CANCELLED,
    EXACT,
    FILLED,
    FLEX,
    FOK,
    IOC,
    LMT,
    MKT,
    OPEN,
    ORDER_TYPES,
    POST,
    REJECTED,
    SELL,
    STP,
    TAKE_PROFIT,
    TRAILING_STOP,
    TRIGGER,
    TRIGGER_SIGNALS,
    TRIGGER_TYPES,
    ContractSpec,
    FAccount,
    FillRec,
    FOrder,
    HistoryEvent,
    LogEntry,
    MarginAccount,
    OrderResult,
    OSnap,
    Position,
    RestEvent,
    TradeRec,
    build_spec,
    div_round,
    money,
    to_money,
)

HOUR_NS = 3600 * NS_PER_S
# funding periods one clock jump realises (a week of hourly periods); older ones are
# skipped and recorded in a "funding_skipped" notice, so a jump costs the same however far
MAX_FUNDING_CATCHUP = 168
STATUSES = ("online", "maintenance", "cancel_only", "post_only", "limit_only")


@dataclass
class FuturesConfig:
    funding_interval_s: int = 3600  # Kraken perpetuals: hourly funding
    mkt_protection: Decimal = Decimal("0.01")  # mkt = IOC with 1% price protection
    liquidation_fee: Decimal = Decimal("0")  # share of the closed notional
    order_status_window_ms: int = 5000  # orders/status keeps finished orders this long
    history_max: int = 10000  # per account: fills, logs, order history
    trades_max: int = 100000  # per contract
    samples_max: int = 100000  # mark / index price samples kept per contract / index (core/retention.py)
    max_open_orders: int = 500  # per account (tooManyOrders)


@dataclass
class MarginView:
    """A margin account's numbers, in money units of its currency (USD for flex)."""

    name: str
    currency: str  # asset id (flex: the quote, USD)
    balance_value: int
    collateral: int
    pnl: int
    funding: int
    im: int
    im_orders: int
    mm: int

    @property
    def equity(self) -> int:
        return self.collateral + self.pnl + self.funding

    @property
    def portfolio_value(self) -> int:
        return self.balance_value + self.pnl + self.funding

    @property
    def available(self) -> int:
        return self.equity - self.im_orders


class FuturesEngine:
    """One per venue; every method assumes the caller is the sequencer."""

    def __init__(
        self,
        instruments: InstrumentRegistry,
        accounts: AccountRegistry,
        ids: IdGenerator,
        config: FuturesConfig | None = None,
    ) -> None:
        self.instruments = instruments
        self.accounts = accounts
        self.ids = ids
        self.config = config or FuturesConfig()
        self.now_ns = 0
        self.events: list[object] = []
        self.status = "online"
        self.specs: dict[str, ContractSpec] = {}
        for sym, c in instruments.futures.items():
            self.specs[sym] = build_spec(c, instruments.asset)
        self.books: dict[str, OrderBook] = {s: OrderBook(s) for s in self.specs}
        self.triggers: dict[str, list[FOrder]] = {s: [] for s in self.specs}
        self.orders: dict[str, FOrder] = {}
        self.state: dict[str, FAccount] = {}
        self.trades: dict[str, deque[TradeRec]] = {s: deque(maxlen=self.config.trades_max) for s in self.specs}
        self.trade_seq: dict[str, int] = {s: 0 for s in self.specs}
        self.last: dict[str, tuple[int, int, int]] = {}  # symbol -> (price, qty, ns)
        self.mark: dict[str, Decimal] = {}
        self.index: dict[str, Decimal] = {}  # index_key -> price
        self.mark_samples: dict[str, list[tuple[int, Decimal]]] = {s: [] for s in self.specs}
        self.index_samples: dict[str, list[tuple[int, Decimal]]] = {}
        self.market = MarketData()  # derived: ticker stats and chart candles, folded in on read
        self.funding_override: dict[str, Decimal] = {}
        self.funding_history: dict[str, list[tuple[int, Decimal, Decimal]]] = {s: [] for s in self.specs}
        self.last_funding_ns = 0
        self.open_interest: dict[str, int] = {s: 0 for s in self.specs}
        self.house: dict[str, int] = {}  # asset id -> money units (fees, residues, bankruptcies)
        self.house_positions: dict[str, Position] = {}
        self.notifications: list[dict[str, Any]] = []
        self._timers: list[Timer] = []
        self._timer_seq = 0
        self._timers_compact_at = COMPACT_FLOOR  # timers that can no longer fire leave past this (core/timers.py)
        self._funding_at = 0
        self._expiry_armed = False
        self._touched: set[str] = set()  # accounts that traded in the current command
        self.asset_usd: dict[str, Decimal] = {}
        for pid, ref in instruments.reference_prices.items():
            pair = instruments.pairs.get(pid)
            if pair is not None and pair.quote.altname == "USD" and ref:
                self.asset_usd[pair.base.id] = ref
        for sym in sorted(self.specs, key=lambda s: (not s.startswith("PF_"), s)):
            spec = self.specs[sym]
            ref = spec.contract.reference_price
            if ref > 0:
                self.mark[sym] = ref
                if spec.index_key not in self.index or not spec.perpetual:
                    self.index.setdefault(spec.index_key, ref)

    # ================================================================ helpers
    def spec(self, symbol: str) -> ContractSpec:
        c = self.instruments.future(symbol or "")
        if c is None or c.symbol not in self.specs:
            raise FuturesError(FuturesCode.CONTRACT_NOT_FOUND)
        return self.specs[c.symbol]

    def fa(self, account_id: str) -> FAccount:
        st = self.state.get(account_id)
        if st is None:
            if self.accounts.get(account_id) is None:
                raise FuturesError(FuturesCode.AUTHENTICATION_ERROR)
            st = FAccount(account_id, self.config.history_max)
            self.state[account_id] = st
        return st

    def _emit(self, ev: object) -> None:
        self.events.append(ev)

    def index_of(self, spec: ContractSpec) -> Decimal:
        return self.index.get(spec.index_key) or self.mark.get(spec.symbol) or Decimal(0)

    def mark_of(self, spec: ContractSpec) -> Decimal:
        m = self.mark.get(spec.symbol)
        if m is None:
            last = self.last.get(spec.symbol)
            if last is not None:
                return spec.price_dec(last[0])
            return self.index.get(spec.index_key, Decimal(0))
        return m

    def last_of(self, spec: ContractSpec) -> Decimal:
        last = self.last.get(spec.symbol)
        return spec.price_dec(last[0]) if last is not None else self.mark_of(spec)

    def usd_price(self, asset_id: str) -> Decimal:
        """USD value of one unit of a collateral currency."""
        a = self.instruments.assets.get(asset_id)
        if a is None:
            return Decimal(0)
        if a.altname == "USD":
            return Decimal(1)
        for spec in self.specs.values():
            if spec.base_asset == asset_id and spec.index_key.endswith("usd"):
                idx = self.index.get(spec.index_key)
                if idx:
                    return idx
        if asset_id in self.asset_usd:
            return self.asset_usd[asset_id]
        if a.altname in ("USDT", "USDC"):
            return Decimal(1)
        return Decimal(0)

    def _add_timer(self, at_ns: int, kind: str, ref: str) -> None:
        self._timer_seq += 1
        self._timers_compact_at = push_timer(self._timers, (at_ns, self._timer_seq, kind, ref),
                                             self._timers_compact_at, self._timer_live)  # fmt: skip

    def _timer_live(self, t: Timer) -> bool:
        """A dead man's switch re-armed to another time or disarmed can no
        longer fire; funding and expiry timers always can."""
        at, _, kind, ref = t
        if kind == "dms":
            fa = self.state.get(ref)
            return fa is not None and fa.dms_at == at
        return True

    def next_timer_ns(self) -> int | None:
        return self._timers[0][0] if self._timers else None

    def _arm(self) -> None:
        """Schedule the funding clock and contract expiries once time is known."""
        if self.now_ns <= 0:
            return
        if not self._funding_at:
            step = self.config.funding_interval_s * NS_PER_S
            self._funding_at = (self.now_ns // step + 1) * step
            self.last_funding_ns = self._funding_at - step
            self._add_timer(self._funding_at, "funding", "")
        if not self._expiry_armed:
            self._expiry_armed = True
            for sym, spec in self.specs.items():
                if spec.expiry_ns is not None:
                    self._add_timer(max(spec.expiry_ns, self.now_ns), "expiry", sym)

    def _reject(self, status: FuturesCode, spec: ContractSpec | None = None, cli: str | None = None) -> OrderResult:
        return OrderResult(status, None, cli, [], received_ns=self.now_ns, spec=spec)

    # ================================================================ money
    def _credit(self, fa: FAccount, ma: MarginAccount, asset: str, amount: int, info: str, **log: Any) -> LogEntry:
        old = ma.balances.get(asset, 0)
        new = old + amount
        ma.balances[asset] = new
        fa.log_seq += 1
        entry = LogEntry(
            id=fa.log_seq,
            ts=self.now_ns,
            asset=asset,
            info=info,
            margin_account=ma.name,
            old_balance=money(old),
            new_balance=money(new),
            booking_uid=self.ids.uuid(),
            **log,
        )
        fa.logs.append(entry)
        self._emit(FAccountEvent(fa.id, ma.name, entry, self.now_ns))
        return entry

    def _house(self, asset: str, amount: int) -> None:
        if amount:
            self.house[asset] = self.house.get(asset, 0) + amount

    def margin_of(self, fa: FAccount, spec: ContractSpec) -> MarginAccount:
        return fa.margin(spec.margin_account, None if spec.linear else spec.settle)

    def deposit(self, account_id: str, asset_name: str, amount: Decimal) -> int:
        """Credit futures collateral.  A coin that inverse contracts settle in
        (XBT, ETH) goes to its single-collateral account (fi_xbtusd...); every
        other asset to the multi-collateral `flex` account."""
        self._arm()
        fa = self.fa(account_id)
        asset = self.instruments.asset(asset_name)
        if asset is None:
            raise FuturesError(FuturesCode.INVALID_UNIT)
        units = to_money(amount)
        if amount != money(units) or units == 0:
            raise FuturesError(FuturesCode.INVALID_AMOUNT)
        ma = self._deposit_target(fa, asset.id)
        if units < 0 and ma.balances.get(asset.id, 0) + units < 0:
            raise FuturesError(FuturesCode.INSUFFICIENT_FUNDS)
        self._credit(fa, ma, asset.id, units, "cross-exchange transfer")
        self._check_liquidations([fa.id])
        return ma.balances[asset.id]

    def _deposit_target(self, fa: FAccount, asset_id: str) -> MarginAccount:
        for spec in self.specs.values():
            if not spec.linear and spec.settle == asset_id:
                return fa.margin(spec.margin_account, asset_id)
        return fa.flex

    def transfer(self, account_id: str, from_account: str, to_account: str, unit: str, amount: Decimal) -> None:
        """Move collateral between `cash`, `flex` and `fi_*` accounts."""
        fa = self.fa(account_id)
        asset = self.instruments.asset(unit.upper()) or self.instruments.asset(unit)
        if asset is None:
            raise FuturesError(FuturesCode.INVALID_UNIT)
        units = to_money(amount)
        if units <= 0 or money(units) != amount:
            raise FuturesError(FuturesCode.INVALID_AMOUNT)
        src = self._named_account(fa, from_account, asset.id)
        dst = self._named_account(fa, to_account, asset.id)
        if src is None or dst is None or src is dst:
            raise FuturesError(FuturesCode.INVALID_ACCOUNT)
        if isinstance(src, MarginAccount):
            view = self.margin_view(fa, src.name)
            price = self.usd_price(asset.id) if src.is_flex else Decimal(1)
            free = money(view.available) / price if price else Decimal(0)
            if src.balances.get(asset.id, 0) < units or (fa.positions and amount > free):
                raise FuturesError(FuturesCode.INSUFFICIENT_FUNDS)
        elif src.get(asset.id, 0) < units:
            raise FuturesError(FuturesCode.INSUFFICIENT_FUNDS)
        for side, amt in ((src, -units), (dst, units)):
            if isinstance(side, MarginAccount):
                self._credit(fa, side, asset.id, amt, "transfer")
            else:
                side[asset.id] = side.get(asset.id, 0) + amt
                fa.log_seq += 1
                fa.logs.append(
                    LogEntry(
                        fa.log_seq,
                        self.now_ns,
                        asset.id,
                        "transfer",
                        "cash",
                        money(side[asset.id] - amt),
                        money(side[asset.id]),
                        self.ids.uuid(),
                    )
                )
                self._emit(FAccountEvent(fa.id, "cash", None, self.now_ns))

    def _named_account(self, fa: FAccount, name: str, asset_id: str) -> MarginAccount | dict[str, int] | None:
        n = name.lower()
        if n in ("cash", "main", "funding"):
            return fa.cash
        if n == FLEX:
            return fa.flex
        for spec in self.specs.values():
            if not spec.linear and spec.margin_account == n:
                return fa.margin(n, spec.settle) if spec.settle == asset_id else None
        return None

    # ================================================================ margin
    def margin_rates(
        self, fa: FAccount | None, spec: ContractSpec, size: int, notional: int
    ) -> tuple[Decimal, Decimal]:
        measure = Decimal(abs(size)).scaleb(-spec.qdp) if not spec.linear else money(abs(notional))
        im, mm = spec.contract.margin_rates(measure)
        if fa is not None:
            lev = fa.leverage.get(spec.symbol)
            if lev:
                im = max(im, Decimal(1) / lev)
        return im, mm

    def margin_view(self, fa: FAccount, name: str, extra: tuple[ContractSpec, str, int] | None = None) -> MarginView:
        """The numbers Kraken's accounts endpoint reports for one margin account.

        `extra` (spec, side, qty) counts a hypothetical new order (funds checks)."""
        with localcontext(EXACT):
            if name == FLEX:
                ma = fa.flex
                usd = self.instruments.asset("USD")
                currency = usd.id if usd is not None else "ZUSD"
                bv = coll = 0
                for asset, units in ma.balances.items():
                    price = self.usd_price(asset)
                    value = to_money(money(units) * price)
                    bv += value
                    a = self.instruments.assets.get(asset)
                    factor = Decimal(a.collateral_value) if a is not None else Decimal(0)
                    coll += to_money(money(value) * factor) if value > 0 else value
            else:
                ma = fa.inverse.get(name) or MarginAccount(name, None)
                currency = ma.currency or ""
                bv = coll = sum(ma.balances.values())
            pnl = funding = im = imo = mm = 0
            orders_by_symbol: dict[str, tuple[int, int]] = {}
            for o in fa.open.values():
                if o.spec.margin_account != name or o.reduce_only or o.state != OPEN:
                    continue
                b, s = orders_by_symbol.get(o.spec.symbol, (0, 0))
                if o.side == BUY:
                    b += o.remaining
                else:
                    s += o.remaining
                orders_by_symbol[o.spec.symbol] = (b, s)
            if extra is not None:
                xs, xside, xq = extra
                b, s = orders_by_symbol.get(xs.symbol, (0, 0))
                orders_by_symbol[xs.symbol] = (b + xq, s) if xside == BUY else (b, s + xq)
            symbols = {p for p, pos in fa.positions.items() if pos.spec.margin_account == name} | set(orders_by_symbol)
            frac = self.funding_fraction()
            for sym in sorted(symbols):
                spec = self.specs[sym]
                pos = fa.positions.get(sym)
                size = pos.size if pos is not None else 0
                mark = self.mark_of(spec)
                if not mark:
                    continue
                n = spec.notional(size, mark)
                if pos is not None:
                    pnl += spec.value(size, mark) - pos.cost
                    if spec.perpetual and frac:
                        funding += to_money(-money(n) * self.relative_funding(spec) * frac)
                ir, mr = self.margin_rates(fa, spec, size, n)
                im += to_money(money(abs(n)) * ir)
                mm += to_money(money(abs(n)) * mr)
                b, s = orders_by_symbol.get(sym, (0, 0))
                worst = max(abs(size + b), abs(size - s))
                wn = spec.notional(worst, mark)
                wir, _ = self.margin_rates(fa, spec, worst, wn)
                imo += to_money(money(abs(wn)) * wir)
            return MarginView(name, currency, bv, coll, pnl, funding, im, max(im, imo), mm)

    def margin_accounts(self, fa: FAccount) -> list[str]:
        names = [FLEX] + sorted(fa.inverse)
        return names

    # ================================================================ funding
    def relative_funding(self, spec: ContractSpec) -> Decimal:
        """Hourly relative rate: premium of mark over index spread over the
        coefficient (24: a day's premium), clamped to the contract's maximum."""
        if not spec.perpetual:
            return Decimal(0)
        if spec.symbol in self.funding_override:
            return self.funding_override[spec.symbol]
        mark, index = self.mark_of(spec), self.index_of(spec)
        if not mark or not index:
            return Decimal(0)
        with localcontext(EXACT):
            rate = (mark - index) / index / (spec.funding_coeff or Decimal(24))
            cap = spec.max_rel_funding
            if cap is not None:
                rate = max(-cap, min(cap, rate))
            return rate.quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN).normalize()

    def absolute_funding(self, spec: ContractSpec, rel: Decimal) -> Decimal:
        mark = self.mark_of(spec)
        if not mark:
            return Decimal(0)
        with localcontext(EXACT):
            return (
                (rel * mark if spec.linear else rel / mark)
                .quantize(Decimal("1e-20"), rounding=ROUND_HALF_EVEN)
                .normalize()
            )

    def funding_fraction(self) -> Decimal:
        step = self.config.funding_interval_s * NS_PER_S
        if not self._funding_at or self.now_ns <= self.last_funding_ns:
            return Decimal(0)
        return Decimal(min(self.now_ns - self.last_funding_ns, step)) / Decimal(step)

    def next_funding_ns(self) -> int:
        if self._funding_at:
            return self._funding_at
        step = self.config.funding_interval_s * NS_PER_S
        return (self.now_ns // step + 1) * step

    def _apply_funding(self, at_ns: int) -> None:
        """Realise one period of funding on every perpetual position."""
        for sym, spec in self.specs.items():
            if not spec.perpetual:
                continue
            rel = self.relative_funding(spec)
            self.funding_history[sym].append((at_ns, self.absolute_funding(spec, rel), rel))
            if not rel:
                continue
            mark = self.mark_of(spec)
            total = 0
            for fa in self.state.values():
                pos = fa.positions.get(sym)
                if pos is None or not pos.size:
                    continue
                with localcontext(EXACT):
                    delta = to_money(-money(spec.notional(pos.size, mark)) * rel)
                if not delta:
                    continue
                total += delta
                ma = self.margin_of(fa, spec)
                self._credit(
                    fa,
                    ma,
                    spec.settle,
                    delta,
                    "funding rate change",
                    contract=sym,
                    realized_funding=money(delta),
                    funding_rate=self.absolute_funding(spec, rel),
                    mark_price=mark,
                )
            # the venue is every account's counterparty for funding: its own
            # (liquidated) positions' share and the rounding residue net out here
            self._house(spec.settle, -total)
            self._emit(FMarketEvent(sym, "funding", self.now_ns))

    # ================================================================ orders
    def send_order(self, account_id: str, req: FuturesOrderRequest, origin_session: str = "") -> OrderResult:
        self._arm()
        fa = self.fa(account_id)
        return self._send(fa, req, origin_session)

    def check_new(self, account_id: str, req: FuturesOrderRequest) -> FuturesCode | None:
        """The status that would refuse this new order, or None.  A pure check (no
        state changes): lets a caller validate a whole batch before placing any."""
        fa = self.state.get(account_id)
        if fa is None:
            return FuturesCode.AUTHENTICATION_ERROR
        _o, bad = self._validate_new(fa, req)
        return bad.status if bad is not None else None

    def _validate_new(self, fa: FAccount, req: FuturesOrderRequest) -> tuple[FOrder | None, OrderResult | None]:
        """Build an order from a request, or the status that refuses it."""
        otype = req.order_type
        cli = req.cl_ord_id
        spec = self.spec(req.symbol)
        pb = req.deadline_ns
        if pb and self.now_ns > pb:
            return None, self._reject(FuturesCode.WOULD_PROCESS_AFTER_SPECIFIED_TIME, spec, cli)
        if otype not in ORDER_TYPES:
            return None, self._reject(FuturesCode.INVALID_ORDER_TYPE, spec, cli)
        side = req.side
        if side not in (BUY, SELL):
            return None, self._reject(FuturesCode.INVALID_SIDE, spec, cli)
        if not spec.tradeable:
            return None, self._reject(FuturesCode.MARKET_INACTIVE, spec, cli)
        if self.status in ("maintenance", "cancel_only"):
            return None, self._reject(FuturesCode.MARKET_SUSPENDED, spec, cli)
        if self.status == "post_only" and otype != POST:
            return None, self._reject(FuturesCode.MARKET_IS_POST_ONLY, spec, cli)
        if cli is not None:
            if len(cli) > 100:
                return None, self._reject(FuturesCode.CLIENT_ORDER_ID_TOO_BIG, spec, cli)
            if any(o.cl_ord_id == cli for o in fa.open.values()):
                return None, self._reject(FuturesCode.CLIENT_ORDER_ID_ALREADY_EXIST, spec, cli)
        size = req.size
        qty = spec.size_units(size) if isinstance(size, Decimal) else None
        if qty is None or qty <= 0:
            return None, self._reject(FuturesCode.INVALID_SIZE, spec, cli)
        if len(fa.open) >= self.config.max_open_orders:
            return None, self._reject(FuturesCode.TOO_MANY_ORDERS, spec, cli)
        o = FOrder("", fa.id, spec, side, otype, qty)
        o.reduce_only = req.reduce_only
        o.cl_ord_id = cli
        lp = req.limit_price
        sp = req.stop_price
        if otype in (LMT, POST, IOC, FOK):
            if lp is None:
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
        if lp is not None and otype not in (MKT, TRAILING_STOP):
            pu = spec.tick_price(lp)
            if pu is None:
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            o.price = pu
        if otype in (STP, TAKE_PROFIT):
            if sp is None:
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            su = spec.tick_price(sp)
            if su is None:
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            o.stop_price = su
        if otype in TRIGGER_TYPES:
            sig = (req.trigger_signal or "last").lower()
            if sig not in TRIGGER_SIGNALS:
                return None, self._reject(FuturesCode.INVALID_ARGUMENT, spec, cli)
            o.signal = TRIGGER_SIGNALS[sig]
            ov, ou = req.limit_offset, req.limit_offset_unit
            if (ov is None) != (ou is None):
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            if ov is not None:
                if o.price is not None or str(ou).upper() not in ("QUOTE_CURRENCY", "PERCENT"):
                    return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
                o.offset_value, o.offset_unit = ov, str(ou).upper()
        if otype == TRAILING_STOP:
            dev, unit = req.trail_deviation, (req.trail_unit or "").upper()
            if not isinstance(dev, Decimal) or unit not in ("PERCENT", "QUOTE_CURRENCY") or dev <= 0:
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            if unit == "PERCENT" and not (Decimal("0.1") <= dev <= Decimal(50)):
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            if unit == "QUOTE_CURRENCY":
                du = spec.price_units(dev)
                if du is None or du % spec.tick:
                    return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            o.trail_dev, o.trail_unit = dev, unit
            o.trail_ref = self._signal_price(spec, o.signal)
            if not o.trail_ref:
                return None, self._reject(FuturesCode.INVALID_PRICE, spec, cli)
            o.stop_price = self._trail_trigger(o)
        if spec.max_position is not None:
            pos = fa.positions.get(spec.symbol)
            size_now = pos.size if pos else 0
            after = size_now + (qty if side == BUY else -qty)
            if abs(spec.size_dec(after)) > spec.max_position and abs(after) > abs(size_now):
                return None, self._reject(FuturesCode.MAX_POSITION_VIOLATION, spec, cli)
        return o, None

    def _send(self, fa: FAccount, req: FuturesOrderRequest, origin_session: str = "") -> OrderResult:
        tag = req.tag
        o, bad = self._validate_new(fa, req)
        if bad is not None:
            bad.order_tag = tag
            return bad
        assert o is not None
        spec = o.spec
        res = OrderResult(FuturesCode.PLACED, None, o.cl_ord_id, [], tag, self.now_ns, spec)
        # reduce-only: shrink to the position, or refuse
        if o.reduce_only and o.otype in TRIGGER_TYPES:
            pass  # checked (and the size capped) when it fires
        elif o.reduce_only:
            reducible = self._reducible(fa, spec, o.side)
            if reducible <= 0:
                res.status = FuturesCode.WOULD_NOT_REDUCE_POSITION
                return res
            if o.qty > reducible:
                o.reduced_qty = o.qty - reducible
                o.qty = reducible
        elif not self._funds_ok(fa, spec, o.side, o.qty):
            res.status = FuturesCode.INSUFFICIENT_AVAILABLE_FUNDS
            return res
        o.id = self.ids.uuid()
        o.created_ns = o.updated_ns = self.now_ns
        o.origin_session = origin_session
        res.order_id = o.id
        if o.otype in TRIGGER_TYPES:
            o.state = TRIGGER
            self._register(fa, o)
            self.triggers[spec.symbol].append(o)
            o.update_reason = None
            self._emit(FOrderEvent(o.snap(), ACCEPTED, False, self.now_ns, quiet=True))
            res.events.append(RestEvent("PLACE", o.snap(), reduced=o.reduced_qty))
            self._history(fa, "TriggerPlaced", o, reason="new_placed_order_by_user")
            self._emit(FOrderEvent(o.snap(), "new_placed_order_by_user", False, self.now_ns))
            self._check_triggers(spec)
            return res
        if o.otype == POST and self._crosses(o, o.price):
            o.update_reason = "POST_WOULD_EXECUTE_REASON"
            self._refuse(fa, o, res, FuturesCode.POST_WOULD_EXECUTE)
            self._history(fa, "OrderRejected", o, reason="post_order_failed_because_it_would_be_filled")
            self._emit(FOrderEvent(o.snap(), "post_order_failed_because_it_would_be_filled", True, self.now_ns, True))
            return res
        limit = o.price
        if o.otype == MKT:
            limit = self._protection(spec, o.side)
            if limit is None:
                return self._refuse(fa, o, res, FuturesCode.IOC_WOULD_NOT_EXECUTE)
            o.price = limit
        if o.otype == FOK and not self._fok_fillable(o, limit):
            return self._refuse(fa, o, res, FuturesCode.IOC_WOULD_NOT_EXECUTE)
        self._register(fa, o)
        # the order as the engine took it: told before its fills, once it is known to stand
        accepted, at = FOrderEvent(o.snap(), ACCEPTED, False, self.now_ns, quiet=True), len(self.events)
        selfish = self._match(fa, o, limit, "taker", None, res.events)
        if o.filled or not (o.otype in (IOC, FOK, MKT) or selfish):
            self.events.insert(at, accepted)
        if o.filled:
            # the venue logs the placement with what executed on arrival
            self._history(fa, "OrderPlaced", o, reason="new_user_order")
        if o.otype in (IOC, FOK, MKT) or selfish:
            if o.filled == 0:
                o.state = REJECTED
                if selfish:
                    o.error = "WOULD_EXECUTE_SELF"
                    o.update_reason = "WOULD_EXECUTE_SELF_REASON"
                    res.status = FuturesCode.SELF_FILL
                    res.events = [RestEvent("REJECT", o.snap(), reason="WOULD_EXECUTE_SELF")]
                else:
                    o.error = "IOC_WOULD_NOT_EXECUTE"
                    o.update_reason = "IOC_WOULD_NOT_EXECUTE_REASON"
                    res.status = FuturesCode.IOC_WOULD_NOT_EXECUTE
                    res.events = [RestEvent("REJECT", o.snap(), reason="IOC_WOULD_NOT_EXECUTE")]
                self._finish(fa, o, None)
                self._history(fa, "OrderRejected", o, reason=o.error.lower())
                return res
            if o.remaining > 0:
                o.state = CANCELLED
                o.update_reason = "WOULD_EXECUTE_SELF_REASON" if selfish else "IOC_WOULD_NOT_EXECUTE_REASON"
                reason = "would_execute_self" if selfish else "ioc_order_failed_because_it_would_not_be_executed"
                self._finish(fa, o, None)
                self._history(fa, "OrderCancelled", o, reason=reason)
                # it never rested: like a refused post-only, only the verbose feed tells the cancel
                self._emit(FOrderEvent(o.snap(), reason, True, self.now_ns, True))
            self._after_trades(spec)
            return res
        if o.remaining > 0 and o.state == OPEN:
            if not o.filled:
                self._history(fa, "OrderPlaced", o, reason="new_user_order")
            self._rest(o)
            res.events.append(RestEvent("PLACE", o.snap(), reduced=o.reduced_qty))
            self._emit(FOrderEvent(o.snap(), "new_placed_order_by_user", False, self.now_ns))
        self._after_trades(spec)
        return res

    def _register(self, fa: FAccount, o: FOrder) -> None:
        self.orders[o.id] = o
        fa.open[o.id] = o

    def _refuse(self, fa: FAccount, o: FOrder, res: OrderResult, code: FuturesCode) -> OrderResult:
        """A built order the book refuses: closed as rejected, its REJECT event
        (reason in Kraken's upper-case spelling) in the result."""
        o.state = REJECTED
        o.error = code.name
        self._finish(fa, o, None)
        res.status = code
        res.events.append(RestEvent("REJECT", o.snap(), reason=code.name))
        return res

    def _finish(self, fa: FAccount, o: FOrder, reason: str | None) -> None:
        """An order left the live set (filled, cancelled, rejected)."""
        if o.id:
            fa.open.pop(o.id, None)
            self.orders.setdefault(o.id, o)
        o.closed_ns = o.updated_ns = self.now_ns
        if o.id:
            fa.closed.append(o)
        if o.state == TRIGGER:
            o.state = CANCELLED

    def _history(self, fa: FAccount, kind: str, o: FOrder, old: OSnap | None = None, reason: str = "") -> None:
        fa.history.append(HistoryEvent(self.ids.uuid(), self.now_ns, kind, o.snap(), old, reason))

    def _reducible(self, fa: FAccount, spec: ContractSpec, side: str) -> int:
        """How much an order on `side` can reduce the current position."""
        pos = fa.positions.get(spec.symbol)
        size = pos.size if pos else 0
        if side == BUY:
            return -size if size < 0 else 0
        return size if size > 0 else 0

    def _funds_ok(self, fa: FAccount, spec: ContractSpec, side: str, qty: int) -> bool:
        name = spec.margin_account
        before = self.margin_view(fa, name)
        after = self.margin_view(fa, name, (spec, side, qty))
        if after.im_orders <= before.im_orders:
            return True
        return after.available >= 0

    def _crosses(self, o: FOrder, limit: int | None) -> bool:
        book = self.books[o.spec.symbol]
        if o.side == BUY:
            best = book.best_ask()
            return best is not None and (limit is None or best <= limit)
        best = book.best_bid()
        return best is not None and (limit is None or best >= limit)

    def _protection(self, spec: ContractSpec, side: str) -> int | None:
        """mkt: an IOC limited 1% beyond the best opposite price (None: empty side)."""
        book = self.books[spec.symbol]
        ref_units = book.best_ask() if side == BUY else book.best_bid()
        if ref_units is None:
            return None
        ref = spec.price_dec(ref_units)
        with localcontext(EXACT):
            raw = ref * (1 + self.config.mkt_protection) if side == BUY else ref * (1 - self.config.mkt_protection)
            ticks = (raw.scaleb(spec.pdp) / spec.tick).to_integral_value(ROUND_FLOOR if side == BUY else ROUND_CEILING)
        units = int(ticks) * spec.tick
        return max(units, spec.tick)

    def _fok_fillable(self, o: FOrder, limit: int | None) -> bool:
        need = o.remaining
        for lvl in self.books[o.spec.symbol].opposite(o.side):
            if limit is not None and (lvl.price > limit if o.side == BUY else lvl.price < limit):
                break
            for m in lvl.live():
                if m.account_id == o.account_id:
                    return False
                need -= m.remaining
                if need <= 0:
                    return True
        return need <= 0

    # ================================================================ matching
    def _match(
        self, fa: FAccount, o: FOrder, limit: int | None, fill_type: str, prior_edit: OSnap | None, out: list[RestEvent]
    ) -> bool:
        """Take liquidity for `o` up to `limit`.  True if it stopped on its own
        account's order (Kraken's default self-trade rule rejects the taker)."""
        spec = o.spec
        book = self.books[spec.symbol]
        opp = book.asks if o.side == BUY else book.bids
        buy = o.side == BUY
        while o.remaining > 0 and opp.keys:
            lvl: Any = opp.levels[opp.keys[-1]]  # futures orders share the book type
            if limit is not None and (lvl.price > limit if buy else lvl.price < limit):
                break
            orders = lvl.orders
            while orders and o.remaining > 0:
                m = orders[0]
                if not m.in_book:
                    orders.popleft()
                    continue
                if m.account_id == o.account_id:
                    return True
                qty = min(o.remaining, m.remaining)
                if o.reduce_only:
                    qty = min(qty, self._reducible(fa, spec, o.side))
                    if qty <= 0:
                        return False
                if m.reduce_only:
                    cap = self._reducible(self.fa(m.account_id), spec, m.side)
                    if cap <= 0:
                        self._cancel_order(
                            self.fa(m.account_id), m, "would_not_reduce_position", "WOULD_NOT_REDUCE_POSITION"
                        )
                        continue
                    qty = min(qty, cap)
                self._trade(fa, o, m, lvl, qty, fill_type, prior_edit, out)
        return False

    def _trade(
        self,
        tfa: FAccount,
        o: FOrder,
        m: FOrder,
        lvl: Any,
        qty: int,
        fill_type: str,
        prior_edit: OSnap | None,
        out: list[RestEvent],
    ) -> None:
        spec = o.spec
        sym = spec.symbol
        price = lvl.price
        exec_id = self.ids.uuid()
        prior = o.snap()
        now = self.now_ns
        o.filled += qty
        m.filled += qty
        o.cost += qty * price
        m.cost += qty * price
        o.updated_ns = m.updated_ns = now
        m.visible -= qty
        lvl.visible -= qty
        seq = self.trade_seq[sym] + 1
        self.trade_seq[sym] = seq
        mark = self.mark_of(spec)
        book = self.books[sym]
        maker_done = m.remaining == 0
        if maker_done:
            lvl.orders.popleft()
            book.remove(m)  # type: ignore[arg-type]
            m.state = FILLED
            m.update_reason = "FULL_FILL"
        else:
            m.update_reason = "PARTIAL_FILL"
        trade = TradeRec(exec_id, seq, sym, price, qty, o.side, "fill", now, mark, m.snap(), o.snap())
        self.trades[sym].append(trade)
        self.last[sym] = (price, qty, now)
        self._emit(FTradeEvent(trade))
        self._emit(FBookEvent(sym, m.side, price, lvl.visible, now))
        mfa = self.fa(m.account_id)
        self._settle(tfa, o, qty, price, fill_type, exec_id, o.otype)
        self._settle(mfa, m, qty, price, "maker", exec_id, o.otype)
        if maker_done:
            self._finish(mfa, m, None)
            self._history(mfa, "OrderUpdated", m, reason="full_fill")
            self._emit(FOrderEvent(m.snap(), "full_fill", True, now))
        else:
            self._history(mfa, "OrderUpdated", m, reason="partial_fill")
            self._emit(FOrderEvent(m.snap(), "partial_fill", False, now))
        o.update_reason = "FULL_FILL" if o.remaining == 0 else "PARTIAL_FILL"
        if o.remaining == 0:
            o.state = FILLED
            self._finish(tfa, o, None)
            if fill_type != "taker":  # a resting order that an edit made cross
                self._history(tfa, "OrderUpdated", o, reason="full_fill")
        out.append(RestEvent("EXECUTION", prior, exec_id=exec_id, price=price, amount=qty, prior_edit=prior_edit))

    def _settle(
        self, fa: FAccount, o: FOrder, qty: int, price_units: int, fill_type: str, exec_id: str, taker_otype: str
    ) -> None:
        """One side of a fill: position, realised PnL, fee, logs, events."""
        spec = o.spec
        signed = qty if o.side == BUY else -qty
        price = spec.price_dec(price_units)
        rate = spec.maker_fee if fill_type == "maker" else spec.taker_fee
        fee = to_money(money(abs(spec.notional(qty, price))) * rate)
        self._apply_position(fa, spec, signed, price, fee, "futures trade", exec_id)
        self._house(spec.settle, fee)
        self._touched.add(fa.id)
        self._record_fill(fa, o, exec_id, qty, price_units, fill_type, fee, taker_otype)

    def _record_fill(
        self,
        fa: FAccount,
        o: FOrder,
        exec_id: str,
        qty: int,
        price_units: int,
        fill_type: str,
        fee: int,
        taker_otype: str,
    ) -> None:
        """The account's fill record (numbered in the account's fill sequence) and its event."""
        fa.fill_seq += 1
        rec = FillRec(
            self.ids.uuid(),
            exec_id,
            fa.id,
            o.snap(),
            o.spec,
            o.side,
            qty,
            price_units,
            fill_type,
            fee,
            o.spec.settle,
            self.now_ns,
            fa.fill_seq,
            taker_otype,
        )
        fa.fills.append(rec)
        self._emit(FFillEvent(rec))

    def _apply_position(
        self,
        fa: FAccount,
        spec: ContractSpec,
        signed: int,
        price: Decimal,
        fee: int,
        info: str,
        exec_id: str,
        liquidation_fee: int = 0,
        house: bool = False,
    ) -> int:
        """Move a position by `signed` at `price`; returns the realised PnL."""
        sym = spec.symbol
        book = self.house_positions if house else fa.positions
        pos = book.get(sym)
        if pos is None:
            pos = Position(spec, opened_ns=self.now_ns)
            book[sym] = pos
        old_size, old_entry = pos.size, pos.entry_price()
        realized = 0
        s = pos.size
        if s and (s > 0) != (signed > 0):
            close = min(abs(signed), abs(s))
            close_signed = close if signed > 0 else -close
            c_rel = div_round(pos.cost * close, abs(s))
            realized = -spec.value(close_signed, price) - c_rel
            pos.cost -= c_rel
            pos.size += close_signed
            rest = signed - close_signed
        else:
            rest = signed
        if rest:
            if not pos.size:
                pos.opened_ns = self.now_ns
            pos.cost += spec.value(rest, price)
            pos.size += rest
        pos.updated_ns = self.now_ns
        oi_delta = max(pos.size, 0) - max(old_size, 0)
        self.open_interest[sym] = self.open_interest.get(sym, 0) + oi_delta
        if not pos.size:
            del book[sym]
        if house:
            self._house(spec.settle, realized - fee)
            return realized
        ma = self.margin_of(fa, spec)
        mark = self.mark_of(spec)
        self._credit(
            fa,
            ma,
            spec.settle,
            realized - fee - liquidation_fee,
            info,
            contract=sym,
            execution=exec_id,
            fee=money(fee + liquidation_fee),
            realized_pnl=money(realized),
            trade_price=price,
            mark_price=mark,
            liquidation_fee=money(liquidation_fee) if liquidation_fee else None,
        )
        fa.log_seq += 1
        new_pos = book.get(sym)
        fa.logs.append(
            LogEntry(
                fa.log_seq,
                self.now_ns,
                sym,
                info,
                ma.name,
                spec.size_dec(old_size),
                spec.size_dec(new_pos.size if new_pos else 0),
                self.ids.uuid(),
                contract=sym,
                execution=exec_id,
                trade_price=price,
                mark_price=mark,
                old_entry=old_entry if old_size else None,
                new_entry=new_pos.entry_price() if new_pos else None,
            )
        )
        self._emit(FPositionEvent(fa.id, sym, self.now_ns))
        return realized

    def _rest(self, o: FOrder) -> None:
        o.visible = o.remaining
        o.state = OPEN
        lvl = self.books[o.spec.symbol].insert(o)  # type: ignore[arg-type]
        self._emit(FBookEvent(o.spec.symbol, o.side, o.price or 0, lvl.visible, self.now_ns))

    def _unrest(self, o: FOrder, purge: bool = False) -> None:
        if o.in_book:
            book = self.books[o.spec.symbol]
            lvl = book.remove(o, purge) if purge else book.remove(o)  # type: ignore[arg-type]
            gone = book.side(o.side).level(o.price or 0) is None
            self._emit(FBookEvent(o.spec.symbol, o.side, o.price or 0, 0 if gone else lvl.visible, self.now_ns))

    def _after_trades(self, spec: ContractSpec) -> None:
        """Triggers after the last price moved; margin of the accounts that
        traded (fees): nobody else's equity changed, marks did not move."""
        self._check_triggers(spec)
        touched, self._touched = self._touched, set()
        self._check_liquidations(touched)

    # ================================================================ triggers
    def _signal_price(self, spec: ContractSpec, signal: str) -> Decimal:
        if signal == "mark":
            return self.mark_of(spec)
        if signal == "index":
            return self.index_of(spec)
        return self.last_of(spec)

    def _trail_trigger(self, o: FOrder) -> int:
        """Trailing stop: the trigger sits `deviation` behind the best price seen."""
        spec = o.spec
        ref = o.trail_ref or Decimal(0)
        dev = o.trail_dev or Decimal(0)
        with localcontext(EXACT):
            if o.trail_unit == "PERCENT":
                off = ref * dev / 100
            else:
                off = dev
            raw = ref - off if o.side == SELL else ref + off
            ticks = (raw.scaleb(spec.pdp) / spec.tick).to_integral_value(
                ROUND_FLOOR if o.side == SELL else ROUND_CEILING
            )
        return max(int(ticks) * spec.tick, spec.tick)

    def _should_trigger(self, o: FOrder, price: Decimal) -> bool:
        spec = o.spec
        if o.otype == TRAILING_STOP:
            ref = o.trail_ref or price
            better = price > ref if o.side == SELL else price < ref
            if better:
                o.trail_ref = price
                o.stop_price = self._trail_trigger(o)
            stop = spec.price_dec(o.stop_price or 0)
            return price <= stop if o.side == SELL else price >= stop
        stop = spec.price_dec(o.stop_price or 0)
        above = (o.otype == STP) == (o.side == BUY)  # stop buy / take-profit sell fire upwards
        return price >= stop if above else price <= stop

    def _check_triggers(self, spec: ContractSpec) -> None:
        pending = self.triggers.get(spec.symbol)
        rounds = 0
        while pending and rounds < 1000:
            rounds += 1
            fired = None
            for o in pending:
                price = self._signal_price(spec, o.signal)
                if price and self._should_trigger(o, price):
                    fired = o
                    break
            if fired is None:
                return
            pending.remove(fired)
            self._fire(fired)

    def _fire(self, o: FOrder) -> None:
        fa = self.fa(o.account_id)
        spec = o.spec
        now = self.now_ns
        o.triggered = True
        o.state = OPEN
        o.updated_ns = now
        self._emit(FOrderEvent(o.snap(), "stop_order_triggered", True, now))
        self._history(fa, "TriggerActivated", o, reason="stop_order_triggered")
        if o.reduce_only:
            cap = self._reducible(fa, spec, o.side)
            if cap <= 0:
                o.state = CANCELLED
                o.update_reason = "WOULD_NOT_REDUCE_POSITION"
                self._finish(fa, o, None)
                self._emit(FOrderEvent(o.snap(), "would_not_reduce_position", True, now))
                return
            if o.qty > cap:
                o.reduced_qty = o.qty - cap
                o.qty = cap
        if o.price is None and o.offset_value is not None:
            ref = spec.price_dec(o.stop_price or 0)
            with localcontext(EXACT):
                off = ref * o.offset_value / 100 if o.offset_unit == "PERCENT" else o.offset_value
                raw = ref + off
                ticks = (raw.scaleb(spec.pdp) / spec.tick).to_integral_value(ROUND_HALF_EVEN)
            o.price = max(int(ticks) * spec.tick, spec.tick)
        market = o.price is None
        o.market = market
        limit = self._protection(spec, o.side) if market else o.price
        o.update_reason = "STOP_ORDER_TRIGGERED"
        out: list[RestEvent] = []
        selfish = False
        if limit is not None:
            if market:
                o.price = limit
            selfish = self._match(fa, o, limit, "taker", None, out)
        self._history(fa, "OrderPlaced", o, reason="stop_order_triggered")
        if o.remaining > 0:
            if market or selfish or limit is None:
                o.state = CANCELLED
                reason = "would_execute_self" if selfish else "ioc_order_failed_because_it_would_not_be_executed"
                o.update_reason = "WOULD_EXECUTE_SELF_REASON" if selfish else "IOC_WOULD_NOT_EXECUTE_REASON"
                self._finish(fa, o, None)
                self._history(fa, "OrderCancelled", o, reason=reason)
                self._emit(FOrderEvent(o.snap(), reason, True, now))
            else:
                o.update_reason = "LIMIT_FROM_STOP"
                self._rest(o)
                self._emit(FOrderEvent(o.snap(), "limit_order_from_stop", False, now))
        touched, self._touched = self._touched, set()
        self._check_liquidations(touched)

    # ================================================================ edit / cancel
    def _find(self, fa: FAccount, order_id: str | None, cli: str | None) -> FOrder | None:
        if order_id:
            o = self.orders.get(order_id)
            return o if o is not None and o.account_id == fa.id else None
        if cli:
            for o in fa.open.values():
                if o.cl_ord_id == cli:
                    return o
            for o in reversed(fa.closed):
                if o.cl_ord_id == cli:
                    return o
        return None

    def edit_order(self, account_id: str, req: FuturesEditRequest) -> OrderResult:
        self._arm()
        return self._edit(self.fa(account_id), req)

    def _edit_terms(self, fa: FAccount, o: FOrder, req: FuturesEditRequest) -> tuple[int, int | None, int | None]:
        """The edited quantity, limit and stop price, or FuturesError with the
        reason Kraken gives for refusing the edit."""
        if self.status in ("maintenance", "cancel_only"):
            raise FuturesError(FuturesCode.MARKET_SUSPENDED)
        spec = o.spec
        new_qty = o.qty
        if req.size is not None:
            units = spec.size_units(req.size) if isinstance(req.size, Decimal) else None
            if units is None or units <= 0:
                raise FuturesError(FuturesCode.INVALID_SIZE)
            new_qty = units if req.absolute_size else o.filled + units
            if new_qty <= o.filled:
                raise FuturesError(FuturesCode.INVALID_SIZE)
        new_price = o.price
        if req.limit_price is not None:
            if o.otype == TRAILING_STOP:
                raise FuturesError(FuturesCode.CANNOT_EDIT_LIMIT_PRICE_OF_TRAILING_STOP)
            new_price = self._tick_price(spec, req.limit_price)
        new_stop = o.stop_price
        if req.stop_price is not None:
            if not o.is_trigger:
                raise FuturesError(FuturesCode.ORDER_FOR_EDIT_NOT_A_STOP)
            if o.otype == TRAILING_STOP:
                raise FuturesError(FuturesCode.CANNOT_EDIT_TRIGGER_PRICE_OF_TRAILING_STOP)
            new_stop = self._tick_price(spec, req.stop_price)
        dev = req.trail_deviation
        if dev is not None and o.otype == TRAILING_STOP and (not isinstance(dev, Decimal) or dev <= 0):
            raise FuturesError(FuturesCode.INVALID_PRICE)
        if o.state == OPEN and o.otype == POST and new_price is not None and new_price != o.price:
            probe = FOrder("", fa.id, spec, o.side, POST, 1)
            if self._crosses(probe, new_price):
                raise FuturesError(FuturesCode.POST_WOULD_EXECUTE)
        if o.reduce_only and new_qty > o.qty:
            cap = self._reducible(fa, spec, o.side)
            if cap <= 0:
                raise FuturesError(FuturesCode.WOULD_NOT_REDUCE_POSITION)
            new_qty = min(new_qty, o.filled + cap)
        elif new_qty > o.qty and not self._funds_ok(fa, spec, o.side, new_qty - o.qty):
            raise FuturesError(FuturesCode.INSUFFICIENT_AVAILABLE_FUNDS)
        return new_qty, new_price, new_stop

    @staticmethod
    def _tick_price(spec: ContractSpec, d: Decimal) -> int:
        units = spec.tick_price(d)
        if units is None:
            raise FuturesError(FuturesCode.INVALID_PRICE)
        return units

    def _edit(self, fa: FAccount, req: FuturesEditRequest) -> OrderResult:
        cli = req.cl_ord_id
        o = self._find(fa, req.order_id, cli)
        res = OrderResult(FuturesCode.EDITED, req.order_id or (o.id if o else None), cli, [], received_ns=self.now_ns)
        try:
            if req.deadline_ns and self.now_ns > req.deadline_ns:
                raise FuturesError(FuturesCode.WOULD_PROCESS_AFTER_SPECIFIED_TIME)
            if o is None or not o.is_live:
                raise FuturesError(FuturesCode.ORDER_FOR_EDIT_NOT_FOUND)
            res.order_id, res.cl_ord_id, res.spec = o.id, o.cl_ord_id, o.spec
            new_qty, new_price, new_stop = self._edit_terms(fa, o, req)
        except FuturesError as exc:
            res.status = exc.code
            return res
        spec = o.spec
        dev, unit = req.trail_deviation, req.trail_unit
        old = o.snap()
        if o.state == OPEN:
            moved = new_price != o.price
            grew = new_qty > o.qty
            if moved or grew:
                self._unrest(o, purge=True)
                o.price, o.qty = new_price, new_qty
            elif new_qty < o.qty:
                lvl = self.books[spec.symbol].side(o.side).level(o.price or 0)
                delta = o.qty - new_qty
                o.qty = new_qty
                o.visible -= delta
                if lvl is not None:
                    lvl.visible -= delta
                    self._emit(FBookEvent(spec.symbol, o.side, o.price or 0, lvl.visible, self.now_ns))
            o.updated_ns = self.now_ns
            o.update_reason = "EDITED_BY_USER"
            self._emit(FOrderEvent(o.snap(), EDIT_ACCEPTED, False, self.now_ns, quiet=True))
            res.events.append(RestEvent("EDIT", o.snap(), old=old))
            self._history(fa, "OrderUpdated", o, old=old, reason="edited_by_user")
            if moved or grew:
                out: list[RestEvent] = []
                selfish = False
                if self._crosses(o, o.price):
                    selfish = self._match(fa, o, o.price, "takerAfterEdit", old, out)
                    res.events.extend(out)
                if o.remaining > 0 and o.state == OPEN:
                    if selfish:
                        o.state = CANCELLED
                        self._finish(fa, o, None)
                        self._emit(FOrderEvent(o.snap(), "would_execute_self", True, self.now_ns))
                    else:
                        self._rest(o)
                        self._emit(FOrderEvent(o.snap(), "edited_by_user", False, self.now_ns))
                elif o.remaining == 0:
                    self._emit(FOrderEvent(o.snap(), "full_fill", True, self.now_ns))
                self._after_trades(spec)
            else:
                self._emit(FOrderEvent(o.snap(), "edited_by_user", False, self.now_ns))
            return res
        # untriggered order
        o.qty, o.price, o.stop_price = new_qty, new_price, new_stop
        if o.otype == TRAILING_STOP and dev is not None:
            o.trail_dev = dev
            if unit:
                o.trail_unit = str(unit).upper()
            o.trail_ref = self._signal_price(spec, o.signal)
            o.stop_price = self._trail_trigger(o)
        o.updated_ns = self.now_ns
        self._emit(FOrderEvent(o.snap(), EDIT_ACCEPTED, False, self.now_ns, quiet=True))
        res.events.append(RestEvent("EDIT", o.snap(), old=old))
        self._history(fa, "TriggerUpdated", o, old=old, reason="edited_by_user")
        self._emit(FOrderEvent(o.snap(), "edited_by_user", False, self.now_ns))
        self._check_triggers(spec)
        return res

    def cancel_order(self, account_id: str, order_id: str | None = None, cl_ord_id: str | None = None) -> OrderResult:
        self._arm()
        return self._cancel_one(self.fa(account_id), order_id, cl_ord_id)

    def _cancel_one(self, fa: FAccount, order_id: str | None, cli: str | None) -> OrderResult:
        o = self._find(fa, order_id, cli)
        res = OrderResult(FuturesCode.CANCELLED, order_id or (o.id if o else None), cli, [], received_ns=self.now_ns)
        if o is None:
            res.status = FuturesCode.NOT_FOUND
            return res
        res.order_id, res.cl_ord_id, res.spec = o.id, o.cl_ord_id, o.spec
        if not o.is_live:
            res.status = FuturesCode.FILLED if o.state == FILLED else FuturesCode.NOT_FOUND
            return res
        if self.status == "maintenance":
            res.status = FuturesCode.MARKET_SUSPENDED
            return res
        self._cancel_order(fa, o, "cancelled_by_user", "CANCELLED_BY_USER")
        res.events.append(RestEvent("CANCEL", o.snap()))
        return res

    def _cancel_order(self, fa: FAccount, o: FOrder, reason: str, update_reason: str) -> None:
        was_trigger = o.state == TRIGGER
        if was_trigger:
            pend = self.triggers.get(o.spec.symbol, [])
            if o in pend:
                pend.remove(o)
        self._unrest(o)
        o.state = CANCELLED
        o.update_reason = update_reason
        self._finish(fa, o, None)
        self._history(fa, "TriggerCancelled" if was_trigger else "OrderCancelled", o, reason=reason)
        self._emit(FOrderEvent(o.snap(), reason, True, self.now_ns))

    def cancel_all(self, account_id: str, symbol: str | None = None, reason: str = "cancelled_by_user") -> list[OSnap]:
        self._arm()
        fa = self.fa(account_id)
        spec = self.spec(symbol) if symbol else None
        if self.status == "maintenance":
            raise FuturesError(FuturesCode.MARKET_UNAVAILABLE)
        return self._cancel_all(fa, spec, reason)

    def _cancel_all(
        self, fa: FAccount, spec: ContractSpec | None, reason: str, margin_account: str | None = None
    ) -> list[OSnap]:
        out = []
        upd = {
            "cancelled_by_user": "CANCELLED_BY_USER",
            "dead_man_switch": "DEAD_MAN_SWITCH",
            "liquidation": "NOT_ENOUGH_MARGIN",
            "contract_expired": "CONTRACT_EXPIRED",
            "cancelled_by_admin": "CANCELLED_BY_ADMIN",
        }.get(reason, "CANCELLED_BY_USER")
        for o in sorted(fa.open.values(), key=lambda x: (x.created_ns, x.id)):
            if spec is not None and o.spec is not spec:
                continue
            if margin_account is not None and o.spec.margin_account != margin_account:
                continue
            self._cancel_order(fa, o, reason, upd)
            out.append(o.snap())
        return out

    def cancel_all_after(self, account_id: str, timeout_s: int) -> tuple[int, int]:
        """Dead man's switch: returns (now, trigger time or 0 when disarmed)."""
        self._arm()
        fa = self.fa(account_id)
        if timeout_s < 0:
            raise FuturesError(FuturesCode.INVALID_ARGUMENT)
        if timeout_s == 0:
            fa.dms_at = 0
            return self.now_ns, 0
        fa.dms_at = self.now_ns + timeout_s * NS_PER_S
        self._add_timer(fa.dms_at, "dms", account_id)
        return self.now_ns, fa.dms_at

    def batch(
        self, account_id: str, instructions: list[FuturesInstruction], origin_session: str = ""
    ) -> list[OrderResult]:
        """batchorder: each instruction in turn; one journal entry for all."""
        self._arm()
        fa = self.fa(account_id)
        out: list[OrderResult] = []
        for ins in instructions:
            if isinstance(ins, FuturesOrderRequest):
                try:
                    r = self._send(fa, ins, origin_session)
                except FuturesError as exc:
                    r = OrderResult(exc.code, None, ins.cl_ord_id, [], ins.tag, self.now_ns)
                out.append(r)
            elif isinstance(ins, FuturesEditRequest):
                out.append(self._edit(fa, ins))
            elif isinstance(ins, FuturesCancelRequest):
                out.append(self._cancel_one(fa, ins.order_id, ins.cl_ord_id))
            else:
                out.append(OrderResult(FuturesCode.INVALID_ARGUMENT, None, None, [], received_ns=self.now_ns))
        return out

    # ================================================================ settings
    def set_leverage(self, account_id: str, symbol: str, max_leverage: Decimal | None) -> None:
        fa = self.fa(account_id)
        spec = self.spec(symbol)
        if max_leverage is None:
            fa.leverage.pop(spec.symbol, None)
            return
        if max_leverage <= 0 or max_leverage > 100:
            raise FuturesError(FuturesCode.INVALID_ARGUMENT)
        fa.leverage[spec.symbol] = max_leverage
        self._emit(FAccountEvent(fa.id, spec.margin_account, None, self.now_ns))

    def set_pnl_pref(self, account_id: str, symbol: str, currency: str) -> None:
        """The currency a multi-collateral (linear) contract's PnL is kept in:
        one the venue knows as an asset; inverse contracts settle in their coin."""
        fa = self.fa(account_id)
        spec = self.spec(symbol)
        code = currency.strip().upper()
        if not spec.linear or not code.isalnum() or len(code) > 10 or self.instruments.asset(code) is None:
            raise FuturesError(FuturesCode.INVALID_ARGUMENT)
        fa.pnl_pref[spec.symbol] = code

    def set_status(self, status: str) -> None:
        if status not in STATUSES:
            raise FuturesError(FuturesCode.INVALID_ARGUMENT)
        self.status = status
        self._emit(FNoticeEvent("system_status", {"status": status}, self.now_ns))
        for sym in self.specs:
            self._emit(FMarketEvent(sym, "status", self.now_ns))

    def _index_targets(self, name: str) -> tuple[str, list[ContractSpec]]:
        key = name.lower()
        for prefix in ("in_", "rr_"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
                specs = [s for s in self.specs.values() if s.index_key == key]
                if not specs:
                    raise FuturesError(FuturesCode.CONTRACT_NOT_FOUND)
                return key, specs
        spec = self.spec(name)
        return spec.index_key, [s for s in self.specs.values() if s.index_key == spec.index_key]

    def set_index(self, symbol: str, price: Decimal, move_marks: bool = True) -> None:
        """Set an underlying's index price; marks of its contracts follow
        (basis reset) unless `move_marks` is false."""
        self._arm()
        if not price.is_finite() or price <= 0:
            raise FuturesError(FuturesCode.INVALID_ARGUMENT)
        key, specs = self._index_targets(symbol)
        self.index[key] = price
        samples = self.index_samples.setdefault(key, [])
        samples.append((self.now_ns, price))
        bound(samples, self.config.samples_max)
        for spec in specs:
            if move_marks:
                self.mark[spec.symbol] = price
                marks = self.mark_samples[spec.symbol]
                marks.append((self.now_ns, price))
                bound(marks, self.config.samples_max)
            self._emit(FMarketEvent(spec.symbol, "index", self.now_ns))
        for spec in specs:
            self._check_triggers(spec)
        self._check_liquidations()

    def set_mark(self, symbol: str, price: Decimal) -> None:
        self._arm()
        if not price.is_finite() or price <= 0:
            raise FuturesError(FuturesCode.INVALID_ARGUMENT)
        spec = self.spec(symbol)
        self.mark[spec.symbol] = price
        marks = self.mark_samples[spec.symbol]
        marks.append((self.now_ns, price))
        bound(marks, self.config.samples_max)
        self._emit(FMarketEvent(spec.symbol, "mark", self.now_ns))
        self._check_triggers(spec)
        self._check_liquidations()

    def set_funding(self, symbol: str, rate: Decimal | None) -> None:
        """Pin a perpetual's relative hourly funding rate (None: back to premium-based)."""
        spec = self.spec(symbol)
        if not spec.perpetual:
            raise FuturesError(FuturesCode.INVALID_ARGUMENT)
        if rate is None:
            self.funding_override.pop(spec.symbol, None)
        else:
            self.funding_override[spec.symbol] = rate
        self._emit(FMarketEvent(spec.symbol, "funding", self.now_ns))

    def add_notification(self, note: str, type_: str = "general", priority: str = "low") -> dict[str, Any]:
        n = {
            "id": len(self.notifications) + 1,
            "type": type_,
            "priority": priority,
            "note": note,
            "effective_time": self.now_ns // 1_000_000,
        }
        self.notifications.append(n)
        self._emit(FNoticeEvent("notification", n, self.now_ns))
        return n

    # ================================================================ liquidation
    def _check_liquidations(self, accounts: Iterable[str] | None = None) -> None:
        """Liquidate every margin account below maintenance (all, or `accounts`)."""
        pool = self.state.values() if accounts is None else [self.state[a] for a in sorted(accounts) if a in self.state]
        for fa in list(pool):
            if not fa.positions:
                continue
            for name in {p.spec.margin_account for p in fa.positions.values()}:
                view = self.margin_view(fa, name)
                if view.equity < view.mm:
                    self._liquidate(fa, name)

    def _liquidate(self, fa: FAccount, name: str) -> None:
        """Equity below maintenance margin: cancel the account's orders, then
        hand its positions to the venue's liquidator at the mark price."""
        self._cancel_all(fa, None, "liquidation", margin_account=name)
        closed = []
        for sym in sorted(p for p, pos in fa.positions.items() if pos.spec.margin_account == name):
            pos = fa.positions[sym]
            spec = pos.spec
            mark = self.mark_of(spec)
            with localcontext(EXACT):
                ticks = (mark.scaleb(spec.pdp) / spec.tick).to_integral_value(ROUND_HALF_EVEN)
            price_units = max(int(ticks) * spec.tick, spec.tick)
            price = spec.price_dec(price_units)
            qty = abs(pos.size)
            side = SELL if pos.size > 0 else BUY
            exec_id = self.ids.uuid()
            lfee = to_money(money(abs(spec.notional(qty, price))) * self.config.liquidation_fee)
            signed = -pos.size
            self._apply_position(fa, spec, signed, price, 0, "futures liquidation", exec_id, liquidation_fee=lfee)
            self._house(spec.settle, lfee)
            self._apply_position(fa, spec, -signed, price, 0, "futures liquidation", exec_id, house=True)
            o = FOrder(self.ids.uuid(), fa.id, spec, side, "liquidation", qty)
            o.filled = qty
            o.cost = qty * price_units
            o.price = price_units
            o.state = FILLED
            o.created_ns = o.updated_ns = o.closed_ns = self.now_ns
            self._record_fill(fa, o, exec_id, qty, price_units, "liquidation", lfee, "liquidation")
            seq = self.trade_seq[sym] + 1
            self.trade_seq[sym] = seq
            trade = TradeRec(
                exec_id, seq, sym, price_units, qty, side, "liquidation", self.now_ns, mark, None, o.snap()
            )
            self.trades[sym].append(trade)
            self.last[sym] = (price_units, qty, self.now_ns)
            self._emit(FTradeEvent(trade))
            closed.append(sym)
        # bankrupt: the venue absorbs what the collateral cannot cover
        if name == FLEX:
            deficit = -self.margin_view(fa, FLEX).balance_value
            usd = self.instruments.asset("USD")
            if deficit > 0 and usd is not None:
                self._credit(fa, fa.flex, usd.id, deficit, "admin transfer")
                self._house(usd.id, -deficit)
        else:
            ma = fa.inverse[name]
            for asset, units in list(ma.balances.items()):
                if units < 0:
                    self._credit(fa, ma, asset, -units, "admin transfer")
                    self._house(asset, units)
        self._emit(
            FNoticeEvent("liquidation", {"account": fa.id, "margin_account": name, "contracts": closed}, self.now_ns)
        )

    # ================================================================ time
    def on_time(self) -> None:
        """Fire due timers: funding, dead man's switch, contract expiry."""
        self._arm()
        timers = self._timers
        while timers and timers[0][0] <= self.now_ns:
            at, _, kind, ref = heapq.heappop(timers)
            if kind == "funding":
                step = self.config.funding_interval_s * NS_PER_S
                due = (self.now_ns - at) // step + 1  # periods owed, this one included
                if due > MAX_FUNDING_CATCHUP:
                    # a clock jump: realise only the newest periods (the work is bounded by
                    # the cap, not by the gap) and record what was skipped
                    skipped = due - MAX_FUNDING_CATCHUP
                    self._emit(FNoticeEvent(
                        "funding_skipped",
                        {"periods": skipped, "from": at, "to": at + (skipped - 1) * step},
                        self.now_ns,
                    ))
                    at += skipped * step
                self.last_funding_ns = at
                self._apply_funding(at)
                self._funding_at = at + step
                self._add_timer(self._funding_at, "funding", "")
                self._check_liquidations()
            elif kind == "dms":
                fa = self.state.get(ref)
                if fa is not None and fa.dms_at and fa.dms_at <= self.now_ns:
                    fa.dms_at = 0
                    cancelled = self._cancel_all(fa, None, "dead_man_switch")
                    self._emit(
                        FNoticeEvent("dead_man_switch", {"account": ref, "cancelled": len(cancelled)}, self.now_ns)
                    )
            elif kind == "expiry":
                self._expire(self.specs[ref])

    def _expire(self, spec: ContractSpec) -> None:
        """A dated contract reached its last trading time: orders removed,
        positions settled at the index against the venue."""
        if not spec.tradeable:
            return
        spec.tradeable = False
        for fa in list(self.state.values()):
            self._cancel_all(fa, spec, "contract_expired")
        price_ref = self.index_of(spec) or self.mark_of(spec)
        with localcontext(EXACT):
            ticks = (price_ref.scaleb(spec.pdp) / spec.tick).to_integral_value(ROUND_HALF_EVEN)
        price = spec.price_dec(max(int(ticks) * spec.tick, spec.tick))
        for fa in list(self.state.values()):
            pos = fa.positions.get(spec.symbol)
            if pos is not None and pos.size:
                signed = -pos.size
                exec_id = self.ids.uuid()
                self._apply_position(fa, spec, signed, price, 0, "settlement", exec_id)
                self._apply_position(fa, spec, -signed, price, 0, "settlement", exec_id, house=True)
        self._emit(FMarketEvent(spec.symbol, "expired", self.now_ns))

    # ================================================================ queries
    def order_view(self, account_id: str, ids: Iterable[str] = (), clis: Iterable[str] = ()) -> list[FOrder]:
        """orders/status: open orders, and finished ones inside the window."""
        fa = self.state.get(account_id)
        if fa is None:
            return []
        horizon = self.now_ns - self.config.order_status_window_ms * 1_000_000
        want_ids, want_clis = set(ids), set(clis)
        pool: dict[str, FOrder] = {}
        for o in fa.closed:
            if o.closed_ns >= horizon:
                pool[o.id] = o
        for o in fa.open.values():
            pool[o.id] = o
        out = []
        for o in sorted(pool.values(), key=lambda x: (x.created_ns, x.id)):
            if (
                (want_ids or want_clis)
                and o.id not in want_ids
                and (o.cl_ord_id is None or o.cl_ord_id not in want_clis)
            ):
                continue
            out.append(o)
        return out

    def positions_of(self, account_id: str) -> list[Position]:
        fa = self.state.get(account_id)
        return [] if fa is None else [fa.positions[s] for s in sorted(fa.positions)]

    def total_value(self, asset: str) -> int:
        """Sum of every account's collateral, unrealised PnL and the house
        (conservation checks).  Unrealised PnL at each contract's mark."""
        total = self.house.get(asset, 0)
        for fa in self.state.values():
            for ma in [fa.flex, *fa.inverse.values()]:
                total += ma.balances.get(asset, 0)
            total += fa.cash.get(asset, 0)
            for pos in fa.positions.values():
                if pos.spec.settle == asset:
                    total += pos.spec.value(pos.size, self.mark_of(pos.spec)) - pos.cost
        for pos in self.house_positions.values():
            if pos.spec.settle == asset:
                total += pos.spec.value(pos.size, self.mark_of(pos.spec)) - pos.cost
        return total

    def state_digest(self) -> str:
        """Everything of the derivatives market a replay must reproduce:
        per account the margin accounts, cash, positions, settings, dead
        man's switch, fills, account log and order history; every order
        (every field, trigger orders included) and the trigger lists; books
        in queue order; trades, marks, index and their samples; funding
        (its schedule, rates, history); the house; the timers.  Not `now_ns`
        (the last command's time, refused ones too: the journal's)."""
        h = StateHash()
        h.add("engine", self.status, self._timer_seq, self._funding_at, self.last_funding_ns, self._expiry_armed)
        h.add("timers", sorted(self._timers))
        for aid in sorted(self.state):
            fa = self.state[aid]
            h.add("account", aid, record(fa.flex), [record(fa.inverse[k]) for k in sorted(fa.inverse)], fa.cash,
                  fa.leverage, fa.pnl_pref, fa.dms_at, fa.fill_seq, fa.log_seq)
            for sym in sorted(fa.positions):
                h.add("position", aid, sym, record(fa.positions[sym]))
            h.add("orders", aid, sorted(fa.open), [o.id for o in fa.closed])
            for f in fa.fills:
                h.add("fill", record(f))
            for e in fa.logs:
                h.add("log", record(e))
            for ev in fa.history:
                h.add("history", record(ev))
        for oid in sorted(self.orders):
            h.add("order", record(self.orders[oid]))
        for sym in sorted(self.books):
            h.add("book", sym, self.books[sym].state_digest(), [o.id for o in self.triggers.get(sym, ())])
        for sym in sorted(self.trades):
            for t in self.trades[sym]:
                h.add("trade", record(t))
        h.add("prices", self.trade_seq, self.last, self.mark, self.index, self.open_interest, self.asset_usd)
        h.add("samples", self.mark_samples, self.index_samples)
        h.add("funding", self.funding_override, self.funding_history)
        h.add("house", self.house, {k: record(p) for k, p in self.house_positions.items()})
        h.add("notifications", self.notifications)
        return h.hexdigest()

    def to_state(self) -> dict[str, Any]:
        """Accounts, orders, books, trades, prices, funding, house and timers
        as plain records (simulator/core/derivatives/state.py); not the wiring."""
        from . import state

        return state.to_state(self)

    def from_state(self, saved: dict[str, Any]) -> None:
        from . import state

        state.from_state(self, saved)


__all__ = ["BALANCE_DP", "FuturesConfig", "FuturesEngine", "FuturesError", "MarginView"]
