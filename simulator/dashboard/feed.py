"""The dashboard's server side: state snapshots and the /dashboard/ws feed.

The bus subscriber only appends the journal entry to a bounded deque and
bumps a version (it runs inside the sequencer).  Each viewer's socket wakes a
few times a second and, when the version moved (or a second passed, for the
decaying rate counters and the clock), sends one JSON snapshot of the chosen
instrument.  A viewer that cannot keep up is dropped; it never slows the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.requests import Request
from starlette.websockets import WebSocket, WebSocketDisconnect

from simulator.core.clock import rfc3339_us
from simulator.core.commands import AmendRequest, FuturesCancelRequest, FuturesOrderRequest, OrderRequest
from simulator.core.events import NoticeEvent, TradeEvent
from simulator.core.instruments import SpotPair
from simulator.core.margin import Margin
from simulator.core.numbers import BALANCE_DP, fmt_units
from simulator.core.ratelimit import SPOT_TIERS
from simulator.core.sequencer import JournalEntry
from simulator.server import guard
from simulator.server.runtime import Runtime
from simulator.server.site import Dialect, Site, documented_app

log = logging.getLogger("kraken_sim.dashboard")

JOURNAL_KEEP = 200  # entries the feed keeps (the bounded queue)
JOURNAL_SEND = 60  # entries each update carries
BOOK_DEPTH = 30
TRADES_SEND = 40
ORDERS_PER_ACCOUNT = 25
MARGIN_ACCOUNTS = 12  # accounts the margin panel shows (margin-called first)
POSITIONS_PER_ACCOUNT = 10
MARGIN_NOTICES = frozenset({"margin_call", "margin_call_cleared", "liquidation", "liquidated"})
THROTTLE_S = 0.25  # at most four updates a second per viewer
IDLE_REFRESH_S = 1.0  # counters decay and clocks run even when nothing trades
SEND_TIMEOUT_S = 5.0

STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def static_text(name: str) -> str:
    """A dashboard file from package data (the source tree as a fallback)."""
    try:
        return resources.files("simulator.dashboard").joinpath(name).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return (Path(__file__).parent / name).read_text(encoding="utf-8")


class DashboardFeed:
    """Journal tail + version counter, fed from `rt.bus`."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.entries: deque[JournalEntry] = deque(maxlen=JOURNAL_KEEP)
        self.version = 0
        self.viewers = 0

    def on_entry(self, entry: JournalEntry) -> None:
        self.entries.append(entry)
        self.version += 1

    def on_reset(self) -> None:
        self.entries.clear()
        self.version += 1

    # ------------------------------------------------------------ labels
    def labels(self) -> dict[str, str]:
        """Account id -> a name a person recognises."""
        rt = self.rt
        out: dict[str, str] = {}
        mm = rt.services.market_maker
        if mm is not None:
            out[mm.account.id] = "seed-mm"
        if rt.demo is not None:
            out[rt.demo.account.id] = "demo"
        for name, creds in rt.services.named_accounts.items():
            out[creds.account.id] = str(name)
        out.update(rt.services.market.labels)
        return out

    # ---------------------------------------------------------- snapshot
    def pick_pair(self, symbol: str | None) -> SpotPair:
        inst = self.rt.venue.instruments
        pair = inst.pair(symbol) if symbol else None
        if pair is None:
            pair = inst.pair("BTC/USD") or next(iter(inst.pairs.values()))
        return pair

    def snapshot(self, symbol: str | None) -> dict[str, Any]:
        """Everything one view shows, for one instrument, consistently."""
        v = self.rt.venue
        with v.spot_seq.exclusive():
            return self._snapshot(self.pick_pair(symbol))

    def _snapshot(self, pair: SpotPair) -> dict[str, Any]:
        rt = self.rt
        v = rt.venue
        eng = v.spot
        now = v.clock.now_ns()
        labels = self.labels()
        pdp, ldp = pair.pair_decimals, pair.lot_decimals
        mgr = rt.services.market
        live = {pid for pid, m in mgr.markets.items() if m.cfg.enabled}
        replaying = {pid for pid, r in mgr.playbacks.items() if not r.done}
        pairs = []
        for p in v.instruments.pairs.values():
            if p.status != "online":
                continue
            book = eng.books[p.id]
            b, a, last = book.best_bid(), book.best_ask(), eng.last_price.get(p.id)
            pairs.append({
                "symbol": p.symbol,
                "bid": fmt_units(b, p.pair_decimals) if b is not None else None,
                "ask": fmt_units(a, p.pair_decimals) if a is not None else None,
                "last": fmt_units(last, p.pair_decimals) if last is not None else None,
                "bots": p.id in live,
                "replay": p.id in replaying,
            })
        book = eng.books[pair.id]
        levels = {
            side: [[fmt_units(px, pdp), fmt_units(q, ldp)] for px, q in book.l2(side, BOOK_DEPTH)]
            for side in ("buy", "sell")
        }
        trades = [
            {
                "id": t.trade_id,
                "time": rfc3339_us(t.ts),
                "price": fmt_units(t.price, pdp),
                "qty": fmt_units(t.qty, ldp),
                "side": t.taker_side,
            }
            for t in reversed(eng.trades[pair.id][-TRADES_SEND:])
        ]
        orders: list[dict[str, Any]] = []
        for acct_id, opened in eng.open_orders.items():
            mine = [o for o in opened.values() if o.pair is pair]
            if not mine:
                continue
            mine.sort(key=lambda o: (o.side, -(o.price or 0) if o.side == "buy" else (o.price or 0)))
            orders.append({
                "account": acct_id,
                "label": labels.get(acct_id, acct_id),
                "count": len(mine),
                "orders": [
                    {
                        "id": o.id,
                        "side": o.side,
                        "type": o.ordertype,
                        "price": fmt_units(o.price, pdp) if o.price is not None else "",
                        "remaining": fmt_units(o.remaining, ldp),
                    }
                    for o in mine[:ORDERS_PER_ACCOUNT]
                ],
            })
        orders.sort(key=lambda g: (str(g["label"]).startswith(("maker", "taker", "replay", "seed")), str(g["label"])))
        rl = v.ratelimits
        limits: dict[str, dict[str, Any]] = {}
        for (acct_id, pid), _ in list(rl.trading.items()):
            acct = v.accounts.get(acct_id)
            if acct is None:
                continue
            row = limits.setdefault(acct_id, {"account": acct_id, "label": labels.get(acct_id, acct_id), "tier": acct.tier, "pairs": {}})
            rl_pair = v.instruments.pairs.get(pid)
            row["pairs"][rl_pair.symbol if rl_pair else pid] = round(rl.trade_counter(acct, pid, now), 3)
        for acct_id in list(rl.calls):
            acct = v.accounts.get(acct_id)
            if acct is not None:
                limits.setdefault(acct_id, {"account": acct_id, "label": labels.get(acct_id, acct_id), "tier": acct.tier, "pairs": {}})
        if rt.demo is not None:
            d = rt.demo.account
            limits.setdefault(d.id, {"account": d.id, "label": "demo", "tier": d.tier, "pairs": {}})
        for acct_id, row in limits.items():
            acct = v.accounts.accounts[acct_id]
            row["trade_max"] = rl.max_trade_counter(acct)
            row["counter"] = row["pairs"].get(pair.symbol, 0.0)
            row["calls"] = round(rl.call_counter(acct, now), 3)
            row["call_max"] = SPOT_TIERS[acct.tier].call_max if acct.tier in SPOT_TIERS else None
        conns: dict[str, list[dict[str, Any]]] = {}
        for cid, c in list(rt.connections.items()):
            proto = str(getattr(c, "protocol", "?"))
            conn_acct = getattr(c, "account_id", None)
            conns.setdefault(proto, []).append(
                {"id": cid, "account": conn_acct, "label": labels.get(conn_acct, conn_acct) if conn_acct else None}
            )
        market = None
        if mgr is not None:
            m = mgr.markets.get(pair.id)
            r = mgr.playbacks.get(pair.id)
            market = {"bots": m.status() if m is not None else None, "replay": r.status() if r is not None else None}
            if market["bots"] is not None:
                market["bots"].pop("accounts", None)
        return {
            "type": "state",
            "symbol": pair.symbol,
            "pair": pair.id,
            "decimals": [pdp, ldp],
            "clock": {"mode": v.clock.mode, "now": rfc3339_us(now), "now_ns": now},
            "status": eng.status,
            "pairs": pairs,
            "book": {"bids": levels["buy"], "asks": levels["sell"]},
            "last": fmt_units(eng.last_price[pair.id], pdp) if pair.id in eng.last_price else None,
            "trades": trades,
            "orders": orders,
            "ratelimits": sorted(limits.values(), key=lambda r: (r["label"] != "demo", r["label"])),
            "connections": conns,
            "viewers": self.viewers,
            "market": market,
            "margin": self.margin_view(eng.margin, pair, labels),
            "journal": [self.describe(e, labels) for e in list(self.entries)[-JOURNAL_SEND:]][::-1],
            "journal_last": v.journal._seq,
        }

    @staticmethod
    def margin_view(m: Margin, pair: SpotPair, labels: dict[str, str]) -> dict[str, Any]:
        """Accounts with margin positions: margin level, equity, used and free
        margin, the margin-call flag, and their positions marked at the book.
        Bounded: margin-called accounts first, then holders of this pair, then
        the rest, at most MARGIN_ACCOUNTS (each at most POSITIONS_PER_ACCOUNT)."""
        picked: list[str] = []
        seen: set[str] = set()
        for source in (m.called, m.by_pair.get(pair.id, {}), m.open):
            for aid in source:
                if len(picked) >= MARGIN_ACCOUNTS:
                    break
                if aid not in seen:
                    seen.add(aid)
                    picked.append(aid)
        rows = []
        for aid in picked:
            tb = m.trade_balance(aid, orders=False)
            call, stop = m.thresholds(aid)
            positions = []
            for pos in m.open_positions(aid)[:POSITIONS_PER_ACCOUNT]:
                p = pos.pair
                calc = m.calcs(pos)
                positions.append({
                    "id": pos.id,
                    "symbol": p.symbol,
                    "side": pos.side,
                    "leverage": f"{pos.leverage}:1",
                    "vol": fmt_units(pos.open_vol, p.lot_decimals),
                    "cost": fmt_units(pos.open_cost, p.cost_decimals),
                    "margin": fmt_units(pos.open_margin, BALANCE_DP),
                    "mark": fmt_units(calc.price, p.pair_decimals),
                    "net": fmt_units(calc.net, p.cost_decimals),
                    "quote": p.quote.display,
                })
            q = Decimal("0.01")
            rows.append({
                "account": aid,
                "label": labels.get(aid, aid),
                "margin_level": str(tb.ml.quantize(q)) if tb.ml is not None else None,
                "equity": str(tb.e.quantize(q)),
                "margin": str(tb.m.quantize(q)),
                "free": str(tb.mf.quantize(q)),
                "net": str(tb.n.quantize(q)),
                "asset": tb.asset,
                "margin_call": call,
                "margin_stop": stop,
                "called": aid in m.called,
                "count": m.open_n.get(aid, 0),
                "positions": positions,
            })
        return {"accounts": rows, "total": len(m.open), "called": len(m.called), "liquidations": m.liquidations}

    def describe(self, e: JournalEntry, labels: dict[str, str]) -> dict[str, Any]:
        """One journal line: who did what, and what it caused."""
        p = e.params
        acct = e.origin.account_id or str(p.get("account_id", "") or "")
        text = e.kind
        req = p.get("req")
        inst = self.rt.venue.instruments
        if isinstance(req, OrderRequest):
            pair = inst.pair(req.pair)
            name = pair.symbol if pair is not None else req.pair
            price = f" @ {req.price}" if req.price is not None else ""
            text = f"{req.side} {req.qty} {name} {req.ordertype}{price}" + (f" {req.tif}" if req.tif != "GTC" else "")
            if req.leverage not in (None, "", "none"):
                text += f" {req.leverage}:1" if ":" not in str(req.leverage) else f" {req.leverage}"
        elif isinstance(req, AmendRequest):
            text = f"amend {req.order_id or req.cl_ord_id}" + (f" -> {req.limit_price}" if req.limit_price is not None else "")
        elif isinstance(req, FuturesOrderRequest):
            limit = req.limit_price or req.stop_price
            text = f"{req.side} {req.size} {req.symbol} {req.order_type}" + (f" @ {limit}" if limit is not None else "")
        elif isinstance(req, FuturesCancelRequest):
            text = f"cancel {req.order_id or req.cl_ord_id}"
        elif e.kind == "cancel_order":
            text = f"cancel {p.get('order_id') or p.get('cl_ord_id') or p.get('userref')}"
        elif e.kind == "cancel_all":
            text = "cancel all" + (f" {p['pair']}" if p.get("pair") else "")
        order = getattr(e.result, "order", None)
        if order is None:  # past entries keep no result: the order is in its events
            order = next((ev.order for ev in e.events if getattr(ev, "kind", "") == "order"), None)
        if order is not None and getattr(order, "id", None):
            text += f" -> {order.id}"
        elif isinstance(getattr(e.result, "order_id", None), str):
            text += f" -> {e.result.order_id}"
        trades = sum(1 for ev in e.events if isinstance(ev, TradeEvent))
        margin = [ev.name for ev in e.events if isinstance(ev, NoticeEvent) and ev.name in MARGIN_NOTICES]
        if margin:
            text += " [" + ", ".join(margin) + "]"
        return {
            "seq": e.seq,
            "time": rfc3339_us(e.ts),
            "command": e.kind,
            "engine": e.engine,
            "protocol": e.origin.protocol,
            "account": acct,
            "label": labels.get(acct, acct),
            "text": text,
            "events": len(e.events),
            "trades": trades,
            "error": e.error,
            "margin": margin,
        }


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return str(o)
    return str(o)


def dumps(d: dict[str, Any]) -> str:
    return json.dumps(d, default=_json_default, separators=(",", ":"))


async def serve_viewer(feed: DashboardFeed, ws: WebSocket) -> None:
    """One dashboard tab: snapshots when something changed, throttled."""
    await ws.accept()
    state = {"symbol": ws.query_params.get("symbol") or None, "force": True}

    async def reader() -> None:
        while True:
            raw = await ws.receive_text()
            with contextlib.suppress(ValueError, AttributeError):
                msg = json.loads(raw)
                if isinstance(msg, dict) and isinstance(msg.get("symbol"), str):
                    state["symbol"] = msg["symbol"]
                    state["force"] = True

    feed.viewers += 1
    read_task = asyncio.create_task(reader())
    sent_version = -1
    sent_at = 0.0
    try:
        while not read_task.done():
            now = time.monotonic()
            if state["force"] or feed.version != sent_version or now - sent_at >= IDLE_REFRESH_S:
                state["force"] = False
                sent_version = feed.version
                sent_at = now
                sym = state["symbol"]
                text = dumps(feed.snapshot(sym if isinstance(sym, str) else None))
                await asyncio.wait_for(ws.send_text(text), SEND_TIMEOUT_S)
            await asyncio.sleep(THROTTLE_S)
    except (TimeoutError, WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        feed.viewers -= 1
        read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError, Exception):
            await read_task
        with contextlib.suppress(Exception):
            await ws.close()


MAX_BODY = 4096  # bytes: the dashboard takes no request bodies


def install(site: Site, rt: Runtime, feed: DashboardFeed) -> None:
    """`/` and `/dashboard` (the page), and the `/dashboard` sub-application:
    `/state` (in the root OpenAPI document), `/static/{file}`, `/ws`."""

    def index(_request: Request) -> HTMLResponse:
        return HTMLResponse(static_text("index.html"))

    dialect = Dialect(too_large=lambda: JSONResponse({"detail": "request body too large"}, status_code=413),
                      max_body=lambda: MAX_BODY)
    app = documented_app(rt, dialect)

    @app.get("/state", tags=["admin"], summary="Dashboard snapshot of one instrument (what the page shows)")
    def state(request: Request, symbol: str | None = Query(None)) -> Response:
        refused = guard.refusal(rt, request.scope, query_token=True)
        if refused is not None:
            raise HTTPException(refused[0], refused[1])
        return Response(dumps(feed.snapshot(symbol)), media_type="application/json")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "not found")
        return Response(static_text(name), media_type=STATIC[name], headers={"Cache-Control": "no-cache"})

    async def ws_endpoint(websocket: WebSocket) -> None:
        if guard.refusal(rt, websocket.scope, query_token=True) is not None:
            await websocket.close(1008)
            return
        await serve_viewer(feed, websocket)

    app.add_api_websocket_route("/ws", ws_endpoint)
    site.route("/", index)
    site.route("/dashboard", index)
    site.mount("/dashboard", app, documented=True)


__all__ = ["DashboardFeed", "install", "serve_viewer", "static_text"]
