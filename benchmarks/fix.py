"""FIX order entry: NewOrderSingle -> ExecutionReport round trips on one session
through the real simulator (session layer, engine, journal, bus, reports) versus
a bare simplefix echo acceptor that parses each message and answers with an
ExecutionReport-shaped message, in the same run.

    python -m benchmarks.fix [--seconds 3] [--rounds 3] [--window 1]

Both servers run as their own processes; the same client (this process,
blocking socket, its own framing) drives both. `--window 1` measures strict
round trips (send, wait for the ExecutionReport, send the next); a larger
window keeps that many orders in flight (throughput). Target: ratio >= 0.4.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from typing import Any

import simplefix

from tests.kit.clients import fix_logon_fields

SOH = b"\x01"
_TRAILER = re.compile(rb"\x0110=\d{3}\x01")

BARE_ACCEPTOR = r'''
import asyncio, sys, simplefix
from datetime import datetime, timezone

def now():
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]

async def handle(reader, writer):
    parser = simplefix.FixParser()
    seq = 0
    n = 0
    while True:
        data = await reader.read(65536)
        if not data:
            break
        parser.append_buffer(data)
        out = []
        while True:
            msg = parser.get_message()
            if msg is None:
                break
            seq += 1
            mt = msg.get(35)
            reply = simplefix.FixMessage()
            reply.append_pair(8, "FIX.4.4", header=True)
            reply.append_pair(35, b"A" if mt == b"A" else b"8", header=True)
            reply.append_pair(49, msg.get(56), header=True)
            reply.append_pair(56, msg.get(49), header=True)
            reply.append_pair(34, seq, header=True)
            reply.append_pair(52, now(), header=True)
            if mt == b"A":
                reply.append_pair(98, 0)
                reply.append_pair(108, msg.get(108))
            else:
                n += 1
                reply.append_pair(37, f"O{n}")
                reply.append_pair(11, msg.get(11))
                reply.append_pair(17, f"E{n}")
                reply.append_pair(150, "0")
                reply.append_pair(39, "0")
                for tag in (55, 54, 38, 40, 44, 59):
                    reply.append_pair(tag, msg.get(tag))
                reply.append_pair(151, msg.get(38))
                reply.append_pair(14, "0")
                reply.append_pair(6, "0")
                reply.append_pair(60, now())
            out.append(reply.encode())
        writer.write(b"".join(out))

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()

asyncio.run(main())
'''


def now_fix() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


class Client:
    """Blocking initiator with its own framing (no simplefix on the receive path)."""

    def __init__(self, port: int, sender: str, target: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sender, self.target = sender, target
        self.seq = 0
        self.buf = b""

    def encode(self, msg_type: str, fields: list[tuple[int, Any]]) -> bytes:
        self.seq += 1
        fm = simplefix.FixMessage()
        fm.append_pair(8, "FIX.4.4", header=True)
        fm.append_pair(35, msg_type, header=True)
        fm.append_pair(49, self.sender, header=True)
        fm.append_pair(56, self.target, header=True)
        fm.append_pair(34, self.seq, header=True)
        fm.append_pair(52, now_fix(), header=True)
        for tag, value in fields:
            fm.append_pair(tag, value)
        return bytes(fm.encode())

    def send(self, msg_type: str, fields: list[tuple[int, Any]]) -> None:
        self.sock.sendall(self.encode(msg_type, fields))

    def recv(self) -> bytes:
        """The next message (raw)."""
        while True:
            m = _TRAILER.search(self.buf)
            if m is not None:
                raw, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return raw
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data

    def expect(self, msg_type: bytes) -> bytes:
        while True:
            raw = self.recv()
            if b"\x0135=" + msg_type + SOH in raw:
                return raw
            if b"\x0135=0\x01" not in raw:
                raise AssertionError(f"unexpected {raw!r}")


def order(i: int) -> list[tuple[int, Any]]:
    return [(11, str(10_000_000 + i)), (55, "BTC/USD"), (54, "1"), (38, "0.01"), (40, "2"),
            (44, str(1000 + (i % 500))), (59, "1"), (60, now_fix())]


def run_orders(client: Client, seconds: float, window: int, latencies: list[int] | None = None) -> float:
    """NewOrderSingle -> first ExecutionReport, `window` in flight; returns rate/s.
    With `latencies` (strict round trips), each round trip's time in ns is appended."""
    i = 0
    for _ in range(50):  # warm-up
        client.send("D", order(i))
        client.expect(b"8")
        i += 1
    done = 0
    inflight = 0
    start = time.perf_counter()
    deadline = start + seconds
    sent_at = 0
    while True:
        while inflight < window:
            sent_at = time.perf_counter_ns()
            client.send("D", order(i))
            i += 1
            inflight += 1
        client.expect(b"8")
        if latencies is not None and window == 1:
            latencies.append(time.perf_counter_ns() - sent_at)
        inflight -= 1
        done += 1
        if done % 64 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    while inflight:
        client.expect(b"8")
        inflight -= 1
    return done / elapsed


def admin(base: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def start_sim() -> tuple[subprocess.Popen[str], dict[str, Any]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulator", "serve", "--port", "0", "--fix-port", "0", "--log-level", "error"],
        stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def start_bare() -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-c", BARE_ACCEPTOR], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def sim_session(info: dict[str, Any], rounds: int) -> list[Client]:
    """One signed Kraken session per round, on a funded account without rate limits."""
    base = info["admin"]
    clients = []
    for _ in range(rounds):
        acct = admin(base, "POST", "/accounts", {"balances": {"USD": "100000000"}, "tier": "pro"})
        admin(base, "POST", f"/accounts/{acct['account_id']}/tier", {"rate_limits": False})
        fix = acct["fix"]
        c = Client(info["fix"]["port"], fix["sender_comp_id"], fix["target_comp_id"])
        nonce = str(int(time.time() * 1000))
        c.send("A", fix_logon_fields(fix, 1, c.sender, c.target, nonce))
        c.expect(b"A")
        clients.append(c)
    return clients


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=int, default=1, help="orders in flight (1 = strict round trips)")
    args = ap.parse_args()
    sim, info = start_sim()
    bare, bare_port = start_bare()
    try:
        sim_clients = sim_session(info, args.rounds)
        sim_rates, bare_rates = [], []
        sim_lat: list[int] = []
        bare_lat: list[int] = []
        for r in range(args.rounds):
            b = Client(bare_port, "BENCH", "ECHO")
            b.send("A", [(98, 0), (108, 30)])
            b.expect(b"A")
            bare_rates.append(run_orders(b, args.seconds, args.window, bare_lat))
            sim_rates.append(run_orders(sim_clients[r], args.seconds, args.window, sim_lat))
            print(f"round {r + 1}: simulator {sim_rates[-1]:,.0f}/s  bare simplefix echo {bare_rates[-1]:,.0f}/s",
                  flush=True)
        sim_best, bare_best = max(sim_rates), max(bare_rates)
        ratios = sorted(s / b for s, b in zip(sim_rates, bare_rates, strict=True))
        # On a shared machine the mean rates swing with whatever else runs in each window;
        # the fast round trips (10th percentile) show what each server costs per message.
        p10 = {name: sorted(lat)[len(lat) // 10] / 1000 for name, lat in (("simulator", sim_lat), ("bare", bare_lat))
               if lat}
        print(json.dumps({
            "benchmark": "fix NewOrderSingle->ExecutionReport",
            "window": args.window,
            "simulator_per_s": round(sim_best),
            "bare_echo_per_s": round(bare_best),
            "ratio_best": round(sim_best / bare_best, 3),
            "ratio_median_paired": round(ratios[len(ratios) // 2], 3),
            **({"p10_round_trip_us": {k: round(v) for k, v in p10.items()},
                "ratio_p10": round(p10["bare"] / p10["simulator"], 3)} if len(p10) == 2 else {}),
            "target_ratio": 0.4,
        }))
    finally:
        for p in (sim, bare):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
