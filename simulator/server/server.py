"""Serving the venue: uvicorn for HTTP/WS (plain and TLS), gateway listeners
(FIX), the timer task, the ready line, and clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from simulator.core.engine import EngineConfig
from simulator.core.venue import Venue, VenueConfig
from simulator.gateways import load_gateways
from simulator.scenario import Scenario, retention_policy

from .app import build_app
from .gcpolicy import CutCollector
from .httpproto import deadline_protocol
from .memdiag import MemDiag
from .runtime import Runtime, Settings

log = logging.getLogger("kraken_sim")
# a stop request ends the process within this many seconds, however it goes
STOP_TIMEOUT_S = 10.0


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: the venue server owns signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted sockets inherit it; asyncio only sets it itself when proto == IPPROTO_TCP,
    # and without it every keep-alive response waits ~40 ms for a delayed ACK (Nagle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class VenueServer:
    """Every listener of one simulated Kraken."""

    def __init__(self, settings: Settings, scenario: Scenario | None = None) -> None:
        self.settings = settings
        self.scenario = scenario or Scenario()
        seed = self.scenario.seed if self.scenario.seed is not None else settings.seed
        settings.seed = seed
        clock_mode = str(self.scenario.clock.get("mode", "real"))
        retention = retention_policy(
            self.scenario.retention, settings.history_keep, settings.trades_keep, settings.history_days
        )
        venue = Venue(VenueConfig(seed=seed, clock_mode=clock_mode, instruments=self.scenario.instruments,
                                  journal_max=settings.journal_max, engine=EngineConfig(retention=retention)))
        self.rt = Runtime(venue, settings, self.scenario)
        self.rt.gateways = load_gateways()
        self.rt.build()
        self.app = build_app(self.rt)
        self._servers: list[_Uvicorn] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self.port = 0
        self.tls_port: int | None = None
        self.ca_cert: str | None = None

    async def start(self) -> dict[str, Any]:
        s = self.settings
        sock = _bind(s.host, s.port)
        self.port = sock.getsockname()[1]
        cfg = uvicorn.Config(self.app, **self._uvicorn_options())
        server = _Uvicorn(cfg)
        self._servers.append(server)
        self._tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
        if s.tls_port is not None:
            from .tls import ensure_certificate

            cert, key = ensure_certificate(s)
            self.ca_cert = cert
            tsock = _bind(s.host, s.tls_port)
            self.tls_port = tsock.getsockname()[1]
            tcfg = uvicorn.Config(self.app, ssl_certfile=cert, ssl_keyfile=key, **self._uvicorn_options())
            tserver = _Uvicorn(tcfg)
            self._servers.append(tserver)
            self._tasks.append(asyncio.create_task(tserver.serve(sockets=[tsock])))
        while not all(srv.started for srv in self._servers):
            for t in self._tasks:
                if t.done():
                    t.result()  # surface a startup failure
                    raise RuntimeError("HTTP server exited during startup")
            await asyncio.sleep(0.005)
        for gw in self.rt.gateways:
            start = getattr(gw, "start", None)
            if start is not None:
                await start(self.rt)
        await self.rt.services.market.start()
        self._tasks.append(asyncio.create_task(self._timers()))
        return self.ready_info()

    def _uvicorn_options(self) -> dict[str, Any]:
        """One uvicorn setting for the plain and the TLS listener: no idle or half-sent
        connection holds a descriptor past the request deadline or the idle timeout."""
        s = self.settings
        return {
            "log_level": s.log_level,
            "access_log": False,
            "lifespan": "off",
            "ws_max_size": 1 << 20,
            "ws_ping_interval": None,
            "ws_per_message_deflate": False,
            "http": deadline_protocol(s.http_request_timeout, self.rt.services.inflight),
            "timeout_keep_alive": s.http_idle_timeout,
        }

    async def _timers(self) -> None:
        """Fire engine timers (expiry, dead man's switch...) as venue time passes;
        free the history retention cut (see gcpolicy.CutCollector) now and then."""
        collector = CutCollector()
        diag = MemDiag()
        turns = 0
        while True:
            await asyncio.sleep(0.02)
            turns += 1
            if turns % 50 == 0:
                collector.poll(sum(self.rt.venue.spot.retention.dropped.values()))
                diag.poll()
            for seq in list(self.rt.venue.sequencers.values()):
                try:
                    seq.poll_timers()
                except Exception:  # noqa: BLE001 - a timer bug must not stop the venue
                    log.exception("timer failed")

    def ready_info(self) -> dict[str, Any]:
        s = self.settings
        host = s.host
        hp = f"[{host}]" if ":" in host else host
        base = f"http://{hp}:{self.port}"
        wsb = f"ws://{hp}:{self.port}"
        fix_port = self.rt.urls.get("fix_port", s.fix_port)
        info: dict[str, Any] = {
            "ready": True,
            "spot_rest": base,
            "spot_ws": f"{wsb}/v2",
            "spot_ws_auth": f"{wsb}/auth/v2",
            "spot_ws_l3": f"{wsb}/l3/v2",
            "futures_rest": base,
            "futures_ws": f"{wsb}/ws/v1",
            "fix": {"host": host, "port": fix_port},
            "admin": f"{base}/admin",
        }
        if self.tls_port is not None:
            tb = f"https://{hp}:{self.tls_port}"
            tw = f"wss://{hp}:{self.tls_port}"
            info["tls"] = {
                "spot_rest": tb,
                "spot_ws": f"{tw}/v2",
                "spot_ws_auth": f"{tw}/auth/v2",
                "spot_ws_l3": f"{tw}/l3/v2",
                "futures_rest": tb,
                "futures_ws": f"{tw}/ws/v1",
                "ca_cert": self.ca_cert,
            }
            if "fix_tls_port" in self.rt.urls:
                info["tls"]["fix"] = {"host": host, "port": self.rt.urls["fix_tls_port"]}
        demo = self.rt.demo
        if demo is not None:
            d = demo.to_json()
            info["demo_account"] = {
                "api_key": d["api_key"],
                "api_secret": d["api_secret"],
                "futures_api_key": d["futures_api_key"],
                "futures_api_secret": d["futures_api_secret"],
                "fix": d["fix"],
                "account_id": d["account_id"],
            }
        self.rt.urls.update({k: v for k, v in info.items() if k not in ("ready", "demo_account")})
        return info

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop accepting, close every session and connection, and only then
        close the journal (and take the final snapshot): a command that still
        arrives while connections drain is served and journaled, never lost.
        Draining (gateways, then listeners and their connections) gets
        `drain_s` in all; what has not drained by then is cancelled."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + drain_s
        for srv in self._servers:
            srv.should_exit = True
        with contextlib.suppress(Exception):
            await self.rt.services.market.stop()
        for gw in reversed(self.rt.gateways):
            stop = getattr(gw, "stop", None)
            if stop is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(stop(self.rt), timeout=max(0.0, deadline - loop.time()))
        for t in self._tasks:
            if not t.done() and t.get_coro().__name__ == "_timers":  # type: ignore[union-attr]
                t.cancel()
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
            if late:  # connections that did not drain: hung up on (their handlers see a disconnect)
                for srv in self._servers:
                    srv.force_exit = True
                    for conn in list(srv.server_state.connections):
                        with contextlib.suppress(Exception):
                            conn.transport.close()  # type: ignore[attr-defined]
                _, late = await asyncio.wait(late, timeout=1.0)
            for t in late:
                t.cancel()
            if late:
                await asyncio.wait(late, timeout=1.0)
        for t in self._tasks:
            if t.done() and not t.cancelled():
                t.exception()  # retrieved: a listener that failed while stopping is not an unhandled error
        self.close_journal()

    def close_journal(self) -> None:
        store = self.rt.services.journal_file
        if store is not None:
            store.close()

    def sync_journal(self) -> None:
        """Make what the journal holds durable, from any thread, in any state
        (a forced exit): every line is already flushed to the OS as written."""
        store = self.rt.services.journal_file
        fh = getattr(store, "_fh", None)
        if fh is not None:
            with contextlib.suppress(Exception):
                os.fsync(fh.fileno())


class StopWatch:
    """SIGTERM/SIGINT end the process within a bounded time, even when the
    event loop is blocked or connections do not drain.

    The first signal asks for a clean stop (drain, final snapshot) and arms a
    deadline; at the deadline, or at a second signal, the journal is synced
    and the process exits at once (status 1).  The handler is a plain Python
    signal handler, so it runs between two bytecodes of whatever holds the
    loop; asyncio's own handlers only run when the loop gets control back."""

    def __init__(self, request_stop: Callable[[], object], sync: Callable[[], None], timeout_s: float) -> None:
        self.request_stop = request_stop
        self.sync = sync
        self.timeout_s = timeout_s
        self.signals = 0
        self._timer: threading.Timer | None = None

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.signals += 1
        if self.signals > 1:
            self.force(f"{signal.Signals(signum).name} again")
            return
        self._timer = threading.Timer(self.timeout_s, self.force, (f"the stop did not finish in {self.timeout_s:g} s",))
        self._timer.daemon = True
        self._timer.start()
        self.request_stop()

    def force(self, why: str) -> None:
        # no logging here: its locks may be held by the thread this interrupts
        with contextlib.suppress(Exception):
            os.write(2, f"kraken-sim: forced exit: {why} (journal synced)\n".encode())
        self.sync()
        os._exit(1)


def stop_timeout() -> float:
    """KRAKEN_SIM_STOP_TIMEOUT (seconds), else STOP_TIMEOUT_S."""
    try:
        value = float(os.environ.get("KRAKEN_SIM_STOP_TIMEOUT", STOP_TIMEOUT_S))
    except ValueError:
        return STOP_TIMEOUT_S
    return value if value > 0 else STOP_TIMEOUT_S


async def serve_forever(settings: Settings, scenario: Scenario | None = None) -> int:
    """The CLI's main: start, print the ready line, wait for SIGTERM/SIGINT,
    then stop within `stop_timeout()` seconds (see StopWatch).  The watch is
    on before the restore, which can be long: a stop request bounds it too."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    timeout = stop_timeout()
    built: list[VenueServer] = []

    def sync() -> None:
        for srv in built:
            srv.sync_journal()

    StopWatch(lambda: loop.call_soon_threadsafe(stop.set), sync, timeout).install()
    server = VenueServer(settings, scenario)
    built.append(server)
    info = await server.start()
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()
    await stop.wait()
    log.info("shutting down")
    # drain in at most half the budget: the rest is for the final snapshot and the exit
    await server.stop(drain_s=min(5.0, timeout / 2))
    return 0


class ThreadedVenue:
    """A venue server on its own event loop in a background thread (pytest)."""

    def __init__(self, settings: Settings | None = None, scenario: Scenario | None = None) -> None:
        self.settings = settings or Settings(port=0, fix_port=0)
        self.scenario = scenario
        self.server: VenueServer | None = None
        self.info: dict[str, Any] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def start(self, timeout: float = 10.0) -> dict[str, Any]:
        self._thread = threading.Thread(target=self._run, name="kraken-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("kraken-sim did not start in time")
        if self._error is not None:
            raise RuntimeError("kraken-sim failed to start") from self._error
        return self.info

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            self.server = VenueServer(self.settings, self.scenario)
            self.info = await self.server.start()
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.server.stop()

    def call(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the venue's loop thread and return its result."""
        assert self._loop is not None

        async def _wrap() -> Any:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(_wrap(), self._loop).result(10)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
