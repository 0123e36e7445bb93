"""Requests being read or handled on the venue's event loop.

HTTP (from a request's first byte to its response's last), WS (a received
message while its handler runs) and FIX (a read chunk while its frames are
processed) count here; the WS fan-out pump gives way while any are, so
pushing market data to many subscribers never delays order entry
(issue 15, item 12)."""

from __future__ import annotations

from types import TracebackType


class Inflight:
    """A count of requests in progress on one event loop (loop thread only)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __bool__(self) -> bool:
        return self.count > 0

    def __enter__(self) -> None:
        self.count += 1

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.count -= 1


__all__ = ["Inflight"]
