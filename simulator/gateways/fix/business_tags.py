"""Application-level FIX tags and Kraken's enumerations for them (fix.md §6).

The session layer's own tags live in `tags.py`; these are the business
fields the order-entry and market-data handlers read and write.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

from simulator.core import validation
from simulator.gateways.fix import validate as session_checks
from simulator.gateways.fix.codec import Msg, parse_fix_timestamp
from simulator.gateways.fix.tags import RejectReason, tag_label

# the reason (58 Text, and the order's `reason` on every protocol) when a
# session's orders are canceled because it disconnected
COD_REASON: Final = "Cancel on disconnect"

# ---- order entry / execution reports ----------------------------------
AVG_PX: Final = 6
CL_ORD_ID: Final = 11
COMMISSION: Final = 12
COMM_TYPE: Final = 13
CUM_QTY: Final = 14
EXEC_ID: Final = 17
EXEC_INST: Final = 18
LAST_PX: Final = 31
LAST_QTY: Final = 32
ORDER_ID: Final = 37
ORDER_QTY: Final = 38
ORD_STATUS: Final = 39
ORD_TYPE: Final = 40
ORIG_CL_ORD_ID: Final = 41
PRICE: Final = 44
SIDE: Final = 54
SYMBOL: Final = 55
TEXT: Final = 58
TIME_IN_FORCE: Final = 59
TRANSACT_TIME: Final = 60
VALID_UNTIL_TIME: Final = 62
NO_ALLOCS: Final = 78
ALLOC_ACCOUNT: Final = 79
STOP_PX: Final = 99
MAX_FLOOR: Final = 111
EXPIRE_TIME: Final = 126
EXEC_TYPE: Final = 150
LEAVES_QTY: Final = 151
SECURITY_TYPE: Final = 167
EFFECTIVE_TIME: Final = 168
DISCRETION_INST: Final = 388
COMM_CURRENCY: Final = 479
SECONDARY_EXEC_ID: Final = 527
MASS_CANCEL_REQUEST_TYPE: Final = 530
ORD_STATUS_REQ_ID: Final = 790
LAST_LIQUIDITY_IND: Final = 851
DISPLAY_QTY: Final = 1138
LEVERAGE: Final = 5001
STP_TYPE: Final = 7928

# ---- market data / reference data -------------------------------------
NO_RELATED_SYM: Final = 146
MD_REQ_ID: Final = 262
SUBSCRIPTION_REQUEST_TYPE: Final = 263
MARKET_DEPTH: Final = 264
MD_UPDATE_TYPE: Final = 265
AGGREGATED_BOOK: Final = 266
NO_MD_ENTRY_TYPES: Final = 267
NO_MD_ENTRIES: Final = 268
MD_ENTRY_TYPE: Final = 269
MD_ENTRY_PX: Final = 270
MD_ENTRY_SIZE: Final = 271
MD_ENTRY_TIME: Final = 273
MD_ENTRY_ID: Final = 278
MD_UPDATE_ACTION: Final = 279
MD_REQ_REJ_REASON: Final = 281
SECURITY_REQ_ID: Final = 320
SECURITY_RESPONSE_ID: Final = 322
TRAD_SES_REQ_ID: Final = 335
TRADING_SESSION_ID: Final = 336
TRAD_SES_STATUS: Final = 340
TOT_NO_RELATED_SYM: Final = 393
SECURITY_LIST_REQUEST_TYPE: Final = 559
SECURITY_REQUEST_RESULT: Final = 560
MIN_TRADE_VOL: Final = 562
TRAD_SES_STATUS_REJ_REASON: Final = 567
LAST_FRAGMENT: Final = 893
PRICE_PRECISION: Final = 2349
AGGRESSOR_SIDE: Final = 2446
QTY_PRECISION: Final = 5010
QTY_MIN: Final = 5011
QTY_MAX: Final = 5012
MINIMUM_COST: Final = 5013
TICK_SIZE: Final = 5022
ASSET_PAIR_STATUS: Final = 5032
CHECKSUM_ORDER_BOOK: Final = 5041
MD_ENTRY_TIMESTAMP: Final = 5060
MD_ENTRY_TIME_QUEUE: Final = 5273

APP_TAG_NAMES: Final[dict[int, str]] = {
    11: "ClOrdID", 18: "ExecInst", 37: "OrderID", 38: "OrderQty", 40: "OrdType", 41: "OrigClOrdID",
    44: "Price", 54: "Side", 55: "Symbol", 59: "TimeInForce", 60: "TransactTime", 62: "ValidUntilTime",
    78: "NoAllocs", 79: "AllocAccount", 99: "StopPx", 111: "MaxFloor", 126: "ExpireTime",
    146: "NoRelatedSym", 167: "SecurityType", 168: "EffectiveTime", 262: "MDReqID",
    263: "SubscriptionRequestType", 264: "MarketDepth", 265: "MDUpdateType", 266: "AggregatedBook",
    267: "NoMDEntryTypes", 269: "MDEntryType", 320: "SecurityReqID", 335: "TradSesReqID",
    388: "DiscretionInst", 530: "MassCancelRequestType", 559: "SecurityListRequestType",
    1138: "DisplayQty", 5001: "Leverage", 7928: "SelfTradePreventionType",
}

# Kraken's enumerations (fix.md §6.1/§6.2)
SIDES: Final = {"1": "buy", "2": "sell"}
SIDE_CODES: Final = {"buy": "1", "sell": "2"}
ORD_TYPES: Final = {
    "1": "market", "2": "limit", "3": "stop-loss", "4": "stop-loss-limit",
    "R": "take-profit", "T": "take-profit-limit", "U": "trailing-stop", "V": "trailing-stop-limit",
}
ORD_TYPE_CODES: Final = {v: k for k, v in ORD_TYPES.items()} | {"iceberg": "2"}
TIFS: Final = {"1": "GTC", "3": "IOC", "4": "FOK", "6": "GTD"}
TIF_CODES: Final = {v: k for k, v in TIFS.items()}
STP_MODES: Final = {"0": "cancel-both", "1": "cancel-newest", "2": "cancel-oldest"}


class ExecType:
    NEW: Final = "0"
    CANCELED: Final = "4"
    REPLACED: Final = "5"
    PENDING_NEW: Final = "A"
    EXPIRED: Final = "C"
    RESTATED: Final = "D"
    TRADE: Final = "F"
    ORDER_STATUS: Final = "I"


class OrdStatus:
    NEW: Final = "0"
    PARTIALLY_FILLED: Final = "1"
    FILLED: Final = "2"
    CANCELED: Final = "4"
    REPLACED: Final = "5"
    PENDING_NEW: Final = "A"
    EXPIRED: Final = "C"


class MDReqRejReason:
    UNKNOWN_SYMBOL: Final = "0"
    DUPLICATE_MD_REQ_ID: Final = "1"
    INSUFFICIENT_BANDWIDTH: Final = "2"  # FIX 4.4; used for the per-session subscription cap
    UNSUPPORTED_SUBSCRIPTION_REQUEST_TYPE: Final = "4"
    UNSUPPORTED_MARKET_DEPTH: Final = "5"
    UNSUPPORTED_MD_UPDATE_TYPE: Final = "6"
    UNSUPPORTED_MD_ENTRY_TYPE: Final = "8"
    LEVEL3_NOT_AVAILABLE: Final = "B"
    TRADE_NOT_AVAILABLE: Final = "C"


_LABELS: dict[int, str] = {}  # every field read names itself for a possible error: built once per tag


def label(tag: int) -> str:
    text = _LABELS.get(tag)
    if text is None:
        name = APP_TAG_NAMES.get(tag)
        text = f"{name} ({tag})" if name else tag_label(tag)
        if len(_LABELS) < 4096:
            _LABELS[tag] = text
    return text


class FieldProblem(Exception):
    """A field-level problem: answered with a session Reject (35=3), fix.md §6 layer 1."""

    def __init__(self, reason: int, tag: int | None, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.tag = tag
        self.text = text


class BusinessReject(Exception):
    """A business failure before the engine accepts: BusinessMessageReject (35=j)."""

    def __init__(self, reason: int, text: str) -> None:
        super().__init__(text)
        self.reason = reason
        self.text = text


def _raise(p: session_checks.Problem) -> FieldProblem:
    return FieldProblem(p.reason, p.tag, p.text)


def missing(tag: int) -> FieldProblem:
    return _raise(session_checks.missing(tag, label))


def bad_value(tag: int, why: str = "") -> FieldProblem:
    return _raise(session_checks.bad_value(tag, why, label))


def bad_format(tag: int) -> FieldProblem:
    return _raise(session_checks.bad_format(tag, label))


def required(msg: Msg, tag: int) -> str:
    value = msg.get(tag)
    if value is None:
        raise missing(tag)
    return value


def enum_value(msg: Msg, tag: int, allowed: dict[str, str], default: str | None = None) -> str:
    """Map a FIX enum to the engine's word; unknown values are 373=5."""
    raw = msg.get(tag)
    if raw is None:
        if default is None:
            raise missing(tag)
        return default
    value = allowed.get(raw)
    if value is None:
        raise bad_value(tag)
    return value


def field_problem(exc: validation.Invalid, tag: int) -> FieldProblem:
    """FIX words a broken order-entry rule as a session Reject (35=3): a value that
    is no FIX decimal is a format problem (373=6), one out of bounds a value problem (373=5)."""
    if exc.rule in (validation.Rule.SYNTAX, validation.Rule.MISSING):
        return bad_format(tag)
    return bad_value(tag, exc.rule.value.replace("_", " "))


def decimal_field(msg: Msg, tag: int, *, positive: bool = True) -> Decimal | None:
    """A FIX Price/Qty (plain decimal text, no exponent); None when absent."""
    raw = msg.get(tag)
    if raw is None:
        return None
    try:
        value = validation.number(raw, label(tag), required=True, exponent=False)
    except validation.Invalid as exc:
        raise field_problem(exc, tag) from None
    assert value is not None
    if positive and value <= 0:
        raise bad_value(tag, "must be positive")  # prices too: FIX has no relative or zero price
    return value


def int_field(msg: Msg, tag: int) -> int | None:
    raw = msg.get(tag)
    if raw is None:
        return None
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 18:
        raise bad_format(tag)
    return int(raw)


def timestamp_field(msg: Msg, tag: int) -> int | None:
    """UTCTimestamp (seconds, optionally with up to 9 fractional digits) to ns."""
    raw = msg.get(tag)
    if raw is None:
        return None
    try:
        return parse_fix_timestamp(raw)
    except ValueError:
        raise bad_format(tag) from None


def is_uuid(text: str) -> bool:
    return validation.is_uuid(text)


def spot_cl_ord_id(msg: Msg, tag: int = CL_ORD_ID) -> str:
    """Spot ClOrdID: up to 18 printable characters or a UUID (fix.md §5)."""
    value = required(msg, tag)
    try:
        return validation.cl_ord_id(value, label(tag))
    except validation.Invalid:
        raise FieldProblem(RejectReason.VALUE_INCORRECT, tag, "ClOrdID invalid value") from None


def derivatives_cl_ord_id(msg: Msg, tag: int = CL_ORD_ID) -> str:
    """Derivatives ClOrdID: a (timestamp-first) UUID; the numeric form is Spot only."""
    value = required(msg, tag)
    if not is_uuid(value):
        raise FieldProblem(RejectReason.VALUE_INCORRECT, tag, "COMB UUID required for ClOrdID")
    return value
