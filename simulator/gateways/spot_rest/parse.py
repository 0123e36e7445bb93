"""Request bodies and typed parameters, parsed the way Kraken's edge does.

Real clients send form bodies (krakenex, ccxt, python-kraken-sdk), JSON
bodies (ccxt for batches and `%` prices, the SDK for batches), nested fields
as bracket keys (`close[price]`, `orders[0][type]`) or as JSON objects, and
booleans as `true`/`True`/`false`/`False`/JSON.  Everything here turns bad
input into `EGeneral:Invalid arguments[:name]`, never an exception that
would surface as a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from simulator.core import validation
from simulator.core.orders import RelPrice

INVALID = "EGeneral:Invalid arguments"
MAX_FIELDS = 512
MAX_DEPTH = 4
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEG = re.compile(r"\[([^\[\]]*)\]")
_INT = re.compile(r"^[+-]?\d{1,19}$")


class ApiError(Exception):
    """A reply with Kraken's error string (HTTP 200 unless `status` says otherwise)."""

    def __init__(self, text: str, status: int = 200) -> None:
        super().__init__(text)
        self.text = text
        self.status = status


def invalid(detail: str | None = None) -> ApiError:
    return ApiError(f"{INVALID}:{detail}" if detail else INVALID)


# ------------------------------------------------------------------ bodies
def _insert(out: dict[str, Any], key: str, value: Any) -> None:
    m = _KEY.match(key)
    if m is None:
        raise invalid()
    path = [m.group(1), *_SEG.findall(m.group(2))]
    if len(path) > MAX_DEPTH:
        raise invalid(m.group(1))
    node: dict[str, Any] = out
    for i, seg in enumerate(path):
        if seg == "":  # `orders[]=a&orders[]=b`: append
            seg = str(len(node))
        last = i == len(path) - 1
        if last:
            if seg in node:
                raise invalid(path[0])
            node[seg] = value
        else:
            nxt = node.setdefault(seg, {})
            if not isinstance(nxt, dict):
                raise invalid(path[0])
            node = nxt


def _lists(v: Any, depth: int = 0) -> Any:
    """Bracket dicts keyed 0..n-1 become lists (`orders[0][...]`)."""
    if depth > MAX_DEPTH + 2:
        raise invalid()
    if isinstance(v, dict):
        conv = {k: _lists(x, depth + 1) for k, x in v.items()}
        if conv and depth > 0 and all(k.isdigit() for k in conv):
            idx = sorted(int(k) for k in conv)
            if idx != list(range(len(idx))):
                raise invalid()
            return [conv[str(i)] for i in idx]
        return conv
    if isinstance(v, list):
        return [_lists(x, depth + 1) for x in v]
    return v


def parse_form(body: bytes) -> dict[str, Any]:
    try:
        # tolerate empty segments (`a=1&`), refuse fields without `=`
        text = "&".join(s for s in body.decode("utf-8").split("&") if s)
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise invalid() from exc
    if "[" not in text and "%5B" not in text and "%5b" not in text:
        flat = dict(pairs)  # the common case: no bracket keys, nothing to nest
        if len(flat) != len(pairs):
            seen: set[str] = set()
            for k, _ in pairs:
                if k in seen:
                    raise invalid(k)
                seen.add(k)
        return flat
    out: dict[str, Any] = {}
    for k, v in pairs:
        _insert(out, k, v)
    result: dict[str, Any] = _lists(out)
    return result


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise invalid() from exc
    if not isinstance(data, dict):
        raise invalid()
    out: dict[str, Any] = {}
    for k, v in data.items():
        if "[" in k:
            _insert(out, k, v)
        elif k in out:
            # a literal `close[price]` key already made `close`; merge the object in
            if not isinstance(v, dict) or not isinstance(out[k], dict):
                raise invalid(k)
            for k2, v2 in v.items():
                _insert(out, f"{k}[{k2}]", v2)
        else:
            out[k] = v
    if len(out) > MAX_FIELDS:
        raise invalid()
    try:
        result: dict[str, Any] = _lists(out)
    except RecursionError as exc:
        raise invalid() from exc
    return result


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Form (the default, also with no Content-Type) or JSON, on the media type only."""
    if media_type(content_type) == "application/json":
        return parse_json(body)
    return parse_form(body)


# --------------------------------------------------------------- accessors
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class Params:
    """Typed access to one request's parameters; names are checked up front."""

    __slots__ = ("data",)

    def __init__(self, data: dict[str, Any], allowed: Iterable[str] | None = None) -> None:
        self.data = data
        if allowed is not None:
            allowed_set = set(allowed)
            unknown = sorted(k for k in data if k not in allowed_set)
            if unknown:
                raise invalid(unknown[0])

    def has(self, name: str) -> bool:
        v = self.data.get(name)
        return v is not None and v != ""

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def text(self, name: str, required: bool = False, max_len: int = 256) -> str | None:
        v = self.data.get(name)
        if v is None or v == "":
            if required:
                raise invalid(name)
            return None
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise invalid(name)
        s = v if isinstance(v, str) else str(v)
        if len(s) > max_len:
            raise invalid(name)
        return s

    def req_text(self, name: str, max_len: int = 256) -> str:
        v = self.text(name, True, max_len)
        assert v is not None
        return v

    def flag(self, name: str, default: bool = False) -> bool:
        v = self.data.get(name)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, int) and v in (0, 1):
            return bool(v)
        if isinstance(v, str):
            low = v.strip().lower()
            if not low:
                return default
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
        raise invalid(name)

    def integer(
        self, name: str, default: int | None = None, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        v = self.data.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            raise invalid(name)
        if isinstance(v, int):
            n = v
        elif isinstance(v, str) and _INT.match(v.strip()):
            n = int(v.strip())
        else:
            raise invalid(name)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            raise invalid(name)
        return n

    def userref(self, name: str = "userref") -> int | None:
        """Kraken's userref (int32), by the core's rule."""
        try:
            return validation.userref(self.data.get(name), name)
        except validation.Invalid as exc:
            raise invalid(name) from exc

    def decimal(self, name: str, required: bool = False) -> Decimal | None:
        try:
            return validation.number(self.data.get(name), name, required=required)
        except validation.Invalid as exc:
            raise rest_error(exc) from exc

    def price(self, name: str) -> Decimal | RelPrice | None:
        """A price field: absolute, or relative with a +/- prefix or % suffix."""
        return parse_price(self.raw(name), name)

    def req_decimal(self, name: str) -> Decimal:
        d = self.decimal(name, True)
        assert d is not None
        return d

    def enum(self, name: str, values: Iterable[str], default: str | None = None) -> str | None:
        v = self.text(name)
        if v is None:
            return default
        if v not in values:
            raise invalid(name)
        return v

    def items(self, name: str, required: bool = False, max_items: int = 1000) -> list[str]:
        """A comma list (`XBTUSD,ETHUSD`) or a JSON array of strings/ints."""
        v = self.data.get(name)
        if v is None or v == "":
            if required:
                raise invalid(name)
            return []
        if isinstance(v, str):
            items = [x.strip() for x in v.split(",")]
        elif isinstance(v, list) and all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in v):
            items = [str(x).strip() for x in v]
        else:
            raise invalid(name)
        if any(not x for x in items) or len(items) > max_items:
            raise invalid(name)
        return items


def rest_error(exc: validation.Invalid) -> ApiError:
    """Spot REST words a broken order-entry rule as `EGeneral:Invalid arguments:<field>`."""
    return ApiError(exc.text)


def sane(d: Decimal, name: str) -> Decimal:
    """A parsed number within the core's bounds (magnitude, precision, sign)."""
    try:
        return validation.check_number(d, name)
    except validation.Invalid as exc:
        raise rest_error(exc) from exc


def parse_price(value: Any, name: str) -> Decimal | RelPrice | None:
    """Kraken prices: absolute, or relative `+5`, `-1.5%`, `#10` to the last trade."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise invalid(name)
    if isinstance(value, str):
        text = value.strip()
        if text[:1] in ("+", "-", "#"):
            sign, body = text[0], text[1:]
            pct = body.endswith("%")
            if pct:
                body = body[:-1]
            if body[:1] in ("+", "-"):
                raise invalid(name)
            try:
                amount = validation.required_number(body, name)
            except validation.Invalid as exc:
                raise rest_error(exc) from exc
            if amount < 0:
                raise invalid(name)
            return RelPrice(sign, amount, pct)
        if text.endswith("%"):
            raise invalid(name)
    try:
        return validation.number(value, name)
    except validation.Invalid as exc:
        raise rest_error(exc) from exc


__all__ = [
    "ApiError",
    "INVALID",
    "Params",
    "invalid",
    "media_type",
    "parse_body",
    "parse_form",
    "parse_json",
    "parse_price",
    "rest_error",
    "sane",
]
