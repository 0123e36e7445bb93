"""Shared helpers for the spot WS tests: a small JSON client over `websockets`,
token minting and engine access on the venue's own thread."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from simulator.core.commands import OrderRequest
from simulator.core.orders import Origin
from simulator.pytest_plugin import KrakenVenue

Msg = dict[str, Any]


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


class Client:
    """A WS client that keeps raw frames and skips heartbeats when asked."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[Msg] = []
        self.backlog: list[Msg] = []

    async def send(self, obj: Any) -> None:
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def _read(self, timeout: float, heartbeats: bool = False) -> Msg:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message")
            text = await asyncio.wait_for(self.ws.recv(), left)
            msg = loads(text)
            if not heartbeats and msg == {"channel": "heartbeat"}:
                continue
            self.seen.append(msg)
            return msg  # type: ignore[no-any-return]

    async def recv(self, timeout: float = 3.0, heartbeats: bool = False) -> Msg:
        """The next message not yet taken by `expect` (backlog first)."""
        if self.backlog:
            return self.backlog.pop(0)
        return await self._read(timeout, heartbeats)

    async def expect(self, pred: Callable[[Msg], bool], timeout: float = 3.0) -> Msg:
        """The first message matching `pred`; others stay in the backlog for later."""
        for i, m in enumerate(self.backlog):
            if pred(m):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = await self._read(max(0.01, deadline - time.monotonic()))
            if pred(msg):
                return msg
            self.backlog.append(msg)

    async def reply(self, method: str, req_id: int | None = None, timeout: float = 3.0) -> Msg:
        return await self.expect(
            lambda m: m.get("method") == method and (req_id is None or m.get("req_id") == req_id), timeout
        )

    async def drain(self, quiet: float = 0.25) -> list[Msg]:
        out, self.backlog = self.backlog, []
        while True:
            try:
                out.append(await self._read(quiet))
            except TimeoutError:
                return out

    async def call(self, method: str, params: Msg | None = None, req_id: int = 1, timeout: float = 3.0) -> Msg:
        msg: Msg = {"method": method, "req_id": req_id}
        if params is not None:
            msg["params"] = params
        await self.send(msg)
        return await self.reply(method, req_id, timeout)


async def open_client(url: str) -> Client:
    ws = await connect(url, max_size=None, ping_interval=None)
    c = Client(ws)
    status = await c.recv()
    assert status["channel"] == "status"
    return c


def mint(venue: KrakenVenue, account_id: str) -> str:
    return str(venue.call(lambda: venue.runtime.services.ws_tokens.mint(account_id).token))


def new_account(venue: KrakenVenue, **balances: str) -> tuple[str, str]:
    acct = venue.admin.create_account(balances or {"USD": "1000000", "XBT": "100", "ETH": "1000"})
    return acct["account_id"], mint(venue, acct["account_id"])


def submit(venue: KrakenVenue, kind: str, params: Msg, origin: Origin | None = None) -> Any:
    rt = venue.runtime
    return venue.call(lambda: rt.venue.spot_seq.submit(kind, origin or Origin("admin", "test"), params))


def place(
    venue: KrakenVenue, account_id: str, side: str, price: str, qty: str, pair: str = "BTC/USD", **kw: Any
) -> str:
    req = OrderRequest(pair, side, kw.pop("ordertype", "limit"), Decimal(qty), Decimal(price) if price else None, **kw)
    res = submit(venue, "add_order", {"account_id": account_id, "req": req})
    return res.order.id if res.order is not None else ""


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))
