"""Derivatives REST gateway: `futures_rest` plays https://futures.kraken.com.

Three sub-applications behind the common stack (simulator/server/site.py):
`/derivatives/api` (v3, and v4 historicalfundingrates), `/api/history` and
`/api/charts`, each with Kraken's envelope (`result`, `serverTime`, payload
or `error`), routes declared from the endpoint table (matched without regard
to case, as Kraken does), signature checks as both real clients sign, and the
rate-limit hook.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.core.accounts import ApiKey, futures_access
from simulator.core.derivatives import FuturesEngine, FuturesError
from simulator.core.errors import EngineError
from simulator.core.ratelimit import futures_rest_cost, history_cost
from simulator.core.sequencer import Sequencer, View
from simulator.server.runtime import Runtime
from simulator.server.site import Dialect, Site, protocol_app

from . import history as hist
from . import openapi as futures_openapi
from .auth import NonceBook, verify
from .endpoints import ROUTES, Ctx, Handler, check_required
from .parse import Params, RestError, ascii_int, parse_batch, status_word
from .render import JSON, iso_ms

log = logging.getLogger("kraken_sim.futures_rest")
UNAUTHORIZED = {"reason": "You are not authorized to access this endpoint.", "status": "unauthorized"}
TOO_LARGE = "invalidArgument"  # Kraken's word for arguments it will not take (no size error is documented)


@dataclass
class FuturesRestConfig:
    """Gateway limits (rt.services.futures_rest_config, replaceable by tests)."""

    max_body: int = 64 * 1024  # bytes; as the Spot REST gateway: no real request comes near it


def _config(rt: Runtime) -> FuturesRestConfig:
    return rt.services.futures_rest_config or FuturesRestConfig()


def _market(rt: Runtime) -> tuple[FuturesEngine, Sequencer]:
    return rt.venue.derivatives, rt.venue.derivatives_seq


def _nonces(rt: Runtime) -> NonceBook:
    book = rt.venue.extensions.get("futures_nonces")
    if not isinstance(book, NonceBook):
        book = NonceBook()
        rt.venue.extensions["futures_nonces"] = book
    return book


def prepare(rt: Runtime) -> None:
    """Per-venue state of this gateway: the nonce book (saved with the venue)."""
    _nonces(rt)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(JSON.bytes(payload), status_code=status, media_type="application/json")


def _history_endpoint(answer: Callable[[Request, str, str, str], Response]) -> Any:
    """A history API route: `answer(request, path, query, body)`, its failures in
    that API's own shape (not the v3 envelope)."""

    async def endpoint(request: Request) -> Response:
        path, raw_query, body = await _read(request)
        try:
            return answer(request, path, raw_query, body)
        except RestError as exc:
            return _json({"result": "error", "error": exc.error}, 400 if exc.status == 200 else exc.status)
        except FuturesError as exc:
            return _json({"result": "error", "error": status_word(exc.code)}, 404)
        except Exception:  # noqa: BLE001
            log.exception("futures history %s failed", path)
            return _json({"result": "error", "error": "Server Error"}, 500)

    return endpoint


def _envelope(rt: Runtime, payload: dict[str, Any] | None = None, error: str | None = None) -> dict[str, Any]:
    now = iso_ms(rt.venue.clock.now_ns())
    if error is not None:
        return {"result": "error", "serverTime": now, "error": error}
    d: dict[str, Any] = {"result": "success", "serverTime": now}
    d.update(payload or {})
    return d


async def _read(request: Request) -> tuple[str, str, str]:
    """Path as sent (signatures cover it), raw query and body text (the cap is the stack's)."""
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    path = raw_path.decode("latin-1").split("?", 1)[0]
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    body = (await request.body()).decode("utf-8", errors="replace")
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


def _cost(name: str, method: str, params: Params, history: bool) -> int:
    """Kraken's published cost of one call (batch size and lastFillTime matter)."""
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
    """The rate-limit model's verdict (the venue's, shared with every protocol)."""
    try:
        rt.venue.limits.charge_futures_rest(account_id, endpoint, cost=cost, history=history)
    except EngineError as exc:
        raise RestError("apiLimitExceeded") from exc


def _sync(seq: Sequencer) -> View:
    """Fire due timers (funding, dead man's switch), then hold the sequencer
    with the engine's view time at now while the request reads."""
    seq.poll_timers()
    return seq.view()


class CaselessRoute(Route):
    """A declared route matched without regard to case, trailing `/` allowed
    (Kraken's futures paths answer either way; a parameter keeps its spelling)."""

    def __init__(self, path: str, endpoint: Any, methods: list[str]) -> None:
        super().__init__(path, endpoint, methods=methods, include_in_schema=False)
        self.path_regex = re.compile(self.path_regex.pattern.removesuffix("$") + "/?$", re.IGNORECASE)


def _dialects(rt: Runtime) -> tuple[Dialect, Dialect, Dialect]:
    """How v3, history and charts word the stack's and the router's refusals."""

    def v3(error: str, status: int = 200) -> Response:
        return _json(_envelope(rt, error=error), status)

    def limit() -> int:
        return _config(rt).max_body

    latency = "futures_rest"
    return (
        Dialect(too_large=lambda: v3(TOO_LARGE), max_body=limit, not_found=lambda: v3("notFound", 404),
                wrong_verb=lambda: v3("invalidArgument", 405), fault=lambda _f: v3("Unavailable"), latency=latency),
        Dialect(too_large=lambda: _json({"result": "error", "error": TOO_LARGE}, 400), max_body=limit,
                not_found=lambda: _json({"error": "not found"}, 404),
                wrong_verb=lambda: _json({"error": "method not allowed"}, 405),
                fault=lambda _f: v3("Unavailable"), latency=latency),
        Dialect(too_large=lambda: _json({"error": "Invalid request"}, 400), max_body=limit,
                not_found=lambda: _json({"error": "not found"}, 404),
                wrong_verb=lambda: _json({"error": "method not allowed"}, 405),
                fault=lambda _f: _json({"error": "Unavailable"}, 503), latency=latency),
    )


def install(site: Site, rt: Runtime) -> None:
    if rt.services.futures_rest_config is None:
        rt.services.futures_rest_config = FuturesRestConfig()

    def derivatives(pattern: str, handler: Handler, private: bool, trading: bool) -> Any:
        """The endpoint of one declared route (`pattern` as in the endpoint table)."""

        async def endpoint(request: Request) -> Response:
            path, raw_query, body = await _read(request)
            method = request.method.upper()
            symbol: str | None = request.path_params.get("symbol")
            eng, seq = _market(rt)
            try:
                params = Params.parse(raw_query, body)
                key = None
                if private:
                    check_required(pattern, params)
                    key = _authenticate(rt, request, path, raw_query, body)
                    access = futures_access(key.permissions)
                    if access == "none" or (trading and access != "full"):
                        raise RestError("authenticationError")
                    _ratelimit(rt, key.account_id, pattern, _cost(pattern, method, params, False))
                ctx = Ctx(rt, eng, seq, params, method, key, symbol)
                with _sync(seq):
                    payload = handler(ctx)
                return _json(_envelope(rt, payload))
            except RestError as exc:
                return _json(_envelope(rt, error=exc.error), exc.status)
            except FuturesError as exc:
                return _json(_envelope(rt, error=status_word(exc.code)))
            except Exception:  # noqa: BLE001 - Kraken reports processing failures in the envelope
                log.exception("futures REST %s %s failed", method, path)
                return _json(_envelope(rt, error="Server Error"))

        return endpoint

    def market_history(kind: str) -> Any:
        def answer(request: Request, path: str, raw_query: str, body: str) -> Response:
            eng, seq = _market(rt)
            params = Params.parse(raw_query, body)
            spec = eng.spec(request.path_params["symbol"])
            with _sync(seq):
                if kind == "executions":
                    return _json(hist.market_executions(eng, spec, params))
                if kind == "price":
                    return _json(hist.market_price(eng, spec, params))
                return _json({"elements": [], "len": 0, "continuationToken": None})

        return _history_endpoint(answer)

    def account_history(kind: str) -> Any:
        def answer(request: Request, path: str, raw_query: str, body: str) -> Response:
            eng, seq = _market(rt)
            params = Params.parse(raw_query, body)
            try:
                key = _authenticate(rt, request, path, raw_query, body)
            except RestError:
                return _json(UNAUTHORIZED, 401)
            if futures_access(key.permissions) == "none":
                return _json(UNAUTHORIZED, 401)
            hname = kind.replace("-", "")
            _ratelimit(rt, key.account_id, hname, _cost(hname, "GET", params, True), history=True)
            with _sync(seq):
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
                return _json({"accountUid": fa.id, "elements": [], "len": 0, "continuationToken": None})

        return _history_endpoint(answer)

    async def charts(request: Request) -> Response:
        """/{version}[/{tick}[/{symbol}[/{resolution}]]]: each level lists the next."""
        _, raw_query, body = await _read(request)
        pp = request.path_params
        eng, seq = _market(rt)
        try:
            params = Params.parse(raw_query, body)
            if "tick" not in pp:
                return _json(list(hist.TICK_TYPES))
            tick = pp["tick"].lower()
            if tick not in hist.TICK_TYPES:
                return _json({"error": "Invalid tick type"}, 400)
            if "symbol" not in pp:
                return _json(sorted(s for s, sp in eng.specs.items() if sp.tradeable))
            spec = eng.spec(pp["symbol"])
            if "resolution" not in pp:
                return _json(list(hist.RESOLUTIONS))
            res = pp["resolution"]
            if res not in hist.RESOLUTIONS:
                return _json({"error": "Invalid resolution"}, 400)
            with _sync(seq):
                return _json(hist.candles(eng, spec, tick, res, params, rt.venue.clock.now_ns()))
        except (RestError, FuturesError):
            return _json({"error": "Invalid request"}, 400)
        except Exception:  # noqa: BLE001
            log.exception("futures charts failed")
            return _json({"error": "Server Error"}, 500)

    verbs: dict[str, list[str]] = {}
    for m, pattern in ROUTES:
        verbs.setdefault(pattern, []).append(m)
    v3_routes = [
        CaselessRoute(f"/{version}/{pattern}", derivatives(pattern, *ROUTES[(m, pattern)]), methods=[m])
        for pattern, ms in verbs.items() for m in ms
        for version in (("v3", "v4") if pattern == "historicalfundingrates" else ("v3",))
    ]
    history_routes = [
        *(CaselessRoute(f"/{{version}}/market/{{symbol}}/{kind}", market_history(kind), methods=["GET"])
          for kind in ("executions", "price", "orders")),
        *(CaselessRoute(f"/{{version}}/{kind}", account_history(kind), methods=["GET"])
          for kind in ("executions", "orders", "triggers", "account-log", "accountlogcsv", "positions")),
    ]
    chart_routes = [
        CaselessRoute(path, charts, methods=["GET"])
        for path in ("/{version}", "/{version}/{tick}", "/{version}/{tick}/{symbol}",
                     "/{version}/{tick}/{symbol}/{resolution}")
    ]
    v3, history, charts_ = _dialects(rt)
    site.mount("/derivatives/api", protocol_app(rt, v3_routes, v3))
    site.mount("/api/history", protocol_app(rt, history_routes, history))
    site.mount("/api/charts", protocol_app(rt, chart_routes, charts_))

    def openapi_doc(_request: Request) -> Response:
        """The route table as OpenAPI (a simulator extra; not part of the app's /openapi.json)."""
        return _json(futures_openapi.venue_document(rt))

    site.route(futures_openapi.PATH, openapi_doc)
