"""A small JSON writer that can emit number tokens verbatim.

Kraken WS v2 sends prices and quantities as JSON numbers padded to the pair's
precision (`60000.0`, `0.50000000`); `json.dumps` cannot emit trailing zeros
and a float round trip loses them, so exact tokens travel as `Raw` strings.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any


class Raw(str):
    """A JSON token written as-is (a decimal number already formatted)."""

    __slots__ = ()


def dumps(obj: Any) -> str:
    """Serialise dicts/lists/str/int/bool/None/Raw compactly, keys in insertion order."""
    parts: list[str] = []
    _write(obj, parts.append)
    return "".join(parts)


def _write(obj: Any, out: Any) -> None:
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
            out(encode_basestring(k))
            out(":")
            _write(v, out)
        out("}")
    elif t is list or t is tuple:
        out("[")
        first = True
        for v in obj:
            if first:
                first = False
            else:
                out(",")
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
    elif isinstance(obj, int):
        out(str(int(obj)))
    else:  # Decimal or float: never expected on hot paths; keep it a valid number
        text = format(obj, "f") if hasattr(obj, "as_tuple") else repr(float(obj))
        out(text)
