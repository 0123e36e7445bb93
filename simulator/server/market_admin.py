"""/admin/market, /admin/replay and the dashboard (`/`) on the HTTP app.

The markets and replays themselves are `MarketManager` (market.py), one per
runtime (`rt.services.market`); its task starts and stops with the server.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from simulator.core.errors import EngineError
from simulator.dashboard import feed as dashboard

from .runtime import Runtime
from .site import Site


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


class PlaybackIn(BaseModel):
    file: str = Field(description="a file shipped in fixtures/, or a path inside --data-dir", examples=["replay_btcusd.jsonl"])
    symbol: str = Field(examples=["BTC/USD"])
    speed: int | float | str = Field(1, description='1 (recorded pace), N (N times faster) or "max"')
    clear_seed: bool = Field(True, description="cancel the seeded static ladder on this pair first")


def _call(fn: Any, *a: Any) -> Any:
    try:
        return fn(*a)
    except EngineError as exc:
        raise HTTPException(400, exc.text) from exc
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc


def install(site: Site, rt: Runtime) -> None:
    r = APIRouter(tags=["admin"])  # on the admin sub-application (guarded there)

    @r.post("/market", summary="Background participants on one instrument: enable, change, disable")
    def set_market(body: MarketIn) -> dict[str, Any]:
        data = body.model_dump(exclude_none=True)
        out: dict[str, Any] = _call(rt.services.market.configure, data)
        return out

    @r.get("/market", summary="Living markets and replays")
    def get_market() -> dict[str, Any]:
        with rt.venue.spot_seq.exclusive():
            return rt.services.market.status()

    @r.post("/replay", summary="Replay recorded trades / L2 snapshots into an instrument")
    def start_playback(body: PlaybackIn) -> dict[str, Any]:
        out: dict[str, Any] = _call(rt.services.market.start_playback, body.file, body.speed, body.symbol, body.clear_seed)
        return out

    @r.get("/replay", summary="Replays and their progress")
    def get_replays() -> list[dict[str, Any]]:
        with rt.venue.spot_seq.exclusive():
            return [x.status() for x in rt.services.market.playbacks.values()]

    @r.delete("/replay/{symbol:path}", summary="Stop a replay and cancel its resting orders")
    def stop_playback(symbol: str) -> dict[str, Any]:
        try:
            out: dict[str, Any] = _call(rt.services.market.stop_playback, symbol)
        except KeyError as exc:
            raise HTTPException(404, "no replay on this symbol") from exc
        return out

    site.admin.include_router(r)
    dashboard.install(site, rt, rt.services.dashboard)
