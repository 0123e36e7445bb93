"""Protocol drivers for the conformance test: one order request, written as raw
wire text in each protocol's own dialect (form bodies, JSON text, FIX bytes), so
`1e999999`, `NaN` and empty values reach the server exactly as typed.

A driver answers with an `Outcome`: accepted (with the order's id) or refused,
with the protocol's own words for the refusal, normalised to one short string:
- Spot REST / WS v2: the Kraken error string;
- FIX: `3:<RefTagID>:<SessionRejectReason>` (Reject), `j:<Text>` (BusinessMessageReject),
  `8:<Text>` (a rejected ExecutionReport);
- Futures REST: `error:<word>` (error envelope) or `status:<word>` (sendStatus);
- Futures WS (feeds only, no order entry): enters through Futures REST and reports
  what its `open_orders` feed showed: the order placed, or nothing.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from simulator.pytest_plugin import KrakenVenue
from tests.prove.kit import (
    FUTURES_V3,
    FixNonces,
    FixRaw,
    FuturesWs,
    Ws,
    fix_time,
    fix_trader,
    futures_headers,
    mint_token,
    next_cl_ord_id,
    next_nonce,
    rest_sign,
)

PAST_RFC3339 = "2020-01-01T00:00:00.000Z"
PAST_FIX = "20200101-00:00:00.000"
_req_ids = itertools.count(1)


@dataclass(frozen=True)
class Order:
    """A limit buy in wire-neutral text.  `qty`/`price` are written verbatim (a
    JSON literal on WS: `NaN`, `1e999999`; `""` is an empty value)."""

    qty: str = "0.01"
    price: str = "1000"
    unknown_symbol: bool = False
    post_only: bool = False
    expired_deadline: bool = False
    cl_ord_id: str | None = None  # None: the driver makes a valid one (FIX, Futures) or sends none
    userref: str | None = None  # Spot REST `userref`, WS `order_userref` (FIX and Futures have none)


@dataclass(frozen=True)
class Outcome:
    accepted: bool
    text: str  # the order id when accepted, else the dialect's refusal


class Driver:
    name = ""
    market = ""  # "spot" | "derivatives"

    def __init__(self, venue: KrakenVenue, creds: dict[str, Any]) -> None:
        self.venue = venue
        self.creds = creds

    def send(self, order: Order) -> Outcome:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def open_orders(self) -> list[str]:
        acct = self.venue.admin.account(self.creds["account_id"])
        if self.market == "spot":
            return list(acct["open_orders"])
        return list(acct["futures"]["open_orders"])


def _options(order: Order, post_only: str, deadline: str, cl_ord_id: str, userref: str) -> str:
    """The order's optional parts in one dialect's words (`{}`: the value), in one order."""
    parts = [post_only if order.post_only else "", deadline if order.expired_deadline else ""]
    if order.cl_ord_id is not None:
        parts.append(cl_ord_id.format(order.cl_ord_id))
    if order.userref is not None:
        parts.append(userref.format(order.userref))
    return "".join(parts)


# ------------------------------------------------------------------------ Spot
class SpotRest(Driver):
    name, market = "spot-rest", "spot"

    def __init__(self, venue: KrakenVenue, creds: dict[str, Any]) -> None:
        super().__init__(venue, creds)
        self.http = httpx.Client(timeout=10)

    def send(self, order: Order) -> Outcome:
        path = "/0/private/AddOrder"
        n = str(next_nonce())
        pair = "XBTFOO" if order.unknown_symbol else "XBTUSD"
        body = f"nonce={n}&ordertype=limit&type=buy&volume={order.qty}&price={order.price}&pair={pair}"
        body += _options(order, "&oflags=post", f"&deadline={PAST_RFC3339}", "&cl_ord_id={}", "&userref={}")
        raw = body.encode()
        headers = {"API-Key": self.creds["api_key"], "API-Sign": rest_sign(path, n, raw, self.creds["api_secret"]),
                   "Content-Type": "application/x-www-form-urlencoded"}
        r = self.http.post(self.venue.spot_rest + path, content=raw, headers=headers)
        assert r.status_code == 200, r.text
        data = r.json()
        if data["error"]:
            assert "result" not in data and len(data["error"]) == 1, data
            return Outcome(False, data["error"][0])
        return Outcome(True, data["result"]["txid"][0])

    def close(self) -> None:
        self.http.close()


class SpotWs(Driver):
    name, market = "spot-ws", "spot"

    def __init__(self, venue: KrakenVenue, creds: dict[str, Any]) -> None:
        super().__init__(venue, creds)
        self.token = mint_token(venue, creds)
        self.ws = Ws(venue.spot_ws_auth)

    def send(self, order: Order) -> Outcome:
        rid = next(_req_ids)
        qty = order.qty if order.qty != "" else '""'
        price = order.price if order.price != "" else '""'
        symbol = "FOO/BAR" if order.unknown_symbol else "BTC/USD"
        params = (f'"order_type":"limit","side":"buy","order_qty":{qty},"limit_price":{price},'
                  f'"symbol":"{symbol}","token":"{self.token}"')
        params += _options(order, ',"post_only":true', f',"deadline":"{PAST_RFC3339}"', ',"cl_ord_id":"{}"',
                           ',"order_userref":{}')
        replies = self.ws.request(f'{{"method":"add_order","req_id":{rid},"params":{{{params}}}}}')
        assert len(replies) == 1, replies
        reply = replies[0]
        assert reply.get("method") == "add_order" and reply.get("req_id") == rid, reply  # the reply keeps its req_id
        if reply["success"]:
            return Outcome(True, reply["result"]["order_id"])
        return Outcome(False, reply["error"])

    def close(self) -> None:
        self.ws.close()


def _fix_outcome(replies: list[Any]) -> Outcome:
    """The first answer to a NewOrderSingle, normalised."""
    for m in replies:
        if m.msg_type == "3":
            return Outcome(False, f"3:{m.get(371)}:{m.get(373)}")
        if m.msg_type == "j":
            return Outcome(False, f"j:{m.get(58)}")
        if m.msg_type == "8":
            if m.get(39) == "8":
                return Outcome(False, f"8:{m.get(58)}")
            return Outcome(True, str(m.get(37)))
    raise AssertionError(f"no answer to the order: {[m.raw for m in replies]}")


class _Fix(Driver):
    symbol = ""
    unknown = ""

    def __init__(self, venue: KrakenVenue, creds: dict[str, Any]) -> None:
        super().__init__(venue, creds)
        self.fix: FixRaw = fix_trader(venue, creds, FixNonces(venue))

    def fields(self, order: Order) -> list[tuple[int, Any]]:
        raise NotImplementedError

    def send(self, order: Order) -> Outcome:
        self.fix.send("D", self.fields(order))
        return _fix_outcome(self.fix.sync())

    def close(self) -> None:
        self.fix.close()


class SpotFix(_Fix):
    name, market = "spot-fix", "spot"

    def fields(self, order: Order) -> list[tuple[int, Any]]:
        out: list[tuple[int, Any]] = [
            (11, order.cl_ord_id or next_cl_ord_id()), (55, "FOO/BAR" if order.unknown_symbol else "BTC/USD"),
            (54, "1"),
            (38, order.qty), (40, "2"), (44, order.price), (59, "1"), (60, fix_time()),
        ]
        if order.post_only:
            out.append((18, "P"))
        if order.expired_deadline:
            out.append((62, PAST_FIX))
        return out


# ----------------------------------------------------------------- Derivatives
def futures_body(order: Order, cli: str) -> str:
    symbol = "PF_NOPEUSD" if order.unknown_symbol else "PF_XBTUSD"
    body = (f"orderType={'post' if order.post_only else 'lmt'}&symbol={symbol}&side=buy&size={order.qty}"
            f"&limitPrice={order.price}&cliOrdId={cli}")
    if order.expired_deadline:
        body += f"&processBefore={PAST_RFC3339}"
    return body


class FuturesRest(Driver):
    name, market = "futures-rest", "derivatives"

    def __init__(self, venue: KrakenVenue, creds: dict[str, Any]) -> None:
        super().__init__(venue, creds)
        self.http = httpx.Client(timeout=10)

    def post(self, order: Order, cli: str) -> Outcome:
        path = FUTURES_V3 + "sendorder"
        body = futures_body(order, cli)
        headers = futures_headers(self.creds, path, "", body, str(next_nonce()))
        r = self.http.post(self.venue.futures_rest + path, content=body.encode(), headers=headers)
        assert r.status_code == 200, r.text
        data = r.json()
        if data["result"] == "error":
            return Outcome(False, f"error:{data['error']}")
        status = data["sendStatus"]["status"]
        if status == "placed":
            return Outcome(True, data["sendStatus"]["order_id"])
        return Outcome(False, f"status:{status}")

    def send(self, order: Order) -> Outcome:
        return self.post(order, order.cl_ord_id or str(uuid.uuid4()))

    def close(self) -> None:
        self.http.close()


class FuturesWsFeed(FuturesRest):
    """Kraken Futures WS v1 takes no orders: the request goes in through REST and
    the outcome is read from what the `open_orders` feed shows for it."""

    name = "futures-ws"

    def __init__(self, venue: KrakenVenue, creds: dict[str, Any]) -> None:
        super().__init__(venue, creds)
        self.ws = FuturesWs(venue.futures_ws)
        replies = self.ws.request({"event": "subscribe", "feed": "open_orders", **self.ws.login(creds)})
        assert any(m.get("event") == "subscribed" for m in replies), replies
        self.ws.drain_feed()
        self.ws.feed.clear()

    def send(self, order: Order) -> Outcome:
        cli = order.cl_ord_id or str(uuid.uuid4())
        rest = self.post(order, cli)
        feed = [m for m in self.ws.drain_feed(0.4) if m.get("feed") == "open_orders"]
        self.ws.feed.clear()
        mine = [m for m in feed if (m.get("order") or {}).get("cli_ord_id") == cli]
        if rest.accepted:
            placed = [m for m in mine if m.get("reason") == "new_placed_order_by_user" and not m.get("is_cancel")]
            assert len(placed) == 1 and placed[0]["order"]["order_id"] == rest.text, feed
            return Outcome(True, placed[0]["order"]["order_id"])
        assert mine == [], feed  # a refused request shows nothing on the feed
        return rest

    def close(self) -> None:
        self.ws.close()
        super().close()


class DerivativesFix(_Fix):
    name, market = "derivatives-fix", "derivatives"

    def fields(self, order: Order) -> list[tuple[int, Any]]:
        out: list[tuple[int, Any]] = [
            (11, order.cl_ord_id or str(uuid.uuid4())), (55, "PF_NOPEUSD" if order.unknown_symbol else "PF_XBTUSD"),
            (54, "1"),
            (38, order.qty), (40, "2"), (44, order.price), (18, "s P" if order.post_only else "s"), (59, "1"),
            (60, fix_time()),
        ]
        if order.expired_deadline:
            out.append((62, PAST_FIX))
        return out


DRIVERS: list[type[Driver]] = [SpotRest, SpotWs, SpotFix, FuturesRest, FuturesWsFeed, DerivativesFix]


def best_ask(venue: KrakenVenue, market: str) -> str:
    """The lowest ask, as the market's public REST prints it."""
    with httpx.Client(timeout=10) as http:
        if market == "spot":
            data = http.get(venue.spot_rest + "/0/public/Depth", params={"pair": "XBTUSD", "count": 1}).json()
            (book,) = data["result"].values()
            return str(book["asks"][0][0])
        r = http.get(venue.futures_rest + FUTURES_V3 + "orderbook", params={"symbol": "PF_XBTUSD"})
        data = json.loads(r.text, parse_float=Decimal)
        return str(data["orderBook"]["asks"][0][0])
