"""The admin (test-control) API under /admin: accounts, reset, journal,
clock, faults, books, status.  JSON over HTTP, in the OpenAPI schema."""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from simulator.core.clock import NS_PER_MS, OUT_OF_RANGE, in_range, parse_rfc3339, rfc3339_us
from simulator.core.engine import SYSTEM_STATUSES
from simulator.core.errors import EngineError
from simulator.core.numbers import BALANCE_DP, fmt_units
from simulator.core.orders import Origin
from simulator.scenario import BookSeed

from . import derivatives
from .admin_numbers import admin_decimal
from .runtime import Runtime
from .seeding import seed_book
from .site import Dialect, documented_app

ADMIN = Origin("admin", "api")


class AccountIn(BaseModel):
    balances: dict[str, str | int | float] = Field(default_factory=dict, examples=[{"XBT": "10", "USD": "100000"}])
    futures_balances: dict[str, str | int | float] = Field(default_factory=dict, examples=[{"USD": "100000"}])
    tier: str = Field("intermediate", description="starter | intermediate | pro")
    parent_id: str | None = Field(None, description="make a subaccount of this account")
    nonce_window: int = Field(0, ge=0, description="accept nonces this far below the last one (once each)")
    permissions: list[str] | None = Field(None, description="API-key permissions; default all")
    margin: bool = Field(False, description="allow Spot margin trading (off by default, as on Kraken)")


class BalanceIn(BaseModel):
    asset: str
    amount: str | int | float = Field(description="signed amount to credit (negative debits)")
    market: str = Field("spot", description="spot | futures")


class TierIn(BaseModel):
    tier: str | None = None
    volume_30d: str | None = None
    rate_limits: bool | None = Field(None, description="switch this account's rate limits on/off")
    margin: bool | None = Field(None, description="allow Spot margin trading on/off")


class ClockIn(BaseModel):
    mode: str | None = Field(None, description="frozen | real")
    advance_ms: int | None = Field(None, ge=0)
    set: str | None = Field(None, description="RFC3339 time to jump to")


class BookIn(BaseModel):
    levels: int = Field(10, ge=0, le=500)
    step: str | None = None
    qty: str | None = None
    mid: str | None = None
    bids: list[tuple[str, str]] = Field(default_factory=list, description="[[price, qty], ...]")
    asks: list[tuple[str, str]] = Field(default_factory=list)
    clear: bool = Field(False, description="cancel the market maker's orders on this pair first")


class FaultsIn(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False)

    unavailable_share: float | None = Field(None, ge=0, le=1)
    busy_share: float | None = Field(None, ge=0, le=1)
    status: str | None = Field(None, description="online | maintenance | cancel_only | post_only | limit_only")
    ws_reorder: bool | None = None
    ws_paths: int | None = Field(None, ge=1, le=64)
    ws_latency_ms: tuple[float, float] | None = None
    latency_ms: dict[str, tuple[float, float] | None] | None = None
    latency_profile: str | None = Field(
        None, description="off | kraken (REST 20-120 ms, WS 2-10 ms, FIX 0.5-2 ms; seeded, per request)"
    )
    seed: int | None = None
    drop_connection: str | None = Field(None, description="connection id to drop (see GET /admin/connections)")
    drop_protocol: str | None = Field(None, description="drop every connection of this protocol: ws | fix | futures_ws")


class IndexIn(BaseModel):
    price: str


_dec = admin_decimal


def _whole_units(d: Decimal, dp: int) -> bool:
    """True if `d` has no digit below 10**-dp (read off the digits: no rounding context)."""
    _sign, digits, exp = d.as_tuple()
    extra = -int(exp) - dp
    return extra <= 0 or not any(digits[-extra:])


def _engine_call(fn: Any, *a: Any, **kw: Any) -> Any:
    try:
        return fn(*a, **kw)
    except EngineError as exc:
        raise HTTPException(400, exc.text) from exc
    except (ValueError, KeyError, ArithmeticError) as exc:
        raise HTTPException(400, str(exc)) from exc


def account_view(rt: Runtime, account_id: str) -> dict[str, Any]:
    v = rt.venue
    acct = v.accounts.get(account_id)
    if acct is None:
        raise HTTPException(404, "unknown account")
    assets = v.instruments.assets
    return {
        "account_id": acct.id,
        "tier": acct.tier,
        "volume_30d": str(acct.volume_30d),
        "parent_id": acct.parent_id,
        "subaccounts": acct.subaccounts,
        "rate_limits": acct.rate_limits_enabled,
        "margin": acct.margin_enabled,
        "balances": {
            (assets[a].altname if a in assets else a): fmt_units(u, BALANCE_DP).rstrip("0").rstrip(".")
            for a, u in sorted(acct.balances.items())
        },
        "held": {
            (assets[a].altname if a in assets else a): fmt_units(u, BALANCE_DP).rstrip("0").rstrip(".")
            for a, u in sorted(acct.held.items())
            if u
        },
        "open_orders": sorted(v.spot.open_orders.get(acct.id, {})),
        "spot_margin": spot_margin_view(rt, acct.id),
        "futures": derivatives.account_view(rt, acct.id),
    }


def spot_margin_view(rt: Runtime, account_id: str) -> dict[str, Any]:
    """Spot margin at a glance (the core's figures, in USD): open position entries,
    used margin, equity, margin level, and whether a margin call is on."""
    with rt.venue.spot_seq.view() as eng:
        m = eng.margin
        positions = [{"id": p.id, "pair": p.pair.id, "type": p.side, "leverage": p.leverage,
                      "vol": fmt_units(p.open_vol, p.pair.lot_decimals)} for p in m.open_positions(account_id)]
        tb = m.trade_balance(account_id, orders=False)
    return {
        "positions": positions,
        "margin": str(tb.m),
        "equity": str(tb.e),
        "margin_level": str(tb.ml.quantize(Decimal("0.01"))) if tb.ml is not None else None,
        "margin_call": account_id in m.called,
    }


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, safe for inputs its default handler fails on with a 500: bodies
    that are not UTF-8, and JSON's non-standard Infinity/NaN echoed back."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    detail = jsonable_encoder(errors, custom_encoder={
        bytes: lambda b: b.decode("utf-8", "replace"),
        float: lambda f: f if math.isfinite(f) else str(f),
    })
    return JSONResponse(status_code=422, content={"detail": detail})


MAX_LATENCY_MS = 60_000  # an injected delay longer than a minute only parks the request
MAX_ADMIN_BODY = 1 << 20  # bytes: a scenario-sized book or account fits many times over
TOO_LARGE = f"request body too large (limit {MAX_ADMIN_BODY} bytes)"


def build(rt: Runtime) -> FastAPI:
    """The admin sub-application (mounted at /admin): guarded (loopback rule, token)
    and body-capped for every route in it, whichever gateway added the route."""
    dialect = Dialect(too_large=lambda: JSONResponse({"detail": TOO_LARGE}, status_code=413),
                      max_body=lambda: MAX_ADMIN_BODY)
    app = documented_app(rt, dialect, guard=True)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.include_router(_router(rt))
    return app


def _router(rt: Runtime) -> APIRouter:
    r = APIRouter(tags=["admin"])

    @r.post("/accounts", summary="Create an account with keys (spot, futures, FIX)")
    def create_account(body: AccountIn) -> dict[str, Any]:
        v = rt.venue
        balances = {k: _dec(x, f"balances.{k}") for k, x in body.balances.items()}
        fut = v.deposit_derivatives
        fut_amounts = {k: _dec(x, f"futures_balances.{k}") for k, x in body.futures_balances.items()}
        for asset, amount in fut_amounts.items():  # refuse before the account exists: no half-made accounts
            if v.instruments.asset(asset) is None:
                raise HTTPException(400, f"futures_balances.{asset}: unknown asset")
            if amount <= 0 or not _whole_units(amount, BALANCE_DP):
                raise HTTPException(400, f"futures_balances.{asset}: not a positive amount")
        creds = _engine_call(
            v.create_account,
            balances,
            tier=body.tier,
            parent_id=body.parent_id,
            nonce_window=body.nonce_window,
            permissions=body.permissions,
            origin=ADMIN,
            margin=body.margin,
        )
        for asset, amount in fut_amounts.items():
            _engine_call(fut, creds.account.id, asset, amount)
        out: dict[str, Any] = creds.to_json()
        return out

    @r.get("/accounts", summary="Every account")
    def list_accounts() -> list[dict[str, Any]]:
        return [account_view(rt, a) for a in rt.venue.accounts.accounts]

    @r.get("/accounts/{account_id}", summary="One account: balances, holds, open orders")
    def get_account(account_id: str) -> dict[str, Any]:
        return account_view(rt, account_id)

    @r.post("/accounts/{account_id}/balances", summary="Credit or debit a balance")
    def adjust(account_id: str, body: BalanceIn) -> dict[str, Any]:
        amount = _dec(body.amount, "amount")
        if body.market == "futures":
            _engine_call(rt.venue.deposit_derivatives, account_id, body.asset, amount)
        else:
            _engine_call(
                rt.venue.spot_seq.submit,
                "adjust_balance",
                ADMIN,
                {"account_id": account_id, "asset": body.asset, "amount": amount, "type": "adjustment"},
            )
        return account_view(rt, account_id)

    @r.post("/accounts/{account_id}/tier", summary="Set tier, 30-day volume, rate limits on/off")
    def set_tier(account_id: str, body: TierIn) -> dict[str, Any]:
        vol = _dec(body.volume_30d, "volume_30d") if body.volume_30d is not None else None
        params: dict[str, Any] = {"account_id": account_id, "tier": body.tier, "volume_30d": vol}
        if body.rate_limits is not None:
            params["rate_limits"] = body.rate_limits
        if body.margin is not None:
            params["margin"] = body.margin
        _engine_call(rt.venue.spot_seq.submit, "set_tier", ADMIN, params)
        return account_view(rt, account_id)

    @r.post("/reset", summary="Back to the configured scenario")
    def reset() -> dict[str, Any]:
        rt.reset()
        assert rt.demo is not None
        return {"reset": True, "demo_account": rt.demo.to_json()}

    @r.get("/journal", summary="Commands and events in engine order")
    def journal(
        since: int = Query(0, ge=0), limit: int = Query(1000, ge=1, le=100000), events: bool = True
    ) -> dict[str, Any]:
        out = []
        last = since
        for e in rt.venue.journal.since(since):
            out.append(e.to_json(with_events=events))
            last = e.seq
            if len(out) >= limit:
                break
        journal = rt.venue.journal
        return {"entries": out, "last": last, "dropped": journal.dropped, "head": journal.last_seq}

    @r.get("/retention", summary="What finished history memory keeps (README: Retention)")
    def retention() -> dict[str, Any]:
        from simulator.core.retention import summary

        with rt.venue.spot_seq.exclusive() as eng:
            out = summary(eng)
        journal = rt.venue.journal
        out["journal"] = {"kept": len(journal.entries), "max": journal.max_entries, "dropped": journal.dropped}
        return out

    @r.get("/journal.jsonl", summary="The journal's commands as JSONL (replay with `kraken-sim replay FILE`)")
    def journal_jsonl() -> Any:
        from fastapi.responses import PlainTextResponse

        journal = rt.venue.journal
        store = rt.services.journal_file
        if journal.dropped and store is not None and store.exists():
            # memory keeps only the newest entries (--journal-max); the state directory has them all,
            # sent as committed now: the file grows while it is sent
            from fastapi.responses import StreamingResponse

            before, size, body = store.committed()
            sent = {"Content-Length": str(size)}
            if before:  # rotated away at snapshots (--journal-rotate-mb): the file starts at seq before + 1
                sent["X-Journal-Dropped"] = str(before)
            return StreamingResponse(body, media_type="application/x-ndjson", headers=sent)
        lines = [json.dumps(e.to_json(with_events=False)) for e in list(journal.entries)]  # a copy: appends go on
        headers = {"X-Journal-Dropped": str(journal.dropped)} if journal.dropped else None
        return PlainTextResponse("\n".join(lines) + ("\n" if lines else ""), media_type="application/x-ndjson",
                                 headers=headers)

    @r.get("/clock", summary="The venue clock")
    def get_clock() -> dict[str, Any]:
        c = rt.venue.clock
        return {"mode": c.mode, "now": rfc3339_us(c.now_ns()), "now_ns": c.now_ns()}

    @r.post("/clock", summary="Freeze, run, advance or set the venue clock")
    def set_clock(body: ClockIn) -> dict[str, Any]:
        c = rt.venue.clock
        # every part is checked before any is applied: a refused call leaves the clock as it was
        if body.mode is not None and body.mode not in ("frozen", "real"):
            raise HTTPException(400, "mode must be frozen or real")
        target = None
        if body.set is not None:
            try:
                target = parse_rfc3339(body.set)
            except (ValueError, OverflowError) as exc:
                raise HTTPException(400, "set: not an RFC3339 time") from exc
            if target < c.now_ns():
                raise HTTPException(400, "set: the venue clock only moves forward")
        advance_ns = (body.advance_ms or 0) * NS_PER_MS
        if not in_range((target if target is not None else c.now_ns()) + advance_ns):
            raise HTTPException(400, f"{'set' if target is not None and not in_range(target) else 'advance_ms'}: "
                                     f"{OUT_OF_RANGE}")
        if body.mode == "frozen":
            c.freeze()
        elif body.mode == "real":
            c.run()
        if target is not None:
            c.set_ns(target)
        if advance_ns:
            c.advance_ns(advance_ns)
        for seq in rt.venue.sequencers.values():
            seq.poll_timers()
        return get_clock()

    @r.get("/faults", summary="Current faults")
    def get_faults() -> dict[str, Any]:
        d = rt.faults.to_json()
        d["status"] = rt.venue.spot.status
        return d

    @r.post("/faults", summary="Inject faults: service errors, status, WS reordering, latency, dropped connections")
    async def set_faults(body: FaultsIn) -> dict[str, Any]:
        data = body.model_dump(exclude_none=True)
        status = data.pop("status", None)
        drop = data.pop("drop_connection", None)
        drop_proto = data.pop("drop_protocol", None)
        # refuse before changing anything: a refused call leaves the faults as they were
        if drop and drop not in rt.connections:
            raise HTTPException(404, "unknown connection")
        if status is not None and status not in SYSTEM_STATUSES:
            raise HTTPException(400, "EGeneral:Invalid arguments:status")
        ranges = [data.get("ws_latency_ms"), *(data.get("latency_ms") or {}).values()]
        if any(r is not None and not 0 <= r[0] <= r[1] <= MAX_LATENCY_MS for r in ranges):
            raise HTTPException(
                400, f"latency ranges are [low, high] milliseconds with 0 <= low <= high <= {MAX_LATENCY_MS}"
            )
        saved = (copy.deepcopy(rt.faults), rt.rng)
        try:
            _engine_call(rt.apply_faults, data)
        except HTTPException:
            rt.faults, rt.rng = saved
            raise
        if status is not None:
            for _name, seq in rt.venue.sequencers.items():
                if "set_status" in seq.handlers:
                    _engine_call(seq.submit, "set_status", ADMIN, {"status": status})
        dropped = []
        for cid, conn in list(rt.connections.items()):
            if cid == drop or (drop_proto and getattr(conn, "protocol", None) == drop_proto):
                await conn.drop()
                dropped.append(cid)
        if drop and drop not in dropped:
            raise HTTPException(404, "unknown connection")
        res = get_faults()
        res["dropped"] = dropped
        return res

    @r.get("/connections", summary="Live WS/FIX connections")
    def connections() -> list[dict[str, Any]]:
        return [
            {"id": cid, "protocol": getattr(c, "protocol", "?"), "account": getattr(c, "account_id", None)}
            for cid, c in rt.connections.items()
        ]

    @r.post("/books/{symbol:path}", summary="Place resting liquidity from the market-maker account")
    def books(symbol: str, body: BookIn) -> dict[str, Any]:
        seed = BookSeed(symbol, body.levels, body.step, body.qty, body.mid, list(body.bids), list(body.asks))
        for side in (seed.bids, seed.asks):
            for p, q in side:
                _dec(p, "price")
                _dec(q, "qty")
        for name in ("step", "qty", "mid"):
            value = getattr(body, name)
            if value is not None and _dec(value, name) <= 0:
                raise HTTPException(400, f"{name}: must be positive")
        if rt.venue.instruments.pair(symbol) is None and rt.venue.instruments.future(symbol) is None:
            raise HTTPException(404, "EQuery:Unknown asset pair")
        ids = _engine_call(seed_book, rt, seed, body.clear)
        return {"order_ids": ids}

    @r.post("/index/{symbol:path}", summary="Set the index (and for futures, mark) price")
    def index(symbol: str, body: IndexIn) -> dict[str, Any]:
        price = _dec(body.price, "price")
        if rt.venue.instruments.pair(symbol) is not None:
            _engine_call(rt.venue.spot_seq.submit, "set_index_price", ADMIN, {"pair": symbol, "price": price})
        else:
            _engine_call(derivatives.set_index, rt, symbol, price)
        return {"symbol": symbol, "price": str(price)}

    @r.get("/state", summary="State digest (equal digests: equal state)")
    def state() -> dict[str, Any]:
        return {"digest": rt.venue.state_digest(), "journal_last": rt.venue.journal._seq}

    return r
