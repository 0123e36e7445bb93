"""Helpers for FIX tests against a whole running simulator (`kraken_venue`).

The venue runs in its own thread, so a test's event loop only hosts its FIX
clients; blocking admin/REST calls from the test are fine.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from simulator.gateways.fix import Msg
from tests.fix.fixclient import FixClient, now_fix
from tests.kit.clients import fix_logon_password, next_nonce, spot_body, spot_headers

_last_nonce: dict[str, int] = {}
_cl_ids = itertools.count(int(time.time() * 1000) * 1000)


def next_cl_ord_id() -> str:
    """Kraken Spot style: an ever-increasing number (<= 18 digits)."""
    return str(next(_cl_ids))


def nonce_for(api_key: str) -> str:
    """5025: ms since the epoch, strictly increasing per key even within one ms."""
    n = max(int(time.time() * 1000), _last_nonce.get(api_key, 0) + 1)
    _last_nonce[api_key] = n
    return str(n)


def account(venue: Any, balances: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    creds: dict[str, Any] = venue.admin.create_account(balances or {"USD": "1000000", "XBT": "10"}, **kw)
    return creds


def inside_spread(venue: Any, pair: str = "XXBTZUSD") -> str:
    """A price strictly inside the current spread (one tick under the best ask): an
    order there is alone at the top of the book, whatever else rests."""
    def read() -> tuple[int, int, int, int]:
        p = venue.runtime.venue.instruments.pairs[pair]
        book = venue.runtime.venue.spot.books[pair]
        return book.best_bid(), book.best_ask(), p.tick_units, p.pair_decimals

    bid, ask, tick, dp = venue.call(read)
    price = ask - tick
    assert price > bid, "no room inside the spread"
    return f"{price / 10 ** dp:.{dp}f}"


@contextlib.contextmanager
def plain_comp_ids(venue: Any, mapping: dict[str, str]) -> Iterator[None]:
    """Accept these credential-less SenderCompIDs (-> account id or "demo") for a while."""
    before = dict(venue.admin.request("GET", "/fix")["config"]["plain_comp_ids"])
    venue.admin.request("POST", "/fix", {"plain_comp_ids": {**before, **mapping}})
    try:
        yield
    finally:
        venue.admin.request("POST", "/fix", {"plain_comp_ids": before})


def open_orders(venue: Any, account_id: str) -> list[str]:
    return list(venue.admin.account(account_id)["open_orders"])


class Trader(FixClient):
    """A FIX client for one admin-created account: signed Kraken logon by default."""

    def __init__(self, venue: Any, creds: dict[str, Any] | None, *, sender: str | None = None,
                 target: str = "KRAKEN-TRD", port: int | None = None) -> None:
        fix = (creds or {}).get("fix", {})
        super().__init__(port or venue.fix_port, sender or fix.get("sender_comp_id", "STOCK"), target)
        self.venue = venue
        self.creds = creds

    async def sign_on(self, *, reset: bool = True, heartbeat: int = 30, cod: bool = True,
                      signed: bool = True, secret: str | None = None) -> Msg:
        """Logon; with `signed` the 553/554/5025 of the account's FIX key."""
        extra: list[tuple[int, Any]] = []
        if signed and self.creds is not None:
            fix = self.creds["fix"]
            nonce = nonce_for(fix["api_key"])
            password = fix_logon_password(fix, self.next_seq, self.sender, self.target, nonce, secret)
            extra += [(553, fix["api_key"]), (554, password), (5025, nonce)]
        if not cod:
            extra.append((8674, 1))
        return await self.logon(heartbeat, reset=reset, extra=extra)

    async def order(self, symbol: str = "BTC/USD", side: str = "1", qty: str = "0.01", price: str | None = "1000",
                    ord_type: str = "2", tif: str = "1", cl: str | None = None,
                    extra: list[tuple[int, Any]] | None = None) -> str:
        """Send a NewOrderSingle; returns its ClOrdID."""
        cl = cl or next_cl_ord_id()
        fields: list[tuple[int, Any]] = [(11, cl), (55, symbol), (54, side), (38, qty), (40, ord_type)]
        if price is not None:
            fields.append((44, price))
        fields += [(59, tif), (60, now_fix()), *(extra or [])]
        await self.send("D", fields)
        return cl

    async def cancel(self, cl: str, orig: str | None = None, order_id: str | None = None,
                     symbol: str = "BTC/USD") -> None:
        """Send an OrderCancelRequest (F) for a buy order named by OrigClOrdID and/or OrderID."""
        fields: list[tuple[int, Any]] = [(11, cl)]
        if order_id is not None:
            fields.append((37, order_id))
        if orig is not None:
            fields.append((41, orig))
        await self.send("F", [*fields, (54, "1"), (55, symbol), (60, now_fix())])

    async def report(self, timeout: float = 3.0) -> Msg:
        return await self.expect("8", timeout)

    async def reports(self, n: int, timeout: float = 3.0) -> list[Msg]:
        return [await self.report(timeout) for _ in range(n)]


async def signed_on(venue: Any, creds: dict[str, Any]) -> Trader:
    """A Trader connected and logged on with the account's FIX key."""
    t = await Trader(venue, creds).connect()
    await t.sign_on()
    return t


def rest_private(venue: Any, creds: dict[str, Any], method: str, **params: Any) -> dict[str, Any]:
    """A signed Spot REST call (API-Sign = HMAC-SHA512(path + SHA256(nonce + body)))."""
    path = f"/0/private/{method}"
    nonce = str(next_nonce())
    body, ctype = spot_body(nonce, params)
    req = urllib.request.Request(venue.spot_rest + path, data=body, method="POST",
                                 headers=spot_headers(creds, path, nonce, body, ctype))
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            out: dict[str, Any] = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        out = json.loads(exc.read() or b"{}")
    return out


def fields(msg: Msg, *tags: int) -> tuple[str | None, ...]:
    return tuple(msg.get(t) for t in tags)
