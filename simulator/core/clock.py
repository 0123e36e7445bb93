"""The venue clock: the only time source for engines and gateways.

Real mode follows the wall clock (plus an offset); frozen mode stands still
until advanced or set, so tests can make time-based behaviour exact.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000
# The venue clock's range: the epoch up to 2100-01-01T00:00:00Z.  Every time the venue
# keeps (its clock, order expiries and start times, timers) stays inside it, so each
# prints as RFC3339 and no catch-up starts from an absurd gap.
MAX_VENUE_NS = 4_102_444_800 * NS_PER_S
OUT_OF_RANGE = "the venue clock runs from 1970-01-01 to 2100-01-01"


def in_range(ns: int) -> bool:
    return 0 <= ns <= MAX_VENUE_NS


class VenueClock:
    """Nanosecond clock that can run, be frozen, advanced or set."""

    __slots__ = ("_frozen", "_frozen_ns", "_offset_ns", "_listeners")

    def __init__(self, mode: str = "real", start_ns: int | None = None) -> None:
        self._offset_ns = 0
        self._frozen = False
        self._frozen_ns = 0
        self._listeners: list = []
        if start_ns is not None:
            self.set_ns(start_ns)
        if mode == "frozen":
            self.freeze()
        elif mode != "real":
            raise ValueError(f"unknown clock mode {mode!r}")

    @property
    def mode(self) -> str:
        return "frozen" if self._frozen else "real"

    def now_ns(self) -> int:
        if self._frozen:
            return self._frozen_ns
        return time.time_ns() + self._offset_ns

    def now_s(self) -> float:
        return self.now_ns() / NS_PER_S

    def now_ms(self) -> int:
        return self.now_ns() // NS_PER_MS

    def freeze(self) -> None:
        if not self._frozen:
            self._frozen_ns = self.now_ns()
            self._frozen = True

    def run(self) -> None:
        """Resume real time from the current venue time (no jump back)."""
        if self._frozen:
            self._offset_ns = self._frozen_ns - time.time_ns()
            self._frozen = False

    def set_ns(self, ns: int) -> None:
        if not in_range(ns):
            raise ValueError(OUT_OF_RANGE)
        if self._frozen:
            self._frozen_ns = ns
        else:
            self._offset_ns = ns - time.time_ns()
        self._notify()

    def advance_ns(self, ns: int) -> None:
        if ns < 0:
            raise ValueError("the venue clock only moves forward")
        if not in_range(self.now_ns() + ns):
            raise ValueError(OUT_OF_RANGE)
        if self._frozen:
            self._frozen_ns += ns
        else:
            self._offset_ns += ns
        self._notify()

    def advance_ms(self, ms: int) -> None:
        self.advance_ns(ms * NS_PER_MS)

    def on_jump(self, callback) -> None:  # type: ignore[no-untyped-def]
        """Call `callback()` after every set/advance (engines fire timers then)."""
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb()

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now_ns() / NS_PER_S, tz=UTC)

    def isoformat(self) -> str:
        """RFC3339 with microseconds, as Kraken WS v2 stamps its messages."""
        return rfc3339_us(self.now_ns())


def rfc3339_us(ns: int) -> str:
    us = ns // 1000
    dt = datetime.fromtimestamp(us // 1_000_000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{us % 1_000_000:06d}Z"


def rfc3339_s(ns: int) -> str:
    dt = datetime.fromtimestamp(ns // NS_PER_S, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> int:
    """RFC3339 / ISO-8601 to ns since epoch; raises ValueError on bad input."""
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    frac_ns = 0
    # keep sub-microsecond digits that datetime would drop
    if "." in t:
        head, rest = t.split(".", 1)
        digits = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            digits += rest[i]
            i += 1
        tz = rest[i:]
        if not digits:
            raise ValueError(text)
        frac_ns = int((digits + "000000000")[:9])
        t = head + tz
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp()) * NS_PER_S + frac_ns
