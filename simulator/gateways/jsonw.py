"""JSON output with exact number tokens, written by orjson.

Kraken sends prices and quantities as JSON numbers with significant trailing
zeros (`60000.0`, `0.50000000`).  Exact tokens travel as `Raw` fragments
(pre-formatted number text), and each gateway says how a `Decimal` is spelt
(`JsonWriter(decimal_text)`): orjson hands every Decimal to that hook, so the
text is written verbatim and never passes through a float.

Why orjson: msgspec writes `str(Decimal)` (`1E-8`) with no hook to spell it,
and simplejson's `RawJSON` path measured slower than the old hand-written
writer (see benchmarks/json_writer.py).  orjson refuses three things the old
writer accepted: integers beyond 64 bits, lone surrogates and non-string keys.
Those only arise from echoed client input, so a refused object is rewritten
once (`_widen`) and written again, giving the old bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson

Raw = orjson.Fragment
"""A JSON token written as-is (a decimal number already formatted)."""

_I64_MIN = -(1 << 63)
_U64_MAX = (1 << 64) - 1


def plain_decimal(d: Decimal) -> str:
    """As given, no exponent: Decimal('60000.00') -> 60000.00."""
    return format(d, "f")


def _widen(obj: Any) -> Any:
    """The object with what orjson refuses made into fragments: wide integers
    as their digits, strings with lone surrogates \\u-escaped, keys as str()."""
    t = type(obj)
    if t is dict:
        return {(k if type(k) is str else str(k)): _widen(v) for k, v in obj.items()}
    if t is list or t is tuple:
        return [_widen(v) for v in obj]
    if isinstance(obj, bool):
        return obj
    if isinstance(obj, int) and not _I64_MIN <= obj <= _U64_MAX:
        return Raw(str(int(obj)))
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError:
            return Raw(json.dumps(str(obj)))
    return obj


class JsonWriter:
    """Compact JSON (keys in insertion order) with one gateway's Decimal spelling."""

    __slots__ = ("_default",)

    def __init__(self, decimal_text: Callable[[Decimal], str] = plain_decimal) -> None:
        def default(obj: Any) -> Any:
            if isinstance(obj, Decimal):
                return Raw(decimal_text(obj))
            raise TypeError(f"cannot serialise {type(obj).__name__}")

        self._default = default

    def bytes(self, obj: Any) -> bytes:
        try:
            return orjson.dumps(obj, default=self._default)
        except TypeError:  # orjson.JSONEncodeError: see _widen (raises again if truly unwritable)
            return orjson.dumps(_widen(obj), default=self._default)

    def text(self, obj: Any) -> str:
        return self.bytes(obj).decode()


PLAIN = JsonWriter()
dumps = PLAIN.text
dumpb = PLAIN.bytes

__all__ = ["PLAIN", "JsonWriter", "Raw", "dumpb", "dumps", "plain_decimal"]
