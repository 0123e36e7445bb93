"""JSON output with exact numbers.

Kraken's derivatives API sends prices, sizes and balances as JSON numbers;
`json.dumps` cannot write a Decimal as a number without a float round trip,
so this writer emits Decimals as number tokens verbatim.
"""

from __future__ import annotations

from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any


def num_text(d: Decimal) -> str:
    """Plain number text the way Kraken's Java side writes doubles: no
    exponent, and at least one fractional digit (`91415.0`, `0.0001`)."""
    if not d.is_finite():
        return "null"
    if d == 0:
        return "0.0"
    text = f"{d.normalize():f}"
    if "." not in text:
        text += ".0"
    return text


def dumps(obj: Any) -> str:
    parts: list[str] = []
    _write(obj, parts.append)
    return "".join(parts)


def _write(obj: Any, out: Any) -> None:
    t = type(obj)
    if t is str:
        out(encode_basestring(obj))
    elif t is Decimal:
        out(num_text(obj))
    elif t is dict:
        out("{")
        first = True
        for k, v in obj.items():
            if not first:
                out(",")
            first = False
            out(encode_basestring(str(k)))
            out(":")
            _write(v, out)
        out("}")
    elif t is list or t is tuple:
        out("[")
        first = True
        for v in obj:
            if not first:
                out(",")
            first = False
            _write(v, out)
        out("]")
    elif obj is True:
        out("true")
    elif obj is False:
        out("false")
    elif obj is None:
        out("null")
    elif t is int:
        out(str(obj))
    elif isinstance(obj, str):
        out(encode_basestring(str(obj)))
    elif isinstance(obj, Decimal):
        out(num_text(obj))
    else:
        raise TypeError(f"cannot serialise {t.__name__}")
