"""Order-entry rules, written once for every protocol.

Each rule raises `Invalid`, naming the field and the rule broken; a gateway
only picks its dialect's words for it (Spot REST `EGeneral:Invalid
arguments:<field>`, WS v2, a FIX Reject, a Futures status word).  The same
checks guard the sequencers (`check_command`), so a command that breaks one is
refused before it is journaled, whoever built it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from simulator.core.clock import NS_PER_S

from .commands import (
    AmendRequest,
    CloseRequest,
    EditRequest,
    FuturesCancelRequest,
    FuturesEditRequest,
    FuturesOrderRequest,
    OrderRequest,
)
from .errors import EngineError, Reject
from .margin import check_leverage, parse_leverage
from .numbers import MAX_EXPONENT, BadNumber, bounded
from .orders import RelPrice

if TYPE_CHECKING:
    from .instruments import InstrumentRegistry

DEADLINE_WINDOW_NS = 60 * NS_PER_S  # a deadline at most 60 s ahead (Spot REST/WS `deadline`, FIX ValidUntilTime)
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_DECIMALS = MAX_EXPONENT  # more fractional digits than any asset has
_DIGITS = frozenset("0123456789")
MAX_DIGITS = 28  # significant digits the engine's Decimal context keeps exactly
MAX_TEXT = 64  # longest number text read at all
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_HEX32 = re.compile(r"^[0-9a-fA-F]{32}$")
_FREE = re.compile(r"^[\x20-\x7e]{1,18}$")
_PLAIN = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_INT = re.compile(r"^[+-]?\d{1,19}$")


class Rule(StrEnum):
    """Which rule a value broke (a gateway's dialect may word them apart)."""

    MISSING = "missing"  # required and absent or empty
    SYNTAX = "syntax"  # not a number: text, NaN, Infinity, a disallowed exponent
    MAGNITUDE = "magnitude"  # |adjusted exponent| > 30: 1e999999, 1e40, 1e-40
    PRECISION = "precision"  # more than 30 fractional or 28 significant digits
    NEGATIVE_ZERO = "negative_zero"  # `-0`: a sign on nothing
    NOT_POSITIVE = "not_positive"  # a quantity of zero or less
    CL_ORD_ID = "cl_ord_id"  # not a UUID, 32 hex or up to 18 printable ASCII characters
    USERREF = "userref"  # outside int32
    DEADLINE_WINDOW = "deadline_window"  # more than 60 s ahead
    DEADLINE_ELAPSED = "deadline_elapsed"  # already past when the engine sees it


class Invalid(EngineError):
    """A value that breaks an order-entry rule.  `text` is Spot REST's wording;
    other dialects map `field`/`rule` to their own."""

    def __init__(self, field: str, rule: Rule) -> None:
        self.field = field
        self.rule = rule
        if rule is Rule.DEADLINE_ELAPSED:
            super().__init__(Reject.DEADLINE)
        else:
            super().__init__(Reject.INVALID_ARGUMENTS, field)


# ------------------------------------------------------------------ numbers
def _is_empty(value: object) -> bool:
    return value is None or value == ""


def _parse(value: object, field: str, exponent: bool) -> Decimal:
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise Invalid(field, Rule.SYNTAX)
    elif isinstance(value, int):
        if abs(value).bit_length() > 128:  # far beyond 1e30 and cheap to see
            raise Invalid(field, Rule.MAGNITUDE)
        d = Decimal(value)
    elif isinstance(value, float):
        d = Decimal(repr(value))  # the shortest exact text of what the client sent
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT or (not exponent and not _PLAIN.match(text)):
            raise Invalid(field, Rule.SYNTAX)
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise Invalid(field, Rule.SYNTAX) from None
    else:
        raise Invalid(field, Rule.SYNTAX)
    if not d.is_finite():
        raise Invalid(field, Rule.SYNTAX)
    return d


def check_number(d: Decimal, field: str) -> Decimal:
    """Magnitude, precision and sign rules for a parsed number.  Every command
    passes here, so the common case (plain text of at most 28 characters: at
    most 28 digits, 27 decimals) is decided without taking the number apart."""
    text = str(d)
    if len(text) <= MAX_DIGITS and text[-1] in _DIGITS and "E" not in text and "N" not in text:
        # plain notation of at most 28 characters (not a NaN with a payload:
        # `NaN123`): finite, |exponent| < 28, at most 28 digits and 27
        # decimals; only a sign on zero is left to see
        if text[0] == "-" and not d:
            raise Invalid(field, Rule.NEGATIVE_ZERO)
        return d
    if not d.is_finite():
        raise Invalid(field, Rule.SYNTAX)
    if not d:
        if d.is_signed():
            raise Invalid(field, Rule.NEGATIVE_ZERO)
        return d
    try:
        bounded(d)
    except BadNumber:
        raise Invalid(field, Rule.MAGNITUDE) from None
    _, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    zeros = len(digits) - len("".join(map(str, digits)).rstrip("0"))  # normalize() would round: count by hand
    if -(exp + zeros) > MAX_DECIMALS or len(digits) - zeros > MAX_DIGITS:
        raise Invalid(field, Rule.PRECISION)
    return d


def positive(d: Decimal, field: str) -> Decimal:
    """A quantity: more than zero."""
    if d <= 0:
        raise Invalid(field, Rule.NOT_POSITIVE)
    return d


def number(value: object, field: str, *, required: bool = False, exponent: bool = True) -> Decimal | None:
    """A client number (text, JSON number, int) -> an exact Decimal within the
    venue's bounds; None when absent and not required.  `exponent=False` for
    dialects whose numbers are plain decimals (FIX)."""
    if _is_empty(value):
        if required:
            raise Invalid(field, Rule.MISSING)
        return None
    return check_number(_parse(value, field, exponent), field)


def required_number(value: object, field: str, *, exponent: bool = True) -> Decimal:
    d = number(value, field, required=True, exponent=exponent)
    assert d is not None
    return d


# ------------------------------------------------------------- identifiers
def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def cl_ord_id(value: str, field: str = "cl_ord_id") -> str:
    """Spot client order id: a UUID, 32 hex digits, or 1-18 printable ASCII characters."""
    if _UUID.match(value) or _HEX32.match(value) or _FREE.match(value):
        return value
    raise Invalid(field, Rule.CL_ORD_ID)


def userref(value: object, field: str = "userref") -> int | None:
    """Kraken's userref: a signed 32-bit integer (as an int or its decimal text)."""
    if _is_empty(value):
        return None
    if isinstance(value, bool):
        raise Invalid(field, Rule.SYNTAX)
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and _INT.match(value.strip()):
        n = int(value.strip())
    else:
        raise Invalid(field, Rule.SYNTAX)
    if not INT32_MIN <= n <= INT32_MAX:
        raise Invalid(field, Rule.USERREF)
    return n


# ---------------------------------------------------------------- deadlines
def deadline(ns: int, now_ns: int, field: str = "deadline") -> int:
    """A deadline may lie at most 60 s ahead (0: none)."""
    if ns and ns > now_ns + DEADLINE_WINDOW_NS:
        raise Invalid(field, Rule.DEADLINE_WINDOW)
    return ns


def deadline_elapsed(ns: int | None, now_ns: int, field: str = "deadline") -> None:
    """Refuse a request the engine sees after its deadline."""
    if ns and ns < now_ns:
        raise Invalid(field, Rule.DEADLINE_ELAPSED)


# ------------------------------------------------------- the command guard
def _price(v: Any, field: str) -> None:
    if v is None:
        return
    if type(v) is Decimal:
        check_number(v, field)
    elif isinstance(v, RelPrice):
        check_number(v.amount, field)


def leverage(value: object, field: str = "leverage") -> int:
    """AddOrder `leverage` ("2", "2:1", "none"): the int (0: none)."""
    n = parse_leverage(value)
    if n < 0:
        raise Invalid(field, Rule.SYNTAX)
    return n


def _order(req: OrderRequest, now_ns: int, instruments: InstrumentRegistry | None) -> None:
    qty = check_number(req.qty, "volume")
    lev = leverage(req.leverage) if req.leverage is not None else 0
    # volume 0 closes the whole margin position (a leveraged or settle-position order)
    if qty <= 0 and not (qty == 0 and not qty.is_signed() and (lev or req.ordertype == "settle-position")):
        raise Invalid("volume", Rule.NOT_POSITIVE)
    _price(req.price, "price")
    _price(req.price2, "price2")
    if req.display_qty is not None:
        check_number(req.display_qty, "displayvol")
    if req.close is not None:
        _close(req.close)
    if req.cl_ord_id is not None:
        cl_ord_id(req.cl_ord_id)
    if req.userref is not None:
        userref(req.userref)
    if req.deadline_ns:
        deadline(req.deadline_ns, now_ns)
        deadline_elapsed(req.deadline_ns, now_ns)
    if lev and instruments is not None:
        check_leverage(req, instruments)


def _close(c: CloseRequest) -> None:
    _price(c.price, "close[price]")
    _price(c.price2, "close[price2]")


def _quantities(req: AmendRequest | EditRequest) -> None:
    """An amend's or edit's new quantities, when given."""
    for name, v in (("qty", req.qty), ("display_qty", req.display_qty)):
        if v is not None:
            check_number(v, name)


def _amend(req: AmendRequest, now_ns: int) -> None:
    _quantities(req)
    _price(req.limit_price, "limit_price")
    _price(req.trigger_price, "trigger_price")
    if req.deadline_ns:
        deadline(req.deadline_ns, now_ns)
        deadline_elapsed(req.deadline_ns, now_ns)


def _edit(req: EditRequest, now_ns: int) -> None:
    _quantities(req)
    _price(req.price, "price")
    _price(req.price2, "price2")
    if req.userref is not None:
        userref(req.userref)
    if req.deadline_ns:
        deadline(req.deadline_ns, now_ns)
        deadline_elapsed(req.deadline_ns, now_ns)


_FUTURES_NUMBERS = ("size", "limit_price", "stop_price", "trail_deviation", "limit_offset")


def _futures(req: FuturesOrderRequest | FuturesEditRequest | FuturesCancelRequest, now_ns: int, whole: bool) -> None:
    """A derivatives request: every number exact and in bounds, and (`whole`: a
    request of its own, not a batch instruction, which the engine refuses one
    by one) its deadline not elapsed."""
    for name in _FUTURES_NUMBERS:
        v = getattr(req, name, None)
        if v is not None:
            if whole:
                check_number(v, name)
            elif not v.is_finite() or (v and v.adjusted() > MAX_EXPONENT):
                raise Invalid(name, Rule.MAGNITUDE)
    if whole:
        deadline_elapsed(req.deadline_ns, now_ns, "deadline_ns")


_SCALARS = frozenset({str, int, bool, type(None), float})
_FUTURES_REQUESTS = frozenset({FuturesOrderRequest, FuturesEditRequest, FuturesCancelRequest})
_REQUESTS = frozenset({OrderRequest, AmendRequest, EditRequest, CloseRequest}) | _FUTURES_REQUESTS


def _bounded_anywhere(v: Any, field: str, depth: int = 0) -> None:
    """Any number in any command: finite and below the magnitude bound (tiny
    computed values, e.g. funding rates, stay allowed)."""
    t = type(v)
    if t in _SCALARS or t in _REQUESTS:  # requests are checked by their own rules
        return
    if t is Decimal:
        if not v.is_finite() or (v and v.adjusted() > MAX_EXPONENT):
            raise Invalid(field, Rule.MAGNITUDE)
    elif depth < 8 and isinstance(v, Mapping):
        for k, x in v.items():
            _bounded_anywhere(x, str(k), depth + 1)
    elif depth < 8 and isinstance(v, list | tuple):
        for x in v:
            _bounded_anywhere(x, field, depth + 1)


_FUTURES_ORDER_KINDS = frozenset({"send_order", "edit_order"})


def check_command(kind: str, params: Mapping[str, Any], now_ns: int) -> None:
    """The sequencers' guard: refuse, before anything is journaled, a command
    whose values break an order-entry rule."""
    check_command_with(None, kind, params, now_ns)


def check_command_with(
    instruments: InstrumentRegistry | None, kind: str, params: Mapping[str, Any], now_ns: int
) -> None:
    """`check_command`, and with `instruments` (the Spot sequencer's guard,
    bound with functools.partial) the rules that need them too: a leverage the
    pair does not offer for the order's side."""
    for name, v in params.items():
        t = type(v)
        if t in _SCALARS:
            continue
        if t is OrderRequest:
            _order(v, now_ns, instruments)
        elif t is AmendRequest:
            _amend(v, now_ns)
        elif t is EditRequest:
            _edit(v, now_ns)
        elif t is list and v and type(v[0]) is OrderRequest:
            for r in v:
                _order(r, now_ns, instruments)
        elif t in _FUTURES_REQUESTS:
            _futures(v, now_ns, True)
        elif t is list and v and type(v[0]) in _FUTURES_REQUESTS:
            for r in v:
                if type(r) in _FUTURES_REQUESTS:
                    _futures(r, now_ns, False)
                else:
                    _bounded_anywhere(r, name)
        else:
            _bounded_anywhere(v, name)
    if kind in _FUTURES_ORDER_KINDS:  # journals before the typed derivatives commands
        req = params.get("req")
        if isinstance(req, Mapping):
            for k, x in req.items():
                if type(x) is Decimal:
                    check_number(x, str(k))
            pb = req.get("processBefore")
            if type(pb) is int:
                deadline_elapsed(pb, now_ns, "processBefore")


__all__ = [
    "DEADLINE_WINDOW_NS",
    "INT32_MAX",
    "INT32_MIN",
    "Invalid",
    "Rule",
    "check_command",
    "check_command_with",
    "check_number",
    "cl_ord_id",
    "deadline",
    "deadline_elapsed",
    "is_uuid",
    "leverage",
    "number",
    "positive",
    "required_number",
    "userref",
]
