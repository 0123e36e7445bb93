"""HTTP edge of api.kraken.com: the `/0` sub-application.

Per request, in Kraken's order: the common stack (injected latency and
faults, the body cap; see simulator/server/site.py), then the router (a
method that is not in the table -> HTTP 404 `EGeneral:Unknown method`; a GET
on a private method -> `EGeneral:Invalid arguments`), key, body parse,
signature/nonce/otp, permissions, the rate-limit hook, parameter names, then
the handler.  Every failure is Kraken's error string in the envelope;
nothing a client sends can produce a 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from simulator.core.errors import EngineError
from simulator.gateways.jsonw import dumpb
from simulator.server.site import Dialect, Site, protocol_app

from . import auth
from . import openapi as spot_openapi
from .parse import INVALID, ApiError, Params, invalid, parse_body, parse_form
from .registry import PRIVATE, PUBLIC, Ctx, Endpoint, RawResult, RestConfig

log = logging.getLogger("kraken_sim.spot_rest")
UNKNOWN_METHOD = "EGeneral:Unknown method"
INTERNAL = "EGeneral:Internal error"


def ok(result: Any) -> Response:
    return Response(dumpb({"error": [], "result": result}), media_type="application/json")


def fail(text: str, status: int = 200) -> Response:
    return Response(dumpb({"error": [text]}), status_code=status, media_type="application/json")


def _run(ep: Endpoint, ctx: Ctx, data: dict[str, Any]) -> Response:
    try:
        result = ep.handler(ctx, Params(data, ep.params))
        if isinstance(result, RawResult):
            return Response(result.body, media_type=result.media_type)
        return ok(result)
    except ApiError as exc:
        if not ep.private and exc.text.startswith(INVALID):
            return fail(INVALID)  # market data answers without the `:detail` order entry uses
        return fail(exc.text, exc.status)
    except EngineError as exc:
        return fail(exc.text)


def _config(rt: Any) -> RestConfig:
    cfg: RestConfig = rt.services.spot_rest_config or RestConfig()
    return cfg


def method_names(names: list[str]) -> Convertor[str]:
    """A path segment that is one of a method table's names, exactly (Kraken's
    names are case-sensitive): the router itself knows which methods exist."""

    class MethodName(Convertor[str]):
        regex = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))

        def convert(self, value: str) -> str:
            return value

        def to_string(self, value: str) -> str:
            return value

    return MethodName()


def dialect(rt: Any) -> Dialect:
    """How Spot REST words the stack's and the router's refusals (HTTP 200 but for 404)."""
    return Dialect(
        too_large=lambda: fail(INVALID),
        max_body=lambda: _config(rt).max_body,
        not_found=lambda: fail(UNKNOWN_METHOD, 404),
        wrong_verb=lambda: fail(INVALID),  # Kraken: private methods are POST only; its reply to GET is unsure
        fault=fail,
        latency="rest",
    )


def install(site: Site, rt: Any) -> None:
    async def public_call(request: Request) -> Response:
        method: str = request.path_params["method"]
        ep = PUBLIC[method]
        try:
            data = parse_form(request.url.query.encode()) if request.url.query else {}
            if request.method == "POST":
                body = await request.body()
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
        ep = PRIVATE[method]
        try:
            body = await request.body()
            headers = request.headers
            key = auth.find_key(rt.venue.accounts, headers.get("api-key"))
            data = parse_body(body, headers.get("content-type"))
            auth.verify(key, request.url.path, body, data, headers.get("api-sign"))
            auth.check_permissions(key, ep.perms)
            rt.venue.limits.charge_spot_call(key.account_id, method)
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

    # the method tables are complete once the endpoint modules are imported (spot_rest/__init__)
    register_url_convertor("spot_public", method_names(list(PUBLIC)))
    register_url_convertor("spot_private", method_names(list(PRIVATE)))
    routes = [
        Route("/public/{method:spot_public}", public_call, methods=["GET", "POST"]),
        Route("/private/{method:spot_private}", private_call, methods=["POST"]),
    ]
    site.mount("/0", protocol_app(rt, routes, dialect(rt)))

    def openapi_doc(_request: Request) -> Response:
        """The method table as OpenAPI (a simulator extra; not part of the app's /openapi.json)."""
        return Response(dumpb(spot_openapi.venue_document(rt)), media_type="application/json")

    site.route(spot_openapi.PATH, openapi_doc)


__all__ = ["dialect", "fail", "install", "ok"]
