"""HTTP edge of api.kraken.com: `/0/public/<Method>` and `/0/private/<Method>`.

Per request, in Kraken's order: injected faults and latency, method lookup
(unknown -> HTTP 404 `EGeneral:Unknown method`), body read with a size cap,
key, body parse, signature/nonce/otp, permissions, the rate-limit hook,
parameter names, then the handler.  Every failure is Kraken's error string
in the envelope with HTTP 200; nothing a client sends can produce a 500.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response

from simulator.core.errors import EngineError
from simulator.gateways.http_body import read_capped
from simulator.gateways.jsonw import dumpb

from . import auth
from . import openapi as spot_openapi
from .params import INVALID, ApiError, Params, invalid, parse_body, parse_form
from .registry import PRIVATE, PUBLIC, Ctx, Endpoint, RestConfig

log = logging.getLogger("kraken_sim.spot_rest")
UNKNOWN_METHOD = "EGeneral:Unknown method"
INTERNAL = "EGeneral:Internal error"


def ok(result: Any) -> Response:
    return Response(dumpb({"error": [], "result": result}), media_type="application/json")


def fail(text: str, status: int = 200) -> Response:
    return Response(dumpb({"error": [text]}), status_code=status, media_type="application/json")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body; beyond `limit` bytes the request is refused (see read_capped)."""
    body = await read_capped(request, limit)
    if body is None:
        raise invalid()
    return body


async def _gate(rt: Any) -> str | None:
    """Injected service errors and latency (the network in front of the engine)."""
    fault: str | None = rt.fault_reply()
    if fault:
        return fault
    delay = rt.latency_s("rest")
    if delay > 0:
        await asyncio.sleep(delay)
    return None


def _run(ep: Endpoint, ctx: Ctx, data: dict[str, Any]) -> Response:
    try:
        return ok(ep.handler(ctx, Params(data, ep.params)))
    except ApiError as exc:
        if not ep.private and exc.text.startswith(INVALID):
            return fail(INVALID)  # market data answers without the `:detail` order entry uses
        return fail(exc.text, exc.status)
    except EngineError as exc:
        return fail(exc.text)


def _config(rt: Any) -> RestConfig:
    cfg: RestConfig = rt.hooks.get("spot_rest_config") or RestConfig()
    return cfg


def install(app: FastAPI, rt: Any) -> None:
    router = APIRouter(include_in_schema=False)

    async def public_call(request: Request) -> Response:
        method: str = request.path_params["method"]
        fault = await _gate(rt)
        if fault:
            return fail(fault)
        ep = PUBLIC.get(method)
        if ep is None:
            return fail(UNKNOWN_METHOD, 404)
        try:
            data = parse_form(request.url.query.encode()) if request.url.query else {}
            if request.method == "POST":
                body = await read_body(request, _config(rt).max_body)
                for k, v in parse_body(body, request.headers.get("content-type")).items():
                    if k in data:
                        raise invalid(k)
                    data[k] = v
        except ApiError as exc:
            return fail(INVALID if exc.text.startswith(INVALID) else exc.text, exc.status)
        try:
            return _run(ep, Ctx(rt), data)
        except Exception:  # noqa: BLE001 - a bug must answer like Kraken, not with a 500
            log.exception("public %s failed", method)
            return fail(INTERNAL)

    async def private_call(request: Request) -> Response:
        method: str = request.path_params["method"]
        fault = await _gate(rt)
        if fault:
            return fail(fault)
        ep = PRIVATE.get(method)
        if ep is None:
            return fail(UNKNOWN_METHOD, 404)
        try:
            if request.method != "POST":
                raise invalid()
            body = await read_body(request, _config(rt).max_body)
            headers = request.headers
            key = auth.find_key(rt.venue.accounts, headers.get("api-key"))
            data = parse_body(body, headers.get("content-type"))
            auth.verify(key, request.url.path, body, data, headers.get("api-sign"))
            auth.check_permissions(key, ep.perms)
            limiter = rt.hooks.get("spot_rest_ratelimit")
            if limiter is not None:
                limiter(key.account_id, method)
            ctx = Ctx(rt, key, rt.venue.accounts.get(key.account_id))
        except ApiError as exc:
            return fail(exc.text, exc.status)
        except EngineError as exc:
            return fail(exc.text)
        try:
            return _run(ep, ctx, data)
        except Exception:  # noqa: BLE001 - a bug must answer like Kraken, not with a 500
            log.exception("private %s failed", method)
            return fail(INTERNAL)

    # plain Starlette routes on the APIRouter: the handlers read the raw body
    # themselves, so FastAPI's per-request dependency solving would be pure cost
    router.add_route("/0/public/{method:path}", public_call, methods=["GET", "POST"], include_in_schema=False)
    router.add_route("/0/private/{method:path}", private_call, methods=["GET", "POST"], include_in_schema=False)
    app.include_router(router)
    # Kraken's two paths are the hot ones: match them before the admin and other
    # gateways' routes (their prefixes never overlap, so order cannot change meaning)
    ours = [
        r
        for r in app.router.routes
        if getattr(r, "original_router", None) is router  # FastAPI keeps included routers as one route
        or str(getattr(r, "path", "")).startswith(("/0/public/", "/0/private/"))
    ]
    app.router.routes[:] = ours + [r for r in app.router.routes if r not in ours]

    def openapi_doc() -> Response:
        """The method table as OpenAPI (a simulator extra; not part of the app's /openapi.json)."""
        return Response(dumpb(spot_openapi.venue_document(rt)), media_type="application/json")

    app.add_api_route(spot_openapi.PATH, openapi_doc, methods=["GET"], include_in_schema=False)


__all__ = ["fail", "install", "ok", "read_body"]
