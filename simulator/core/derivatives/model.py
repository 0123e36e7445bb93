"""Derivatives state: contract specs, orders, positions, margin accounts.

Integers inside, as on the Spot side: prices in units of the contract's tick
decimals, sizes in units of its `contractValueTradePrecision`, money in units
of 1e-10 of the settlement currency (linear contracts settle in the quote,
inverse ones in the base coin).  Mark and index prices are Decimals because
Kraken quotes them with more digits than the tick.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from ..instruments import FuturesContract
from ..numbers import BALANCE_DP, decimals_of
from .errors import FuturesCode

BUY = "buy"
SELL = "sell"

# orderType values sendorder accepts
LMT, POST, IOC, FOK, MKT = "lmt", "post", "ioc", "fok", "mkt"
STP, TAKE_PROFIT, TRAILING_STOP = "stp", "take_profit", "trailing_stop"
LIQUIDATION = "liquidation"
ORDER_TYPES = frozenset({LMT, POST, IOC, FOK, MKT, STP, TAKE_PROFIT, TRAILING_STOP})
TRIGGER_TYPES = frozenset({STP, TAKE_PROFIT, TRAILING_STOP})
TRIGGER_SIGNALS = {"mark": "mark", "index": "index", "spot": "index", "last": "last"}

# order lifecycle (engine words; gateways translate)
OPEN = "open"  # resting in the book
TRIGGER = "trigger"  # untriggered stop / take profit / trailing stop
FILLED = "filled"
CANCELLED = "cancelled"
REJECTED = "rejected"

FLEX = "flex"

EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)
MONEY_SCALE = 10**BALANCE_DP


def div_round(a: int, b: int) -> int:
    """a / b rounded half-even; symmetric in sign, so +x and -x round alike."""
    if b < 0:
        a, b = -a, -b
    q, r = divmod(abs(a), b)
    twice = 2 * r
    if twice > b or (twice == b and q & 1):
        q += 1
    return q if a >= 0 else -q


def to_money(d: Decimal) -> int:
    """A Decimal amount -> money units (1e-10), half-even."""
    with localcontext(EXACT):
        return int(d.scaleb(BALANCE_DP).to_integral_value(rounding=ROUND_HALF_EVEN))


def money(units: int) -> Decimal:
    return Decimal(units).scaleb(-BALANCE_DP)


@dataclass(eq=False)
class ContractSpec:
    """A tradeable contract plus the integer facts the engine needs."""

    contract: FuturesContract
    symbol: str
    linear: bool
    perpetual: bool
    pdp: int  # price decimals (of the tick)
    tick: int  # tick in price units
    qdp: int  # size decimals (>= 0)
    qstep: int  # size step in size units (contractValueTradePrecision < 0)
    cs: Decimal  # contract size
    settle: str  # asset id of the settlement currency
    base_asset: str  # asset id of the base coin
    margin_account: str  # "flex" or "fi_xbtusd"-style
    max_position: Decimal | None
    maker_fee: Decimal
    taker_fee: Decimal
    funding_coeff: Decimal | None
    max_rel_funding: Decimal | None
    expiry_ns: int | None
    index_key: str  # contracts sharing an underlying share one index price
    tag: str
    tradeable: bool = True

    def price_units(self, d: Decimal) -> int | None:
        """Decimal price -> units, or None if it has more decimals than the tick."""
        scaled = d.scaleb(self.pdp)
        if scaled != scaled.to_integral_value():
            return None
        return int(scaled)

    def tick_price(self, d: Decimal) -> int | None:
        """A limit or stop price in units, or None unless it is positive and on the tick."""
        units = self.price_units(d)
        if units is None or units <= 0 or units % self.tick:
            return None
        return units

    def price_dec(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.pdp)

    def size_units(self, d: Decimal) -> int | None:
        scaled = d.scaleb(self.qdp)
        if scaled != scaled.to_integral_value():
            return None
        units = int(scaled)
        if units % self.qstep:
            return None
        return units

    def size_dec(self, units: int) -> Decimal:
        return Decimal(units).scaleb(-self.qdp)

    def notional(self, qty: int, price: Decimal) -> int:
        """Signed exposure of `qty` at `price` in settlement money units:
        USD for linear contracts, coin for inverse ones."""
        with localcontext(EXACT):
            size = Decimal(qty).scaleb(-self.qdp) * self.cs
            amount = size * price if self.linear else size / price
            return int(amount.scaleb(BALANCE_DP).to_integral_value(rounding=ROUND_HALF_EVEN))

    def value(self, qty: int, price: Decimal) -> int:
        """Cost-basis value: long positions gain when mark - entry grows.

        Linear: qty*price.  Inverse: -qty/price (a long inverse position is
        short the reciprocal), so one formula, upnl = value(size, mark) - cost,
        serves both."""
        n = self.notional(qty, price)
        return n if self.linear else -n


def build_spec(contract: FuturesContract, asset_of: Any) -> ContractSpec:
    """Derive integer facts; `asset_of(name)` resolves BTC/XBT/USD to asset ids."""
    raw = contract.raw
    pdp = decimals_of(contract.tick_size)
    tick = int(contract.tick_size.scaleb(pdp))
    cvtp = int(raw.get("contractValueTradePrecision", 0) or 0)
    qdp = max(cvtp, 0)
    qstep = 10 ** (-cvtp) if cvtp < 0 else 1
    base = asset_of(contract.base)
    quote = asset_of(contract.quote)
    linear = not contract.inverse
    base_alt = base.altname if base is not None else contract.base
    margin_account = FLEX if linear else f"fi_{base_alt.lower()}{contract.quote.lower()}"
    mps = raw.get("maxPositionSize")
    ltt = raw.get("lastTradingTime") or contract.last_trading_time
    expiry = None
    if ltt:
        from ..clock import parse_rfc3339

        expiry = parse_rfc3339(str(ltt))
    frc = raw.get("fundingRateCoefficient")
    mrf = raw.get("maxRelativeFundingRate")
    return ContractSpec(
        contract=contract,
        symbol=contract.symbol,
        linear=linear,
        perpetual=contract.perpetual,
        pdp=pdp,
        tick=tick,
        qdp=qdp,
        qstep=qstep,
        cs=contract.contract_size,
        settle=(quote.id if quote is not None else contract.quote) if linear else (base.id if base else contract.base),
        base_asset=base.id if base is not None else contract.base,
        margin_account=margin_account,
        max_position=Decimal(str(mps)) if mps not in (None, "") else None,
        maker_fee=contract.maker_fee,
        taker_fee=contract.taker_fee,
        funding_coeff=Decimal(str(frc)) if frc not in (None, "") else None,
        max_rel_funding=Decimal(str(mrf)) if mrf not in (None, "") else None,
        expiry_ns=expiry,
        index_key=f"{base_alt.lower()}{contract.quote.lower()}",
        tag=str(raw.get("tag") or ("perpetual" if contract.perpetual else "month")),
        tradeable=bool(raw.get("tradeable", True)) and not bool(raw.get("isExpired", False)),
    )


class FOrder:
    """A futures order (resting, untriggered, or finished)."""

    __slots__ = (
        "id",
        "account_id",
        "spec",
        "side",
        "otype",
        "qty",
        "filled",
        "price",
        "stop_price",
        "signal",
        "reduce_only",
        "cl_ord_id",
        "created_ns",
        "updated_ns",
        "visible",
        "in_book",
        "state",
        "trail_dev",
        "trail_unit",
        "trail_ref",
        "offset_value",
        "offset_unit",
        "triggered",
        "update_reason",
        "error",
        "closed_ns",
        "reduced_qty",
        "origin_session",
        "market",
        "cost",
    )

    def __init__(self, order_id: str, account_id: str, spec: ContractSpec, side: str, otype: str, qty: int) -> None:
        self.id = order_id
        self.account_id = account_id
        self.spec = spec
        self.side = side
        self.otype = otype
        self.qty = qty
        self.filled = 0
        self.price: int | None = None
        self.stop_price: int | None = None
        self.signal = "last"
        self.reduce_only = False
        self.cl_ord_id: str | None = None
        self.created_ns = 0
        self.updated_ns = 0
        self.visible = 0
        self.in_book = False
        self.state = OPEN
        self.trail_dev: Decimal | None = None
        self.trail_unit: str | None = None
        self.trail_ref: Decimal | None = None
        self.offset_value: Decimal | None = None
        self.offset_unit: str | None = None
        self.triggered = False
        self.update_reason: str | None = None
        self.error: str | None = None
        self.closed_ns = 0
        self.reduced_qty: int | None = None
        self.origin_session = ""
        self.market = otype == MKT  # executes as an IOC at a protection price
        self.cost = 0  # sum of fill qty * price (units): average price = cost / filled

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    @property
    def is_trigger(self) -> bool:
        return self.state == TRIGGER

    @property
    def avg_price(self) -> int:
        """Average fill price in price units, half-even (0 before any fill)."""
        return div_round(self.cost, self.filled) if self.filled else 0

    @property
    def is_live(self) -> bool:
        return self.state in (OPEN, TRIGGER)

    def snap(self) -> OSnap:
        return OSnap(
            self.id,
            self.account_id,
            self.spec,
            self.side,
            self.otype,
            self.qty,
            self.filled,
            self.price,
            self.stop_price,
            self.signal,
            self.reduce_only,
            self.cl_ord_id,
            self.created_ns,
            self.updated_ns,
            self.state,
            self.trail_dev,
            self.trail_unit,
            self.triggered,
            self.market,
            self.cost,
        )

    def __repr__(self) -> str:
        return f"FOrder({self.id} {self.otype} {self.side} {self.filled}/{self.qty}@{self.price} {self.state})"


@dataclass(frozen=True, slots=True)
class OSnap:
    """An order as it was at one moment (events outlive later changes)."""

    id: str
    account_id: str
    spec: ContractSpec
    side: str
    otype: str
    qty: int
    filled: int
    price: int | None
    stop_price: int | None
    signal: str
    reduce_only: bool
    cl_ord_id: str | None
    created_ns: int
    updated_ns: int
    state: str
    trail_dev: Decimal | None
    trail_unit: str | None
    triggered: bool
    market: bool = False
    cost: int = 0  # cumulative fill qty * price, in size units x price units

    @property
    def avg_price(self) -> int:
        """Average fill price in price units, half-even (0 before any fill)."""
        return div_round(self.cost, self.filled) if self.filled else 0

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    @property
    def is_trigger(self) -> bool:
        return self.state == TRIGGER or (self.otype in TRIGGER_TYPES and not self.triggered)

    def to_json(self) -> dict[str, Any]:
        return {
            "order_id": self.id,
            "symbol": self.spec.symbol,
            "side": self.side,
            "type": self.otype,
            "qty": self.qty,
            "filled": self.filled,
            "price": self.price,
            "stop_price": self.stop_price,
            "state": self.state,
        }


@dataclass(slots=True)
class Position:
    """A net position: signed size, cost basis, accrued funding."""

    spec: ContractSpec
    size: int = 0
    cost: int = 0  # sum of value(q, price) over the open lots (money units)
    opened_ns: int = 0
    updated_ns: int = 0

    def entry_price(self) -> Decimal:
        """Average entry price implied by the cost basis."""
        if not self.size:
            return Decimal(0)
        s = self.spec
        with localcontext(EXACT):
            size = Decimal(self.size).scaleb(-s.qdp) * s.cs
            cost = Decimal(self.cost).scaleb(-BALANCE_DP)
            if s.linear:
                return cost / size
            return -size / cost if cost else Decimal(0)


@dataclass(slots=True)
class MarginAccount:
    """Collateral of one margin account: `flex` (multi-collateral, many
    currencies) or a single-collateral inverse account like `fi_xbtusd`."""

    name: str
    currency: str | None  # inverse accounts: the one asset id
    balances: dict[str, int] = field(default_factory=dict)

    @property
    def is_flex(self) -> bool:
        return self.currency is None


@dataclass(slots=True)
class FillRec:
    fill_id: str
    exec_id: str
    account_id: str
    order: OSnap  # after the fill
    spec: ContractSpec
    side: str
    qty: int
    price: int
    fill_type: str  # maker | taker | takerAfterEdit | liquidation | settlement
    fee: int
    fee_asset: str
    ts: int
    seq: int
    taker_otype: str

    def to_json(self) -> dict[str, Any]:
        return {
            "fill_id": self.fill_id,
            "account": self.account_id,
            "symbol": self.spec.symbol,
            "order_id": self.order.id,
            "side": self.side,
            "qty": self.qty,
            "price": self.price,
            "fill_type": self.fill_type,
            "fee": self.fee,
        }


@dataclass(slots=True)
class LogEntry:
    """One account-log row (Kraken's history/account-log)."""

    id: int
    ts: int
    asset: str  # asset id, or a contract symbol for a position leg
    info: str
    margin_account: str
    old_balance: Decimal
    new_balance: Decimal
    booking_uid: str
    contract: str | None = None
    execution: str | None = None
    fee: Decimal | None = None
    realized_pnl: Decimal | None = None
    realized_funding: Decimal | None = None
    funding_rate: Decimal | None = None
    trade_price: Decimal | None = None
    mark_price: Decimal | None = None
    old_entry: Decimal | None = None
    new_entry: Decimal | None = None
    liquidation_fee: Decimal | None = None
    collateral: str | None = None


@dataclass(slots=True)
class HistoryEvent:
    """An order or trigger lifecycle record (history/orders, history/triggers)."""

    uid: str
    ts: int
    kind: str  # OrderPlaced | OrderUpdated | OrderCancelled | OrderRejected | TriggerPlaced ...
    order: OSnap
    old: OSnap | None = None
    reason: str = ""


class FAccount:
    """Everything the derivatives engine keeps for one account."""

    __slots__ = (
        "id",
        "flex",
        "inverse",
        "cash",
        "positions",
        "open",
        "closed",
        "fills",
        "logs",
        "history",
        "leverage",
        "pnl_pref",
        "dms_at",
        "fill_seq",
        "log_seq",
    )

    def __init__(self, account_id: str, history_max: int) -> None:
        self.id = account_id
        self.flex = MarginAccount(FLEX, None)
        self.inverse: dict[str, MarginAccount] = {}
        self.cash: dict[str, int] = {}
        self.positions: dict[str, Position] = {}
        self.open: dict[str, FOrder] = {}
        self.closed: deque[FOrder] = deque(maxlen=history_max)
        self.fills: deque[FillRec] = deque(maxlen=history_max)
        self.logs: deque[LogEntry] = deque(maxlen=history_max)
        self.history: deque[HistoryEvent] = deque(maxlen=history_max)
        self.leverage: dict[str, Decimal] = {}
        self.pnl_pref: dict[str, str] = {}
        self.dms_at = 0
        self.fill_seq = 0
        self.log_seq = 0

    def margin(self, name: str, currency: str | None) -> MarginAccount:
        if name == FLEX:
            return self.flex
        ma = self.inverse.get(name)
        if ma is None:
            ma = MarginAccount(name, currency)
            self.inverse[name] = ma
        return ma


@dataclass(slots=True)
class TradeRec:
    """A public trade (per contract, trade_id continuous from 1)."""

    uid: str
    trade_id: int
    symbol: str
    price: int
    qty: int
    side: str  # taker side
    type: str  # fill | liquidation | termination
    ts: int
    mark: Decimal
    maker: OSnap | None
    taker: OSnap | None


@dataclass(slots=True)
class RestEvent:
    """One entry of a REST `orderEvents` list."""

    type: str  # PLACE | EXECUTION | REJECT | CANCEL | EDIT
    order: OSnap | None = None
    old: OSnap | None = None
    reason: str | None = None
    exec_id: str | None = None
    price: int | None = None
    amount: int | None = None
    prior_edit: OSnap | None = None
    reduced: int | None = None


@dataclass
class OrderResult:
    """What sendorder / editorder / cancelorder report."""

    status: FuturesCode
    order_id: str | None = None
    cl_ord_id: str | None = None
    events: list[RestEvent] = field(default_factory=list)
    order_tag: str | None = None
    received_ns: int = 0
    spec: ContractSpec | None = None
