"""Spot REST throughput: signed AddOrder+CancelOrder round trips through the
real simulator (uvicorn, full auth, engine, journal) versus a bare FastAPI
endpoint that only reads and parses the same form bodies, in the same run.

    python -m benchmarks.spot_rest [--seconds 3] [--clients 4] [--rounds 3]

Both servers run as their own processes (one uvicorn worker each, the same
uvicorn settings); the same client processes drive both with keep-alive
HTTP/1.1 and identically signed bodies, so the ratio isolates what the
simulator adds on top of an empty endpoint.  Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from benchmarks.harness import SpotConn, funded_account, percentile, start_sim

BARE_APP = """
import json
from urllib.parse import parse_qsl
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()

@app.post("/0/private/{method:path}")
async def bare(request: Request, method: str) -> Response:
    data = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
    if method == "AddOrder":
        result = {"descr": {"order": "buy"}, "txid": ["OAAAAA-BBBBB-CCCCCC"]}
    else:
        result = {"count": 1, "n": len(data)}
    return Response(json.dumps({"error": [], "result": result}), media_type="application/json")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_bare(workdir: str) -> tuple[subprocess.Popen[str], str]:
    port = _free_port()
    path = os.path.join(workdir, "bare_rest_app.py")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(BARE_APP)
    proc = subprocess.Popen(
        # the simulator serves on the process's asyncio loop with httptools: the bare app does too
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bare_rest_app:app",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--no-access-log",
            "--loop",
            "asyncio",
            "--http",
            "httptools",
        ],  # fmt: skip
        cwd=workdir,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return proc, url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("bare server did not start")


def _client(url: str, key: str, secret: str, seconds: float, start_at: float, out: Any) -> None:
    """Round trips until the deadline: AddOrder (resting limit) then CancelOrder."""
    conn = SpotConn(url, key, secret, timeout=10)
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "80000.0", "volume": "0.01"}
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    n = 0
    lat: list[float] = []
    while time.time() < end:
        t = time.perf_counter()
        txid = conn.call("AddOrder", order)["txid"][0]
        conn.call("CancelOrder", {"txid": txid})
        lat.append(time.perf_counter() - t)
        n += 1
    out.put((n, percentile(sorted(lat), 50)))


def run(url: str, creds: list[tuple[str, str]], seconds: float) -> tuple[float, float]:
    """Round trips per second over all clients, and the median round-trip time."""
    q: Any = mp.Queue()
    start_at = time.time() + 0.5
    procs = [mp.Process(target=_client, args=(url, k, s, seconds, start_at, q)) for k, s in creds]
    for p in procs:
        p.start()
    results = [q.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    total = sum(n for n, _ in results)
    median = sorted(m for _, m in results)[len(results) // 2]
    return total / seconds, median


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median of each side counts")
    args = ap.parse_args(argv)
    sim, info = start_sim()
    import tempfile

    tmp = tempfile.mkdtemp(prefix="kraken-sim-bench-")
    bare, bare_url = _start_bare(tmp)
    try:
        admin = info["admin"]
        creds = []
        for _ in range(args.clients):
            creds.append(funded_account(admin, {"USD": "100000000"}))
        run(info["spot_rest"], creds[:1], 0.5)  # warm up both paths
        run(bare_url, creds[:1], 0.5)
        # alternate the two so load from anything else on the machine hits both alike
        sims, bares = [], []
        for _ in range(args.rounds):
            sims.append(run(info["spot_rest"], creds, args.seconds))
            bares.append(run(bare_url, creds, args.seconds))
        sim_rate, sim_med = sorted(sims)[len(sims) // 2]
        bare_rate, bare_med = sorted(bares)[len(bares) // 2]
    finally:
        for proc in (sim, bare):
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    ratio = sim_rate / bare_rate if bare_rate else 0.0
    print(
        f"clients: {args.clients}, {args.rounds} alternating rounds of {args.seconds:g} s, medians "
        "(one round trip = AddOrder + CancelOrder, 2 requests)"
    )
    print(f"simulator  : {sim_rate:9.1f} round trips/s  (median round trip {sim_med * 1e3:.2f} ms)")
    print(f"bare FastAPI: {bare_rate:9.1f} round trips/s  (median round trip {bare_med * 1e3:.2f} ms)")
    print(f"ratio      : {ratio:9.2f}  (target >= 0.50)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
