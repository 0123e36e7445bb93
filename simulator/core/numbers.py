"""Exact numbers: Decimal at the edges, scaled integers inside.

Prices are integers in units of 10**-pair_decimals, quantities in units of
10**-lot_decimals, balances in units of 10**-BALANCE_DP.  Nothing passes
through a binary float.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, InvalidOperation

BALANCE_DP = 10
BALANCE_SCALE = 10**BALANCE_DP
PPM = 1_000_000  # fee rates are integers in parts per million


class BadNumber(ValueError):
    """Input is not a finite decimal number."""


def to_decimal(value: object) -> Decimal:
    """Parse a client-supplied number (str/int/Decimal) exactly."""
    if isinstance(value, Decimal):
        d = value
    elif isinstance(value, bool):
        raise BadNumber(repr(value))
    elif isinstance(value, int):
        d = Decimal(value)
    elif isinstance(value, float):
        # JSON clients (WS v2) send floats; repr() is the shortest exact text.
        d = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > 64:
            raise BadNumber(value)
        try:
            d = Decimal(text)
        except InvalidOperation as exc:
            raise BadNumber(value) from exc
    else:
        raise BadNumber(repr(value))
    if not d.is_finite():
        raise BadNumber(str(value))
    return d


MAX_EXPONENT = 30  # |adjusted exponent| a venue number may have: 1e-30 .. 9.99e30


def bounded(d: Decimal) -> Decimal:
    """Refuse absurd magnitudes (`1e999999`, `1e40`, `1e-40`) before they
    become huge integers; zero is always fine.  The one bound every protocol shares."""
    if d and not -MAX_EXPONENT <= d.adjusted() <= MAX_EXPONENT:
        raise BadNumber(str(d))
    return d


def decimals_of(d: Decimal) -> int:
    """Number of significant fractional digits (trailing zeros ignored)."""
    d = d.normalize()
    exp = d.as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def to_units(d: Decimal, dp: int) -> int | None:
    """Decimal -> integer units of 10**-dp, or None if it has more decimals."""
    scaled = d.scaleb(dp)
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def round_units(d: Decimal, dp: int, rounding: str = ROUND_HALF_EVEN) -> int:
    return int(d.scaleb(dp).to_integral_value(rounding=rounding))


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def fmt_units(units: int, dp: int) -> str:
    """Integer units -> fixed-decimal string with exactly `dp` decimals."""
    if dp == 0:
        return str(units)
    neg = units < 0
    s = str(-units if neg else units).rjust(dp + 1, "0")
    out = f"{s[:-dp]}.{s[-dp:]}"
    return "-" + out if neg else out


def units_to_decimal(units: int, dp: int) -> Decimal:
    return Decimal(units).scaleb(-dp)


def rescale(units: int, from_dp: int, to_dp: int, rounding: str = ROUND_HALF_EVEN) -> int:
    """Change the scale of an integer amount, rounding when it shrinks."""
    if to_dp >= from_dp:
        return units * 10 ** (to_dp - from_dp)
    return round_units(Decimal(units).scaleb(to_dp - from_dp), 0, rounding)


def fmt_decimal(d: Decimal, dp: int) -> str:
    """Decimal -> string with exactly `dp` decimals (half-even)."""
    q = Decimal(1).scaleb(-dp)
    return f"{d.quantize(q, rounding=ROUND_HALF_EVEN):f}"


def plain(d: Decimal) -> str:
    """Shortest plain (non-exponent) text of a Decimal: 1E-8 -> 0.00000001."""
    d = d.normalize()
    text = f"{d:f}"
    return text


__all__ = [
    "BALANCE_DP",
    "BALANCE_SCALE",
    "PPM",
    "ROUND_CEILING",
    "ROUND_HALF_EVEN",
    "BadNumber",
    "bounded",
    "ceil_div",
    "decimals_of",
    "fmt_decimal",
    "fmt_units",
    "plain",
    "rescale",
    "round_units",
    "to_decimal",
    "to_units",
    "units_to_decimal",
]
