"""Events: every state change the engines make, for gateways and the journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .accounts import LedgerEntry
from .ids import RenderedId

if TYPE_CHECKING:
    from .orders import Order


class Fill:
    """One side of a trade, as its owner sees it.  Its id is rendered on
    first read (see `IdGenerator.reserve`)."""

    __slots__ = (
        "_bits",
        "_id",
        "trade_id",
        "order",
        "account_id",
        "pair_id",
        "side",
        "price",
        "qty",
        "cost",
        "fee",
        "fee_asset",
        "maker",
        "ts",
        "counter_order_id",
        "ledger",
        "ordertype",
        "leverage",
        "margin",
        "posid",
        "opened",
        "closed",
        "pnl",
        "pos_status",
    )
    id: str = RenderedId("T")  # type: ignore[assignment]

    def __init__(
        self,
        bits: int,
        trade_id: int,
        order: Order,
        price: int,
        qty: int,
        cost: int,
        fee: int,
        maker: bool,
        ts: int,
        counter_order_id: str,
    ) -> None:
        self._bits = bits
        self._id: str | None = None
        self.trade_id = trade_id
        self.order = order
        self.account_id = order.account_id
        self.pair_id = order.pair.id
        self.side = order.side
        self.ordertype = order.ordertype
        self.price = price
        self.qty = qty
        self.cost = cost
        self.fee = fee
        self.fee_asset = order.fee_asset
        self.maker = maker
        self.ts = ts
        self.counter_order_id = counter_order_id
        self.ledger: tuple[LedgerEntry, ...] = ()
        # margin facts (a fill of a leveraged order; 0/None for a spot fill)
        self.leverage = 0
        self.margin = 0  # initial margin of the part it opened, balance units of quote
        self.posid: str | None = None  # the first position it closed (TradesHistory `postxid`)
        self.opened = 0  # lots that opened a position (its own id is the position's)
        self.closed = 0  # lots that closed positions
        self.pnl = 0  # realised P&L of the closed lots, balance units of quote
        # what the fill did to the position as it happened (WS v2 `position_status`):
        # "opened", "closing" (a position partly closed), "closed"; "" for a spot fill
        self.pos_status = ""

    @property
    def ledger_ids(self) -> list[str]:
        return [e.id for e in self.ledger]


class OrderEvent:
    """An order's lifecycle step: pending_new, new, trade, filled, canceled,
    expired, amended, restated, triggered, iceberg_refill, rejected.

    It carries the order's state at the moment it happened (quantity, running
    totals, status, triggered), copied when the engine creates it, right after
    the change it reports: formatters read these facts, never the order's
    later state.  One exception, set before anyone reads the event: a quote-sized
    (viqc) market buy learns its base quantity only when its budget is spent,
    and the engine then fills in `qty` on that execution's events."""

    __slots__ = ("type", "order", "ts", "fill", "reason", "amend_id", "qty", "filled", "cost", "fee", "status", "triggered",
                 "margin_hold")  # fmt: skip
    kind = "order"

    def __init__(
        self, type_: str, order: Order, ts: int, fill: Fill | None = None, reason: str | None = None
    ) -> None:
        self.type = type_
        self.order = order
        self.ts = ts
        self.fill = fill
        self.reason = reason
        self.amend_id: str | None = None
        self.qty = order.qty  # lots ordered
        self.filled = order.filled  # lots filled so far (cumulative)
        self.cost = order.cost  # cumulative cost units
        self.fee = order.fee  # cumulative fee, balance units of the fee asset
        self.status = order.status
        self.triggered = order.triggered
        self.margin_hold = order.margin_hold  # a margin order's reserved margin (balance units of quote)

    @property
    def last_qty(self) -> int:
        """This trade's quantity in lots (0 when not a trade)."""
        return self.fill.qty if self.fill is not None else 0

    @property
    def last_price(self) -> int:
        """This trade's price in pair units (0 when not a trade)."""
        return self.fill.price if self.fill is not None else 0

    def avg_price_units(self) -> int:
        """Average fill price so far, in pair units (0 without fills)."""
        filled = self.filled
        if not filled:
            return 0
        return (self.cost * self.order.pair.cost_shift * 2 + filled) // (2 * filled)

    def to_json(self) -> dict[str, object]:
        o = self.order
        d: dict[str, object] = {
            "kind": "order",
            "type": self.type,
            "order_id": o.id,
            "account": o.account_id,
            "pair": o.pair.id,
            "side": o.side,
            "status": self.status,
            "qty": self.qty,
            "filled": self.filled,
            "cost": self.cost,
            "fee": self.fee,
            "ts": self.ts,
        }
        if self.triggered:
            d["triggered"] = True
        if o.leverage:
            d["leverage"] = o.leverage
            d["margin_hold"] = self.margin_hold
        if self.fill is not None:
            f = self.fill
            d["fill"] = {"id": f.id, "trade_id": f.trade_id, "price": f.price, "qty": f.qty, "fee": f.fee, "maker": f.maker}
            if f.leverage:
                d["fill"].update(cost=f.cost, opened=f.opened, closed=f.closed, pnl=f.pnl, margin=f.margin,  # type: ignore[attr-defined]
                                 posid=f.posid, pos_status=f.pos_status)  # fmt: skip
        if self.reason:
            d["reason"] = self.reason
        return d


class TradeEvent:
    """A public trade (per pair, sequential trade_id)."""

    __slots__ = ("pair_id", "trade_id", "price", "qty", "taker_side", "ts", "maker_order_id", "taker_order_id", "ordertype")
    kind = "trade"

    def __init__(
        self, pair_id: str, trade_id: int, price: int, qty: int, taker_side: str, ts: int, maker: str, taker: str, ordertype: str
    ) -> None:
        self.pair_id = pair_id
        self.trade_id = trade_id
        self.price = price
        self.qty = qty
        self.taker_side = taker_side
        self.ts = ts
        self.maker_order_id = maker
        self.taker_order_id = taker
        self.ordertype = ordertype

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "trade",
            "pair": self.pair_id,
            "trade_id": self.trade_id,
            "price": self.price,
            "qty": self.qty,
            "side": self.taker_side,
            "ts": self.ts,
            "maker_order_id": self.maker_order_id,
            "taker_order_id": self.taker_order_id,
        }


class BookEvent:
    """A change to one order's visible quantity at one price level.

    Serves both L2 (`level_qty` after the change) and L3 (`order_qty`)."""

    __slots__ = ("pair_id", "side", "price", "level_qty", "order_id", "order_qty", "action", "ts")
    kind = "book"

    def __init__(
        self, pair_id: str, side: str, price: int, level_qty: int, order_id: str, order_qty: int, action: str, ts: int
    ) -> None:
        self.pair_id = pair_id
        self.side = side
        self.price = price
        self.level_qty = level_qty
        self.order_id = order_id
        self.order_qty = order_qty
        self.action = action  # add | modify | delete
        self.ts = ts

    def to_json(self) -> dict[str, object]:
        return {
            "kind": "book",
            "pair": self.pair_id,
            "side": self.side,
            "price": self.price,
            "level_qty": self.level_qty,
            "order_id": self.order_id,
            "order_qty": self.order_qty,
            "action": self.action,
            "ts": self.ts,
        }


BalanceEvent = LedgerEntry
"""A ledger entry is its own balance event (`kind == "balance"`, `.entry` is itself)."""


class NoticeEvent:
    """Anything else a gateway may want to know (status, dead man's switch...)."""

    __slots__ = ("name", "data", "ts")
    kind = "notice"

    def __init__(self, name: str, data: dict[str, object], ts: int) -> None:
        self.name = name
        self.data = data
        self.ts = ts

    def to_json(self) -> dict[str, object]:
        return {"kind": "notice", "name": self.name, "ts": self.ts, **self.data}


Event = OrderEvent | TradeEvent | BookEvent | BalanceEvent | NoticeEvent
