"""An OpenAPI 3 document of Spot REST, generated from the method table.

The gateway dispatches `/0/public/{method}` and `/0/private/{method}` through
two generic routes, so FastAPI cannot describe it; this module walks
`registry.PUBLIC`/`PRIVATE` instead (names, parameters, permissions), so the
document lists exactly what the gateway serves and cannot drift from it.
Types and enums are Kraken's where the spec digest states them; a parameter
with no documented type is a string.  Served at `/openapi/spot-rest.json`
(outside the app's own /openapi.json, which documents /admin only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from simulator.core.orders import ORDER_TYPES, STP_MODES, TIFS
from simulator.gateways.openapi_common import document

from .account import LEDGER_TYPES
from .market import OHLC_INTERVALS
from .public import ASSET_CLASSES, PAIR_INFO
from .registry import PRIVATE, PUBLIC, Endpoint
from .trading import OFLAGS

PATH = "/openapi/spot-rest.json"
Schema = dict[str, Any]
DESCRIPTION = (
    "Kraken's Spot REST as this simulator serves it, generated from the gateway's method "
    "table. Private calls: POST, API-Key header, API-Sign = base64(HMAC-SHA512(base64-decoded secret, "
    "path + SHA256(nonce + body))). Errors are HTTP 200 with {\"error\": [...]}; an unknown method is 404."
)

DECIMAL: Schema = {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,10})?$", "description": "decimal string"}
# prices may be relative (`+5`, `-5`, `#5`) or percentages (`5%`), Kraken's price prefixes and suffix
PRICE: Schema = {"type": "string", "pattern": r"^[+#-]?[0-9]{1,12}(\.[0-9]{1,10})?%?$", "description": "price"}
BOOL: Schema = {"type": "boolean"}
INT_NONNEG: Schema = {"type": "integer", "minimum": 0}
TEXT: Schema = {"type": "string"}
_FLAG = "(" + "|".join(sorted(OFLAGS)) + ")"

# parameter name -> schema, for every method that uses the name ...
BY_NAME: dict[str, Schema] = {
    "nonce": {"type": "integer", "format": "int64", "minimum": 1, "description": "strictly increasing per key"},
    "otp": {"type": "string", "description": "one-time password (2FA keys only)"},
    "rebase_multiplier": {"type": "string", "enum": ["rebased", "base"]},
    "type": {"type": "string", "enum": ["buy", "sell"]},
    "ordertype": {"type": "string", "enum": sorted(ORDER_TYPES)},
    "volume": DECIMAL,
    "displayvol": DECIMAL,
    "order_qty": DECIMAL,
    "display_qty": DECIMAL,
    "amount": DECIMAL,
    "max_fee": DECIMAL,
    "price": PRICE,
    "price2": PRICE,
    "limit_price": PRICE,
    "trigger_price": PRICE,
    "leverage": {"type": "string", "pattern": r"^(none|[1-9][0-9]?(:1)?)$"},
    "trigger": {"type": "string", "enum": ["last", "index"]},
    "stptype": {"type": "string", "enum": sorted(STP_MODES)},
    "timeinforce": {"type": "string", "enum": sorted(TIFS)},
    "oflags": {"type": "string", "pattern": f"^{_FLAG}(,{_FLAG}){{0,2}}$", "description": "comma list"},
    "starttm": {"type": "string", "pattern": r"^(0|\+?[0-9]{1,10})$", "description": "0, +seconds or unix time"},
    "expiretm": {"type": "string", "pattern": r"^(0|\+?[0-9]{1,10})$", "description": "0, +seconds or unix time"},
    "deadline": {"type": "string", "format": "date-time", "description": "RFC 3339, at most 60 s ahead"},
    "userref": {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1},
    "cl_ord_id": {"type": "string", "maxLength": 36},
    "cl_ord_ids": {"type": "array", "items": {"type": "string", "maxLength": 36}, "maxItems": 50},
    "txid": {"type": "string", "description": "transaction id, or a comma list where the method takes several"},
    "close": {
        "type": "object",
        "description": "conditional close (form: close[ordertype]=...)",
        "properties": {"ordertype": {"type": "string", "enum": sorted(ORDER_TYPES)}, "price": PRICE, "price2": PRICE},
        "required": ["ordertype"],
        "additionalProperties": False,
    },
    "trading_agreement": {"type": "string", "enum": ["agree"]},
    "validate": BOOL,
    "reduce_only": BOOL,
    "post_only": BOOL,
    "trades": BOOL,
    "docalcs": BOOL,
    "consolidate_taker": BOOL,
    "without_count": BOOL,
    "ledgers": BOOL,
    "fee-info": BOOL,
    "fee_schedule": BOOL,
    "cancel_response": BOOL,
    "ascending": BOOL,
    "hide_zero_allocations": BOOL,
    "new": BOOL,
    "verified": BOOL,
    "start": INT_NONNEG,
    "end": INT_NONNEG,
    "ofs": INT_NONNEG,
    "since": {"type": "string", "pattern": r"^[0-9]{1,20}$", "description": "unix time (s or ns) or trade id"},
    "count": {"type": "integer", "minimum": 1, "maximum": 1000},
    "interval": {"type": "integer", "enum": sorted(OHLC_INTERVALS)},
    "timeout": {"type": "integer", "minimum": 0, "maximum": 86399},
    "aclass": {"type": "string", "enum": sorted(ASSET_CLASSES)},
    "aclass_base": {"type": "string", "enum": ["currency", "tokenized_asset"]},
    "asset_class": {"type": "string", "enum": ["currency", "tokenized_asset"]},
    "info": {"type": "string", "enum": list(PAIR_INFO)},
    "closetime": {"type": "string", "enum": ["open", "close", "both"]},
    "consolidation": {"type": "string", "enum": ["market"]},
    "lock_type": {"type": "string", "enum": ["flex", "bonded", "timed", "instant"]},
    "limit": {"type": "integer", "minimum": 1, "maximum": 500},
    "email": {"type": "string", "format": "email", "maxLength": 128},
    "username": {"type": "string", "maxLength": 64},
    "id": {"type": "string", "description": "ledger id, or a comma list"},
}
# ... and where one name means something else in one method
BY_METHOD: dict[tuple[str, str], Schema] = {
    ("TradesHistory", "type"): {
        "type": "string",
        "enum": ["all", "any position", "closed position", "closing position", "no position"],
    },
    ("Ledgers", "type"): {"type": "string", "enum": list(LEDGER_TYPES)},  # what the handler takes
    ("Ledgers", "start"): {"type": "string", "description": "unix time or ledger id"},
    ("Ledgers", "end"): {"type": "string", "description": "unix time or ledger id"},
    ("WalletTransfer", "from"): {"type": "string", "enum": ["Spot Wallet"]},
    ("WalletTransfer", "to"): {"type": "string", "enum": ["Futures Wallet"]},
    ("CancelOrderBatch", "orders"): {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 50},
    ("Assets", "asset"): {"type": "string", "description": "comma list of assets"},
    ("AssetPairs", "pair"): {"type": "string", "description": "comma list of pairs"},
    ("Ticker", "pair"): {"type": "string", "description": "comma list of pairs"},
    ("AddExport", "report"): {"type": "string", "enum": ["trades", "ledgers"]},
    ("ExportStatus", "report"): {"type": "string", "enum": ["trades", "ledgers"]},
    ("AddExport", "format"): {"type": "string", "enum": ["CSV", "TSV"]},
    ("AddExport", "fields"): {"type": "string", "description": "comma list of fields, or all"},
    ("AddExport", "description"): {"type": "string", "minLength": 1, "maxLength": 256},
    ("AddExport", "starttm"): {"type": "integer", "minimum": 0, "maximum": 10**11, "description": "unix time"},
    ("AddExport", "endtm"): {"type": "integer", "minimum": 0, "maximum": 10**11, "description": "unix time"},
    ("RetrieveExport", "id"): {"type": "string", "maxLength": 16, "description": "report id"},
    ("RemoveExport", "id"): {"type": "string", "maxLength": 16, "description": "report id"},
    ("RemoveExport", "type"): {"type": "string", "enum": ["cancel", "delete"]},
    ("OrderAmends", "order_id"): {"type": "string", "maxLength": 64, "description": "order id"},
}
# Kraken's documented required parameters (the handlers enforce them)
REQUIRED: dict[str, tuple[str, ...]] = {
    "OHLC": ("pair",), "Depth": ("pair",), "Trades": ("pair",), "Spread": ("pair",),
    "AddOrder": ("pair", "type", "ordertype", "volume"), "AddOrderBatch": ("orders", "pair"),
    "EditOrder": ("txid", "pair"), "CancelAllOrdersAfter": ("timeout",), "QueryOrders": ("txid",),
    "QueryTrades": ("txid",), "QueryLedgers": ("id",), "DepositMethods": ("asset",),
    "DepositAddresses": ("asset", "method"), "WithdrawInfo": ("asset", "key", "amount"),
    "Withdraw": ("asset", "key", "amount"), "WithdrawCancel": ("asset", "refid"),
    "WalletTransfer": ("asset", "from", "to", "amount"), "CreateSubaccount": ("username", "email"),
    "AccountTransfer": ("asset", "amount", "from", "to"), "Earn/Allocate": ("amount", "strategy_id"),
    "Earn/Deallocate": ("amount", "strategy_id"), "Earn/AllocateStatus": ("strategy_id",),
    "Earn/DeallocateStatus": ("strategy_id",), "AddExport": ("report", "description"),
    "ExportStatus": ("report",), "RetrieveExport": ("id",), "RemoveExport": ("id", "type"),
    "OrderAmends": ("order_id",),
}  # fmt: skip
# the order fields one element of AddOrderBatch's `orders` carries
BATCH_ORDER_FIELDS = ("ordertype", "type", "volume", "displayvol", "price", "price2", "trigger", "leverage",
                      "reduce_only", "stptype", "oflags", "timeinforce", "starttm", "expiretm", "userref",
                      "cl_ord_id", "close")  # fmt: skip

# Kraken's documented request examples (the signing test vector's AddOrder, among them):
# a generator rarely composes a request the engine accepts, these are
EXAMPLES: dict[str, Schema] = {
    "AddOrder": {"nonce": 1616492376594, "ordertype": "limit", "pair": "XBTUSD", "price": "37500", "type": "buy",
                 "volume": "1.25"},
    "CancelAll": {"nonce": 1616492376595},
    "Balance": {"nonce": 1616492376596},
    "CancelAllOrdersAfter": {"nonce": 1616492376597, "timeout": 60},
}  # fmt: skip

FILE_REPLIES = {"RetrieveExport": "application/zip"}

ENVELOPE: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "array", "items": {"type": "string"}}, "result": {}},
}


def param_schema(method: str, name: str, pairs: Sequence[str] = (), assets: Sequence[str] = ()) -> Schema:
    """The schema of one parameter of one method; `pairs`/`assets` (this venue's
    names) become enums so generated requests can name real instruments."""
    if (method, name) in BY_METHOD:
        return dict(BY_METHOD[(method, name)])
    if name == "pair" and pairs:
        return {"type": "string", "enum": list(pairs)}
    if name in ("asset", "converted_asset") and assets:
        return {"type": "string", "enum": list(assets)}
    if name == "orders":  # AddOrderBatch
        props = {f: param_schema("AddOrder", f, pairs, assets) for f in BATCH_ORDER_FIELDS}
        item = {"type": "object", "properties": props, "required": ["ordertype", "type", "volume"]}
        return {"type": "array", "items": item, "minItems": 2, "maxItems": 15}
    return dict(BY_NAME.get(name, TEXT))


def _perm_text(ep: Endpoint) -> str:
    groups = [" or ".join(sorted(g)) for g in ep.perms]
    return "; ".join(groups) if groups else "none"


def _public_op(ep: Endpoint, pairs: Sequence[str], assets: Sequence[str]) -> Schema:
    required = set(REQUIRED.get(ep.name, ()))
    params = [
        {"name": n, "in": "query", "required": n in required, "schema": param_schema(ep.name, n, pairs, assets)}
        for n in sorted(ep.params)
    ]
    return {
        "get": {
            "operationId": "public_" + ep.name.replace("/", "_"),
            "summary": f"{ep.name} (public; POST with a form body is accepted too)",
            "tags": ["public"],
            "parameters": params,
            "responses": {"200": {"description": "Kraken's envelope", "content": _json(ENVELOPE)}},
        }
    }


def _private_op(ep: Endpoint, pairs: Sequence[str], assets: Sequence[str]) -> Schema:
    required = ["nonce", *sorted(REQUIRED.get(ep.name, ()))]
    props = {n: param_schema(ep.name, n, pairs, assets) for n in sorted(ep.params)}
    body: Schema = {"type": "object", "properties": props, "required": required}
    content: Schema = {"application/x-www-form-urlencoded": {"schema": body}}
    if ep.name in EXAMPLES:
        content["application/x-www-form-urlencoded"]["example"] = EXAMPLES[ep.name]
    if any(s.get("type") in ("array", "object") for s in props.values()):
        content["application/json"] = {"schema": body}  # clients send nested fields as JSON (Kraken takes both)
    return {
        "post": {
            "operationId": "private_" + ep.name.replace("/", "_"),
            "summary": f"{ep.name} (needs: {_perm_text(ep)})",
            "tags": ["private"],
            "security": [{"API-Key": [], "API-Sign": []}],
            "x-kraken-permissions": [sorted(g) for g in ep.perms],
            "requestBody": {"required": True, "content": content},
            "responses": {"200": {"description": "Kraken's envelope", "content": _content(ep.name)}},
        }
    }


def _content(method: str) -> Schema:
    """A private reply is the JSON envelope; RetrieveExport's success is the report's zip."""
    out = _json(ENVELOPE)
    if method in FILE_REPLIES:
        out[FILE_REPLIES[method]] = {"schema": {"type": "string", "format": "binary"}}
    return out


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def spot_document(
    pairs: Iterable[str] = (),
    assets: Iterable[str] = (),
    public: dict[str, Endpoint] | None = None,
    private: dict[str, Endpoint] | None = None,
) -> Schema:
    """The OpenAPI 3.0 document of every method in the tables (the gateway's own by default)."""
    pub = PUBLIC if public is None else public
    priv = PRIVATE if private is None else private
    pl, al = sorted(set(pairs)), sorted(set(assets))
    paths: dict[str, Schema] = {}
    for name in sorted(pub):
        paths[f"/0/public/{name}"] = _public_op(pub[name], pl, al)
    for name in sorted(priv):
        paths[f"/0/private/{name}"] = _private_op(priv[name], pl, al)
    return document("kraken-sim Spot REST", "0", DESCRIPTION, paths, "API-Key", "API-Sign")


def venue_document(rt: Any) -> Schema:
    """The document with this venue's pair and asset names."""
    inst = rt.venue.instruments
    pairs = [n for p in inst.pairs.values() for n in (p.id, p.altname)]
    assets = [n for a in inst.assets.values() for n in (a.id, a.altname)]
    return spot_document(pairs, assets)


__all__ = ["EXAMPLES", "PATH", "param_schema", "spot_document", "venue_document"]
