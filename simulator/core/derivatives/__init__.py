"""The derivatives (futures) market: a pure engine the sequencer drives.

`HANDLERS` maps command kinds to `fn(engine, origin, **params)`, the shape
`Venue.add_market` registers.  Orders arrive as typed commands
(core/commands.py: FuturesOrderRequest / FuturesEditRequest /
FuturesCancelRequest), which the journal codec round-trips; journals written
before them (dict requests keyed by Futures REST names) still replay.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..commands import FuturesCancelRequest, FuturesEditRequest, FuturesInstruction, FuturesOrderRequest, legacy_futures
from ..orders import Origin
from .engine import FuturesConfig, FuturesEngine, MarginView
from .errors import FuturesCode, FuturesError
from .model import ContractSpec, FOrder, OrderResult, OSnap, Position, RestEvent


def _deposit(eng: FuturesEngine, origin: Origin, account_id: str, asset: str, amount: Decimal) -> int:
    return eng.deposit(account_id, asset, amount)


def _send(eng: FuturesEngine, origin: Origin, account_id: str, req: FuturesOrderRequest) -> OrderResult:
    return eng.send_order(account_id, legacy_futures(req), origin.session)


def _edit(eng: FuturesEngine, origin: Origin, account_id: str, req: FuturesEditRequest) -> OrderResult:
    return eng.edit_order(account_id, legacy_futures(req))


def _cancel(
    eng: FuturesEngine,
    origin: Origin,
    account_id: str,
    req: FuturesCancelRequest | None = None,
    order_id: str | None = None,  # journals before FuturesCancelRequest
    cl_ord_id: str | None = None,
) -> OrderResult:
    r = req or FuturesCancelRequest(order_id, cl_ord_id)
    return eng.cancel_order(account_id, r.order_id, r.cl_ord_id)


def _cancel_all(eng: FuturesEngine, origin: Origin, account_id: str, symbol: str | None = None) -> list[OSnap]:
    return eng.cancel_all(account_id, symbol)


def _cancel_all_after(eng: FuturesEngine, origin: Origin, account_id: str, timeout: int) -> tuple[int, int]:
    return eng.cancel_all_after(account_id, timeout)


def _batch(
    eng: FuturesEngine, origin: Origin, account_id: str, instructions: list[FuturesInstruction]
) -> list[OrderResult]:
    return eng.batch(account_id, [legacy_futures(i) for i in instructions], origin.session)


def _tick(eng: FuturesEngine, origin: Origin) -> None:
    eng.on_time()


def _set_status(eng: FuturesEngine, origin: Origin, status: str) -> None:
    eng.set_status(status)


def _set_index(eng: FuturesEngine, origin: Origin, symbol: str, price: Decimal, move_marks: bool = True) -> None:
    eng.set_index(symbol, price, move_marks)


def _set_mark(eng: FuturesEngine, origin: Origin, symbol: str, price: Decimal) -> None:
    eng.set_mark(symbol, price)


def _set_funding(eng: FuturesEngine, origin: Origin, symbol: str, rate: Decimal | None = None) -> None:
    eng.set_funding(symbol, rate)


def _set_leverage(
    eng: FuturesEngine, origin: Origin, account_id: str, symbol: str, max_leverage: Decimal | None = None
) -> None:
    eng.set_leverage(account_id, symbol, max_leverage)


def _set_pnl_pref(eng: FuturesEngine, origin: Origin, account_id: str, symbol: str, currency: str) -> None:
    eng.set_pnl_pref(account_id, symbol, currency)


def _transfer(
    eng: FuturesEngine, origin: Origin, account_id: str, from_account: str, to_account: str, unit: str, amount: Decimal
) -> None:
    eng.transfer(account_id, from_account, to_account, unit, amount)


def _notify(
    eng: FuturesEngine, origin: Origin, note: str, type: str = "general", priority: str = "low"
) -> dict[str, Any]:
    return eng.add_notification(note, type, priority)


HANDLERS: dict[str, Any] = {
    "deposit": _deposit,
    "send_order": _send,
    "edit_order": _edit,
    "cancel_order": _cancel,
    "cancel_all": _cancel_all,
    "cancel_all_after": _cancel_all_after,
    "batch": _batch,
    "tick": _tick,
    "set_status": _set_status,
    "set_index": _set_index,
    "set_mark": _set_mark,
    "set_funding": _set_funding,
    "set_leverage": _set_leverage,
    "set_pnl_pref": _set_pnl_pref,
    "transfer": _transfer,
    "notify": _notify,
}

__all__ = [
    "HANDLERS",
    "ContractSpec",
    "FOrder",
    "FuturesCode",
    "FuturesConfig",
    "FuturesEngine",
    "FuturesError",
    "MarginView",
    "OSnap",
    "OrderResult",
    "Position",
    "RestEvent",
]
