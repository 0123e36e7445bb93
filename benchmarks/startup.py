"""How long the pytest fixture takes to bring a venue up and down.

    python -m benchmarks.startup [--n 20]

Target: every listener accepting in under 300 ms.  Baseline in the same run:
a bare uvicorn server with one route started the same way, so the figure is
also printed as a ratio (how much the venue itself adds)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time

import uvicorn
from fastapi import FastAPI

from simulator.pytest_plugin import start_venue


def _bare_once() -> float:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    cfg = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(cfg)
    started = threading.Event()
    t0 = time.perf_counter()

    def run() -> None:
        async def main() -> None:
            task = asyncio.create_task(server.serve())
            while not server.started:
                await asyncio.sleep(0.001)
            started.set()
            await task

        asyncio.run(main())

    th = threading.Thread(target=run, daemon=True)
    th.start()
    started.wait(10)
    up = time.perf_counter() - t0
    server.should_exit = True
    th.join(10)
    return up


def _venue_once() -> tuple[float, float]:
    t0 = time.perf_counter()
    tv, _venue = start_venue()
    up = time.perf_counter() - t0
    t1 = time.perf_counter()
    tv.stop()
    return up, time.perf_counter() - t1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    a = ap.parse_args()
    _venue_once()  # warm imports
    _bare_once()
    ups, downs, bare = [], [], []
    for _ in range(a.n):
        u, d = _venue_once()
        ups.append(u)
        downs.append(d)
        bare.append(_bare_once())
    med, p90 = statistics.median(ups), sorted(ups)[int(0.9 * (len(ups) - 1))]
    bmed = statistics.median(bare)
    print(f"venue start (all listeners accepting): median {med * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms (target < 300 ms)")
    print(f"venue stop: median {statistics.median(downs) * 1000:.0f} ms")
    print(f"bare uvicorn start (same run): median {bmed * 1000:.0f} ms; venue/bare = {med / bmed:.1f}x")
    leaked = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    print(f"threads left after {a.n} start/stop cycles: {len(leaked)} {leaked}")
    return 0 if med < 0.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
