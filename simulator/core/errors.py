"""Typed rejections.  The code is Kraken's own error string, so every Spot
gateway reports the same text; a rejection never changes engine state."""

from __future__ import annotations

from enum import StrEnum


class Reject(StrEnum):
    INVALID_ARGUMENTS = "EGeneral:Invalid arguments"
    PERMISSION_DENIED = "EGeneral:Permission denied"
    UNKNOWN_PAIR = "EQuery:Unknown asset pair"
    UNKNOWN_ASSET = "EQuery:Unknown asset"
    INVALID_ORDER = "EOrder:Invalid order"
    UNKNOWN_ORDER = "EOrder:Unknown order"
    INVALID_PRICE = "EOrder:Invalid price"
    TICK_SIZE = "EOrder:Tick size check failed"
    ORDER_MINIMUM = "EGeneral:Invalid arguments:volume minimum not met"
    COST_MINIMUM = "EOrder:Cost minimum not met"
    INSUFFICIENT_FUNDS = "EOrder:Insufficient funds"
    ORDERS_LIMIT = "EOrder:Orders limit exceeded"
    RATE_LIMIT = "EOrder:Rate limit exceeded"
    RATE_LIMIT_API = "EAPI:Rate limit exceeded"
    POST_ONLY = "EOrder:Post only order"
    DEADLINE = "EService:Deadline elapsed"
    DUPLICATE_CL_ORD_ID = "EOrder:Duplicate order"
    UNAVAILABLE = "EService:Unavailable"
    CANCEL_ONLY = "EService:Market in cancel_only mode"
    POST_ONLY_MODE = "EService:Market in post_only mode"
    LIMIT_ONLY_MODE = "EService:Market in limit_only mode"
    REDUCE_ONLY_NO_POSITION = "EOrder:Reduce only:No position exists"
    REDUCE_ONLY_NON_PC = "EOrder:Reduce only:Non-PC"
    REDUCE_ONLY_CLOSED = "EOrder:Reduce only:Position is closed"
    MARGIN_UNSUPPORTED = "EOrder:Cannot open position"  # account/tier not eligible for margin
    MARGIN_OPPOSING = "EOrder:Cannot open opposing position"
    MARGIN_ALLOWANCE = "EOrder:Margin allowance exceeded"
    MARGIN_LEVEL_LOW = "EOrder:Margin level too low"
    MARGIN_POSITION_SIZE = "EOrder:Margin position size exceeded"
    INSUFFICIENT_MARGIN = "EOrder:Insufficient margin"
    POSITIONS_LIMIT = "EOrder:Positions limit exceeded"
    UNKNOWN_POSITION = "EOrder:Unknown position"
    SCHEDULED_LIMIT = "EOrder:Scheduled orders limit exceeded"


class EngineError(Exception):
    """A command an engine refuses; `code` is the engine's own typed code
    (Spot: `Reject`, derivatives: `FuturesCode`), `text` Kraken's full string."""

    def __init__(self, code: StrEnum, detail: str | None = None) -> None:
        self.code = code
        self.detail = detail
        super().__init__(self.text)

    @property
    def text(self) -> str:
        return f"{self.code.value}:{self.detail}" if self.detail else self.code.value
