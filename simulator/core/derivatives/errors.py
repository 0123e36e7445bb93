"""The derivatives engine's outcome codes: each request's result or refusal.

`FuturesCode` is typed (mypy checks every use); its values are Kraken
Futures' own words, the venue's vocabulary.  Each protocol words a code in
its own dialect: Futures REST puts it in `status` / `error`, FIX in a
BusinessMessageReject (`fix/futures.py` picks the reject reason per code).
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import EngineError
from ..validation import Invalid, Rule


class FuturesCode(StrEnum):
    """A result (placed, edited, cancelled) or the reason a request was refused."""

    PLACED = "placed"
    EDITED = "edited"
    CANCELLED = "cancelled"
    FILLED = "filled"
    NOT_FOUND = "notFound"
    AUTHENTICATION_ERROR = "authenticationError"
    CONTRACT_NOT_FOUND = "contractNotFound"
    INVALID_ARGUMENT = "invalidArgument"
    INVALID_UNIT = "invalidUnit"
    INVALID_AMOUNT = "invalidAmount"
    INSUFFICIENT_FUNDS = "insufficientFunds"
    INVALID_ACCOUNT = "invalidAccount"
    MARKET_UNAVAILABLE = "marketUnavailable"
    WOULD_PROCESS_AFTER_SPECIFIED_TIME = "wouldProcessAfterSpecifiedTime"
    INVALID_ORDER_TYPE = "invalidOrderType"
    INVALID_SIDE = "invalidSide"
    MARKET_INACTIVE = "marketInactive"
    MARKET_SUSPENDED = "marketSuspended"
    MARKET_IS_POST_ONLY = "marketIsPostOnly"
    CLIENT_ORDER_ID_TOO_BIG = "clientOrderIdTooBig"
    CLIENT_ORDER_ID_ALREADY_EXIST = "clientOrderIdAlreadyExist"
    INVALID_SIZE = "invalidSize"
    TOO_MANY_ORDERS = "tooManyOrders"
    INVALID_PRICE = "invalidPrice"
    MAX_POSITION_VIOLATION = "maxPositionViolation"
    WOULD_NOT_REDUCE_POSITION = "wouldNotReducePosition"
    INSUFFICIENT_AVAILABLE_FUNDS = "insufficientAvailableFunds"
    POST_WOULD_EXECUTE = "postWouldExecute"
    IOC_WOULD_NOT_EXECUTE = "iocWouldNotExecute"
    SELF_FILL = "selfFill"
    ORDER_FOR_EDIT_NOT_FOUND = "orderForEditNotFound"
    ORDER_FOR_EDIT_NOT_A_STOP = "orderForEditNotAStop"
    CANNOT_EDIT_LIMIT_PRICE_OF_TRAILING_STOP = "cannotEditLimitPriceOfTrailingStop"
    CANNOT_EDIT_TRIGGER_PRICE_OF_TRAILING_STOP = "cannotEditTriggerPriceOfTrailingStop"

    @property
    def ok(self) -> bool:
        return self in _OK


_OK = frozenset({FuturesCode.PLACED, FuturesCode.EDITED, FuturesCode.CANCELLED})
NOT_FOUND = frozenset({FuturesCode.NOT_FOUND, FuturesCode.ORDER_FOR_EDIT_NOT_FOUND, FuturesCode.FILLED})
_PRICES = frozenset({"limit_price", "stop_price", "trail_deviation", "limit_offset"})


class FuturesError(EngineError):
    """A request the derivatives engine refuses outright (no order result)."""

    code: FuturesCode

    def __init__(self, code: FuturesCode) -> None:
        super().__init__(code)


def refusal(exc: Invalid) -> FuturesCode:
    """The code of a derivatives command that broke an order-entry rule
    (core/validation.py names the field of the typed command)."""
    if exc.rule is Rule.DEADLINE_ELAPSED:
        return FuturesCode.WOULD_PROCESS_AFTER_SPECIFIED_TIME
    if exc.field == "size":
        return FuturesCode.INVALID_SIZE
    if exc.field in _PRICES:
        return FuturesCode.INVALID_PRICE
    return FuturesCode.INVALID_ARGUMENT


__all__ = ["NOT_FOUND", "FuturesCode", "FuturesError", "refusal"]
