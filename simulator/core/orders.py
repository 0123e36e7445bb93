"""Order state as the engine keeps it (integers inside, see numbers.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from .instruments import SpotPair

if TYPE_CHECKING:
    from .events import Fill

BUY = "buy"
SELL = "sell"

LIMIT = "limit"
MARKET = "market"
ICEBERG = "iceberg"
STOP_LOSS = "stop-loss"
TAKE_PROFIT = "take-profit"
STOP_LOSS_LIMIT = "stop-loss-limit"
TAKE_PROFIT_LIMIT = "take-profit-limit"
TRAILING_STOP = "trailing-stop"
TRAILING_STOP_LIMIT = "trailing-stop-limit"
SETTLE_POSITION = "settle-position"

ORDER_TYPES = frozenset(
    {
        LIMIT,
        MARKET,
        ICEBERG,
        STOP_LOSS,
        TAKE_PROFIT,
        STOP_LOSS_LIMIT,
        TAKE_PROFIT_LIMIT,
        TRAILING_STOP,
        TRAILING_STOP_LIMIT,
        SETTLE_POSITION,
    }
)
TRIGGERED_TYPES = frozenset(
    {STOP_LOSS, TAKE_PROFIT, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT, TRAILING_STOP, TRAILING_STOP_LIMIT}
)
LIMIT_AFTER_TRIGGER = frozenset({STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT, TRAILING_STOP_LIMIT})
TRAILING_TYPES = frozenset({TRAILING_STOP, TRAILING_STOP_LIMIT})

GTC = "GTC"
IOC = "IOC"
GTD = "GTD"
FOK = "FOK"
TIFS = frozenset({GTC, IOC, GTD, FOK})

STP_NEWEST = "cancel-newest"
STP_OLDEST = "cancel-oldest"
STP_BOTH = "cancel-both"
STP_MODES = frozenset({STP_NEWEST, STP_OLDEST, STP_BOTH})

# REST status vocabulary; WS/FIX derive theirs from it plus fills.
PENDING = "pending"
OPEN = "open"
CLOSED = "closed"
CANCELED = "canceled"
EXPIRED = "expired"
TERMINAL = frozenset({CLOSED, CANCELED, EXPIRED})


@dataclass(frozen=True)
class RelPrice:
    """A Kraken relative price: `+5`, `-1.5%`, `#10` (sign from side/type)."""

    sign: str  # "+", "-" or "#"
    amount: Decimal
    percent: bool

    def __str__(self) -> str:
        return f"{self.sign}{self.amount}{'%' if self.percent else ''}"


@dataclass(frozen=True, slots=True)
class Origin:
    """Who sent a command: protocol, connection/session id, account."""

    protocol: str  # rest | ws | fix | admin | timer
    session: str = ""
    account_id: str = ""


_NO_TRADES: list[Fill] = []  # shared, never appended to (saves a list per resting order)


class Order:
    """A spot order.  Prices in pair-decimal units, quantities in lots."""

    __slots__ = (
        "id",
        "account_id",
        "pair",
        "side",
        "ordertype",
        "price",
        "trigger_price",
        "trigger_ref",
        "trail_offset",
        "trail_pct",
        "peak",
        "limit_offset",
        "qty",
        "filled",
        "display",
        "visible",
        "tif",
        "post_only",
        "reduce_only",
        "stp",
        "cl_ord_id",
        "userref",
        "fee_in_base",
        "viqc",
        "status",
        "triggered",
        "in_book",
        "opened_ns",
        "closed_ns",
        "start_ns",
        "expire_ns",
        "cost",
        "fee",
        "reason",
        "origin",
        "hold",
        "hold_asset",
        "amended",
        "trades",
        "oflags",
        "close",
        "last_update_ns",
        "rl_ns",
        "batch",
        "leverage",
        "margin_hold",
        "liquidation",
    )

    def __init__(self, order_id: str, account_id: str, pair: SpotPair, side: str, ordertype: str, qty: int) -> None:
        self.id = order_id
        self.account_id = account_id
        self.pair = pair
        self.side = side
        self.ordertype = ordertype
        self.price: int | None = None  # limit price (units)
        self.trigger_price: int | None = None
        self.trigger_ref = "last"
        self.trail_offset = 0  # units, or ppm of price when trail_pct
        self.trail_pct = False
        self.peak: int | None = None
        self.limit_offset: int | None = None  # trailing-stop-limit: limit = trigger -/+ offset
        self.qty = qty
        self.filled = 0
        self.display = 0  # iceberg display size (0: not an iceberg)
        self.visible = 0  # what the book shows now
        self.tif = GTC
        self.post_only = False
        self.reduce_only = False
        self.stp = STP_NEWEST
        self.cl_ord_id: str | None = None
        self.userref: int | None = None
        self.fee_in_base = False
        self.viqc = False
        self.status = PENDING
        self.triggered = False
        self.in_book = False
        self.opened_ns = 0
        self.closed_ns = 0
        self.start_ns = 0
        self.expire_ns = 0
        self.cost = 0  # cost units (10**-cost_decimals of quote)
        self.fee = 0  # balance units of the fee asset
        self.reason: str | None = None
        self.origin: Origin | None = None
        self.hold = 0  # balance units held for this order
        self.hold_asset = ""
        self.amended = False
        self.trades: list[Fill] = _NO_TRADES  # its fills; replaced by a list on the first fill
        self.oflags = ""
        self.close: dict[str, object] | None = None
        self.last_update_ns = 0
        self.rl_ns = 0  # rate-limit age reference: creation or last amend
        self.batch = False  # placed by a batch (half the rate-limit cost)
        self.leverage = 0  # margin order: leverage (2 means 2:1); 0: a spot order
        self.margin_hold = 0  # margin order: balance units of quote reserved for the part that opens
        self.liquidation = False  # placed by the venue to liquidate (misc `liquidated`)

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    @property
    def is_open(self) -> bool:
        return self.status in (OPEN, PENDING)

    @property
    def fee_asset(self) -> str:
        return self.pair.base.id if self.fee_in_base else self.pair.quote.id

    def avg_price_units(self) -> int:
        """Average fill price in pair units (0 without fills)."""
        if not self.filled:
            return 0
        p = self.pair
        return (self.cost * p.cost_shift * 2 + self.filled) // (2 * self.filled)

    def __repr__(self) -> str:
        return f"Order({self.id} {self.side} {self.qty}@{self.price} {self.status} filled={self.filled})"
