"""A raw-socket FIX 4.4 test client and harness helpers.

The client frames and checks what it receives on its own (regex trailer +
BodyLength + CheckSum), independently of the gateway's codec, and builds
messages with simplefix so tests can also send deliberately broken ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from ssl import SSLContext
from typing import Any, Self, TypeVar

import simplefix

from simulator.core.clock import VenueClock
from simulator.gateways.fix import (
    BusinessRejectApplication,
    FixAcceptor,
    FixApplication,
    FixProfile,
    Msg,
    plain_profile,
    start_fix_acceptor,
)
from simulator.gateways.fix.codec import fix_timestamp

T = TypeVar("T")
SOH = b"\x01"
_FRAME_RE = re.compile(rb"8=FIX[^\x01]*\x019=(\d+)\x01")


def run(fn: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    """Run one async test body with a hard time bound."""

    async def bounded() -> T:
        return await asyncio.wait_for(fn(), timeout)

    return asyncio.run(bounded())


def now_fix() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def parse_frame(raw: bytes) -> Msg:
    """Check BodyLength and CheckSum of a received message, then split it."""
    m = _FRAME_RE.match(raw)
    assert m, f"bad header: {raw!r}"
    body_start = m.end()
    body_len = int(m.group(1))
    assert raw[body_start + body_len:body_start + body_len + 3] == b"10=", f"bad BodyLength: {raw!r}"
    declared = int(raw[body_start + body_len + 3:body_start + body_len + 6])
    assert declared == sum(raw[:body_start + body_len]) % 256, f"bad CheckSum: {raw!r}"
    pairs = []
    for field in raw.rstrip(SOH).split(SOH):
        tag, _, value = field.partition(b"=")
        pairs.append((int(tag), value.decode()))
    return Msg(pairs, raw)


class FixClient:
    """Minimal initiator: explicit control over seqnums and every header field."""

    def __init__(self, port: int, sender: str = "CLIENT", target: str = "KRAKEN-TRD",
                 begin_string: str = "FIX.4.4", clock: VenueClock | None = None) -> None:
        self.port = port
        self.clock = clock  # stamp SendingTime with venue time (a client synced to a set/frozen clock)
        self.sender = sender
        self.target = target
        self.begin_string = begin_string
        self.next_seq = 1
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._buf = b""
        self.received: list[Msg] = []

    async def connect(self, ssl: SSLContext | None = None) -> Self:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=ssl)
        return self

    def build(self, msg_type: str, fields: Iterable[tuple[int, Any]] = (), *, seq: int | None = None,
              poss_dup: bool = False, orig_sending_time: str | None = None,
              sending_time: str | None = None, sender: str | None = None,
              target: str | None = None, header: Iterable[tuple[int, Any]] = ()) -> bytes:
        fm = simplefix.FixMessage()
        fm.append_pair(8, self.begin_string, header=True)
        fm.append_pair(35, msg_type, header=True)
        fm.append_pair(49, self.sender if sender is None else sender, header=True)
        fm.append_pair(56, self.target if target is None else target, header=True)
        sent_at = sending_time or (fix_timestamp(self.clock.now_ns()) if self.clock is not None else now_fix())
        fm.append_pair(34, seq if seq is not None else self.next_seq, header=True)
        fm.append_pair(52, sent_at, header=True)
        if poss_dup:
            fm.append_pair(43, "Y", header=True)
            fm.append_pair(122, orig_sending_time or sent_at, header=True)
        for tag, value in header:  # more header fields (routing: 115, 128, ...)
            fm.append_pair(tag, value, header=True)
        for tag, value in fields:
            fm.pairs.append((str(tag).encode(), str(value).encode()))
        return bytes(fm.encode())

    async def send(self, msg_type: str, fields: Iterable[tuple[int, Any]] = (), *,
                   seq: int | None = None, **kw: Any) -> int:
        """Send with the next seqnum (advanced) unless `seq` is given explicitly."""
        used = seq if seq is not None else self.next_seq
        await self.send_raw(self.build(msg_type, fields, seq=used, **kw))
        if seq is None:
            self.next_seq += 1
        return used

    async def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = 3.0) -> Msg:
        """Next message from the acceptor; raises TimeoutError or EOFError."""
        assert self.reader is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            msg = self._take()
            if msg is not None:
                self.received.append(msg)
                return msg
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError("no FIX message in time")
            data = await asyncio.wait_for(self.reader.read(65536), remaining)
            if not data:
                raise EOFError("connection closed")
            self._buf += data

    def _take(self) -> Msg | None:
        m = _FRAME_RE.search(self._buf)
        if not m:
            return None
        end = m.end() + int(m.group(1)) + 7
        if len(self._buf) < end:
            return None
        raw = self._buf[m.start():end]
        self._buf = self._buf[end:]
        return parse_frame(raw)

    async def expect(self, msg_type: str, timeout: float = 3.0, *, skip_heartbeats: bool = True) -> Msg:
        while True:
            msg = await self.recv(timeout)
            if skip_heartbeats and msg.msg_type == "0" and msg_type != "0":
                continue
            assert msg.msg_type == msg_type, f"expected {msg_type}, got {msg.to_string()}"
            return msg

    async def logon(self, heartbeat: int = 30, *, reset: bool = False,
                    extra: Sequence[tuple[int, Any]] = ()) -> Msg:
        fields: list[tuple[int, Any]] = [(98, 0), (108, heartbeat)]
        if reset:
            fields.append((141, "Y"))
        await self.send("A", [*fields, *extra])
        return await self.expect("A")

    async def logout(self) -> Msg:
        await self.send("5")
        reply = await self.expect("5")
        assert await self.wait_closed()
        return reply

    async def wait_closed(self, timeout: float = 3.0) -> bool:
        """True once the acceptor closed the connection (messages before EOF are kept)."""
        try:
            while True:
                await self.recv(timeout)
        except EOFError:
            return True
        except (TimeoutError, ConnectionError):
            return False

    async def nothing_within(self, seconds: float) -> bool:
        """True if no message arrives for `seconds` (the connection may stay open)."""
        try:
            msg = await self.recv(seconds)
        except TimeoutError:
            return True
        except EOFError:
            return True
        raise AssertionError(f"unexpected message {msg.to_string()}")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def running_acceptor(
    *, profile: FixProfile | None = None, app: FixApplication | None = None,
    clock: VenueClock | None = None, state_dir: Path | None = None, ssl: SSLContext | None = None,
) -> AsyncIterator[FixAcceptor]:
    acceptor = await start_fix_acceptor(
        "127.0.0.1", 0, app or BusinessRejectApplication(), clock or VenueClock(),
        state_dir=state_dir, profile=profile or plain_profile(reset_on_logon=False), ssl=ssl,
    )
    try:
        yield acceptor
    finally:
        await acceptor.stop()


class RecordingApp(BusinessRejectApplication):
    """BusinessRejectApplication that records the callbacks for assertions."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.logons: list[Any] = []
        self.messages: list[Msg] = []
        self.disconnects: list[tuple[str, bool]] = []
        self.disconnected = asyncio.Event()

    def on_logon(self, session: Any) -> None:
        self.logons.append(session)

    def on_message(self, session: Any, msg: Msg) -> None:
        self.messages.append(msg)
        super().on_message(session, msg)

    def on_disconnect(self, session: Any, cancel_on_disconnect: bool) -> None:
        self.disconnects.append((session.instance_id, cancel_on_disconnect))
        self.disconnected.set()
