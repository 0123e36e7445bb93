"""SIGTERM/SIGINT end `kraken-sim serve` within a bounded time, whatever
holds it: an event loop stuck in a long computation (the first signal's
deadline, KRAKEN_SIM_STOP_TIMEOUT, forces the exit; a second signal forces
it at once) or connections that never drain (hung up on).  The journal is
left whole either way: a restart on the state directory comes back with
every acknowledged command."""

from __future__ import annotations

import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.sync.client import connect as ws_connect

from simulator.pytest_plugin import AdminClient
from tests.cli_serve import Served, serve_cmd

# the real CLI, with one addition: once FLAG exists, a callback on the event
# loop spins in Python forever (as the far-past charts request once did)
BLOCKING_CLI = """
import asyncio, os, sys
from pathlib import Path
import simulator.server.server as server
from simulator.cli import main

flag = Path(os.environ["KRAKEN_SIM_TEST_BLOCK_FLAG"])
start = server.VenueServer.start

async def blocking_start(self):
    info = await start(self)
    loop = asyncio.get_running_loop()

    def check():
        if flag.exists():
            while True:
                pass
        loop.call_later(0.02, check)

    check()
    return info

server.VenueServer.start = blocking_start
sys.exit(main(sys.argv[1:]))
"""


def _blocking_served(tmp_path: Path, state: Path, timeout_s: float) -> tuple[Served, Path]:
    flag = tmp_path / "block"
    cmd = [sys.executable, "-c", BLOCKING_CLI, *serve_cmd(state)[3:]]
    env = {"KRAKEN_SIM_TEST_BLOCK_FLAG": str(flag), "KRAKEN_SIM_STOP_TIMEOUT": str(timeout_s)}
    return Served(cmd, env), flag


def _some_commands(srv: Served) -> dict[str, Any]:
    admin = AdminClient(srv.admin)
    for i in range(5):
        admin.create_account({"USD": str(100 + i)})
    out: dict[str, Any] = admin.request("GET", "/state")
    return out


def _restart_digest(state: Path) -> tuple[str, int]:
    srv = Served(serve_cmd(state))
    try:
        st = AdminClient(srv.admin).request("GET", "/state")
    finally:
        rc, err = srv.stop()
    assert rc == 0, err
    return st["digest"], st["journal_last"]


def _wait_blocked(srv: Served) -> None:
    """The loop no longer answers (bounded wait)."""
    port = int(srv.info["spot_rest"].rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.settimeout(0.5)
                s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                s.recv(100)
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError("the loop never blocked")


def _stop_blocked(tmp_path: Path, timeout_s: float, stop: Callable[[Served], tuple[int, str]]) -> tuple[int, float, str]:
    """Commands, then a loop that blocks, then `stop`: its exit status, how long
    it took and stderr.  A restart on the state directory has every command."""
    state = tmp_path / "state"
    srv, flag = _blocking_served(tmp_path, state, timeout_s)
    try:
        before = _some_commands(srv)
        flag.touch()
        _wait_blocked(srv)
        t0 = time.monotonic()
        rc, err = stop(srv)
        took = time.monotonic() - t0
    finally:
        srv.kill()
    assert _restart_digest(state) == (before["digest"], before["journal_last"])
    return rc, took, err


def test_sigterm_ends_a_blocked_loop_at_the_deadline(tmp_path: Path) -> None:
    rc, took, err = _stop_blocked(tmp_path, 2.0, lambda srv: srv.stop(signal.SIGTERM, timeout=30))
    assert rc == 1 and 1.5 < took < 6, (rc, took, err)
    assert "kraken-sim: forced exit: the stop did not finish in 2 s (journal synced)" in err, err


def test_a_second_signal_forces_the_exit_at_once(tmp_path: Path) -> None:
    def twice(srv: Served) -> tuple[int, str]:
        srv.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        return srv.stop(signal.SIGINT, timeout=30)

    rc, took, err = _stop_blocked(tmp_path, 120.0, twice)
    assert rc == 1 and took < 3, (rc, took, err)
    assert "kraken-sim: forced exit: SIGINT again" in err, err


def test_sigterm_with_connections_that_never_drain(tmp_path: Path) -> None:
    """Half-sent requests, a body that never ends, a WS subscriber that never
    reads, a FIX socket that never logs on: a clean stop (status 0, final
    snapshot) within the default budget, without a traceback."""
    state = tmp_path / "state"
    srv = Served(serve_cmd(state))
    socks: list[socket.socket] = []
    try:
        before = _some_commands(srv)
        port = int(srv.info["spot_rest"].rsplit(":", 1)[1])
        for raw in (b"GET /health HTTP/1.1\r\nHost: x\r\n",
                    b"POST /admin/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n{"):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(raw)
            socks.append(s)
        socks.append(socket.create_connection(("127.0.0.1", srv.info["fix"]["port"])))
        with ws_connect(srv.info["spot_ws"]) as ws, ws_connect(srv.info["futures_ws"]):
            ws.send('{"method": "subscribe", "params": {"channel": "book", "symbol": ["BTC/USD"], "depth": 1000}}')
            time.sleep(0.3)
            t0 = time.monotonic()
            rc, err = srv.stop(signal.SIGTERM, timeout=30)
            took = time.monotonic() - t0
    finally:
        for s in socks:
            s.close()
        srv.kill()
    assert rc == 0 and took < 10, (rc, took, err)
    assert "Traceback" not in err, err
    assert _restart_digest(state) == (before["digest"], before["journal_last"])
