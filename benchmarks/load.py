"""Load with reconciliation: clients over Spot REST, WS v2 and FIX 4.4 trade on
their own accounts for a fixed time, with faults, then everything is reconciled
against the venue's journal and balances.

    python -m benchmarks.load [--seconds 20] [--rest 4] [--ws 4] [--fix 4] [--no-faults]

Each client places limit orders around the touch (a share of them crossing, so
clients trade with each other and the market maker), cancels and amends its own
orders, one request at a time.  Faults: every client aborts its own connection
now and then mid-request (REST: the HTTP connection; WS/FIX: the TCP socket),
the venue drops every WS connection once (admin `drop_protocol`), and one slow
WS consumer subscribes to busy channels and never reads.

Reconciliation (admin API only, so it works against any running venue):
every acknowledged order is in the journal, on the right account, with the
right client id, and in exactly one state (open in the venue's open-order list,
or terminal); a client id sent on a killed connection exists at most once (no
duplicates); every order a client saw cancelled is cancelled; each WS/FIX
client's own fills match the venue's (equal when its connection never dropped,
a subset otherwise); balances are conserved (sum over every account of the
change == sum of the journal's ledger entries; trades net to zero per asset;
what leaks is exactly the fees).  Prints throughput and p50/p99 ack latency per
protocol.  `tests/prove/test_load.py` runs a short version in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from benchmarks.harness import percentile, start_sim
from tests.kit import clients

PAIR, WSSYM = "XBTUSD", "BTC/USD"
FUTURES_SYMBOL = "PF_XBTUSD"
FUTURES_V3 = "/derivatives/api/v3/"
PROTOCOLS = ("rest", "ws", "fix", "futures_rest", "futures_ws")
TERMINAL = {"closed", "canceled", "expired"}
SOH = b"\x01"
_FRAME = re.compile(rb"8=FIX[^\x01]*\x019=(\d+)\x01")


@dataclass
class LoadConfig:
    seconds: float = 5.0
    rest: int = 2
    ws: int = 2
    fix: int = 2
    seed: int = 1
    kill_every_s: float | None = 1.5  # each client aborts its connection about this often (None: never)
    admin_drop_ws: bool = True  # the venue drops every WS connection once, mid-run
    slow_consumer: bool = True
    cross_share: float = 0.25  # orders priced through the touch
    request_timeout_s: float = 5.0
    futures_rest: int = 0  # Derivatives REST v3 clients (orders on FUTURES_SYMBOL)
    futures_ws: int = 0  # Derivatives clients that order over REST and follow their fills on WS v1
    fix_resume: bool = False  # FIX re-logons keep their sequence numbers (no 141=Y) instead of resetting
    reconnect_s: float = 20.0  # how long a client keeps reconnecting to a venue that went away
    # Each phase (the run, or each side of a restart) lasts its seconds and, if this is set, until every client
    # has this many orders acknowledged in it (at most `max_phase_s`): a loaded machine lengthens the run
    # instead of thinning it, so a test may ask for a minimum per phase without asking for a rate.
    min_acks_per_phase: int = 0
    max_phase_s: float = 60.0
    margin_share: float = 0.2  # REST/WS orders sent with leverage / `margin` (accounts are margin-enabled)


@dataclass
class View:
    """One client's own record of what it did and what it was told."""

    name: str
    protocol: str
    account_id: str
    sent: int = 0
    acked: dict[str, str] = field(default_factory=dict)  # cl_ord_id -> order id
    in_doubt: set[str] = field(default_factory=set)  # sent, connection died before the answer
    rejected: dict[str, str] = field(default_factory=dict)
    cancel_acked: set[str] = field(default_factory=set)
    open: set[str] = field(default_factory=set)  # order ids it believes open
    fills: dict[str, list[Decimal]] = field(default_factory=dict)  # order id -> fill qtys from its feed
    exec_ids: Counter[str] = field(default_factory=Counter)
    kills: int = 0
    timeouts: int = 0
    dropped_by_venue: int = 0
    gapped: bool = False  # its feed was interrupted at least once
    latencies: list[float] = field(default_factory=list)
    ack_times: list[float] = field(default_factory=list)  # monotonic time of each answer
    in_seqs: list[int] = field(default_factory=list)  # FIX: MsgSeqNum of every message received
    logons: list[tuple[int, int]] = field(default_factory=list)  # FIX: (our MsgSeqNum, theirs) per Logon
    seq_resets: int = 0  # FIX: logons that had to reset the sequence numbers
    acked_before_restart: int = 0


@dataclass
class LoadResult:
    seconds: float
    views: list[View]
    problems: list[str]
    stats: dict[str, Any]

    def table(self) -> str:
        lines = [f"{'protocol':<13}{'clients':>8}{'acks/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'kills':>7}{'in-doubt':>10}"]
        for proto in PROTOCOLS:
            vs = [v for v in self.views if v.protocol == proto]
            if not vs:
                continue
            lat = sorted(x for v in vs for x in v.latencies)
            acks = sum(len(v.latencies) for v in vs)
            lines.append(
                f"{proto:<13}{len(vs):>8}{acks / self.seconds:>10,.0f}{percentile(lat, 50) * 1e3:>9.2f}"
                f"{percentile(lat, 99) * 1e3:>9.2f}{sum(v.kills for v in vs):>7}{sum(len(v.in_doubt) for v in vs):>10}"
            )
        return "\n".join(lines)


class Shared:
    """What every client of one run shares: URLs, the clock to stop at, ids, market."""

    def __init__(self, info: dict[str, Any], cfg: LoadConfig) -> None:
        self.info = info
        self.cfg = cfg
        self.deadline = 0.0
        self.cl_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)
        self.nonces = itertools.count(int(time.time() * 1000) * 1000)
        self.fix_nonce_last: dict[str, int] = {}
        self.bid = Decimal(0)
        self.ask = Decimal(0)
        self.tick = Decimal("0.1")
        self.clients = 0
        self.stopped = 0
        self.quiet = asyncio.Event()
        self.up = asyncio.Event()  # cleared while the venue is being restarted
        self.up.set()
        self.restarted = False
        self.restarting = False  # clients keep going until the restarted venue had its own half
        self.restart_due = False  # a restart is still to come: the run does not end before it
        self.phase_cap = 0.0  # the current phase ends by then even short of `min_acks_per_phase`
        self.views: list[View] = []
        self.http: httpx.AsyncClient | None = None  # the run's admin client (replaced after a restart)
        self.futures_tick = Decimal(1)
        self.futures_bid = Decimal(0)
        self.futures_qdp = 4
        self.futures_ask = Decimal(0)

    async def wait_up(self) -> None:
        """After a failed request: wait (bounded) while the venue restarts."""
        if not self.up.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.up.wait(), self.cfg.reconnect_s)

    def give_up_at(self) -> float:
        end = max(self.deadline, self.phase_cap) if self.cfg.min_acks_per_phase else self.deadline
        return end + self.cfg.reconnect_s

    def phase_acks_met(self) -> bool:
        """Has every client `min_acks_per_phase` acknowledged orders in this phase?"""
        need = self.cfg.min_acks_per_phase
        return all(len(v.acked) - v.acked_before_restart >= need for v in self.views)

    def phase_over(self) -> bool:
        now = time.monotonic()
        return now >= self.deadline and (now >= self.phase_cap or self.phase_acks_met())

    def next_cl(self) -> str:
        return str(next(self.cl_ids))

    def fix_nonce(self, key: str) -> str:
        n = max(int(time.time() * 1000), self.fix_nonce_last.get(key, 0) + 1)
        self.fix_nonce_last[key] = n
        return str(n)

    def done(self) -> bool:
        return not self.restarting and not self.restart_due and self.phase_over()

    async def all_stopped(self) -> None:
        """Wait until every client stopped trading: a client still connected keeps
        receiving fills of its resting orders until nobody can trade against them."""
        self.stopped += 1
        if self.stopped >= self.clients:
            self.quiet.set()
        await self.quiet.wait()

    def order_price(self, rng: random.Random, side: str) -> Decimal:
        """Mostly resting near the touch; `cross_share` of orders cross it."""
        cross = rng.random() < self.cfg.cross_share
        ticks = rng.randint(0, 30)
        if side == "buy":
            p = self.ask + ticks * self.tick if cross else self.bid - ticks * self.tick
        else:
            p = self.bid - ticks * self.tick if cross else self.ask + ticks * self.tick
        return max(p, self.tick)


def qty(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(1, 20)) / 10_000


# ------------------------------------------------------------------ admin API
async def admin(http: httpx.AsyncClient, base: str, method: str, path: str, body: Any = None) -> Any:
    r = await http.request(method, base + path, json=body)
    r.raise_for_status()
    return r.json()


async def journal_since(http: httpx.AsyncClient, base: str, since: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        page = await admin(http, base, "GET", f"/journal?since={since}&limit=20000")
        out += page["entries"]
        if not page["entries"] or page["last"] == since:
            return out
        since = page["last"]


# --------------------------------------------------------------------- REST
async def rest_call(sh: Shared, http: httpx.AsyncClient, creds: dict[str, Any], method: str,
                    params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = await clients.spot_call(http, sh.info["spot_rest"], creds, method, params, next(sh.nonces))
    return out


async def rest_client(sh: Shared, v: View, creds: dict[str, Any], rng: random.Random) -> None:
    http = httpx.AsyncClient(timeout=sh.cfg.request_timeout_s)
    next_kill = _next_kill(sh, rng)
    try:
        while not sh.done():
            kill = time.monotonic() >= next_kill
            if kill:
                next_kill = _next_kill(sh, rng)
            action = rng.random()
            cl: str | None = None
            if action < 0.6 or not v.open:
                side = rng.choice(("buy", "sell"))
                cl = sh.next_cl()
                params = {"pair": PAIR, "type": side, "ordertype": "limit", "price": str(sh.order_price(rng, side)),
                          "volume": str(qty(rng)), "cl_ord_id": cl}
                if rng.random() < sh.cfg.margin_share:
                    params["leverage"] = "2"  # a margin order: opens, adds to or closes a position
                method = "AddOrder"
            elif action < 0.9:
                method, params = "CancelOrder", {"txid": rng.choice(sorted(v.open))}
            else:
                method, params = "AmendOrder", {"txid": rng.choice(sorted(v.open)), "order_qty": str(qty(rng))}
            v.sent += 1
            t0 = time.perf_counter()
            task = asyncio.ensure_future(rest_call(sh, http, creds, method, params))
            if kill:  # abort the connection with the request in flight
                await asyncio.sleep(rng.random() * 0.002)
                await http.aclose()
                http = httpx.AsyncClient(timeout=sh.cfg.request_timeout_s)
                v.kills += 1
            try:
                res = await task
            except Exception as exc:  # noqa: BLE001 - killed mid-request: the outcome is unknown to us
                if isinstance(exc, (TimeoutError, httpx.TimeoutException)) and not kill:
                    v.timeouts += 1  # a live connection that got no answer in time
                if cl is not None:
                    v.in_doubt.add(cl)
                elif method == "CancelOrder":
                    v.open.discard(params["txid"])
                await sh.wait_up()
                continue
            v.latencies.append(time.perf_counter() - t0)
            v.ack_times.append(time.monotonic())
            err = res.get("error") or []
            if method == "AddOrder":
                assert cl is not None
                if err:
                    v.rejected[cl] = err[0]
                else:
                    oid = res["result"]["txid"][0]
                    v.acked[cl] = oid
                    v.open.add(oid)
            elif method == "CancelOrder":
                txid = params["txid"]
                v.open.discard(txid)
                if not err and res["result"].get("count") == 1:
                    v.cancel_acked.add(txid)
            elif err and err[0] in ("EOrder:Unknown order", "EOrder:Invalid order"):
                v.open.discard(params["txid"])  # filled or cancelled meanwhile
        await sh.all_stopped()
    finally:
        await http.aclose()


def _next_kill(sh: Shared, rng: random.Random) -> float:
    every = sh.cfg.kill_every_s
    if not every:
        return float("inf")
    return time.monotonic() + rng.uniform(0.5, 1.5) * every


# ----------------------------------------------------------------------- WS
class _WsClient:
    """A client WebSocket with its reader task: alive, killed (abort) or closed."""

    ws: ClientConnection | None
    reader: asyncio.Task[None] | None
    dead: bool

    def abort(self) -> None:
        self.dead = True
        if self.ws is not None:
            self.ws.transport.abort()

    def alive(self) -> bool:
        return not self.dead and self.reader is not None and not self.reader.done()

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        if self.reader is not None:
            self.reader.cancel()


class WsSession(_WsClient):
    """One auth connection: requests by req_id, the executions feed into the view."""

    def __init__(self, sh: Shared, v: View, token: str) -> None:
        self.sh = sh
        self.v = v
        self.token = token
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.pending: dict[int, asyncio.Future[list[dict[str, Any]]]] = {}
        self.replies: dict[int, list[dict[str, Any]]] = {}
        self.req_ids = itertools.count(1)
        self.closed_by_venue = False
        self.dead = False

    async def open(self) -> None:
        self.dead = False
        self.ws = await ws_connect(self.sh.info["spot_ws_auth"], max_size=None, ping_interval=None,
                                   open_timeout=10, close_timeout=1)
        self.closed_by_venue = False
        self.pending = {}  # this connection's requests: a dying older reader must not fail them
        self.reader = asyncio.ensure_future(self._read(self.ws, self.pending))
        ack = await self.request("subscribe", {"channel": "executions", "token": self.token, "snap_orders": True})
        if not ack or ack[0].get("success") is not True:
            raise RuntimeError(f"executions subscribe failed: {ack}")

    async def _read(self, ws: ClientConnection, pending: dict[int, asyncio.Future[list[dict[str, Any]]]]) -> None:
        try:
            async for raw in ws:
                msg = json.loads(raw, parse_float=Decimal)
                if "req_id" in msg:
                    self.replies.setdefault(msg["req_id"], []).append(msg)
                    fut = pending.get(msg["req_id"])
                    if fut is not None and not fut.done():
                        fut.set_result(self.replies[msg["req_id"]])
                elif msg.get("channel") == "executions":
                    self._executions(msg)
        except Exception:  # noqa: BLE001 - the connection went away
            pass
        finally:
            if ws.close_code is not None and ws.close_code != 1006:
                self.closed_by_venue = True
            for fut in pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("closed"))
                    fut.exception()  # its request may have given up already (send failed)

    def _executions(self, msg: dict[str, Any]) -> None:
        v = self.v
        for d in msg.get("data", []):
            oid = d.get("order_id")
            if oid is None:
                continue
            et = d.get("exec_type")
            if et == "trade":
                eid = str(d.get("exec_id"))
                v.exec_ids[eid] += 1
                v.fills.setdefault(oid, []).append(Decimal(str(d["last_qty"])))
            status = d.get("order_status")
            if status in ("filled", "canceled", "expired"):
                v.open.discard(oid)

    async def request(self, method: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert self.ws is not None
        rid = next(self.req_ids)
        fut: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        pending = self.pending
        pending[rid] = fut
        try:
            await self.ws.send(json.dumps({"method": method, "params": params, "req_id": rid}))
            return await asyncio.wait_for(fut, self.sh.cfg.request_timeout_s)
        finally:
            pending.pop(rid, None)

    async def send_ping(self) -> None:
        assert self.ws is not None
        rid = next(self.req_ids)
        fut: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        pending = self.pending
        pending[rid] = fut
        try:
            await self.ws.send(json.dumps({"method": "ping", "req_id": rid}))
            await asyncio.wait_for(fut, self.sh.cfg.request_timeout_s)
        finally:
            pending.pop(rid, None)



async def ws_token(sh: Shared, creds: dict[str, Any]) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        res = await rest_call(sh, http, creds, "GetWebSocketsToken", {})
    return str(res["result"]["token"])


async def reopen(sh: Shared, what: str, attempt: Callable[[], Awaitable[None]],
                 cleanup: Callable[[], Awaitable[None]]) -> None:
    """Reconnect until it works or the venue stayed away too long."""
    while True:
        await sh.wait_up()
        try:
            await attempt()
            return
        except Exception as exc:  # noqa: BLE001 - the venue is not (yet) back
            await cleanup()
            if time.monotonic() > sh.give_up_at():
                raise RuntimeError(f"{what}: could not reconnect: {exc!r}") from exc
            await asyncio.sleep(0.1)


async def ws_client(sh: Shared, v: View, creds: dict[str, Any], rng: random.Random) -> None:
    s = WsSession(sh, v, await ws_token(sh, creds))

    async def connect() -> None:
        try:
            await s.open()
        except RuntimeError:  # the token died with the venue it came from: a new one
            await s.close()
            s.token = await ws_token(sh, creds)
            await s.open()

    await s.open()
    next_kill = _next_kill(sh, rng)
    try:
        while not sh.done():
            if not s.alive():  # dropped (by the venue or by us)
                if s.closed_by_venue:
                    v.dropped_by_venue += 1
                v.gapped = True
                await s.close()
                await reopen(sh, v.name, connect, s.close)
            kill = time.monotonic() >= next_kill
            if kill:
                next_kill = _next_kill(sh, rng)
            action = rng.random()
            cl: str | None = None
            if action < 0.6 or not v.open:
                side = rng.choice(("buy", "sell"))
                cl = sh.next_cl()
                method = "add_order"
                params: dict[str, Any] = {"order_type": "limit", "side": side, "symbol": WSSYM,
                                          "limit_price": float(sh.order_price(rng, side)),
                                          "order_qty": float(qty(rng)), "cl_ord_id": cl, "token": s.token}
                if rng.random() < sh.cfg.margin_share:
                    params["margin"] = True  # WS v2: on margin at the pair's highest leverage up to 5
            elif action < 0.9:
                method, params = "cancel_order", {"order_id": [rng.choice(sorted(v.open))], "token": s.token}
            else:
                method, params = "amend_order", {"order_id": rng.choice(sorted(v.open)),
                                                 "order_qty": float(qty(rng)), "token": s.token}
            v.sent += 1
            t0 = time.perf_counter()
            task = asyncio.ensure_future(s.request(method, params))
            if kill:
                await asyncio.sleep(rng.random() * 0.002)
                s.abort()
                v.kills += 1
            try:
                replies = await task
            except Exception as exc:  # noqa: BLE001 - killed or dropped mid-request
                if isinstance(exc, (TimeoutError, httpx.TimeoutException)) and not kill:
                    v.timeouts += 1  # a live connection that got no answer in time
                if cl is not None:
                    v.in_doubt.add(cl)
                await sh.wait_up()
                continue
            v.latencies.append(time.perf_counter() - t0)
            v.ack_times.append(time.monotonic())
            r = replies[0]
            if method == "add_order":
                assert cl is not None
                if r.get("success"):
                    oid = r["result"]["order_id"]
                    v.acked[cl] = oid
                    v.open.add(oid)
                else:
                    v.rejected[cl] = str(r.get("error"))
            elif method == "cancel_order":
                oid = params["order_id"][0]
                v.open.discard(oid)
                if r.get("success"):
                    v.cancel_acked.add(oid)
            elif not r.get("success"):
                v.open.discard(params["order_id"])
        await sh.all_stopped()
        if s.alive():  # everything the venue sent before this ping is read
            with contextlib.suppress(Exception):
                await s.send_ping()
    finally:
        await s.close()


# ---------------------------------------------------------------------- FIX
def fix_frame(pairs: list[tuple[int, Any]]) -> bytes:
    body = b"".join(f"{t}={v}".encode() + SOH for t, v in pairs)
    raw = b"8=FIX.4.4" + SOH + f"9={len(body)}".encode() + SOH + body
    return raw + f"10={sum(raw) % 256:03d}".encode() + SOH


def fix_time() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def fix_fields(raw: bytes) -> dict[int, str]:
    out: dict[int, str] = {}
    for f in raw.rstrip(SOH).split(SOH):
        t, _, val = f.partition(b"=")
        with contextlib.suppress(ValueError):
            out.setdefault(int(t), val.decode(errors="replace"))
    return out


class FixSession:
    """One signed Kraken FIX session (cancel-on-disconnect on, the default)."""

    def __init__(self, sh: Shared, v: View, creds: dict[str, Any]) -> None:
        self.sh = sh
        self.v = v
        self.creds = creds
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None
        self.seq = 1
        self.waiting: dict[str, asyncio.Future[dict[int, str]]] = {}  # ClOrdID -> its first answer
        self.by_seq: dict[int, str] = {}
        self.logged_on: asyncio.Future[dict[int, str]] | None = None
        self.dead = False
        self.ever_logged_on = False
        self.logon_seq = 1

    async def open(self) -> None:
        """Logon; retried while the venue still holds the previous (aborted)
        session, or is restarting."""
        give_up = max(time.monotonic() + 2.5, self.sh.give_up_at())
        while True:
            try:
                await self._logon()
                return
            except (ConnectionError, RuntimeError, TimeoutError, OSError):
                await self.close()
                if time.monotonic() > give_up:
                    raise
                await self.sh.wait_up()
                await asyncio.sleep(0.05)

    async def _logon(self) -> None:
        self.dead = False
        fix = self.creds["fix"]
        self.reader, self.writer = await asyncio.open_connection(self.sh.info["fix"]["host"], self.sh.info["fix"]["port"])
        resume = self.sh.cfg.fix_resume and self.ever_logged_on
        if not resume:
            self.seq = 1
        self.logged_on = asyncio.get_running_loop().create_future()
        self.waiting = {}  # this connection's requests: a dying older reader must not fail them
        self.task = asyncio.ensure_future(self._read(self.reader, self.waiting, self.logged_on))
        nonce = self.sh.fix_nonce(fix["api_key"])
        self.logon_seq = self.seq
        ours = self.send("A", clients.fix_logon_fields(fix, self.seq, fix["sender_comp_id"], fix["target_comp_id"],
                                                       nonce, reset=not resume))
        reply = await asyncio.wait_for(self.logged_on, 10)
        if reply.get(35) != "A":
            if resume and "too low" in reply.get(58, ""):
                self.v.seq_resets += 1  # the venue forgot what it had from us: start over
                self.ever_logged_on = False
            raise RuntimeError(f"FIX logon refused: {reply}")
        self.ever_logged_on = True
        self.v.logons.append((ours, int(reply.get(34, "0"))))

    def gap_fill(self, begin: int) -> None:
        """Skip what the venue lost of ours before this Logon (it queued the Logon
        and anything after it: filling past those would make it drop them)."""
        assert self.writer is not None
        new_seq = self.logon_seq if begin < self.logon_seq else self.seq
        fix = self.creds["fix"]
        self.writer.write(fix_frame([(35, "4"), (49, fix["sender_comp_id"]), (56, fix["target_comp_id"]),
                                     (34, begin), (43, "Y"), (52, fix_time()), (122, fix_time()), (123, "Y"),
                                     (36, new_seq)]))

    def send(self, msg_type: str, fields: list[tuple[int, Any]]) -> int:
        assert self.writer is not None
        fix = self.creds["fix"]
        seq = self.seq
        self.seq += 1
        self.writer.write(fix_frame([(35, msg_type), (49, fix["sender_comp_id"]), (56, fix["target_comp_id"]),
                                     (34, seq), (52, fix_time()), *fields]))
        return seq

    async def _read(self, reader: asyncio.StreamReader, waiting: dict[str, asyncio.Future[dict[int, str]]],
                    logged_on: asyncio.Future[dict[int, str]]) -> None:
        buf = b""
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                buf += data
                while (m := _FRAME.search(buf)) is not None:
                    end = m.end() + int(m.group(1)) + 7
                    if len(buf) < end:
                        break
                    msg = fix_fields(buf[m.start():end])
                    buf = buf[end:]
                    self._on(msg)
        except Exception:  # noqa: BLE001 - connection gone
            pass
        finally:
            for fut in [*waiting.values(), logged_on]:
                if not fut.done():
                    fut.set_exception(ConnectionError("closed"))
                    fut.exception()  # nobody may be waiting any more (a logon that timed out)

    def _on(self, msg: dict[int, str]) -> None:
        mt = msg.get(35)
        v = self.v
        if msg.get(34, "").isdigit() and msg.get(43) != "Y":
            v.in_seqs.append(int(msg[34]))
        if mt in ("A", "5") and self.logged_on is not None and not self.logged_on.done():
            self.logged_on.set_result(msg)
        if mt == "2":  # ResendRequest: nothing of ours is worth replaying (orders are in doubt): gap fill
            self.gap_fill(int(msg.get(7, "1")))
            return
        if mt == "1":
            self.send("0", [(112, msg.get(112, ""))])
            return
        if mt == "0" and 112 in msg:  # the answer to our own TestRequest
            fut0 = self.waiting.get("test:" + msg[112])
            if fut0 is not None and not fut0.done():
                fut0.set_result(msg)
            return
        if mt == "8":
            oid = msg.get(37, "")
            et = msg.get(150)
            if et == "F":
                v.exec_ids[msg.get(17, "")] += 1
                v.fills.setdefault(oid, []).append(Decimal(msg.get(32, "0")))
            if msg.get(39) in ("2", "4", "C"):
                v.open.discard(oid)
        cl = msg.get(11)
        if mt in ("3", "j"):
            ref = msg.get(45)
            cl = self.by_seq.get(int(ref)) if ref and ref.isdigit() else None
        if cl is not None:
            fut = self.waiting.get(cl)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def request(self, cl: str, msg_type: str, fields: list[tuple[int, Any]]) -> dict[int, str]:
        fut: asyncio.Future[dict[int, str]] = asyncio.get_running_loop().create_future()
        waiting = self.waiting
        waiting[cl] = fut
        try:
            seq = self.send(msg_type, fields)
            self.by_seq[seq] = cl
            return await asyncio.wait_for(fut, self.sh.cfg.request_timeout_s)
        finally:
            waiting.pop(cl, None)

    def alive(self) -> bool:
        return not self.dead and self.task is not None and not self.task.done()

    def abort(self) -> None:
        self.dead = True
        if self.writer is not None:
            self.writer.transport.abort()

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 2)
        if self.task is not None:
            self.task.cancel()


async def fix_client(sh: Shared, v: View, creds: dict[str, Any], rng: random.Random) -> None:
    s = FixSession(sh, v, creds)
    await s.open()
    sides: dict[str, str] = {}
    next_kill = _next_kill(sh, rng)
    try:
        while not sh.done():
            if not s.alive():
                v.gapped = True
                await s.close()
                await s.open()
            kill = time.monotonic() >= next_kill
            if kill:
                next_kill = _next_kill(sh, rng)
            action = rng.random()
            cl = sh.next_cl()
            add = action < 0.6 or not v.open
            if add:
                side = rng.choice(("buy", "sell"))
                fields: list[tuple[int, Any]] = [(11, cl), (55, WSSYM), (54, "1" if side == "buy" else "2"),
                                                 (38, qty(rng)), (40, "2"), (44, sh.order_price(rng, side)),
                                                 (59, "1"), (60, fix_time())]
                msg_type = "D"
            else:
                oid = rng.choice(sorted(v.open))
                fields = [(11, cl), (37, oid), (55, WSSYM), (54, sides.get(oid, "1")), (60, fix_time())]
                msg_type = "F"
            v.sent += 1
            t0 = time.perf_counter()
            task = asyncio.ensure_future(s.request(cl, msg_type, fields))
            if kill:
                await asyncio.sleep(rng.random() * 0.002)
                s.abort()
                v.kills += 1
            try:
                reply = await task
            except Exception as exc:  # noqa: BLE001 - killed mid-request
                if isinstance(exc, (TimeoutError, httpx.TimeoutException)) and not kill:
                    v.timeouts += 1  # a live connection that got no answer in time
                if add:
                    v.in_doubt.add(cl)
                await sh.wait_up()
                continue
            v.latencies.append(time.perf_counter() - t0)
            v.ack_times.append(time.monotonic())
            if add:
                if reply.get(35) == "8" and reply.get(150) not in ("8",):
                    oid = reply.get(37, "")
                    v.acked[cl] = oid
                    sides[oid] = reply.get(54, "1")
                    if reply.get(39) not in ("2", "4", "C"):
                        v.open.add(oid)
                else:
                    v.rejected[cl] = reply.get(58, "?")
            else:
                v.open.discard(oid)
                if reply.get(35) == "8" and reply.get(150) == "4":
                    v.cancel_acked.add(oid)
        await sh.all_stopped()
        if s.alive():  # everything the venue sent before the Heartbeat is read
            with contextlib.suppress(Exception):
                test_id = sh.next_cl()
                await s.request("test:" + test_id, "1", [(112, test_id)])
    finally:
        await s.close()


# -------------------------------------------------------------- derivatives
async def futures_call(sh: Shared, http: httpx.AsyncClient, creds: dict[str, Any], method: str, endpoint: str,
                       params: dict[str, Any]) -> dict[str, Any]:
    """One signed v3 call as python-kraken-sdk makes it (form body, Nonce header)."""
    out: dict[str, Any] = await clients.futures_call(http, sh.info["futures_rest"], creds, method, endpoint, params,
                                                     next(sh.nonces))
    return out


def futures_price(sh: Shared, rng: random.Random, side: str) -> Decimal:
    cross = rng.random() < sh.cfg.cross_share
    ticks = rng.randint(0, 30) * sh.futures_tick
    if side == "buy":
        p = sh.futures_ask + ticks if cross else sh.futures_bid - ticks
    else:
        p = sh.futures_bid - ticks if cross else sh.futures_ask + ticks
    return max(p, sh.futures_tick)


class FuturesFeed(_WsClient):
    """A WS v1 connection following one account's fills and open orders."""

    def __init__(self, sh: Shared, v: View, creds: dict[str, Any]) -> None:
        self.sh = sh
        self.v = v
        self.creds = creds
        self.ws: ClientConnection | None = None
        self.reader: asyncio.Task[None] | None = None
        self.placed: dict[str, asyncio.Future[float]] = {}  # cliOrdId -> when its open_orders update came
        self.subscribed: asyncio.Future[None] | None = None
        self.dead = False

    async def open(self) -> None:
        self.dead = False
        self.ws = await ws_connect(self.sh.info["futures_ws"], max_size=None, ping_interval=None,
                                   open_timeout=10, close_timeout=1)
        self.subscribed = asyncio.get_running_loop().create_future()
        challenge: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.ensure_future(self._read(self.ws, challenge))
        await self.ws.send(json.dumps({"event": "challenge", "api_key": self.creds["futures_api_key"]}))
        ch = await asyncio.wait_for(challenge, 10)
        signed = base64.b64encode(hmac.new(base64.b64decode(self.creds["futures_api_secret"]),
                                           hashlib.sha256(ch.encode()).digest(), hashlib.sha512).digest()).decode()
        auth = {"api_key": self.creds["futures_api_key"], "original_challenge": ch, "signed_challenge": signed}
        for feed in ("fills", "open_orders"):
            await self.ws.send(json.dumps({"event": "subscribe", "feed": feed, **auth}))
        await asyncio.wait_for(self.subscribed, 10)

    async def _read(self, ws: ClientConnection, challenge: asyncio.Future[str]) -> None:
        subs: set[str] = set()
        try:
            async for raw in ws:
                msg = json.loads(raw, parse_float=Decimal)
                ev = msg.get("event")
                if ev == "challenge" and not challenge.done():
                    challenge.set_result(str(msg["message"]))
                elif ev == "subscribed":
                    subs.add(str(msg.get("feed")))
                    if {"fills", "open_orders"} <= subs and self.subscribed is not None \
                            and not self.subscribed.done():
                        self.subscribed.set_result(None)
                elif ev == "alert" and self.subscribed is not None and not self.subscribed.done():
                    self.subscribed.set_exception(RuntimeError(f"futures WS: {msg}"))
                elif msg.get("feed") == "fills":  # not fills_snapshot: history, counted already
                    for f in msg.get("fills", []):
                        self._seen(f.get("cli_ord_id"))  # a taker filled at once has no open_orders update
                        self.v.exec_ids[str(f["fill_id"])] += 1
                        self.v.fills.setdefault(str(f["order_id"]), []).append(Decimal(str(f["qty"])))
                elif msg.get("feed") == "open_orders":
                    self._seen((msg.get("order") or {}).get("cli_ord_id"))
                    if msg.get("is_cancel") and msg.get("order_id"):
                        self.v.open.discard(str(msg["order_id"]))
        except Exception:  # noqa: BLE001 - the connection went away
            pass
        finally:
            for fut in [challenge, self.subscribed, *self.placed.values()]:
                if fut is not None and not fut.done():
                    fut.set_exception(ConnectionError("closed"))
                    fut.exception()

    def _seen(self, cli: Any) -> None:
        """The first feed message naming one of our orders: its WS v1 latency."""
        fut = self.placed.get(str(cli)) if cli is not None else None
        if fut is not None and not fut.done():
            fut.set_result(time.perf_counter())



async def futures_client(sh: Shared, v: View, creds: dict[str, Any], rng: random.Random) -> None:
    """Orders over Derivatives REST v3; `futures_ws` clients also follow their
    fills and open orders on WS v1 (latency: send -> the order's WS update)."""
    http = httpx.AsyncClient(timeout=sh.cfg.request_timeout_s)
    feed = FuturesFeed(sh, v, creds) if v.protocol == "futures_ws" else None
    resting: dict[str, tuple[str, Decimal]] = {}  # its orders: side, limit price
    if feed is not None:
        await feed.open()
    next_kill = _next_kill(sh, rng)
    try:
        while not sh.done():
            if feed is not None and not feed.alive():
                v.gapped = True
                await feed.close()
                await reopen(sh, v.name, feed.open, feed.close)
            kill = time.monotonic() >= next_kill
            if kill:
                next_kill = _next_kill(sh, rng)
            cl: str | None = None
            if rng.random() < 0.65 or not v.open:
                side = rng.choice(("buy", "sell"))
                cl = "f" + sh.next_cl()
                endpoint = "sendorder"
                price = futures_price(sh, rng, side)
                # never cross its own resting orders: the venue's self-trade prevention would cancel
                # the remainder without an order event (see the report), which is not what this checks
                mine = {p for o, (sd, p) in resting.items() if o in v.open and sd != side}
                if mine:
                    price = min(price, min(mine) - sh.futures_tick) if side == "buy" else \
                        max(price, max(mine) + sh.futures_tick)
                params: dict[str, Any] = {"orderType": "lmt", "symbol": FUTURES_SYMBOL, "side": side,
                                          "size": str(Decimal(rng.randint(1, 20)) / 1000),
                                          "limitPrice": str(price), "cliOrdId": cl}
            else:
                endpoint, params = "cancelorder", {"order_id": rng.choice(sorted(v.open))}
            v.sent += 1
            placed: asyncio.Future[float] | None = None
            if feed is not None and cl is not None:
                placed = feed.placed[cl] = asyncio.get_running_loop().create_future()
            t0 = time.perf_counter()
            task = asyncio.ensure_future(futures_call(sh, http, creds, "POST", endpoint, params))
            if kill:  # abort the REST connection (or the WS feed) with the request in flight
                await asyncio.sleep(rng.random() * 0.002)
                if feed is not None:
                    feed.abort()
                else:
                    await http.aclose()
                    http = httpx.AsyncClient(timeout=sh.cfg.request_timeout_s)
                v.kills += 1
            try:
                res = await task
            except Exception as exc:  # noqa: BLE001 - killed mid-request: the outcome is unknown to us
                if isinstance(exc, (TimeoutError, httpx.TimeoutException)) and not kill:
                    v.timeouts += 1
                if cl is not None:
                    v.in_doubt.add(cl)
                    feed.placed.pop(cl, None) if feed is not None else None
                else:
                    v.open.discard(params["order_id"])
                await sh.wait_up()
                continue
            t_ack = time.perf_counter()
            if endpoint == "sendorder":
                assert cl is not None
                st = res.get("sendStatus") or {}
                if res.get("result") == "success" and st.get("status") == "placed":
                    oid = str(st["order_id"])
                    v.acked[cl] = oid
                    v.open.add(oid)  # maybe filled already: a later cancel finds out
                    resting[oid] = (params["side"], Decimal(params["limitPrice"]))
                else:
                    v.rejected[cl] = str(st.get("status") or res.get("error"))
            else:
                st = res.get("cancelStatus") or {}
                v.open.discard(params["order_id"])
                if st.get("status") == "cancelled":
                    v.cancel_acked.add(params["order_id"])
            if placed is not None and cl in v.acked:
                try:  # the WS v1 latency: until the account's open_orders feed shows the order
                    t_ack = await asyncio.wait_for(asyncio.shield(placed), sh.cfg.request_timeout_s)
                except (TimeoutError, ConnectionError):
                    t_ack = time.perf_counter()
                    v.gapped = True
            if feed is not None and cl is not None:
                feed.placed.pop(cl, None)
            v.latencies.append(t_ack - t0)
            v.ack_times.append(time.monotonic())
        await sh.all_stopped()
        if feed is not None and feed.alive():
            await asyncio.sleep(0.3)  # fills of its last orders on the way
    finally:
        await http.aclose()
        if feed is not None:
            await feed.close()


# ------------------------------------------------------------ slow consumer
class SlowConsumer:
    """Subscribes to the busiest public channels, then never reads (its client
    library stops reading the socket once one frame waits): the venue must drop
    it (close 1008) rather than buffer without bound or slow the engine down."""

    def __init__(self, sh: Shared) -> None:
        self.sh = sh
        self.ws: ClientConnection | None = None
        self.conn_id: str | None = None
        self.gone_after_s: float | None = None

    async def open(self, http: httpx.AsyncClient) -> None:
        base = self.sh.info["admin"]
        known = {c["id"] for c in await admin(http, base, "GET", "/connections")}
        host, port = self.sh.info["spot_ws"].removeprefix("ws://").split("/")[0].rsplit(":", 1)
        sock = socket.socket(socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small TCP window
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host.strip("[]"), int(port)))
        self.ws = await ws_connect(self.sh.info["spot_ws"], sock=sock, max_size=None, ping_interval=None,
                                   max_queue=1, close_timeout=1)
        subs = (
            {"channel": "book", "symbol": [WSSYM], "depth": 1000},
            {"channel": "trade", "symbol": [WSSYM]},
            {"channel": "ticker", "symbol": [WSSYM], "event_trigger": "bbo"},
            {"channel": "ohlc", "symbol": [WSSYM], "interval": 1},
        )
        for i, sub in enumerate(subs):
            await self.ws.send(json.dumps({"method": "subscribe", "params": sub, "req_id": i}))
        for _ in range(100):
            new = [c["id"] for c in await admin(http, base, "GET", "/connections")
                   if c["id"] not in known and c["protocol"] == "ws"]
            if new:
                self.conn_id = new[0]
                break
            await asyncio.sleep(0.01)

    async def watch(self, http: httpx.AsyncClient, t0: float) -> None:
        """Notes when the venue forgot the connection (it dropped it)."""
        if self.gone_after_s is None and self.conn_id is not None:
            live = {c["id"] for c in await admin(http, self.sh.info["admin"], "GET", "/connections")}
            if self.conn_id not in live:
                self.gone_after_s = round(time.monotonic() - t0, 2)

    async def finish(self) -> dict[str, Any]:
        """Read what the socket still holds, up to the close frame."""
        assert self.ws is not None
        drained = 0
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                async for _ in self.ws:
                    drained += 1
        code = self.ws.close_code
        self.ws.transport.abort()
        return {"close_code": code, "close_reason": self.ws.close_reason, "dropped_after_s": self.gone_after_s,
                "drained_messages": drained}


# --------------------------------------------------------------------- run
async def setup_accounts(sh: Shared, http: httpx.AsyncClient, kinds: list[str]) -> list[dict[str, Any]]:
    base = sh.info["admin"]
    out = []
    for kind in kinds:
        body: dict[str, Any] = {"balances": {"USD": "10000000", "XBT": "100"}, "tier": "intermediate"}
        if kind.startswith("futures"):
            body["futures_balances"] = {"USD": "10000000"}
        if kind in ("rest", "ws"):
            body["margin"] = True
        creds = await admin(http, base, "POST", "/accounts", body)
        await admin(http, base, "POST", f"/accounts/{creds['account_id']}/tier", {"rate_limits": False})
        out.append(creds)
    return out


async def futures_value(http: httpx.AsyncClient, info: dict[str, Any],
                        accounts: dict[str, dict[str, Any]]) -> Decimal:
    """What the derivatives engine conserves, from the admin API: every flex
    account's portfolio value (collateral + unrealised PnL + funding, USD) plus
    the house's USD (fees, residues).  Only the load's contract trades, USD-margined."""
    total = Decimal(0)
    for a in accounts.values():
        flex = ((a.get("futures") or {}).get("margin_accounts") or {}).get("flex")
        if flex:
            total += Decimal(flex["portfolio_value"])
    house = await admin(http, info["admin"], "GET", "/futures/house")
    return total + Decimal(house["balances"].get("USD", "0"))


async def run_load(info: dict[str, Any], cfg: LoadConfig,
                   probe: Callable[[], Awaitable[dict[str, Any]]] | None = None,
                   on_slow_consumer: Callable[[tuple[str, int]], Awaitable[None]] | None = None,
                   restart: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> LoadResult:
    """Run the clients for `cfg.seconds`, quiesce, reconcile.  In-process callers may
    pass `probe` (sampled every 50 ms for venue-side figures, e.g. WS queue lengths)
    and `on_slow_consumer` (called with the slow consumer's local socket address).
    `restart` (a venue in its own process): called once mid-run to stop and start
    the venue on its state directory; returns the new ready line (same ports)."""
    sh = Shared(info, cfg)
    rng = random.Random(cfg.seed)
    http = sh.http = httpx.AsyncClient(timeout=60)
    try:
        return await _run_load(sh, rng, http, probe, on_slow_consumer, restart)
    finally:
        if sh.http is not None:
            await sh.http.aclose()


async def _run_load(sh: Shared, rng: random.Random, http: httpx.AsyncClient,
                    probe: Callable[[], Awaitable[dict[str, Any]]] | None,
                    on_slow_consumer: Callable[[tuple[str, int]], Awaitable[None]] | None,
                    restart: Callable[[], Awaitable[dict[str, Any]]] | None) -> LoadResult:
    cfg, info, base = sh.cfg, sh.info, sh.info["admin"]
    sh.http = http
    if (await admin(http, base, "GET", "/clock"))["mode"] != "real":
        await admin(http, base, "POST", "/clock", {"mode": "real"})
    depth = (await http.get(info["spot_rest"] + f"/0/public/Depth?pair={PAIR}&count=1")).json()["result"]
    book = next(iter(depth.values()))
    sh.bid, sh.ask = Decimal(book["bids"][0][0]), Decimal(book["asks"][0][0])
    kinds = (["rest"] * cfg.rest + ["ws"] * cfg.ws + ["fix"] * cfg.fix + ["futures_rest"] * cfg.futures_rest
             + ["futures_ws"] * cfg.futures_ws)
    if cfg.futures_rest or cfg.futures_ws:
        fob = (await http.get(info["futures_rest"] + FUTURES_V3 + f"orderbook?symbol={FUTURES_SYMBOL}")).json()
        sh.futures_bid = Decimal(str(fob["orderBook"]["bids"][0][0]))
        sh.futures_ask = Decimal(str(fob["orderBook"]["asks"][0][0]))
        ins = (await http.get(info["futures_rest"] + FUTURES_V3 + "instruments")).json()["instruments"]
        spec = next(i for i in ins if i["symbol"] == FUTURES_SYMBOL)
        sh.futures_tick = Decimal(str(spec["tickSize"]))
        sh.futures_qdp = int(spec.get("contractValueTradePrecision", 4))
    creds = await setup_accounts(sh, http, kinds)
    before = {a["account_id"]: a for a in await admin(http, base, "GET", "/accounts")}
    start_seq = (await admin(http, base, "GET", "/state"))["journal_last"]
    views = [View(f"{k}{i}", k, c["account_id"]) for i, (k, c) in enumerate(zip(kinds, creds, strict=True))]
    runners = {"rest": rest_client, "ws": ws_client, "fix": fix_client, "futures_rest": futures_client,
               "futures_ws": futures_client}
    stats: dict[str, Any] = {"probe_max": {}, "restart": None, "futures_qty_dp": sh.futures_qdp,
                             "fix_resume": cfg.fix_resume}
    fut_before = await futures_value(http, info, before) if cfg.futures_rest or cfg.futures_ws else None
    slow = SlowConsumer(sh) if cfg.slow_consumer else None
    if slow is not None:
        await slow.open(http)
        if on_slow_consumer is not None and slow.ws is not None:
            await on_slow_consumer(slow.ws.transport.get_extra_info("sockname")[:2])
    sh.deadline = time.monotonic() + cfg.seconds
    sh.phase_cap = time.monotonic() + cfg.max_phase_s
    sh.clients = len(views)
    sh.views = views
    sh.restart_due = restart is not None
    tasks = [asyncio.ensure_future(runners[v.protocol](sh, v, c, random.Random(rng.random())))
             for v, c in zip(views, creds, strict=True)]
    t0 = time.monotonic()
    stats["started"] = t0
    if restart is not None:  # the first phase lasts half the run (and until its acks, if asked)
        sh.deadline = t0 + cfg.seconds / 2
    admin_dropped: list[str] = []
    while not all(t.done() for t in tasks):
        await asyncio.sleep(0.05)
        if any(t.done() and t.exception() is not None for t in tasks):
            sh.quiet.set()  # a client failed: let the others finish (the failure is raised below)
        if slow is not None:
            await slow.watch(http, t0)
        if probe is not None:
            for k, val in (await probe()).items():
                stats["probe_max"][k] = max(stats["probe_max"].get(k, 0), val)
        if cfg.admin_drop_ws and not admin_dropped and time.monotonic() - t0 > cfg.seconds / 2:
            # the venue drops the clients' WS connections (not the slow consumer's: its fate is its own)
            admin_dropped = ["none"]
            for c in await admin(http, base, "GET", "/connections"):
                if c["protocol"] == "ws" and c["id"] != (slow.conn_id if slow else None):
                    with contextlib.suppress(httpx.HTTPStatusError):  # gone meanwhile
                        await admin(http, base, "POST", "/faults", {"drop_connection": c["id"]})
                        admin_dropped.append(c["id"])
        if restart is not None and stats["restart"] is None and sh.phase_over():
            stats["phase_s"] = [time.monotonic() - t0]
            for v in views:
                v.acked_before_restart = len(v.acked)
            sh.up.clear()
            sh.restarting = True
            t_stop = time.monotonic()
            new_info = await restart()
            outage = time.monotonic() - t_stop
            sh.deadline = time.monotonic() + cfg.seconds / 2  # the second half trades as long as the first
            sh.phase_cap = time.monotonic() + cfg.max_phase_s
            stats["phase_started"] = time.monotonic()
            sh.restart_due = False
            sh.restarting = False
            stats["restart"] = {"outage_s": round(outage, 2), "ready": new_info}
            await http.aclose()  # its keep-alive connections went with the old process
            http = sh.http = httpx.AsyncClient(timeout=60)
            sh.restarted = True
            sh.up.set()
        if "phase_started" in stats and sh.phase_over():  # the restarted venue's phase is complete
            stats["phase_s"].append(time.monotonic() - stats.pop("phase_started"))
        if time.monotonic() > sh.give_up_at() + 30:
            raise TimeoutError("clients did not stop")
    elapsed = time.monotonic() - t0
    if "phase_started" in stats:
        stats["phase_s"].append(time.monotonic() - stats.pop("phase_started"))
    for i, t in enumerate(tasks):
        exc = t.exception()
        if exc is not None:
            raise RuntimeError(f"client {i} failed: {exc!r}") from exc
    await asyncio.sleep(0.3)  # cancel-on-disconnect and feeds settle
    stats["slow_consumer"] = await slow.finish() if slow is not None else {}
    stats["admin_dropped"] = len([d for d in admin_dropped if d != "none"])
    problems = await reconcile(http, info, views, before, start_seq, stats, fut_before)
    return LoadResult(elapsed, views, problems, stats)


async def reconcile(http: httpx.AsyncClient, info: dict[str, Any], views: list[View],
                    before: dict[str, dict[str, Any]], start_seq: int, stats: dict[str, Any],
                    fut_before: Decimal | None = None) -> list[str]:
    """Every check in the module docstring; returns the problems found (empty: reconciled)."""
    base = info["admin"]
    problems: list[str] = []
    entries = await journal_since(http, base, start_seq)
    after = {a["account_id"]: a for a in await admin(http, base, "GET", "/accounts")}
    assets = (await http.get(info["spot_rest"] + "/0/public/Assets")).json()["result"]
    alt = {k: v["altname"] for k, v in assets.items()}
    pair = (await http.get(info["spot_rest"] + f"/0/public/AssetPairs?pair={PAIR}")).json()["result"]
    lot_dp = next(iter(pair.values()))["lot_decimals"]
    cost_dp = next(iter(pair.values()))["cost_decimals"]
    base_alt, quote_alt = (alt[next(iter(pair.values()))[k]] for k in ("base", "quote"))

    orders: dict[str, dict[str, Any]] = {}
    by_cl: dict[tuple[str, str], list[str]] = {}
    fills: dict[str, dict[str, int]] = {}
    ledger: Counter[str] = Counter()
    trade_net: Counter[str] = Counter()
    fees: Counter[str] = Counter()
    for e in entries:
        if e["command"] == "add_order" and "error" not in e:
            req = e["params"].get("req", {}).get("$OrderRequest", {})
            first = next((ev for ev in e["events"] if ev["kind"] == "order"), None)
            if first is not None and req.get("cl_ord_id"):
                by_cl.setdefault((first["account"], req["cl_ord_id"]), []).append(first["order_id"])
            if first is not None and first.get("leverage"):  # margin orders the venue took, per protocol
                per = stats.setdefault("margin_orders", {})
                per[e["protocol"]] = per.get(e["protocol"], 0) + 1
        for ev in e["events"]:
            if ev["kind"] == "order":
                o = orders.setdefault(ev["order_id"], {"account": ev["account"]})
                o["status"], o["filled"] = ev["status"], ev["filled"]
                if "fill" in ev:
                    fills.setdefault(ev["order_id"], {})[ev["fill"]["id"]] = ev["fill"]["qty"]
                    if ev.get("leverage"):
                        # a margin fill moves no balances: the venue lends the other leg, so the
                        # trade nets to zero with the position's legs counted in
                        stats["margin_fills"] = stats.get("margin_fills", 0) + 1
                        sign = 1 if ev["side"] == "buy" else -1
                        trade_net[base_alt] += sign * ev["fill"]["qty"] * 10 ** (10 - lot_dp)
                        trade_net[quote_alt] -= sign * ev["fill"]["cost"] * 10 ** (10 - cost_dp)
            elif ev["kind"] == "balance":
                a = alt.get(ev["asset"], ev["asset"])
                ledger[a] += ev["amount"] - ev["fee"]
                fees[a] += ev["fee"]
                if ev["type"] == "trade":
                    trade_net[a] += ev["amount"]

    # 1. acknowledged orders: in the journal, on the right account, with the client's id
    spot_views = [v for v in views if not v.protocol.startswith("futures")]
    for v in spot_views:
        for cl, oid in v.acked.items():
            if by_cl.get((v.account_id, cl)) != [oid]:
                problems.append(f"{v.name}: ack {cl}->{oid} vs journal {by_cl.get((v.account_id, cl))}")
            elif orders.get(oid, {}).get("account") != v.account_id:
                problems.append(f"{v.name}: order {oid} not on account {v.account_id}")
        for cl in v.in_doubt:
            if len(by_cl.get((v.account_id, cl), [])) > 1:
                problems.append(f"{v.name}: in-doubt {cl} duplicated: {by_cl[(v.account_id, cl)]}")
        dup_cl = [k for k, ids in by_cl.items() if k[0] == v.account_id and len(ids) > 1]
        if dup_cl:
            problems.append(f"{v.name}: client ids with several orders: {dup_cl[:5]}")
        # 2. what it saw cancelled is cancelled
        for oid in v.cancel_acked:
            if orders.get(oid, {}).get("status") != "canceled":
                problems.append(f"{v.name}: cancel of {oid} acked, venue status {orders.get(oid, {}).get('status')}")
        # 3. its own fills (WS/FIX feeds) against the venue's
        if v.protocol in ("ws", "fix"):
            dups = [k for k, n in v.exec_ids.items() if n > 1]
            if dups:
                problems.append(f"{v.name}: executions seen twice: {dups[:5]}")
            for oid in v.acked.values():
                venue_q = sorted(fills.get(oid, {}).values())
                seen = sorted(int(q.scaleb(lot_dp)) for q in v.fills.get(oid, []))
                if v.gapped:
                    if Counter(seen) - Counter(venue_q):
                        problems.append(f"{v.name}: fills of {oid} the venue does not have: {seen} vs {venue_q}")
                elif seen != venue_q:
                    problems.append(f"{v.name}: fills of {oid} seen {seen}, venue {venue_q}")
    # 4. exactly one state per order: open in the venue's list, or terminal
    load_accounts = {v.account_id for v in spot_views}
    for oid, o in orders.items():
        acct = after.get(o["account"])
        if acct is None:
            continue
        is_open = oid in acct["open_orders"]
        terminal = o["status"] in TERMINAL
        if is_open == terminal:
            problems.append(f"order {oid}: journal status {o['status']}, in open list: {is_open}")
    for aid in load_accounts:
        stray = [oid for oid in after[aid]["open_orders"] if oid not in orders]
        if stray:
            problems.append(f"account {aid}: open orders the journal never created: {stray[:5]}")
    # 5. balances conserved: the change over all accounts == the ledger; trades net to zero
    def units(text: str) -> int:
        return int(Decimal(text).scaleb(10))

    every = set(before) | set(after)
    names = {a for acc in (*before.values(), *after.values()) for a in acc["balances"]}
    for asset in sorted(names):
        delta = sum(units(after.get(a, {}).get("balances", {}).get(asset, "0"))
                    - units(before.get(a, {}).get("balances", {}).get(asset, "0")) for a in every)
        if delta != ledger[asset]:
            problems.append(f"{asset}: balances moved {delta}, ledger says {ledger[asset]}")
        if trade_net[asset] != 0:
            problems.append(f"{asset}: trades do not net to zero ({trade_net[asset]})")
    for a in every:
        for asset, held in after.get(a, {}).get("held", {}).items():
            if Decimal(held) < 0 or Decimal(held) > Decimal(after[a]["balances"].get(asset, "0")):
                problems.append(f"account {a}: {asset} held {held} outside [0, balance]")
    problems += reconcile_futures(entries, views, after, stats)
    if fut_before is not None:
        fut_after = await futures_value(http, info, after)
        stats["futures_value"] = {"before": str(fut_before), "after": str(fut_after)}
        if fut_after != fut_before:
            problems.append(f"derivatives value not conserved: {fut_before} before, {fut_after} after")
    problems += check_fix_sequences(views, bool(stats.get("fix_resume")))
    stats.update({
        "journal_entries": len(entries),
        "orders": len(orders),
        "fills": sum(len(f) for f in fills.values()),
        "fees": {a: str(Decimal(f).scaleb(-10)) for a, f in fees.items() if f},
        "acked": sum(len(v.acked) for v in views),
        "acked_before_restart": sum(v.acked_before_restart for v in views),
        "in_doubt": sum(len(v.in_doubt) for v in views),
        "in_doubt_executed": sum(1 for v in views for cl in v.in_doubt if by_cl.get((v.account_id, cl))),
        "kills": sum(v.kills for v in views),
        "timeouts": sum(v.timeouts for v in views),
        "dropped_by_venue": sum(v.dropped_by_venue for v in views),
    })
    return problems


def reconcile_futures(entries: list[dict[str, Any]], views: list[View], after: dict[str, dict[str, Any]],
                      stats: dict[str, Any]) -> list[str]:
    """The derivatives half of the checks: acks vs journal, one state per order,
    what was cancelled is cancelled, each WS v1 client's fills vs the venue's."""
    problems: list[str] = []
    fviews = [v for v in views if v.protocol.startswith("futures")]
    if not fviews:
        return problems
    by_cl: dict[tuple[str, str], list[str]] = {}
    orders: dict[str, dict[str, Any]] = {}
    fills: dict[str, dict[str, int]] = {}
    sizes: dict[str, int] = {}  # order id -> size asked for (qty units)
    qdp = 10 ** int(stats.get("futures_qty_dp", 4))
    for e in entries:
        if e["engine"] != "futures":
            continue
        if e["command"] == "send_order" and "error" not in e:
            req = e["params"].get("req") or {}
            req = req.get("$FuturesOrderRequest", req)
            cli, acct = req.get("cl_ord_id", req.get("cliOrdId")), e["params"].get("account_id")
            # a taker filled in full on entry has fill events only (its `accepted` event is quiet)
            first = next((ev for ev in e["events"] if ev["kind"] in ("futures_order", "futures_fill")
                          and ev["account"] == acct), None)
            if cli and first is not None and first.get("reason") != "rejected":
                by_cl.setdefault((first["account"], str(cli)), []).append(first["order_id"])
                size = req.get("size")
                if isinstance(size, dict) and "$d" in size:
                    sizes[first["order_id"]] = int(Decimal(size["$d"]) * qdp)
        for ev in e["events"]:
            if ev["kind"] == "futures_order" and not ev.get("quiet"):
                o = orders.setdefault(ev["order_id"], {"account": ev["account"]})
                o.update(filled=ev["filled"], qty=ev["qty"], is_cancel=ev["is_cancel"], reason=ev["reason"])
                o.pop("fills_only", None)
            elif ev["kind"] == "futures_fill":
                fills.setdefault(ev["order_id"], {})[ev["fill_id"]] = ev["qty"]
                orders.setdefault(ev["order_id"], {"account": ev["account"], "fills_only": True})
    for oid, o in orders.items():
        if o.get("fills_only"):  # filled in full on entry: all it asked for, in fills
            filled = sum(fills.get(oid, {}).values())
            o.update(filled=filled, qty=sizes.get(oid), is_cancel=False, reason="taker_full_fill")
            if sizes.get(oid) is not None and filled != sizes[oid]:
                problems.append(f"futures order {oid}: fills-only with {filled} of {sizes[oid]}")
    for v in fviews:
        for cl, oid in v.acked.items():
            if by_cl.get((v.account_id, cl)) != [oid]:
                problems.append(f"{v.name}: ack {cl}->{oid} vs journal {by_cl.get((v.account_id, cl))}")
            elif orders.get(oid, {}).get("account") != v.account_id:
                problems.append(f"{v.name}: order {oid} not on account {v.account_id}")
        dup = [k for k, ids in by_cl.items() if k[0] == v.account_id and len(ids) > 1]
        if dup:
            problems.append(f"{v.name}: client ids with several orders: {dup[:5]}")
        for oid in v.cancel_acked:
            o = orders.get(oid, {})
            if not o.get("is_cancel") or o.get("filled") == o.get("qty"):
                problems.append(f"{v.name}: cancel of {oid} acked, venue has {o}")
        if v.protocol == "futures_ws":
            dups = [k for k, n in v.exec_ids.items() if n > 1]
            if dups:
                problems.append(f"{v.name}: fills seen twice: {dups[:5]}")
            for oid in v.acked.values():
                venue_q = sorted(fills.get(oid, {}).values())
                seen = sorted(int(q * qdp) for q in v.fills.get(oid, []))
                if v.gapped:
                    if Counter(seen) - Counter(venue_q):
                        problems.append(f"{v.name}: fills of {oid} the venue does not have: {seen} vs {venue_q}")
                elif seen != venue_q:
                    problems.append(f"{v.name}: fills of {oid} seen {seen}, venue {venue_q}")
    accts = {v.account_id for v in fviews}
    for oid, o in orders.items():
        acct = after.get(o["account"])
        if acct is None or o["account"] not in accts:
            continue
        is_open = oid in ((acct.get("futures") or {}).get("open_orders") or [])
        terminal = bool(o["is_cancel"]) or o["filled"] == o["qty"]
        if is_open == terminal:
            problems.append(f"futures order {oid}: journal {o}, in open list: {is_open}")
    for aid in accts:
        stray = [x for x in ((after[aid].get("futures") or {}).get("open_orders") or []) if x not in orders]
        if stray:
            problems.append(f"account {aid}: futures orders the journal never created: {stray[:5]}")
    stats.update({
        "futures_orders": len(orders),
        "futures_fills": sum(len(f) for f in fills.values()),
        "futures_acked": sum(len(v.acked) for v in fviews),
        "futures_in_doubt": sum(len(v.in_doubt) for v in fviews),
    })
    return problems


def check_fix_sequences(views: list[View], resume: bool) -> list[str]:
    """With resumed sessions, the venue's MsgSeqNums only ever go up (across
    re-logons and restarts), and no logon needed a reset."""
    problems: list[str] = []
    for v in views:
        if not resume or v.protocol != "fix" or len(v.logons) < 2:
            continue
        if v.seq_resets:
            problems.append(f"{v.name}: {v.seq_resets} logon(s) needed a sequence reset")
        back = [(a, b) for a, b in itertools.pairwise(v.in_seqs) if b <= a]
        if back:
            problems.append(f"{v.name}: venue MsgSeqNum went back: {back[:5]}")
        ours = [a for a, _ in v.logons[1:]]
        if ours and min(ours) <= 1:
            problems.append(f"{v.name}: re-logon started over at MsgSeqNum {min(ours)}")
    return problems


class SimProcess:
    """The simulator in its own process, stoppable (SIGTERM or SIGKILL) and
    restartable on the same state directory and ports."""

    def __init__(self, state_dir: str | None = None, extra: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.extra = extra or []
        self.env = env
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.starts = 0

    def start(self, port: int = 0, fix_port: int = 0) -> dict[str, Any]:
        # the reconciliation reads the whole run from the in-memory journal: keep all of it
        cmd = [sys.executable, "-m", "simulator", "serve", "--port", str(port), "--fix-port", str(fix_port),
               "--log-level", "error", "--journal-max", "0", *self.extra]
        if self.state_dir:
            cmd += ["--state-dir", self.state_dir]
        deadline = time.monotonic() + 30
        while True:  # the old process's port may linger for a moment
            env = {**os.environ, **self.env} if self.env else None
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if line:
                break
            self.proc.wait(10)
            if time.monotonic() > deadline:
                raise RuntimeError("simulator did not start")
            time.sleep(0.2)
        self.info = json.loads(line)
        self.starts += 1
        return self.info

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(30)

    async def restart(self, sig: int = signal.SIGTERM) -> dict[str, Any]:
        """Stop with `sig`, start again on the same ports; the new ready line."""
        port = int(self.info["spot_rest"].rsplit(":", 1)[1])
        fix_port = int(self.info["fix"]["port"])
        old = self.info
        rc = await asyncio.to_thread(self.stop, sig)
        if sig == signal.SIGTERM and rc != 0:
            raise RuntimeError(f"simulator exited {rc} on SIGTERM")
        info = await asyncio.to_thread(self.start, port, fix_port)
        if info["spot_rest"] != old["spot_rest"] or info["fix"] != old["fix"]:
            raise RuntimeError(f"restarted on other ports: {info}")
        return info

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# --------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rest", type=int, default=4)
    ap.add_argument("--ws", type=int, default=4)
    ap.add_argument("--fix", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--futures-rest", type=int, default=2, help="Derivatives REST v3 clients")
    ap.add_argument("--futures-ws", type=int, default=2, help="Derivatives clients following their fills on WS v1")
    ap.add_argument("--restart", choices=["none", "term", "kill"], default="none",
                    help="stop the venue mid-run (SIGTERM / SIGKILL) and restart it on its state directory")
    ap.add_argument("--no-faults", action="store_true", help="no kills, no admin drop, no slow consumer")
    ap.add_argument("--baseline", action="store_true",
                    help="first run the same clients without faults, on a fresh venue (the same-run baseline)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line too")
    a = ap.parse_args(argv)
    fut = {"futures_rest": a.futures_rest, "futures_ws": a.futures_ws}
    cfg = LoadConfig(seconds=a.seconds, rest=a.rest, ws=a.ws, fix=a.fix, seed=a.seed, **fut)
    calm = LoadConfig(seconds=a.seconds, rest=a.rest, ws=a.ws, fix=a.fix, seed=a.seed, kill_every_s=None,
                      admin_drop_ws=False, slow_consumer=False, **fut)
    if a.no_faults or a.restart != "none":
        cfg = calm
    if a.restart != "none":
        cfg.fix_resume = True
    base: LoadResult | None = None
    if a.baseline and not a.no_faults:
        base = _run_on_fresh_venue(calm)
        print(f"baseline, same clients without faults ({base.seconds:.1f} s):")
        print(base.table())
        print(f"reconciliation: {'OK' if not base.problems else f'{len(base.problems)} PROBLEMS'}\n")
    res = _run_on_fresh_venue(cfg, a.restart)
    s = res.stats
    if s.get("restart"):
        print(f"restart ({a.restart}) mid-run: venue away {s['restart']['outage_s']} s, "
              f"{s['acked_before_restart']} acks before it")
    print(f"load: {cfg.rest} REST + {cfg.ws} WS + {cfg.fix} FIX + {cfg.futures_rest} derivatives REST + "
          f"{cfg.futures_ws} derivatives WS clients, one account each, {res.seconds:.1f} s, "
          f"faults {'off' if a.no_faults or a.restart != 'none' else 'on'} (venue in its own process)")
    print(res.table())
    print(f"journal entries {s['journal_entries']:,}, orders {s['orders']:,}, fills {s['fills']:,}, "
          f"acked {s['acked']:,}, in doubt {s['in_doubt']} ({s['in_doubt_executed']} executed), "
          f"kills {s['kills']}, WS drops by venue {s['dropped_by_venue']}, fees {s['fees']}")
    if cfg.slow_consumer:
        sc = s.get("slow_consumer", {})
        print(f"slow consumer: close code {sc.get('close_code')}, dropped after {sc.get('dropped_after_s')} s")
    print(f"reconciliation: {'OK' if not res.problems else f'{len(res.problems)} PROBLEMS'}")
    for p in res.problems[:20]:
        print("  " + p)
    if a.json:
        out = {"seconds": res.seconds, "problems": len(res.problems), "stats": s, "protocols": _figures(res)}
        if base is not None:
            out["baseline"] = {"problems": len(base.problems), "protocols": _figures(base)}
        print(json.dumps(out, default=str))
    return 0 if not res.problems and (base is None or not base.problems) else 1


def _figures(res: LoadResult) -> dict[str, dict[str, float]]:
    out = {}
    for proto in PROTOCOLS:
        lat = sorted(x for v in res.views if v.protocol == proto for x in v.latencies)
        if lat:
            out[proto] = {"acks_per_s": len(lat) / res.seconds, "p50_ms": percentile(lat, 50) * 1e3,
                          "p99_ms": percentile(lat, 99) * 1e3}
    return out


def _run_on_fresh_venue(cfg: LoadConfig, restart: str = "none") -> LoadResult:
    if restart == "none":
        # the reconciliation reads the whole run from the in-memory journal
        proc, info = start_sim("--journal-max", "0")
        try:
            return asyncio.run(run_load(info, cfg))
        finally:
            proc.terminate()
            proc.wait(10)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kraken-sim-load-") as state:
        sim = SimProcess(state)
        info = sim.start()
        sig = signal.SIGKILL if restart == "kill" else signal.SIGTERM
        try:
            return asyncio.run(run_load(info, cfg, restart=lambda: sim.restart(sig)))
        finally:
            sim.close()


if __name__ == "__main__":
    raise SystemExit(main())
