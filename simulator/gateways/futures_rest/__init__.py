"""Derivatives REST gateway: `futures_rest` plays https://futures.kraken.com.

Serves `/derivatives/api/v3/*` (and v4 historicalfundingrates),
`/api/history/v2|v3/*` and `/api/charts/v1/*` with Kraken's envelope
(`result`, `serverTime`, payload or `error`), signature checks as both real
clients sign, injected faults and latency, and the rate-limit hook.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from simulator.core.accounts import ApiKey, futures_access
from simulator.core.derivatives import FuturesEngine, FuturesError
from simulator.core.sequencer import Sequencer
from simulator.gateways.http_body import read_capped
from simulator.server.runtime import Runtime

from . import history as hist
from . import openapi as futures_openapi
from .auth import NonceBook, verify
from .endpoints import Ctx, check_required, resolve
from .fmt import iso_ms
from .jsonw import dumps
from .params import Params, RestError, ascii_int, parse_batch

log = logging.getLogger("kraken_sim.futures_rest")
UNAUTHORIZED = {"reason": "You are not authorized to access this endpoint.", "status": "unauthorized"}
TOO_LARGE = "invalidArgument"  # Kraken's word for arguments it will not take (no size error is documented)


@dataclass
class FuturesRestConfig:
    """Gateway limits (rt.hooks["futures_rest_config"], replaceable by tests)."""

    max_body: int = 64 * 1024  # bytes; as the Spot REST gateway: no real request comes near it


def _config(rt: Runtime) -> FuturesRestConfig:
    cfg = rt.hooks.get("futures_rest_config")
    return cfg if isinstance(cfg, FuturesRestConfig) else FuturesRestConfig()


def _market(rt: Runtime) -> tuple[FuturesEngine, Sequencer]:
    return rt.venue.extensions["futures"], rt.venue.sequencers["futures"]


def _nonces(rt: Runtime) -> NonceBook:
    book = rt.venue.extensions.get("futures_nonces")
    if not isinstance(book, NonceBook):
        book = NonceBook()
        rt.venue.extensions["futures_nonces"] = book
    return book


def _json(payload: Any, status: int = 200) -> Response:
    return Response(dumps(payload), status_code=status, media_type="application/json")


def _envelope(rt: Runtime, payload: dict[str, Any] | None = None, error: str | None = None) -> dict[str, Any]:
    now = iso_ms(rt.venue.clock.now_ns())
    if error is not None:
        return {"result": "error", "serverTime": now, "error": error}
    d: dict[str, Any] = {"result": "success", "serverTime": now}
    d.update(payload or {})
    return d


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; beyond `limit` bytes the request is refused (see read_capped)."""
    body = await read_capped(request, limit)
    if body is None:
        raise RestError(TOO_LARGE)
    return body


async def _read(request: Request, limit: int) -> tuple[str, str, str]:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1").split("?", 1)[0]
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    body = (await read_body(request, limit)).decode("utf-8", errors="replace")
    return path, raw_query, body


def _authenticate(rt: Runtime, request: Request, path: str, raw_query: str, body: str) -> ApiKey:
    headers = request.headers
    key_text = (headers.get("apikey") or "").strip()
    key = rt.venue.accounts.key(key_text) if key_text else None
    nonce = headers.get("nonce") or ""
    verify(key, headers.get("authent"), nonce, path, raw_query, body)
    assert key is not None
    if nonce:
        value = ascii_int(nonce, 32)  # ms or 1e-8 s nonces have 13-18 digits
        if value is None:
            raise RestError("authenticationError")
        _nonces(rt).check(key.key, value)
    return key


def _cost(name: str, method: str, params: Params, history: bool) -> int | None:
    """Kraken's published cost of one call (batch size and lastFillTime matter)."""
    try:
        from simulator.core.ratelimit import futures_rest_cost, history_cost
    except ImportError:  # pragma: no cover - the rate-limit model is optional
        return None
    if history:
        count = params.get("count")
        return history_cost(name, ascii_int(count) if count else None)
    size = 0
    if name == "batchorder":
        try:
            size = len(parse_batch(params.raw_json))
        except RestError:
            size = 0
    return futures_rest_cost(name, size, params.get("lastFillTime") is not None, method == "PUT")


def _ratelimit(rt: Runtime, account_id: str, endpoint: str, cost: int | None = None, history: bool = False) -> None:
    """The rate-limit model's verdict (a separate gateway publishes the hook)."""
    hook = rt.hooks.get("futures_rest_ratelimit")
    if hook is None:
        return
    try:
        try:
            hook(account_id, endpoint, cost=cost, history=history)
        except TypeError:
            hook(account_id, endpoint)
    except RestError:
        raise
    except Exception as exc:  # noqa: BLE001 - any refusal means the budget is spent
        raise RestError("apiLimitExceeded", int(getattr(exc, "http_status", 200) or 200)) from exc


async def _prelude(rt: Runtime) -> str | None:
    delay = rt.latency_s("futures_rest")
    if delay > 0:
        await asyncio.sleep(delay)
    fault = rt.fault_reply()
    if fault is not None:
        return "Unavailable"
    return None


def _sync(rt: Runtime, eng: FuturesEngine, seq: Sequencer) -> None:
    """Fire due timers (funding, dead man's switch) and bring the engine's
    view time to now before reading."""
    seq.poll_timers()
    now = rt.venue.clock.now_ns()
    if now > eng.now_ns:
        eng.now_ns = now


def install(app: FastAPI, rt: Runtime) -> None:
    rt.hooks.setdefault("futures_rest_config", FuturesRestConfig())

    async def derivatives(request: Request, version: str, rest: str) -> Response:
        fault = await _prelude(rt)
        if fault is not None:
            return _json(_envelope(rt, error=fault))
        try:
            path, raw_query, body = await _read(request, _config(rt).max_body)
        except RestError as exc:
            return _json(_envelope(rt, error=exc.error), exc.status)
        method = request.method.upper()
        name = rest.strip("/").lower()
        if version.lower() == "v4" and name != "historicalfundingrates" or version.lower() not in ("v3", "v4"):
            return _json(_envelope(rt, error="notFound"), 404)
        route, symbol, known = resolve(method, rest)
        if route is None:
            return _json(_envelope(rt, error="notFound" if not known else "invalidArgument"), 404 if not known else 405)
        handler, private, trading = route
        eng, seq = _market(rt)
        try:
            params = Params.parse(raw_query, body)
            key = None
            if private:
                check_required(name, params)
                key = _authenticate(rt, request, path, raw_query, body)
                access = futures_access(key.permissions)
                if access == "none" or (trading and access != "full"):
                    raise RestError("authenticationError")
                endpoint = name if symbol is None else name.replace(symbol.lower(), "{symbol}")
                _ratelimit(rt, key.account_id, endpoint, _cost(endpoint, method, params, False))
            ctx = Ctx(rt, eng, seq, params, method, key, symbol)
            with seq._lock:
                _sync(rt, eng, seq)
                payload = handler(ctx)
            return _json(_envelope(rt, payload))
        except RestError as exc:
            return _json(_envelope(rt, error=exc.error), exc.status)
        except FuturesError as exc:
            return _json(_envelope(rt, error=exc.text))
        except Exception:  # noqa: BLE001 - Kraken reports processing failures in the envelope
            log.exception("futures REST %s %s failed", method, path)
            return _json(_envelope(rt, error="Server Error"))

    async def history(request: Request, version: str, rest: str) -> Response:
        fault = await _prelude(rt)
        if fault is not None:
            return _json(_envelope(rt, error=fault))
        try:
            path, raw_query, body = await _read(request, _config(rt).max_body)
        except RestError as exc:
            return _json({"result": "error", "error": exc.error}, 400)
        parts = [p for p in rest.strip("/").split("/") if p]
        eng, seq = _market(rt)
        try:
            params = Params.parse(raw_query, body)
            if len(parts) == 3 and parts[0].lower() == "market":
                spec = eng.spec(parts[1])
                with seq._lock:
                    _sync(rt, eng, seq)
                    if parts[2].lower() == "executions":
                        return _json(hist.market_executions(eng, spec, params))
                    if parts[2].lower() == "price":
                        return _json(hist.market_price(eng, spec, params))
                    if parts[2].lower() == "orders":
                        return _json({"elements": [], "len": 0, "continuationToken": None})
                return _json({"error": "not found"}, 404)
            try:
                key = _authenticate(rt, request, path, raw_query, body)
            except RestError:
                return _json(UNAUTHORIZED, 401)
            if futures_access(key.permissions) == "none":
                return _json(UNAUTHORIZED, 401)
            kind = "/".join(parts).lower()
            hname = kind.replace("-", "")
            _ratelimit(rt, key.account_id, hname, _cost(hname, "GET", params, True), history=True)
            with seq._lock:
                _sync(rt, eng, seq)
                fa = eng.fa(key.account_id)
                if kind == "executions":
                    return _json(hist.account_executions(eng, fa, params))
                if kind == "orders":
                    return _json(hist.account_orders(fa, params))
                if kind == "triggers":
                    return _json(hist.account_triggers(fa, params))
                if kind == "account-log":
                    return _json(hist.account_log(eng, fa, params))
                if kind == "accountlogcsv":
                    return Response(hist.account_log_csv(eng, fa), media_type="text/csv")
                if kind == "positions":
                    return _json({"accountUid": fa.id, "elements": [], "len": 0, "continuationToken": None})
            return _json({"error": "not found"}, 404)
        except RestError as exc:
            return _json({"result": "error", "error": exc.error}, 400 if exc.status == 200 else exc.status)
        except FuturesError as exc:
            return _json({"result": "error", "error": exc.text}, 404)
        except Exception:  # noqa: BLE001
            log.exception("futures history %s failed", path)
            return _json({"result": "error", "error": "Server Error"}, 500)

    async def charts(request: Request, version: str, rest: str = "") -> Response:
        fault = await _prelude(rt)
        if fault is not None:
            return _json({"error": "Unavailable"}, 503)
        try:
            _, raw_query, body = await _read(request, _config(rt).max_body)
        except RestError:
            return _json({"error": "Invalid request"}, 400)
        parts = [p for p in rest.strip("/").split("/") if p]
        eng, seq = _market(rt)
        try:
            params = Params.parse(raw_query, body)
            if not parts:
                return _json(list(hist.TICK_TYPES))
            tick = parts[0].lower()
            if tick not in hist.TICK_TYPES:
                return _json({"error": "Invalid tick type"}, 400)
            if len(parts) == 1:
                return _json(sorted(s for s, sp in eng.specs.items() if sp.tradeable))
            spec = eng.spec(parts[1])
            if len(parts) == 2:
                return _json(list(hist.RESOLUTIONS))
            res = parts[2]
            if res not in hist.RESOLUTIONS or len(parts) > 3:
                return _json({"error": "Invalid resolution"}, 400)
            with seq._lock:
                _sync(rt, eng, seq)
                return _json(hist.candles(eng, spec, tick, res, params, rt.venue.clock.now_ns()))
        except (RestError, FuturesError):
            return _json({"error": "Invalid request"}, 400)
        except Exception:  # noqa: BLE001
            log.exception("futures charts failed")
            return _json({"error": "Server Error"}, 500)

    methods = ["GET", "POST", "PUT", "DELETE"]
    app.add_api_route("/derivatives/api/{version}/{rest:path}", derivatives, methods=methods, include_in_schema=False)
    app.add_api_route("/api/history/{version}/{rest:path}", history, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/charts/{version}/{rest:path}", charts, methods=["GET"], include_in_schema=False)
    app.add_api_route("/api/charts/{version}", charts, methods=["GET"], include_in_schema=False)

    def openapi_doc() -> Response:
        """The route table as OpenAPI (a simulator extra; not part of the app's /openapi.json)."""
        return _json(futures_openapi.venue_document(rt))

    app.add_api_route(futures_openapi.PATH, openapi_doc, methods=["GET"], include_in_schema=False)
