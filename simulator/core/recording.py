"""Recorded market data for replay: parsing only (no I/O beyond the text).

Two formats (docs/replay.md): CSV of trades (`time,price,qty,side`) and
JSONL of trades and L2 book snapshots.  Numbers stay exact (Decimal); times
become nanosecond offsets from the first record, so a replay can play them
at any speed under the venue clock.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .clock import NS_PER_S, parse_rfc3339
from .numbers import BadNumber, to_decimal
from .orders import BUY, SELL

MAX_RECORDS = 1_000_000  # a replay file is test data, not an archive

_SIDES = {"buy": BUY, "b": BUY, "sell": SELL, "s": SELL}


class RecordingFormatError(ValueError):
    """A replay file is malformed; the message names the line."""


@dataclass(frozen=True)
class TradeRecord:
    """A recorded trade; `side` is the taker's (aggressor's) side."""

    offset_ns: int
    price: Decimal
    qty: Decimal
    side: str


@dataclass(frozen=True)
class BookRecord:
    """A recorded L2 snapshot: (price, qty) per level, best first."""

    offset_ns: int
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]


Record = TradeRecord | BookRecord


def parse_time(value: Any, where: str) -> int:
    """Seconds since the epoch (decimals allowed) or RFC3339 -> ns."""
    if isinstance(value, str) and ("T" in value or "-" in value[1:]):
        try:
            return parse_rfc3339(value)
        except ValueError as exc:
            raise RecordingFormatError(f"{where}: time {value!r} is not RFC3339") from exc
    try:
        secs = to_decimal(value)
    except BadNumber as exc:
        raise RecordingFormatError(f"{where}: time {value!r} is not a number or RFC3339") from exc
    return int(secs * NS_PER_S)


def _num(value: Any, name: str, where: str) -> Decimal:
    try:
        d = to_decimal(value)
    except BadNumber as exc:
        raise RecordingFormatError(f"{where}: {name} {value!r} is not a number") from exc
    if d <= 0:
        raise RecordingFormatError(f"{where}: {name} must be positive")
    return d


def _side(value: Any, where: str) -> str:
    side = _SIDES.get(str(value).strip().lower())
    if side is None:
        raise RecordingFormatError(f"{where}: side {value!r} (expected buy|sell|b|s)")
    return side


def _levels(value: Any, name: str, where: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(value, list):
        raise RecordingFormatError(f"{where}: {name} must be a list of [price, qty]")
    out = []
    for j, lvl in enumerate(value):
        if not isinstance(lvl, (list, tuple)) or len(lvl) < 2:
            raise RecordingFormatError(f"{where}: {name}[{j}] must be [price, qty]")
        out.append((_num(lvl[0], "price", where), _num(lvl[1], "qty", where)))
    return tuple(out)


def _finish(raw: list[tuple[int, int, Any]]) -> list[Record]:
    """Sort by time (stable) and make times offsets from the first record."""
    raw.sort(key=lambda r: (r[0], r[1]))
    if not raw:
        return []
    t0 = raw[0][0]
    out: list[Record] = []
    for t, _, rec in raw:
        if isinstance(rec, TradeRecord):
            out.append(TradeRecord(t - t0, rec.price, rec.qty, rec.side))
        else:
            out.append(BookRecord(t - t0, rec.bids, rec.asks))
    return out


def _check_size(n: int, src: str) -> None:
    if n > MAX_RECORDS:
        raise RecordingFormatError(f"{src}: more than {MAX_RECORDS} records")


def parse_csv(text: str, src: str = "replay.csv") -> list[Record]:
    """Trades: a header naming `time,price,qty,side` (any order); '#' lines are comments."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    need = {"time", "price", "qty", "side"}
    fields = {f.strip().lower() for f in (reader.fieldnames or [])}
    if not need <= fields:
        raise RecordingFormatError(f"{src}: header must name {sorted(need)} (got {sorted(fields)})")
    raw: list[tuple[int, int, Any]] = []
    for i, row in enumerate(reader):
        where = f"{src} record {i + 1}"
        r = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        t = parse_time(r["time"], where)
        raw.append((t, i, TradeRecord(0, _num(r["price"], "price", where), _num(r["qty"], "qty", where), _side(r["side"], where))))
        _check_size(len(raw), src)
    return _finish(raw)


def parse_jsonl(text: str, src: str = "replay.jsonl") -> list[Record]:
    """One object a line: {"type": "trade"|"book", "time": ..., ...}."""
    raw: list[tuple[int, int, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{src} line {n}"
        try:
            d = json.loads(line, parse_float=Decimal)
        except ValueError as exc:
            raise RecordingFormatError(f"{where}: not JSON ({exc})") from exc
        if not isinstance(d, dict):
            raise RecordingFormatError(f"{where}: each line must be an object")
        if "time" not in d:
            raise RecordingFormatError(f"{where}: missing time")
        t = parse_time(d["time"], where)
        kind = d.get("type", "trade")
        rec: Record
        if kind == "trade":
            for k in ("price", "qty", "side"):
                if k not in d:
                    raise RecordingFormatError(f"{where}: trade without {k}")
            rec = TradeRecord(0, _num(d["price"], "price", where), _num(d["qty"], "qty", where), _side(d["side"], where))
        elif kind == "book":
            rec = BookRecord(0, _levels(d.get("bids", []), "bids", where), _levels(d.get("asks", []), "asks", where))
        else:
            raise RecordingFormatError(f"{where}: type must be trade or book (got {kind!r})")
        raw.append((t, n, rec))
        _check_size(len(raw), src)
    return _finish(raw)


def parse_records(text: str, name: str) -> list[Record]:
    """Pick the parser by file name: .csv, else JSONL."""
    if name.lower().endswith(".csv"):
        return parse_csv(text, name)
    return parse_jsonl(text, name)


def trade_count(records: Iterable[Record]) -> int:
    return sum(1 for r in records if isinstance(r, TradeRecord))


__all__ = [
    "BookRecord",
    "RecordingFormatError",
    "Record",
    "TradeRecord",
    "parse_csv",
    "parse_jsonl",
    "parse_records",
    "parse_time",
    "trade_count",
]
