"""asyncio TCP (optionally TLS) server running one FixSession per connection.

A connection's failure is contained in its own task; the acceptor also drives
the daily session reset from the venue clock (polled, and on every clock jump).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from collections.abc import Callable
from pathlib import Path

from simulator.core.clock import VenueClock
from simulator.gateways.fix.application import FixApplication
from simulator.gateways.fix.auth import NonceTracker
from simulator.gateways.fix.codec import Msg
from simulator.gateways.fix.profile import FixProfile, plain_profile
from simulator.gateways.fix.registry import SessionRegistry, session_day
from simulator.gateways.fix.session import FixSession, SessionContext
from simulator.gateways.fix.store import MessageStore, SessionKey
from simulator.server.inflight import Inflight

log = logging.getLogger(__name__)

_ROLLOVER_POLL_S = 0.5


class FixAcceptor:
    """A running FIX acceptor; create it with `start_fix_acceptor`."""

    def __init__(self, ctx: SessionContext, host: str) -> None:
        self._ctx = ctx
        self.host = host
        self.port = 0
        self._server: asyncio.Server | None = None
        self._extra_servers: list[asyncio.Server] = []
        self._sessions: dict[str, FixSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._day = session_day(ctx.clock.now_ns(), ctx.profile.daily_reset_utc)
        self._poller: asyncio.Task[None] | None = None

    @property
    def profile(self) -> FixProfile:
        return self._ctx.profile

    @property
    def registry(self) -> SessionRegistry:
        return self._ctx.registry

    @property
    def sessions(self) -> list[FixSession]:
        """Live connections (logged on or still logging on)."""
        return list(self._sessions.values())

    def session(self, instance_id: str) -> FixSession | None:
        return self._sessions.get(instance_id)

    def store(self, key: SessionKey) -> MessageStore:
        """The message store (seqnums, outbound messages) of a session identity."""
        return self._ctx.registry.store(key)

    async def _start(self, port: int, ssl: ssl_module.SSLContext | None) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, port, ssl=ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        self._poller = asyncio.create_task(self._poll_rollover())
        self._ctx.clock.on_jump(self._on_clock_jump)
        log.info("FIX acceptor (%s profile) listening on %s:%s",
                 self.profile.name, self.host, self.port)

    async def add_listener(self, port: int, ssl: ssl_module.SSLContext | None = None) -> int:
        """Accept on another port too (e.g. TLS beside plain TCP); returns the bound port.

        Every listener shares the sessions, stores and nonces, so one FIX
        identity cannot be logged on twice through different ports.
        """
        server = await asyncio.start_server(self._handle, self.host, port, ssl=ssl)
        self._extra_servers.append(server)
        bound: int = server.sockets[0].getsockname()[1]
        log.info("FIX acceptor (%s profile) also listening on %s:%s%s",
                 self.profile.name, self.host, bound, " (TLS)" if ssl is not None else "")
        return bound

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.close()
            return
        task = asyncio.current_task()
        instance_id = self._ctx.registry.new_instance_id()
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else None
        session = FixSession(self._ctx, reader, writer, instance_id, peer)
        self._sessions[instance_id] = session
        if task is not None:
            self._tasks.add(task)
        log.info("FIX %s: connection from %s", instance_id, peer)
        try:
            await session.run()
        except Exception:  # run() contains its own errors; this is the last line of defence
            log.exception("FIX %s: connection handler failed", instance_id)
        finally:
            self._sessions.pop(instance_id, None)
            if task is not None:
                self._tasks.discard(task)

    # ---- daily reset ------------------------------------------------------

    def _on_clock_jump(self) -> None:
        """Clock set/advance may come from any thread: hop onto our loop."""
        if not self._stopping and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.check_rollover)

    async def _poll_rollover(self) -> None:
        while not self._stopping:
            await asyncio.sleep(_ROLLOVER_POLL_S)
            self.check_rollover()

    def check_rollover(self) -> None:
        """If the venue session day changed, log sessions out and reset every store."""
        if self._stopping:
            return
        day = session_day(self._ctx.clock.now_ns(), self.profile.daily_reset_utc)
        if day == self._day:
            return
        self._day = day
        log.info("FIX acceptor: daily session reset (session day %s)", day)
        registry = self._ctx.registry
        for session in self.sessions:
            if session.is_logged_on:
                session.daily_reset(day)
        for store in registry.stores():
            holder = registry.holder(store.key)
            if (holder is None or not holder.is_logged_on) and store.session_day != day:
                store.reset(day)

    # ---- shutdown / admin ---------------------------------------------------

    async def _close_sessions(self, *, logout_text: str | None) -> None:
        sessions = self.sessions
        for s in sessions:
            if logout_text is not None and s.is_logged_on:
                s.logout(logout_text)
            else:
                s.drop("acceptor closing sessions")
        waits = [asyncio.ensure_future(s.closed.wait()) for s in sessions]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=self.profile.logout_timeout_s + 1.0)
            for p in pending:
                p.cancel()
        for s in self.sessions:
            s.drop("acceptor closing sessions")
        tasks = list(self._tasks)
        if tasks:
            _, still = await asyncio.wait(tasks, timeout=2.0)
            for t in still:
                t.cancel()

    async def reset_sessions(self) -> None:
        """Admin reset: drop every connection, forget all seqnums and stored messages."""
        await self._close_sessions(logout_text=None)
        self._ctx.registry.reset_all(self._day)
        self._ctx.nonces = NonceTracker(self.profile.nonce_window_ms)

    async def stop(self) -> None:
        """Stop accepting, log every session out (bounded wait), release files."""
        if self._stopping:
            return
        self._stopping = True
        servers = ([self._server] if self._server is not None else []) + self._extra_servers
        for server in servers:
            server.close()
        await self._close_sessions(logout_text="Venue shutting down")
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        for server in servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        self._ctx.registry.close()
        log.info("FIX acceptor on port %s stopped", self.port)


async def start_fix_acceptor(
    host: str,
    port: int,
    application: FixApplication,
    clock: VenueClock,
    *,
    ssl: ssl_module.SSLContext | None = None,
    state_dir: str | Path | None = None,
    profile: FixProfile | None = None,
    profile_selector: Callable[[Msg], FixProfile | None] | None = None,
    inflight: Inflight | None = None,
) -> FixAcceptor:
    """Listen on host:port (0 = a free port, see `.port`); default profile is plain FIX 4.4.

    `profile_selector(logon)` may pick another profile per connection (None: `profile`);
    the profiles should agree on the daily reset time, which the acceptor drives.
    `inflight` counts the frames being processed (the server's, shared with HTTP and WS).
    """
    profile = profile or plain_profile()
    registry = SessionRegistry(Path(state_dir) if state_dir is not None else None)
    ctx = SessionContext(profile, application, clock, registry, NonceTracker(profile.nonce_window_ms),
                         profile_selector, inflight or Inflight())
    acceptor = FixAcceptor(ctx, host)
    await acceptor._start(port, ssl)
    return acceptor
