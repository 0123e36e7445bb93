"""A small JSON writer that emits exact number tokens.

Kraken sends prices and quantities as JSON numbers with significant trailing
zeros (`60000.0`, `0.50000000`); `json.dumps` cannot write a Decimal as a
number without a float round trip, so exact tokens travel as `Raw` strings,
and each gateway says how a Decimal is spelt (`writer(decimal_text)`)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any


class Raw(str):
    """A JSON token written as-is (a decimal number already formatted)."""

    __slots__ = ()


def plain_decimal(d: Decimal) -> str:
    """As given, no exponent: Decimal('60000.00') -> 60000.00."""
    return format(d, "f")


def writer(decimal_text: Callable[[Decimal], str] = plain_decimal) -> Callable[[Any], str]:
    """A `dumps` for dicts/lists/str/int/bool/None/Raw/Decimal, compact, keys in order."""

    def write(obj: Any, out: Callable[[str], Any]) -> None:
        t = type(obj)
        if t is Raw:
            out(obj)
        elif t is str:
            out(encode_basestring(obj))
        elif t is dict:
            out("{")
            first = True
            for k, v in obj.items():
                if first:
                    first = False
                else:
                    out(",")
                out(encode_basestring(str(k)))
                out(":")
                write(v, out)
            out("}")
        elif t is list or t is tuple:
            out("[")
            first = True
            for v in obj:
                if first:
                    first = False
                else:
                    out(",")
                write(v, out)
            out("]")
        elif obj is True:
            out("true")
        elif obj is False:
            out("false")
        elif obj is None:
            out("null")
        elif t is int:
            out(str(obj))
        elif isinstance(obj, Decimal):
            out(decimal_text(obj))
        elif isinstance(obj, str):
            out(encode_basestring(str(obj)))
        elif isinstance(obj, int):
            out(str(int(obj)))
        elif isinstance(obj, float):
            out(repr(obj))
        else:
            raise TypeError(f"cannot serialise {t.__name__}")

    def dumps(obj: Any) -> str:
        parts: list[str] = []
        write(obj, parts.append)
        return "".join(parts)

    return dumps
