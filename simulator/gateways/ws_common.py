"""What the Spot v2 and Derivatives v1 WebSocket gateways share: a hub made once
per runtime (it outlives venue resets) and bound to the server's event loop,
and the outbound path of every connection.

Outbound path (issue 15, item 12: one client must not slow everyone):
- A public stream (`Topic`: a book, ticker or trade feed of one symbol) is
  rendered ONCE per engine command into a bounded log; each subscriber reads
  the log at its own cursor.  The bus callback only appends (O(1) in the
  number of subscribers); the log keeps only what some subscriber is owed.
- Rounds: the pump lets every subscriber of a topic read up to one mark (the
  head when the round began), so subscribers that fell behind share one
  conflated text (`Topic.merge`: the exact book diff with the current
  checksum, the latest ticker, a batch of trades).  Behind means more than
  CONFLATE_AFTER messages back, or the pump itself is behind (LOAD_CONNS
  connections waiting); otherwise every message goes out as rendered.
- Too far behind (off the log, or owed more than the hub's `max_queue` while
  its socket stays full): a state feed resyncs it once (a book snapshot, the
  latest ticker), any other feed disconnects it, logged (Kraken drops slow
  consumers).
- Replies and private channels go through the connection's own bounded FIFO
  (`queue`), never conflated, always before its public feeds; overflowing it
  disconnects, logged.  A woken connection's FIFO leaves at the next loop
  turn, in one flush bounded by FLUSH_CONNS and FLUSH_S for all connections
  woken meanwhile (a heartbeat pass wakes every one): the rest go to the pump.
- One pump per hub puts bytes on the sockets in bounded slices, and only when
  no request is in progress on the loop (`Inflight`: an HTTP request being
  read or answered, a WS message or FIX frame being handled; bounded by
  YIELD_CAP turns), so order entry on the same loop is never starved.  A slice may take SHARE
  times the CPU time the loop's other work took since the last one (between
  SLICE_MIN_S and SLICE_MAX_S), measured by the wall clock: a slice the OS
  preempted ends when the thread is back, so a request that arrived
  meanwhile is read next.  A round that starts with many subscribers waiting
  conflates every subscriber's backlog to its end, uses short slices
  (LOADED_SLICE_S) and is followed by a rest, so the fan-out takes at most
  LOADED_SHARE of a core rather than flooding every client and the machine.
- A socket whose buffer is full parks its connection (its send finishes in
  its own task) instead of holding up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from simulator.server.runtime import Runtime

log = logging.getLogger("kraken_sim.ws")

SLICE_SENDS = 1024  # at most this many messages put on the wire per pump turn
SLICE_MIN_S = 0.0002  # a pump turn may take this much of the loop thread's CPU time...
SLICE_MAX_S = 0.1  # ...or SHARE times what the loop's other work took since the last turn, up to this
SHARE = 2.0  # the fan-out's slice against the other work's time
CONN_SENDS = 4  # messages one connection sends before the next connection's turn
YIELD_CAP = 64  # pump turns deferred to other ready work before a slice runs anyway (progress)
TOPIC_LOG = 4096  # messages a topic keeps at most; a subscriber further behind is resynced or dropped
CONFLATE_AFTER = 1024  # a subscriber this far behind gets the rest conflated
LOAD_CONNS = 64  # connections waiting for the pump: it is behind, and every laggard is conflated
# a loaded round's slices are short: the rest bounds its share, and a request that arrives during one waits
# at most this long (1 ms measured a 0.75 ms longer order-latency p99 with 1000 subscribers than 0.4 ms)
LOADED_SLICE_S = 0.0004
# a round that started behind is followed by a rest: the fan-out takes at most this CPU share (every
# message also wakes its reader; with 1000 subscribers 0.3 measured a longer order-latency tail)
LOADED_SHARE = 0.15
REST_STEP_S = 0.005  # during a rest, replies and private messages still go out this often
FLUSH_CONNS = 64  # connections whose own queue one flush turn sends (the rest go to the pump)...
FLUSH_S = 0.0005  # ...and the wall time it may take
MERGE_CACHE = 8  # conflated renders kept per topic (subscribers at one cursor share one)


class Topic:
    """One public stream: its subscribers and a bounded log of encoded messages.

    `publish` runs inside the sequencer.  A plain topic sends its entries one
    by one (a stream whose every message counts); `ConflatedTopic` merges a
    laggard's backlog into one text."""

    __slots__ = ("subs", "log", "base", "mark", "dirty", "_merged")

    def __init__(self) -> None:
        self.subs: set[Any] = set()
        self.log: deque[Any] = deque()
        self.base = 0  # the sequence number of log[0]
        self.mark = 0  # subscribers read up to here: the head when the pump last started a round
        self.dirty = False  # has messages the pump has not told its subscribers about
        self._merged: dict[tuple[int, int], str | None] = {}

    @property
    def head(self) -> int:
        """The sequence number the next message will get."""
        return self.base + len(self.log)

    def __len__(self) -> int:
        return len(self.subs)

    def join(self, conn: Any) -> None:
        """Subscribe from now on (the caller has queued the snapshot, under the feed's lock)."""
        self.subs.add(conn)
        conn.cursors[self] = self.head

    def leave(self, conn: Any) -> None:
        self.subs.discard(conn)
        conn.cursors.pop(self, None)

    def publish(self, entry: Any, hub: LoopBound) -> None:
        log_ = self.log
        log_.append(entry)
        if len(log_) > TOPIC_LOG:
            log_.popleft()
            self.base += 1
        if not self.dirty and self.subs:
            self.dirty = True
            hub.topic_dirty(self)

    def resync(self, conn: Any, hub: Any) -> bool:
        """`conn`'s cursor fell off the log: catch it up without the lost messages
        if this stream can (a state feed: its latest state), else False (dropped)."""
        return False

    def trim(self, low: int) -> None:
        """Forget the messages every subscriber has read (the log holds only what is owed)."""
        log_ = self.log
        while self.base < low and log_:
            log_.popleft()
            self.base += 1

    @staticmethod
    def text(entry: Any) -> str:
        return entry if type(entry) is str else entry.text  # type: ignore[no-any-return]

    def read(self, cursor: int, loaded: bool = False) -> tuple[str | None, int] | None:
        """What a subscriber at `cursor` is sent next, and its next cursor;
        None when its cursor fell off the log (too slow).  `loaded`: the pump is behind."""
        i = cursor - self.base
        if i < 0:
            return None
        return self.text(self.log[i]), cursor + 1


class ConflatedTopic(Topic, ABC):
    """A topic whose laggards get their backlog as one merged text."""

    __slots__ = ()

    @abstractmethod
    def merge(self, entries: list[Any]) -> str | None:
        """Several entries as one text (None: nothing to send)."""

    def read(self, cursor: int, loaded: bool = False) -> tuple[str | None, int] | None:
        """As `Topic.read`, but a subscriber far behind (or any, when the pump is
        behind) gets everything up to `mark` merged: the subscribers of one round
        share one conflated text."""
        head = self.mark
        i = cursor - self.base
        if i < 0:
            return None
        lag = head - cursor
        if lag == 1 or (lag <= CONFLATE_AFTER and not loaded):
            return self.text(self.log[i]), cursor + 1
        key = (cursor, head)
        cache = self._merged
        if key in cache:
            return cache[key], head
        log_ = self.log
        text = self.merge([log_[j] for j in range(i, head - self.base)])
        if len(cache) >= MERGE_CACHE:
            cache.clear()
        cache[key] = text
        return text, head


class Latest(ConflatedTopic):
    """A stream of whole states (a ticker): a subscriber behind gets the latest only."""

    __slots__ = ()

    def merge(self, entries: list[Any]) -> str | None:
        return self.text(entries[-1])

    def resync(self, conn: Any, hub: Any) -> bool:
        conn.cursors[self] = max(self.base, self.head - 1)  # the latest state is still in the log
        return True


class LoopBound(ABC):
    """A hub bound to the event loop its connections live on, with the pump
    that writes every connection's outbound messages."""

    conns: Any  # the open connections (each has `drop`)
    _round_cpu = 0.0  # CPU time of the round in progress
    _round_loaded = False  # it started behind

    def __init__(self, rt: Runtime, config: Any) -> None:
        self.rt = rt
        self.config = config  # `max_queue`: messages one connection may be owed before it is dropped
        self.inflight = rt.services.inflight  # requests on the loop: the pump gives way to them
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._pump: asyncio.Task[None] | None = None
        self._work: asyncio.Event | None = None
        self._ready: deque[Any] = deque()  # connections the pump serves next
        self._dirty: deque[Topic] = deque()  # topics with messages the pump has not yet announced
        self._woken: deque[Any] = deque()  # connections whose own queue leaves at the next loop turn

    @abstractmethod
    def _background(self) -> Coroutine[Any, Any, None]:
        """The hub's periodic work, run on the server's loop."""

    def bind_loop(self) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self.loop_thread = threading.get_ident()
        if self._task is None or self._task.done():
            self._task = self.loop.create_task(self._background())
        if self._pump is None or self._pump.done():
            self._work = asyncio.Event()
            self._pump = self.loop.create_task(self._run_pump())

    async def shutdown(self) -> None:
        """Server stop: every connection is told (1001) and the periodic work ends."""
        for c in list(self.conns):
            await c.drop(1001, "shutting down")
        for t in (self._task, self._pump):
            if t is not None:
                t.cancel()

    @abstractmethod
    def on_entry(self, entry: Any) -> None:
        """One journal entry from the bus (runs inside the sequencer: enqueue only)."""

    @abstractmethod
    def on_reset(self) -> None:
        """The venue was reset: tell the live connections."""

    # ------------------------------------------------------------ the pump
    def wake(self, conn: Any) -> None:
        """`conn` has something to send (from any thread: admin calls run engine
        commands in a worker thread).  Its own queue (replies, private channels:
        never conflated) leaves at the next loop turn, in one bounded flush for
        every connection woken meanwhile; public feeds, whatever its socket could
        not take, and the connections past the flush's bound go to the pump."""
        if conn.flush_pending:
            return
        conn.flush_pending = True
        if threading.get_ident() == self.loop_thread and self.loop is not None:
            self._woke(conn)
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(self._woke, conn)

    def _woke(self, conn: Any) -> None:
        self._woken.append(conn)
        if len(self._woken) == 1 and self.loop is not None:
            self.loop.call_soon(self._flush_woken)

    def _flush_woken(self) -> None:
        """Flush the queues of the connections woken since the last turn, at most
        FLUSH_CONNS of them and FLUSH_S of wall time: a burst (a heartbeat or
        ticker pass over every connection) never holds the loop longer than a
        pump slice; the rest are sent by the pump."""
        woken = self._woken
        end = time.perf_counter() + FLUSH_S
        n = 0
        try:
            while woken:
                conn = woken.popleft()
                conn.flush_pending = False
                if conn.closed:
                    continue
                if n < FLUSH_CONNS and time.perf_counter() < end:
                    n += 1
                    if conn.queue and not conn.busy:
                        conn.write_some(len(conn.queue), private_only=True)
                    if not conn.has_output():
                        continue
                self._schedule(conn)
        finally:
            if woken and self.loop is not None:  # a feed bug raised: the others still get their turn
                self.loop.call_soon(self._flush_woken)

    def _schedule(self, conn: Any) -> None:
        if conn.scheduled or conn.busy or conn.closed:
            return
        conn.scheduled = True
        self._ready.append(conn)
        if self._work is not None:
            self._work.set()

    def topic_dirty(self, topic: Topic) -> None:
        """A topic has new messages (inside the sequencer: only noted here)."""
        if threading.get_ident() == self.loop_thread:
            self._note_dirty(topic)
        elif self.loop is not None:
            self.loop.call_soon_threadsafe(self._note_dirty, topic)

    def _note_dirty(self, topic: Topic) -> None:
        self._dirty.append(topic)
        if self._work is not None:
            self._work.set()

    async def _run_pump(self) -> None:
        inflight = self.inflight
        work = self._work
        assert work is not None
        clock = time.thread_time
        self._round_cpu = 0.0
        self._round_loaded = False
        rest_until = 0.0
        while True:
            if not self._ready and not self._dirty:
                work.clear()
                await work.wait()
                continue
            if not self._ready:  # the next slice starts a round: after the last loaded one, rest
                now = time.monotonic()
                if now < rest_until:
                    await asyncio.sleep(min(REST_STEP_S, rest_until - now))
                    continue
            t0 = clock()
            await asyncio.sleep(0)
            # Twice: the turn that polls the sockets runs this task's wake-up before the reads it
            # found, so a request that arrived during the last slice is read (and counts) first.
            await asyncio.sleep(0)
            waited = 0
            while inflight and waited < YIELD_CAP and clock() - t0 < SLICE_MAX_S:
                await asyncio.sleep(0)
                waited += 1
            t1 = clock()
            cap = LOADED_SLICE_S if self._round_loaded else SLICE_MAX_S
            try:  # the slice ends by the wall clock: a preempted one stops at once and lets requests in
                self.pump_slice(SLICE_SENDS, time.perf_counter() + min(cap, max(SLICE_MIN_S, SHARE * (t1 - t0))))
            except Exception:  # noqa: BLE001 - a feed bug must not stop every connection's output
                log.exception("ws pump failed")
            self._round_cpu += clock() - t1
            if not self._ready and self._round_loaded:  # a loaded round is done
                self._round_loaded = False
                rest_until = time.monotonic() + self._round_cpu * (1 / LOADED_SHARE - 1)

    def pump_slice(self, budget: int, until: float = float("inf")) -> int:
        """Send at most `budget` messages, connection by connection, stopping at
        `until` (`time.perf_counter`); returns how many were sent."""
        dirty = self._dirty
        ready = self._ready
        if not ready:  # a new round (the last one is done): every subscriber of a topic reads up to one mark
            while dirty:
                t = dirty.popleft()
                t.dirty = False
                t.mark = low = t.head
                cap = t.head - self.config.max_queue  # messages owed to a parked subscriber, at most
                for c in list(t.subs):
                    cur = c.cursors.get(t, low)
                    if (cur < t.base or (c.busy and cur < cap)) and not c.closed:
                        # too far behind: a state feed resyncs it, other feeds drop it
                        if not t.resync(c, self):
                            c.fell_behind()
                            continue
                        cur = c.cursors.get(t, low)
                    if not c.busy and not c.scheduled and not c.closed:  # a parked one goes on once drained
                        c.scheduled = True
                        ready.append(c)
                    low = min(low, cur)
                t.trim(low)
            self._round_cpu = 0.0
            self._round_loaded = len(ready) >= LOAD_CONNS
            if self._round_loaded:  # its slices are short from the first one on
                until = min(until, time.perf_counter() + LOADED_SLICE_S)
        sent = 0
        clock = time.perf_counter
        loaded = self._round_loaded  # a round that started behind conflates to its end (its last few too)
        first = True  # a slice serves at least one connection, however late it starts (progress)
        while ready and sent < budget and (first or clock() < until):
            first = False
            c = ready.popleft()
            c.scheduled = False
            if c.closed or c.busy:
                continue
            n, more = c.write_some(min(CONN_SENDS, budget - sent), loaded=loaded or len(ready) >= LOAD_CONNS)
            sent += n
            if more and not c.busy and not c.closed:
                c.scheduled = True
                ready.append(c)
        return sent

    def call_in_loop(self, fn: Any, *args: Any) -> None:
        if self.loop is None:
            return
        if threading.get_ident() == self.loop_thread:
            fn(*args)
        else:
            self.loop.call_soon_threadsafe(fn, *args)


H = TypeVar("H", bound=LoopBound)


def attach(rt: Runtime, hub: H) -> H:
    """A new hub follows the journal and hears of venue resets."""
    rt.bus.subscribe(hub.on_entry)
    rt.services.on_reset.append(hub.on_reset)
    return hub


class _Resume:
    """The rest of a coroutine that was started by hand and had to wait."""

    __slots__ = ("coro", "first")

    def __init__(self, coro: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Generator[Any, None, Any]:
        fut = self.first
        while True:
            try:
                yield fut
            except BaseException as exc:  # noqa: BLE001 - cancellation goes to the send
                try:
                    fut = self.coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                fut = self.coro.send(None)
            except StopIteration as stop:
                return stop.value


async def _finish(r: _Resume) -> Any:
    return await r


def start(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any] | None:
    """Run `coro` at once until it first has to wait: None when it finished
    (a socket that took the bytes), else the task that finishes it (a full
    socket buffer).  Exceptions of the synchronous part propagate."""
    try:
        fut = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(_Resume(coro, fut)))


class QueuedConnection:
    """A connection's outbound side: its own FIFO (`queue`: replies, snapshots,
    private channels) and its cursors on public topics, written by the hub's pump."""

    closed: bool
    queue: deque[str]
    cursors: dict[Topic, int]
    ws: Any
    id: str
    hub: Any
    protocol: str
    scheduled: bool = False  # in the pump's ready queue
    busy: bool = False  # a send is waiting for the socket to drain
    in_handle: bool = False  # the reader is handling a request (it flushes the replies after it)
    flush_pending: bool = False  # a flush of its own queue is due at the next loop turn
    last_send: float = 0.0

    def _init_output(self) -> None:
        self.queue = deque()
        self.cursors = {}
        self.resynced: set[Topic] = set()  # topics resynced while its socket stayed full
        self.scheduled = False
        self.busy = False

    def enqueue(self, text: str) -> bool:
        """Queue one reply or private message (any thread); overflowing the
        bounded queue disconnects the client (logged), it never drops silently."""
        if self.closed:
            return False
        q = self.queue
        if len(q) >= self.hub.config.max_queue:
            self.closed = True
            q.clear()
            self.hub.call_in_loop(self._overflow, "outbound queue full")
            return False
        q.append(text)
        return True

    def _overflow(self, why: str) -> None:
        log.warning("%s %s: client too slow (%s), disconnecting", self.protocol, self.id, why)
        asyncio.get_running_loop().create_task(self._close(1008, "slow consumer"))

    def fell_behind(self) -> None:
        self.closed = True
        self.queue.clear()
        self.hub.call_in_loop(self._overflow, "fell behind its feed")

    def _next(self, private_only: bool = False, loaded: bool = False) -> str | None:
        """The next message to send: the FIFO first (a subscription's snapshot
        goes before its updates), then each topic this connection is behind on."""
        q = self.queue
        if q:
            return q.popleft()
        if private_only:
            return None
        for topic, cur in self.cursors.items():
            while cur < topic.mark:
                got = topic.read(cur, loaded)
                if got is None:
                    if topic.resync(self, self.hub):
                        cur = self.cursors[topic]
                        if self.queue:
                            return self.queue.popleft()
                        continue
                    self.fell_behind()
                    return None
                text, cur = got
                self.cursors[topic] = cur
                if text is not None:
                    return text
        return None

    def has_output(self) -> bool:
        if self.queue:
            return True
        return any(cur < t.mark for t, cur in self.cursors.items())

    def write_some(self, budget: int, private_only: bool = False, loaded: bool = False) -> tuple[int, bool]:
        """Send up to `budget` messages without waiting; (sent, more to send).
        Any message sent counts as traffic (`last_send`: heartbeats only fill silence)."""
        sent = 0
        more = False
        send = self.ws.send
        while sent < budget and not self.busy and not self.closed:
            text = self._next(private_only, loaded)
            if text is None:
                break
            sent += 1
            try:
                task = start(send({"type": "websocket.send", "text": text}))
            except Exception:  # noqa: BLE001 - the socket went away under us
                self.closed = True
                break
            if task is not None:
                self.busy = True
                task.add_done_callback(self._drained)
                break
        else:
            more = not self.busy and not self.closed and self.has_output()
        if sent:
            self.last_send = time.monotonic()
        return sent, more

    def reader_flushes(self) -> bool:
        """A message queued now leaves with the reader's flush (no wake needed):
        only on the loop thread, inside the reader's request."""
        return self.in_handle and threading.get_ident() == self.hub.loop_thread

    def flush(self) -> None:
        """Send the replies of the request just handled now (one loop hop less
        than waiting for the pump); public feeds stay with the pump."""
        if not self.queue or self.busy:  # a busy socket: its drain wakes the pump
            return
        _, more = self.write_some(len(self.queue), private_only=True)
        if more and not self.busy:
            self.hub.wake(self)

    def _drained(self, task: asyncio.Task[Any]) -> None:
        self.busy = False
        self.resynced.clear()
        self.last_send = time.monotonic()
        if task.cancelled() or task.exception() is not None:
            self.closed = True
            return
        if self.has_output():
            self.hub.wake(self)

    async def _cleanup(self) -> None:
        self.closed = True
        self.hub.forget(self)
        self.hub.rt.connections.pop(self.id, None)
        self.cursors = {}

    async def _close(self, code: int, reason: str) -> None:
        self.closed = True
        with contextlib.suppress(Exception):  # already closed
            await self.ws.close(code, reason)

