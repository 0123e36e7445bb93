"""Living market, market-data replay and the dashboard, wired into the server.

Hooks (see simulator/gateways/__init__.py):
- `prepare(rt)`: one MarketManager and one DashboardFeed per runtime, the
  clock listener that runs due steps whenever venue time jumps, and an
  after-build hook that applies the scenario's `market` section.
- `install(app, rt)`: /admin/market, /admin/replay and the dashboard (`/`).
- `start(rt)` / `stop(rt)`: the task that follows a running clock and plays
  "max"-speed replays.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from simulator.core.errors import EngineError
from simulator.dashboard import feed as dashboard
from simulator.server.admin import admin_guard
from simulator.server.market import MarketManager
from simulator.server.runtime import Runtime


class MarketIn(BaseModel):
    symbol: str = Field(examples=["BTC/USD"])
    enabled: bool | None = Field(None, description="false withdraws the participants and their orders")
    makers: int | None = Field(None, ge=0, le=20, description="market makers (default 2)")
    takers: int | None = Field(None, ge=0, le=20, description="takers (default 1)")
    interval_ms: int | None = Field(None, ge=1, description="venue time between decisions (default 500, at least 100)")
    seed: int | None = Field(None, description="default: the venue's seed")
    clear_seed: bool | None = Field(None, description="cancel the seeded static ladder on this pair first (default true)")
    max_catchup: int | None = Field(None, ge=1, description="most steps one clock jump runs (default 1000, at most 10000)")
    walk: dict[str, Any] | None = Field(
        None,
        description='reference price: {"kind": "random", "vol_bps": 1.5, "drift_bps": 0, "revert_bps": 0, "start": "91415"} '
        'or {"kind": "series", "file": "btcusd_1m.csv", "speed": 60, "loop": true, "rebase": false}',
    )
    maker: dict[str, Any] | None = Field(None, description='{"levels": 5, "spread_bps": 1, "step_bps": 1, "qty": ["0.001", "0.01"]}')
    taker: dict[str, Any] | None = Field(None, description='{"rate": 0.25, "informed": 0.6, "sweep_bps": 2, "qty": ["0.001", "0.005"]}')


class ReplayIn(BaseModel):
    file: str = Field(description="a file shipped in fixtures/, or a path inside --data-dir", examples=["replay_btcusd.jsonl"])
    symbol: str = Field(examples=["BTC/USD"])
    speed: int | float | str = Field(1, description='1 (recorded pace), N (N times faster) or "max"')
    clear_seed: bool = Field(True, description="cancel the seeded static ladder on this pair first")


def manager(rt: Runtime) -> MarketManager:
    mgr: MarketManager = rt.hooks["market"]
    return mgr


def prepare(rt: Runtime) -> None:
    """Every build/reset: the manager and feed exist once; the scenario applies after the build."""
    mgr: MarketManager | None = rt.hooks.get("market")
    if mgr is None:
        mgr = MarketManager(rt)
        rt.hooks["market"] = mgr
        feed = dashboard.DashboardFeed(rt)
        rt.hooks["dashboard"] = feed
        rt.bus.subscribe(feed.on_entry)
        resets = rt.hooks.setdefault("on_reset", [])
        resets.append(mgr.clear)  # before the venue is rebuilt: nothing may drive the old markets
        resets.append(feed.on_reset)
    clock = rt.venue.clock
    if rt.hooks.get("market_clock") is not clock:
        # venue time jumped (admin advance/set): run what became due, before the call returns
        clock.on_jump(lambda: manager(rt).catch_up())
        rt.hooks["market_clock"] = clock
    mgr.clear()
    rt.hooks.setdefault("after_build", []).append(lambda r: manager(r).apply_scenario())


def _call(fn: Any, *a: Any) -> Any:
    try:
        return fn(*a)
    except EngineError as exc:
        raise HTTPException(400, exc.text) from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


def install(app: FastAPI, rt: Runtime) -> None:
    r = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(admin_guard(rt))])

    @r.post("/market", summary="Background participants on one instrument: enable, change, disable")
    def set_market(body: MarketIn) -> dict[str, Any]:
        data = body.model_dump(exclude_none=True)
        out: dict[str, Any] = _call(manager(rt).configure, data)
        return out

    @r.get("/market", summary="Living markets and replays")
    def get_market() -> dict[str, Any]:
        with rt.venue.spot_seq._lock:
            return manager(rt).status()

    @r.post("/replay", summary="Replay recorded trades / L2 snapshots into an instrument")
    def start_replay(body: ReplayIn) -> dict[str, Any]:
        out: dict[str, Any] = _call(manager(rt).start_replay, body.file, body.speed, body.symbol, body.clear_seed)
        return out

    @r.get("/replay", summary="Replays and their progress")
    def get_replays() -> list[dict[str, Any]]:
        with rt.venue.spot_seq._lock:
            return [x.status() for x in manager(rt).replays.values()]

    @r.delete("/replay/{symbol:path}", summary="Stop a replay and cancel its resting orders")
    def stop_replay(symbol: str) -> dict[str, Any]:
        try:
            out: dict[str, Any] = _call(manager(rt).stop_replay, symbol)
        except KeyError as exc:
            raise HTTPException(404, "no replay on this symbol") from exc
        return out

    app.include_router(r)
    dashboard.install(app, rt, rt.hooks["dashboard"])


async def start(rt: Runtime) -> None:
    mgr = manager(rt)
    mgr.running = True
    mgr.task = asyncio.create_task(mgr.run())


async def stop(rt: Runtime) -> None:
    mgr = manager(rt)
    mgr.running = False
    if mgr.task is not None:
        mgr.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(mgr.task, timeout=5)
        mgr.task = None
