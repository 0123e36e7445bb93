"""Request parameters as real clients send them: query string and/or a form
body (merged), repeated keys as arrays, `true`/`True` booleans, decimal
strings, and batchorder's `json` either URL-encoded or raw."""

from __future__ import annotations

import ast
import json
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from simulator.core import validation
from simulator.core.clock import parse_rfc3339
from simulator.core.derivatives.errors import FuturesCode


def status_word(code: FuturesCode) -> str:
    """Futures REST words a derivatives code as itself (`status`, `error`):
    Kraken Futures' REST vocabulary is the one the codes are named in."""
    return code.value


def ascii_int(text: str, max_digits: int = 20) -> int | None:
    """A non-negative integer written in ASCII digits, or None.  `str.isdigit`
    alone lets through digits `int()` refuses ("²") and strings too long for
    `int()` to convert (over 4300 digits), which would surface as a Server Error."""
    t = text.strip()
    if not t or len(t) > max_digits or not (t.isascii() and t.isdigit()):
        return None
    return int(t)


class RestError(Exception):
    """Answer with Kraken's error envelope (`error` word, HTTP status)."""

    def __init__(self, error: str, status: int = 200) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


class Params:
    """A multi-dict over query + body."""

    def __init__(self, pairs: list[tuple[str, str]], raw_json: str | None = None) -> None:
        self.pairs = pairs
        self.raw_json = raw_json

    @classmethod
    def parse(cls, raw_query: str, raw_body: str) -> Params:
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        raw_json = None
        body = raw_body.strip()
        if body.startswith("json="):
            rest = body[5:]
            # ccxt sends json=<raw JSON>; others URL-encode it (maybe with more fields after)
            if rest.lstrip().startswith(("{", "[")):
                raw_json = rest
            else:
                for k, v in parse_qsl(body, keep_blank_values=True):
                    if k == "json":
                        raw_json = v
                    else:
                        pairs.append((k, v))
        elif body.startswith(("{", "[")):
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):  # nesting deeper than the parser's stack
                data = None
            if isinstance(data, dict):
                for k, v in data.items():
                    if isinstance(v, list):
                        pairs.extend((str(k), _plain(x)) for x in v)
                    else:
                        pairs.append((str(k), _plain(v)))
        elif body:
            pairs.extend(parse_qsl(body, keep_blank_values=True))
        if raw_json is None:
            for k, v in pairs:
                if k == "json":
                    raw_json = v
        return cls(pairs, raw_json)

    def get(self, name: str) -> str | None:
        val = None
        for k, v in self.pairs:
            if k == name:
                val = v
        return val

    def first(self, *names: str) -> str | None:
        for n in names:
            v = self.get(n)
            if v is not None:
                return v
        return None

    def getlist(self, name: str) -> list[str]:
        out = []
        for k, v in self.pairs:
            if k == name or k == name + "[]":
                out.append(v)
        return out

    def names(self) -> set[str]:
        return {k for k, _ in self.pairs}

    def required(self, name: str) -> str:
        v = self.get(name)
        if v is None or v == "":
            raise RestError("requiredArgumentMissing")
        return v

    def decimal(self, name: str) -> Decimal | None:
        try:
            return validation.number(self.get(name), name)
        except validation.Invalid as exc:
            raise RestError("invalidArgument") from exc

    def boolean(self, name: str) -> bool | None:
        v = self.get(name)
        if v is None or v == "":
            return None
        return parse_bool(v)

    def time_ns(self, name: str) -> int | None:
        v = self.get(name)
        if v is None or v == "":
            return None
        return parse_time(v)

    def integer(self, name: str) -> int | None:
        v = self.get(name)
        if v is None or v == "":
            return None
        try:
            return int(v)
        except ValueError as exc:
            raise RestError("invalidArgument") from exc


def _plain(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def parse_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    text = str(v).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise RestError("invalidArgument")


def parse_time(v: str) -> int:
    """ISO-8601 (ms optional) or epoch milliseconds."""
    text = v.strip()
    if text.isdigit():
        ms = ascii_int(text)
        if ms is None:
            raise RestError("invalidArgument")
        return ms * 1_000_000
    try:
        return parse_rfc3339(text)
    except ValueError as exc:
        raise RestError("invalidArgument") from exc


def decimal_of(v: Any, field: str) -> Decimal | None:
    """A JSON value (number or string) -> Decimal; None if absent; raises
    `validation.Invalid` on junk or a number out of the venue's bounds."""
    return validation.number(v, field)


def parse_batch(text: str | None) -> list[dict[str, Any]]:
    """batchorder's `json`: {"batchOrder": [...]}; tolerant of URL-encoding
    and of the Python-repr form older SDKs sent."""
    if text is None:
        raise RestError("requiredArgumentMissing")
    if len(text) > 256_000:
        raise RestError("Json Parse Error")
    data: Any = None
    for candidate in (text, unquote_plus(text)):
        try:
            data = json.loads(candidate, parse_float=Decimal)
            break
        except RecursionError:
            break  # nested deeper than any batch: not a batch
        except ValueError:
            try:
                data = ast.literal_eval(candidate)
                break
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
    if not isinstance(data, dict):
        raise RestError("Json Parse Error")
    items = data.get("batchOrder", data.get("batch_order"))
    if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
        raise RestError("Json Parse Error")
    return items
