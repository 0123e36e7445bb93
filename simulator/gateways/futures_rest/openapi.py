"""An OpenAPI 3 document of Derivatives REST v3, generated from the route table.

The gateway serves `/derivatives/api/{version}/{rest}` through one generic
route, so FastAPI cannot describe it; this module walks `endpoints.ROUTES`
(method, path, public/private, read/full access) instead, so every route is
documented and nothing else is.  The route table carries no parameter names:
those, with Kraken's documented types, are in `PARAMS` below, keyed by route
(a test checks every key is a route).  Served at `/openapi/futures-rest.json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from simulator.gateways.openapi_common import document

from .endpoints import ROUTES, Handler

PATH = "/openapi/futures-rest.json"
PREFIX = "/derivatives/api/v3/"
Schema = dict[str, Any]
DESCRIPTION = (
    "Kraken's Derivatives REST v3 as this simulator serves it, generated from the gateway's "
    "route table. GET parameters go in the query, POST/PUT parameters in a form body. Private calls: APIKey "
    "header, optional Nonce header, Authent = base64(HMAC-SHA512(base64-decoded secret, SHA256(query + body "
    "+ nonce + path without /derivatives))). Errors are {\"result\": \"error\", \"error\": ...}."
)

DECIMAL: Schema = {"type": "string", "pattern": r"^[0-9]{1,9}(\.[0-9]{1,8})?$", "description": "decimal string"}
ISO: Schema = {"type": "string", "format": "date-time", "description": "ISO 8601"}
TEXT: Schema = {"type": "string"}
UNIT: Schema = {"type": "string", "enum": ["PERCENT", "QUOTE_CURRENCY"]}
SYMBOL = "symbol"  # replaced by an enum of this venue's contracts where known

ORDER: dict[str, tuple[Schema, bool]] = {
    "orderType": ({"type": "string", "enum": ["lmt", "post", "ioc", "fok", "mkt", "stp", "take_profit",
                                              "trailing_stop"]}, True),
    "symbol": ({"$ref": SYMBOL}, True),
    "side": ({"type": "string", "enum": ["buy", "sell"]}, True),
    "size": (DECIMAL, True),
    "limitPrice": (DECIMAL, False),
    "stopPrice": (DECIMAL, False),
    "triggerSignal": ({"type": "string", "enum": ["mark", "index", "last"]}, False),
    "cliOrdId": ({"type": "string", "maxLength": 100}, False),
    "reduceOnly": ({"type": "boolean"}, False),
    "trailingStopMaxDeviation": (DECIMAL, False),
    "trailingStopDeviationUnit": (UNIT, False),
    "limitPriceOffsetValue": (DECIMAL, False),
    "limitPriceOffsetUnit": (UNIT, False),
    "processBefore": (ISO, False),
}  # fmt: skip
# (method, route) -> parameter name -> (schema, required); Kraken's docs
PARAMS: dict[tuple[str, str], dict[str, tuple[Schema, bool]]] = {
    ("GET", "orderbook"): {"symbol": ({"$ref": SYMBOL}, True)},
    ("GET", "history"): {"symbol": ({"$ref": SYMBOL}, True), "lastTime": (ISO, False)},
    ("GET", "historicalfundingrates"): {"symbol": ({"$ref": SYMBOL}, True)},
    ("GET", "fills"): {"lastFillTime": (ISO, False)},
    ("GET", "leveragepreferences"): {"symbol": ({"$ref": SYMBOL}, False)},
    ("PUT", "leveragepreferences"): {"symbol": ({"$ref": SYMBOL}, True), "maxLeverage": (DECIMAL, False)},
    ("PUT", "pnlpreferences"): {"symbol": ({"$ref": SYMBOL}, True),
                                "pnlPreference": ({"type": "string", "enum": ["USD", "XBT", "ETH", "USDC"]}, True)},
    ("PUT", "self-trade-strategy"): {"strategy": ({"type": "string", "enum": [
        "REJECT_TAKER", "CANCEL_MAKER_SELF", "CANCEL_MAKER_CHILD", "CANCEL_MAKER_SELF_AND_CHILD"]}, True)},
    ("POST", "sendorder"): ORDER,
    ("POST", "editorder"): {
        "orderId": (TEXT, False), "cliOrdId": ({"type": "string", "maxLength": 100}, False),
        "size": (DECIMAL, False), "limitPrice": (DECIMAL, False), "stopPrice": (DECIMAL, False),
        "trailingStopMaxDeviation": (DECIMAL, False), "trailingStopDeviationUnit": (UNIT, False),
        "qtyMode": ({"type": "string", "enum": ["RELATIVE", "ABSOLUTE"]}, False), "processBefore": (ISO, False),
    },
    ("POST", "cancelorder"): {"order_id": (TEXT, False), "cliOrdId": (TEXT, False), "processBefore": (ISO, False)},
    ("POST", "cancelallorders"): {"symbol": ({"$ref": SYMBOL}, False)},
    ("POST", "cancelallordersafter"): {"timeout": ({"type": "integer", "minimum": 0, "maximum": 2**32 - 1}, True)},
    ("POST", "batchorder"): {
        "json": ({"type": "string", "description": 'JSON {"batchOrder": [{"order": "send"|"edit"|"cancel", ...}]}'},
                 True),
        "processBefore": (ISO, False),
    },
    ("POST", "orders/status"): {"orderIds": ({"type": "array", "items": TEXT}, False),
                                "cliOrdIds": ({"type": "array", "items": TEXT}, False)},
    ("GET", "orders/status"): {"orderIds": ({"type": "array", "items": TEXT}, False),
                               "cliOrdIds": ({"type": "array", "items": TEXT}, False)},
    ("POST", "transfer"): {"fromAccount": (TEXT, True), "toAccount": (TEXT, True),
                           "unit": ({"type": "string", "enum": ["USD", "XBT", "ETH", "USDC", "USDT"]}, True),
                           "amount": (DECIMAL, True)},
}  # fmt: skip

# Kraken's documented request examples: a generator rarely composes an order the engine accepts
EXAMPLES: dict[tuple[str, str], Schema] = {
    ("POST", "sendorder"): {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy", "size": "0.01",
                            "limitPrice": "50000"},
    ("PUT", "leveragepreferences"): {"symbol": "PF_XBTUSD", "maxLeverage": "10"},
    ("POST", "cancelallorders"): {"symbol": "PF_XBTUSD"},
}  # fmt: skip

ENVELOPE: Schema = {
    "type": "object",
    "required": ["result", "serverTime"],
    "properties": {"result": {"type": "string", "enum": ["success", "error"]}, "serverTime": ISO, "error": TEXT},
}


def _schema(s: Schema, symbols: list[str]) -> Schema:
    if s.get("$ref") == SYMBOL:
        return {"type": "string", "enum": symbols} if symbols else {"type": "string"}
    return dict(s)


def _operation(method: str, route: str, entry: tuple[Handler, bool, bool], symbols: list[str]) -> Schema:
    _, private, trading = entry
    spec = PARAMS.get((method, route), {})
    op: Schema = {
        "operationId": f"{method.lower()}_{route.replace('/', '_').replace('{', '').replace('}', '').replace('-', '_')}",
        "summary": f"{route} ({'private, ' + ('full access' if trading else 'read access') if private else 'public'})",
        "tags": ["private" if private else "public"],
        "responses": {"200": {"description": "Kraken's envelope", "content": {"application/json": {"schema": ENVELOPE}}}},
    }
    params: list[Schema] = []
    if "{symbol}" in route:
        params.append({"name": "symbol", "in": "path", "required": True, "schema": _schema({"$ref": SYMBOL}, symbols)})
    if private:
        op["security"] = [{"APIKey": [], "Authent": []}]
        op["x-kraken-access"] = "full" if trading else "read"
        params.append({"name": "Nonce", "in": "header", "required": False,
                       "schema": {"type": "string", "pattern": r"^[0-9]{1,20}$"},
                       "description": "optional; increasing per key when sent"})
    if method == "GET":
        params += [{"name": n, "in": "query", "required": req, "schema": _schema(s, symbols),
                    **({"style": "form", "explode": True} if s.get("type") == "array" else {})}
                   for n, (s, req) in spec.items()]
    elif spec:
        body = {
            "type": "object",
            "properties": {n: _schema(s, symbols) for n, (s, _) in spec.items()},
            "required": [n for n, (_, req) in spec.items() if req],
        }
        if not body["required"]:
            del body["required"]
        media: Schema = {"schema": body}
        if (method, route) in EXAMPLES:
            media["example"] = EXAMPLES[(method, route)]
        op["requestBody"] = {"required": bool(body.get("required")),
                             "content": {"application/x-www-form-urlencoded": media}}
    if params:
        op["parameters"] = params
    return op


def futures_document(symbols: Iterable[str] = (), routes: dict[tuple[str, str], Any] | None = None) -> Schema:
    """The OpenAPI 3.0 document of every route in the table (the gateway's own by default)."""
    table = ROUTES if routes is None else routes
    syms = sorted(set(symbols))
    paths: dict[str, Schema] = {}
    for (method, route), entry in table.items():
        paths.setdefault(PREFIX + route, {})[method.lower()] = _operation(method, route, entry, syms)
    return document("kraken-sim Derivatives REST v3", "3", DESCRIPTION, paths, "APIKey", "Authent")


def venue_document(rt: Any) -> Schema:
    """The document with this venue's contract symbols."""
    eng = rt.venue.derivatives
    return futures_document(s for s, spec in eng.specs.items() if spec.tradeable)


__all__ = ["EXAMPLES", "PARAMS", "PATH", "PREFIX", "futures_document", "venue_document"]
