"""Shared tools for the "prove it" suite: state snapshots, liveness checks,
signed Spot REST calls, a blocking WS v2 client and a blocking raw FIX client.

Everything is synchronous (hypothesis examples are plain functions) and every
wait is bounded by a timeout; the venue runs in its own thread.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import HealthCheck, settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from simulator.pytest_plugin import KrakenVenue
from tests.kit import clients
from tests.kit.clients import (  # noqa: F401 - re-exported for the suites
    FUTURES_V3,
    fix_logon_fields,
    futures_authent,
    futures_headers,
    futures_sign_challenge,
    next_nonce,
    rest_sign,
    spot_headers,
)

SOH = b"\x01"
INTERNAL_ERRORS = ("EGeneral:Internal error",)


def examples(default: int) -> int:
    """Example count for a fuzz test: modest in CI, scaled by KRAKEN_SIM_FUZZ_SCALE."""
    scale = float(os.environ.get("KRAKEN_SIM_FUZZ_SCALE", "1"))
    return max(1, int(default * scale))


def fuzz_settings(default_examples: int) -> settings:
    """Hypothesis settings for the fuzz tests: a fixed example set in CI (derandomized,
    no example database); KRAKEN_SIM_FUZZ_RANDOM=1 explores new inputs each run."""
    return settings(
        max_examples=examples(default_examples),
        deadline=None,
        database=None,
        derandomize=os.environ.get("KRAKEN_SIM_FUZZ_RANDOM", "") != "1",
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


# ----------------------------------------------------------------- venue state
def snapshot(venue: KrakenVenue) -> tuple[str, int]:
    """(state digest, last journal sequence): equal snapshots mean nothing changed."""
    d = venue.admin.request("GET", "/state")
    return str(d["digest"]), int(d["journal_last"])


def changes_since(venue: KrakenVenue, before: tuple[str, int]) -> list[str]:
    """What changed since `before`: a new digest, or journal entries with events.
    Refused commands are journaled (with `error`, without events): the engine saw
    them, so they belong to the record, but they change no state; neither does an
    accepted no-op (a mass cancel with nothing to cancel)."""
    digest, last = snapshot(venue)
    out = []
    if digest != before[0]:
        out.append("state digest")
    if last != before[1]:
        for e in venue.admin.journal(since=before[1]):
            if e["events"]:
                out.append(f"journal #{e['seq']} {e['command']} error={e.get('error')} events={len(e['events'])}")
    return out


def assert_alive(venue: KrakenVenue, creds: dict[str, Any] | None = None) -> None:
    """The venue still answers /health, a public call and (with creds) a signed private call."""
    with httpx.Client(timeout=10) as http:
        r = http.get(venue.spot_rest + "/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}, r.text
        r = http.get(venue.spot_rest + "/0/public/Time")
        assert r.status_code == 200 and r.json()["error"] == [], r.text
    if creds is not None:
        with Rest(venue) as rest:
            res = rest.ok(creds, "Balance")
            assert isinstance(res, dict)


class LogWatch(logging.Handler):
    """Collects ERROR records from the venue's loggers (masked exceptions, ASGI crashes)."""

    NAMES = ("kraken_sim", "uvicorn.error", "asyncio")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.NAMES):
            with self._lock2:
                self.records.append(record)

    def problems(self) -> list[str]:
        with self._lock2:
            out = []
            for r in self.records:
                text = r.getMessage()
                if r.exc_info and r.exc_info[1] is not None:
                    text += f" [{type(r.exc_info[1]).__name__}: {r.exc_info[1]}]"
                out.append(f"{r.name}: {text}")
            return out

    def __enter__(self) -> LogWatch:
        # uvicorn's own loggers do not propagate to the root logger
        for name in ("", "uvicorn"):
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in ("", "uvicorn"):
            logging.getLogger(name).removeHandler(self)


def fund(venue: KrakenVenue, balances: dict[str, str] | None = None, **kw: Any) -> dict[str, Any]:
    """A fresh account with rate limits off (fuzz and load must not trip them)."""
    creds = venue.admin.create_account(balances or {"USD": "1000000", "XBT": "100", "ETH": "1000"}, **kw)
    venue.admin.request("POST", f"/accounts/{creds['account_id']}/tier", {"rate_limits": False})
    return creds


# -------------------------------------------------------------------- Spot REST
class Rest(clients.SpotRest):
    """Signed Spot REST calls over one keep-alive connection."""

    def __init__(self, venue: KrakenVenue, timeout: float = 10.0) -> None:
        super().__init__(venue.spot_rest, timeout)

    def ok(self, creds: dict[str, Any], method: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        status, data = self.private(creds, method, params, **kw)
        assert status == 200 and data["error"] == [], (method, params, data)
        return data["result"]

    def error(self, creds: dict[str, Any], method: str, params: dict[str, Any] | None = None, **kw: Any) -> str:
        status, data = self.private(creds, method, params, **kw)
        assert status == 200 and data.get("error"), (method, params, data)
        return str(data["error"][0])


# ---------------------------------------------------------------------- WS v2
def mint_token(venue: KrakenVenue, creds: dict[str, Any]) -> str:
    """A WS token the way clients get one: REST GetWebSocketsToken."""
    with Rest(venue) as rest:
        return str(rest.ok(creds, "GetWebSocketsToken")["token"])


class Ws:
    """A blocking WS v2 client; `request` waits for every reply to one message
    by sending a ping sentinel after it (replies are FIFO per connection)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._stack = contextlib.ExitStack()  # websockets >= 17.1 wants connect() used as a context manager
        self.conn: ClientConnection = self._stack.enter_context(
            ws_connect(url, max_size=None, open_timeout=timeout, close_timeout=1)
        )
        self.feed: list[dict[str, Any]] = []
        self._sentinel = itertools.count(7_000_000_000)
        status = self.recv()
        assert status is not None and status.get("channel") == "status", status

    def close(self) -> None:
        try:
            self._stack.close()
        except Exception:  # noqa: BLE001 - already gone
            pass

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next non-heartbeat message, or None on timeout."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                raw = self.conn.recv(timeout=left)
            except TimeoutError:
                return None
            msg: Any = json.loads(raw, parse_float=Decimal)
            if msg == {"channel": "heartbeat"}:
                continue
            return msg  # type: ignore[no-any-return]

    def send(self, payload: Any) -> None:
        if isinstance(payload, (str, bytes)):
            self.conn.send(payload)
        else:
            self.conn.send(json.dumps(payload))

    def request(self, payload: Any) -> list[dict[str, Any]]:
        """Send one message, then a ping; everything before the pong answers the message.
        Channel messages (feeds) go to `self.feed` and are not returned."""
        self.send(payload)
        rid = next(self._sentinel)
        self.send({"method": "ping", "req_id": rid})
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if msg is None:
                raise TimeoutError(f"no pong for {rid} after {str(payload)[:200]!r}")
            if msg.get("method") == "pong" and msg.get("req_id") == rid:
                return out
            if "channel" in msg and "method" not in msg:
                self.feed.append(msg)
            else:
                out.append(msg)

    def call(self, method: str, params: dict[str, Any] | None = None, req_id: int = 1) -> list[dict[str, Any]]:
        msg: dict[str, Any] = {"method": method, "req_id": req_id}
        if params is not None:
            msg["params"] = params
        return self.request(msg)

    def drain_feed(self, quiet: float = 0.2) -> list[dict[str, Any]]:
        while (msg := self.recv(quiet)) is not None:
            if "channel" in msg:
                self.feed.append(msg)
        return self.feed


def ws_open(url: str, timeout: float = 5.0) -> Ws:
    return Ws(url, timeout)


WsClosed = ConnectionClosed


# ------------------------------------------------------------------------- FIX
_FRAME = re.compile(rb"8=FIX[^\x01]*\x019=(\d+)\x01")
_cl_ids = itertools.count(int(time.time() * 1000) * 1000)


def next_cl_ord_id() -> str:
    return str(next(_cl_ids))


def fix_time() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def frame(pairs: Iterable[tuple[Any, Any]], *, body_length: int | None = None, checksum: int | None = None,
          begin: str = "FIX.4.4") -> bytes:
    """A FIX message from (tag, value) pairs after 8/9; BodyLength/CheckSum may be forced wrong."""
    body = b"".join(f"{t}=".encode() + (v if isinstance(v, bytes) else str(v).encode()) + SOH for t, v in pairs)
    head = f"8={begin}".encode() + SOH + f"9={len(body) if body_length is None else body_length}".encode() + SOH
    raw = head + body
    cs = sum(raw) % 256 if checksum is None else checksum
    return raw + f"10={cs:03d}".encode() + SOH


@dataclass
class FixMsg:
    pairs: list[tuple[int, str]]
    raw: bytes

    @property
    def msg_type(self) -> str:
        return self.get(35) or ""

    def get(self, tag: int) -> str | None:
        for t, v in self.pairs:
            if t == tag:
                return v
        return None

    def all(self, tag: int) -> list[str]:
        return [v for t, v in self.pairs if t == tag]


def parse_fix(raw: bytes) -> FixMsg:
    m = _FRAME.match(raw)
    assert m, raw
    start, n = m.end(), int(m.group(1))
    assert raw[start + n:start + n + 3] == b"10=", f"bad BodyLength from the venue: {raw!r}"
    assert int(raw[start + n + 3:start + n + 6]) == sum(raw[:start + n]) % 256, f"bad CheckSum: {raw!r}"
    pairs = []
    for f in raw.rstrip(SOH).split(SOH):
        t, _, v = f.partition(b"=")
        pairs.append((int(t), v.decode(errors="replace")))
    return FixMsg(pairs, raw)


class FixEOF(Exception):
    """The acceptor closed the connection."""


class FixGap(Exception):
    """The acceptor sent a ResendRequest: our seqnums ran ahead of what it accepted."""


@dataclass
class FixRaw:
    """A blocking raw-socket FIX 4.4 initiator with explicit seqnums."""

    host: str
    port: int
    sender: str
    target: str = "KRAKEN-TRD"
    next_seq: int = 1
    sock: socket.socket | None = None
    buf: bytes = b""
    received: list[FixMsg] = field(default_factory=list)
    _tests: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def connect(self, timeout: float = 5.0) -> FixRaw:
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        return self

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def header(self, msg_type: str, seq: int | None = None) -> list[tuple[int, Any]]:
        return [(35, msg_type), (49, self.sender), (56, self.target),
                (34, self.next_seq if seq is None else seq), (52, fix_time())]

    def send_raw(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def send(self, msg_type: str, fields: Iterable[tuple[int, Any]] = ()) -> int:
        seq = self.next_seq
        self.send_raw(frame([*self.header(msg_type, seq), *fields]))
        self.next_seq += 1
        return seq

    def recv(self, timeout: float = 3.0) -> FixMsg | None:
        """The next message; None on timeout; FixEOF when the acceptor closed."""
        assert self.sock is not None
        deadline = time.monotonic() + timeout
        while True:
            m = _FRAME.search(self.buf)
            if m:
                end = m.end() + int(m.group(1)) + 7
                if len(self.buf) >= end:
                    raw = self.buf[m.start():end]
                    self.buf = self.buf[end:]
                    msg = parse_fix(raw)
                    self.received.append(msg)
                    return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            except (ConnectionResetError, BrokenPipeError) as exc:
                raise FixEOF() from exc
            if not data:
                raise FixEOF()
            self.buf += data

    def expect(self, msg_type: str, timeout: float = 3.0) -> FixMsg:
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise TimeoutError(f"no 35={msg_type}")
            if msg.msg_type == "0" and msg_type != "0":
                continue
            assert msg.msg_type == msg_type, f"expected 35={msg_type}, got {msg.raw!r}"
            return msg

    def logon(self, creds: dict[str, Any], nonce_ms: int, *, cod: bool = False, heartbeat: int = 30) -> FixMsg:
        """Signed Kraken logon with ResetSeqNumFlag; cancel-on-disconnect off unless `cod`."""
        fix = creds["fix"]
        self.next_seq = 1
        extra = fix_logon_fields(fix, 1, self.sender, self.target, str(nonce_ms), heartbeat=heartbeat)
        if not cod:
            extra.append((8674, 1))
        self.send("A", extra)
        return self.expect("A")

    def sync(self, timeout: float = 3.0) -> list[FixMsg]:
        """TestRequest sentinel: every message before its Heartbeat (may raise FixEOF, FixGap, TimeoutError)."""
        test_id = f"SYNC{next(self._tests)}"
        self.send("1", [(112, test_id)])
        out: list[FixMsg] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.0, deadline - time.monotonic()))
            if msg is None:
                raise TimeoutError(f"no Heartbeat for {test_id}")
            if msg.msg_type == "0" and msg.get(112) == test_id:
                return out
            if msg.msg_type == "2":
                raise FixGap(msg.raw)
            if msg.msg_type != "0":
                out.append(msg)


class FixNonces:
    """Kraken logon nonces: within 5 s of venue time, strictly increasing per key."""

    def __init__(self, venue: KrakenVenue) -> None:
        self.venue = venue
        self.last: dict[str, int] = {}

    def __call__(self, api_key: str) -> int:
        now_ms = self.venue.runtime.venue.clock.now_ns() // 1_000_000
        n = max(now_ms, self.last.get(api_key, 0) + 1)
        self.last[api_key] = n
        return n


def fix_trader(venue: KrakenVenue, creds: dict[str, Any], nonces: FixNonces, *, cod: bool = False) -> FixRaw:
    c = FixRaw(venue.fix_host, venue.fix_port, creds["fix"]["sender_comp_id"], creds["fix"]["target_comp_id"])
    c.connect()
    c.logon(creds, nonces(creds["fix"]["api_key"]), cod=cod)
    return c


# ------------------------------------------------------------ Derivatives REST
def futures_fund(venue: KrakenVenue, usd: str = "100000", **kw: Any) -> dict[str, Any]:
    """A fresh account with futures collateral and rate limits off."""
    return fund(venue, {"USD": "1000"}, futures_balances={"USD": usd}, **kw)


class FuturesRest(clients.FuturesRest):
    """Signed Derivatives REST v3 calls as python-kraken-sdk makes them: GET
    parameters in the query, POST/PUT parameters in a form body, a Nonce header,
    Authent over query + body."""

    def __init__(self, venue: KrakenVenue, timeout: float = 10.0) -> None:
        super().__init__(venue.futures_rest, timeout)

    def public(self, endpoint: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        r = self.http.get(self.base + FUTURES_V3 + endpoint, params=params)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    def ok(self, creds: dict[str, Any], method: str, endpoint: str, params: dict[str, Any] | None = None) -> Any:
        status, data = self.signed(creds, method, endpoint, params)
        assert status == 200 and data.get("result") == "success", (method, endpoint, params, data)
        return data

    def error(self, creds: dict[str, Any], method: str, endpoint: str, params: dict[str, Any] | None = None) -> str:
        status, data = self.signed(creds, method, endpoint, params)
        assert status == 200 and data.get("result") == "error", (method, endpoint, params, data)
        assert set(data) == {"result", "serverTime", "error"}, data
        return str(data["error"])

    def place(self, creds: dict[str, Any], symbol: str, side: str, size: str, price: str, **kw: Any) -> str:
        """A resting limit order; its order_id."""
        res = self.ok(creds, "POST", "sendorder", {"orderType": "lmt", "symbol": symbol, "side": side,
                                                   "size": size, "limitPrice": price, **kw})
        assert res["sendStatus"]["status"] == "placed", res
        return str(res["sendStatus"]["order_id"])


def futures_alive(venue: KrakenVenue, creds: dict[str, Any] | None = None) -> None:
    """The derivatives gateway still answers a public call and (with creds) a signed one."""
    with FuturesRest(venue) as fr:
        assert fr.public("instruments")["result"] == "success"
        if creds is not None:
            assert "flex" in fr.ok(creds, "GET", "accounts")["accounts"]


# --------------------------------------------------------------- Derivatives WS
class FuturesWs:
    """A blocking WS v1 client.  v1 has no ping message, so `request` follows a
    message with an unsubscribe from a made-up product: the alert naming that
    product is the last reply to it (replies are FIFO per connection).
    Messages without `event` are feed data and go to `self.feed`."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._stack = contextlib.ExitStack()
        self.conn: ClientConnection = self._stack.enter_context(
            ws_connect(url, max_size=None, open_timeout=timeout, close_timeout=1)
        )
        self.feed: list[dict[str, Any]] = []
        self._sentinel = itertools.count(1)
        banner = self.recv()
        assert banner == {"event": "info", "version": 1}, banner

    def close(self) -> None:
        try:
            self._stack.close()
        except Exception:  # noqa: BLE001 - already gone
            pass

    def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        try:
            raw = self.conn.recv(timeout=self.timeout if timeout is None else timeout)
        except TimeoutError:
            return None
        msg: Any = json.loads(raw)
        assert isinstance(msg, dict), raw
        return msg  # type: ignore[no-any-return]

    def send(self, payload: Any) -> None:
        self.conn.send(payload if isinstance(payload, (str, bytes)) else json.dumps(payload))

    def request(self, payload: Any) -> list[dict[str, Any]]:
        self.send(payload)
        tag = f"SYNC_{next(self._sentinel)}"
        self.send({"event": "unsubscribe", "feed": "ticker", "product_ids": [tag]})
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self.recv(max(0.01, deadline - time.monotonic()))
            if msg is None:
                raise TimeoutError(f"no sentinel {tag} after {str(payload)[:200]!r}")
            if msg.get("event") == "alert" and f"`{tag}`" in str(msg.get("message")):
                return out
            if "event" in msg:
                out.append(msg)
            else:
                self.feed.append(msg)

    def challenge(self, api_key: str) -> str:
        replies = self.request({"event": "challenge", "api_key": api_key})
        assert len(replies) == 1 and replies[0]["event"] == "challenge", replies
        return str(replies[0]["message"])

    def login(self, creds: dict[str, Any]) -> dict[str, str]:
        """The three fields every private subscribe carries, for `creds` on this connection."""
        ch = self.challenge(creds["futures_api_key"])
        return {"api_key": creds["futures_api_key"], "original_challenge": ch,
                "signed_challenge": futures_sign_challenge(ch, creds["futures_api_secret"])}

    def drain_feed(self, quiet: float = 0.3) -> list[dict[str, Any]]:
        while (msg := self.recv(quiet)) is not None:
            if "event" not in msg:
                self.feed.append(msg)
        return self.feed


# ------------------------------------------------- requests built from a case
def form_pairs(data: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Form fields as Kraken's clients nest them: `close[ordertype]=...`, `orders[0][price]=...`;
    booleans as `true`/`false`, None as an empty value."""
    out: list[tuple[str, str]] = []
    for k, v in data.items():
        key = f"{prefix}[{k}]" if prefix else str(k)
        if isinstance(v, dict):
            out += form_pairs(v, key)
        elif isinstance(v, list):
            out += form_pairs({str(i): x for i, x in enumerate(v)}, key)
        elif isinstance(v, bool):
            out.append((key, "true" if v else "false"))
        else:
            out.append((key, "" if v is None else str(v)))
    return out


def form_encode(pairs: Iterable[tuple[str, str]]) -> str:
    """URL-encoded form text; lone surrogates a generator may produce pass through as bytes."""
    return urlencode(list(pairs), encoding="utf-8", errors="surrogatepass")


def declared_length_probe(base_url: str, request_head: bytes, timeout: float = 5.0) -> bytes:
    """Send a request head that declares a huge Content-Length plus a few body
    bytes over a raw socket, and return what the venue answers without waiting
    for the rest of the body (up to the first `}` of a JSON reply)."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request_head)
        reply = b""
        deadline = time.monotonic() + timeout
        while b"}" not in reply and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply
