"""Events the derivatives engine emits: journaled with the command that caused
them, then fanned out to the futures WebSocket feeds via the bus."""

from __future__ import annotations

from typing import Any

from .model import FillRec, LogEntry, OSnap, TradeRec


class FOrderEvent:
    """An order changed: accepted, placed, edited, filled, triggered, cancelled, rejected.

    `reason` is Kraken's WS open_orders reason word; `is_cancel` says whether
    the order left the open set; the order snapshot is the order at that moment.
    `verbose_only`: only open_orders_verbose tells it.  `quiet`: no WS feed
    tells it -- the steps of a request that order entry reports (FIX) but the
    feeds do not: `accepted` (a new order the engine took, before it traded)
    and `edit_accepted` (an edit applied, before the edited order traded)."""

    __slots__ = ("order", "reason", "is_cancel", "ts", "verbose_only", "quiet")
    kind = "futures_order"

    def __init__(
        self, order: OSnap, reason: str, is_cancel: bool, ts: int, verbose_only: bool = False, quiet: bool = False
    ) -> None:
        self.order = order
        self.reason = reason
        self.is_cancel = is_cancel
        self.ts = ts
        self.verbose_only = verbose_only
        self.quiet = quiet

    def to_json(self) -> dict[str, Any]:
        d = {
            "kind": self.kind,
            "account": self.order.account_id,
            "reason": self.reason,
            "is_cancel": self.is_cancel,
            "ts": self.ts,
            **self.order.to_json(),
        }
        if self.quiet:
            d["quiet"] = True
        return d


ACCEPTED = "accepted"
EDIT_ACCEPTED = "edit_accepted"


class FFillEvent:
    __slots__ = ("fill",)
    kind = "futures_fill"

    def __init__(self, fill: FillRec) -> None:
        self.fill = fill

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "ts": self.fill.ts, **self.fill.to_json()}


class FTradeEvent:
    __slots__ = ("trade",)
    kind = "futures_trade"

    def __init__(self, trade: TradeRec) -> None:
        self.trade = trade

    def to_json(self) -> dict[str, Any]:
        t = self.trade
        return {
            "kind": self.kind,
            "symbol": t.symbol,
            "trade_id": t.trade_id,
            "uid": t.uid,
            "price": t.price,
            "qty": t.qty,
            "side": t.side,
            "type": t.type,
            "ts": t.ts,
        }


class FBookEvent:
    """A price level's total size changed (0: the level is gone)."""

    __slots__ = ("symbol", "side", "price", "qty", "ts")
    kind = "futures_book"

    def __init__(self, symbol: str, side: str, price: int, qty: int, ts: int) -> None:
        self.symbol = symbol
        self.side = side
        self.price = price
        self.qty = qty
        self.ts = ts

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "symbol": self.symbol,
            "side": self.side,
            "price": self.price,
            "qty": self.qty,
            "ts": self.ts,
        }


class FAccountEvent:
    """Collateral or margin of an account changed (balances feed); `log` is
    the account-log row written, if any."""

    __slots__ = ("account_id", "margin_account", "log", "ts")
    kind = "futures_account"

    def __init__(self, account_id: str, margin_account: str, log: LogEntry | None, ts: int) -> None:
        self.account_id = account_id
        self.margin_account = margin_account
        self.log = log
        self.ts = ts

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "account": self.account_id,
            "margin_account": self.margin_account,
            "ts": self.ts,
        }
        if self.log is not None:
            lg = self.log
            d["log"] = {
                "id": lg.id,
                "info": lg.info,
                "asset": lg.asset,
                "old_balance": f"{lg.old_balance.normalize():f}",
                "new_balance": f"{lg.new_balance.normalize():f}",
            }
        return d


class FPositionEvent:
    __slots__ = ("account_id", "symbol", "ts")
    kind = "futures_position"

    def __init__(self, account_id: str, symbol: str, ts: int) -> None:
        self.account_id = account_id
        self.symbol = symbol
        self.ts = ts

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "account": self.account_id, "symbol": self.symbol, "ts": self.ts}


class FMarketEvent:
    """Mark, index, funding or status of a contract changed (tickers)."""

    __slots__ = ("symbol", "what", "ts")
    kind = "futures_market"

    def __init__(self, symbol: str, what: str, ts: int) -> None:
        self.symbol = symbol
        self.what = what
        self.ts = ts

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "symbol": self.symbol, "what": self.what, "ts": self.ts}


class FNoticeEvent:
    """Anything else: dead man's switch fired, liquidation, status, notification."""

    __slots__ = ("name", "data", "ts")
    kind = "futures_notice"

    def __init__(self, name: str, data: dict[str, Any], ts: int) -> None:
        self.name = name
        self.data = data
        self.ts = ts

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "ts": self.ts, **self.data}
