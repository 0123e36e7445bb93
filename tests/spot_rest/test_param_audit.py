"""Issue 16 item 0: no parameter Kraken documents is refused.

DOCUMENTED is Kraken's own parameter list for every Spot REST method and WS v2
trading method (docs.kraken.com, as digested in shared/spec). The accepted
lists (the `@public`/`@private` registry, the OpenAPI document generated from
it, the WS v2 field sets) must cover it, and a live request carrying each
documented parameter with a valid value must not be refused for that name."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator.gateways.spot_rest import openapi
from simulator.gateways.spot_rest.registry import PRIVATE, PUBLIC
from simulator.gateways.spot_ws import methods, subscriptions

from .helpers import Raw

PUBLIC_DOC: dict[str, set[str]] = {
    "Time": set(),
    "SystemStatus": set(),
    "Assets": {"asset", "aclass"},
    "AssetPairs": {"pair", "info", "aclass_base", "country_code"},
    "Ticker": {"pair", "asset_class"},
    "OHLC": {"pair", "interval", "since", "asset_class"},
    "Depth": {"pair", "count", "asset_class"},
    "Trades": {"pair", "since", "count", "asset_class"},
    "Spread": {"pair", "since", "asset_class"},
}
ADD_ORDER = {
    "userref", "cl_ord_id", "ordertype", "type", "volume", "displayvol", "asset_class", "pair", "price", "price2",
    "trigger", "leverage", "reduce_only", "stptype", "oflags", "timeinforce", "starttm", "expiretm", "close",
    "deadline", "validate", "trading_agreement",
}  # fmt: skip
REB = {"rebase_multiplier"}
PRIVATE_DOC: dict[str, set[str]] = {
    "Balance": REB,
    "BalanceEx": REB,
    "TradeBalance": {"asset"} | REB,
    "OpenOrders": {"trades", "userref", "cl_ord_id"} | REB,
    "ClosedOrders": {
        "trades",
        "userref",
        "cl_ord_id",
        "start",
        "end",
        "ofs",
        "closetime",
        "consolidate_taker",
        "without_count",
    }
    | REB,  # fmt: skip
    "QueryOrders": {"trades", "userref", "txid", "consolidate_taker"} | REB,
    "TradesHistory": {"type", "trades", "start", "end", "ofs", "without_count", "consolidate_taker", "ledgers"} | REB,
    "QueryTrades": {"txid", "trades"} | REB,
    "OpenPositions": {"txid", "docalcs", "consolidation"} | REB,
    "Ledgers": {"asset", "aclass", "type", "start", "end", "ofs", "without_count"} | REB,
    "QueryLedgers": {"id", "trades"} | REB,
    "TradeVolume": {"pair"} | REB,
    "GetWebSocketsToken": set(),
    "AddOrder": ADD_ORDER,
    "AddOrderBatch": {"orders", "pair", "asset_class", "deadline", "validate"},
    "AmendOrder": {
        "txid",
        "cl_ord_id",
        "order_qty",
        "display_qty",
        "limit_price",
        "trigger_price",
        "pair",
        "post_only",
        "deadline",
    },  # fmt: skip
    "EditOrder": {
        "txid",
        "userref",
        "volume",
        "displayvol",
        "asset_class",
        "pair",
        "price",
        "price2",
        "oflags",
        "deadline",
        "cancel_response",
        "validate",
    },  # fmt: skip
    "CancelOrder": {"txid", "cl_ord_id"},
    "CancelAll": set(),
    "CancelAllOrdersAfter": {"timeout"},
    "CancelOrderBatch": {"orders", "cl_ord_ids"},
    "DepositMethods": {"asset", "aclass"} | REB,
    "DepositAddresses": {"asset", "aclass", "method", "new", "amount"},
    "DepositStatus": {"asset", "aclass", "method", "start", "end", "cursor", "limit"} | REB,
    "WithdrawMethods": {"asset", "aclass", "network"} | REB,
    "WithdrawAddresses": {"asset", "aclass", "method", "key", "verified"},
    "WithdrawInfo": {"asset", "key", "amount"},
    "Withdraw": {"asset", "aclass", "key", "address", "amount", "max_fee"} | REB,
    "WithdrawStatus": {"asset", "aclass", "method", "start", "end", "cursor", "limit"} | REB,
    "WithdrawCancel": {"asset", "refid"},
    "WalletTransfer": {"asset", "from", "to", "amount"},
    "CreateSubaccount": {"username", "email"},
    "AccountTransfer": {"asset", "amount", "from", "to"},
    "Earn/Strategies": {"ascending", "asset", "cursor", "limit", "lock_type"},
    "Earn/Allocations": {"ascending", "converted_asset", "hide_zero_allocations"},
    "Earn/Allocate": {"amount", "strategy_id"},
    "Earn/Deallocate": {"amount", "strategy_id"},
    "Earn/AllocateStatus": {"strategy_id"},
    "Earn/DeallocateStatus": {"strategy_id"},
}
WS_ORDER = {
    "order_type", "side", "order_qty", "limit_price", "limit_price_type", "triggers", "time_in_force",
    "expire_time", "effective_time", "post_only", "reduce_only", "margin", "cl_ord_id", "order_userref",
    "conditional", "display_qty", "fee_preference", "no_mpp", "stp_type", "cash_order_qty", "sender_sub_id",
}  # fmt: skip
WS_DOC: dict[str, tuple[frozenset[str], set[str]]] = {
    "add_order": (methods.ADD_FIELDS, WS_ORDER | {"symbol", "deadline", "validate", "token"}),
    "batch_add (each order)": (methods.ORDER_FIELDS, WS_ORDER),
    "amend_order": (
        methods.AMEND_FIELDS,
        {
            "order_id",
            "cl_ord_id",
            "order_qty",
            "display_qty",
            "limit_price",
            "limit_price_type",
            "post_only",
            "trigger_price",
            "trigger_price_type",
            "deadline",
            "symbol",
            "token",
        },
    ),  # fmt: skip
    "edit_order": (
        methods.EDIT_FIELDS,
        {
            "order_id",
            "symbol",
            "order_qty",
            "limit_price",
            "triggers",
            "post_only",
            "reduce_only",
            "display_qty",
            "fee_preference",
            "no_mpp",
            "order_userref",
            "deadline",
            "validate",
            "token",
        },
    ),  # fmt: skip
    "triggers": (methods.TRIGGER_FIELDS, {"reference", "price", "price_type"}),
    "conditional": (
        methods.CONDITIONAL_FIELDS,
        {"order_type", "limit_price", "limit_price_type", "trigger_price", "trigger_price_type"},
    ),  # fmt: skip
    "subscribe executions": (
        subscriptions.FIELDS["executions"],
        {"channel", "token", "snap_orders", "snap_trades", "order_status", "ratecounter", "rebased", "users"},
    ),  # fmt: skip
    "subscribe balances": (subscriptions.FIELDS["balances"], {"channel", "token", "snapshot", "rebased", "users"}),
    "subscribe instrument": (subscriptions.FIELDS["instrument"], {"channel", "snapshot", "include_tokenized_assets"}),
    "subscribe book": (subscriptions.FIELDS["book"], {"channel", "symbol", "depth", "snapshot"}),
    "subscribe ticker": (subscriptions.FIELDS["ticker"], {"channel", "symbol", "event_trigger", "snapshot"}),
    "subscribe level3": (subscriptions.FIELDS["level3"], {"channel", "symbol", "depth", "snapshot", "token"}),
}


def test_every_documented_rest_parameter_is_accepted() -> None:
    for table, registry in ((PUBLIC_DOC, PUBLIC), (PRIVATE_DOC, PRIVATE)):
        for name, documented in table.items():
            assert name in registry, name
            missing = documented - set(registry[name].params)
            assert not missing, f"{name} refuses documented {sorted(missing)}"


def test_the_openapi_document_lists_every_documented_parameter() -> None:
    doc = openapi.spot_document(["XXBTZUSD"], ["XXBT"])
    for name, documented in PUBLIC_DOC.items():
        listed = {p["name"] for p in doc["paths"][f"/0/public/{name}"]["get"]["parameters"]}
        assert documented <= listed, name
    for name, documented in PRIVATE_DOC.items():
        body = doc["paths"][f"/0/private/{name}"]["post"]["requestBody"]["content"]
        listed = set(body["application/x-www-form-urlencoded"]["schema"]["properties"])
        assert documented | {"nonce"} <= listed, name
    ledger_types = doc["paths"]["/0/private/Ledgers"]["post"]["requestBody"]["content"]
    enum = ledger_types["application/x-www-form-urlencoded"]["schema"]["properties"]["type"]["enum"]
    assert "nft_rebate" in enum  # Kraken's documented ledger type, which the handler takes


def test_every_documented_ws_v2_field_is_accepted() -> None:
    for name, (accepted, documented) in WS_DOC.items():
        missing = documented - set(accepted)
        assert not missing, f"{name} refuses documented {sorted(missing)}"


# one valid value per documented parameter, for the live check
SAMPLE: dict[str, Any] = {
    "asset": "XBT", "aclass": "currency", "aclass_base": "currency", "asset_class": "currency", "pair": "XBTUSD",
    "info": "info", "country_code": "GB", "interval": 60, "since": 0, "count": 5, "trades": True, "userref": 7,
    "start": 0, "end": 2000000000, "ofs": 0, "closetime": "both", "consolidate_taker": True, "without_count": True,
    "ledgers": True, "docalcs": True, "rebase_multiplier": "rebased", "type": "all", "timeout": 0,
    "method": "Bitcoin", "new": False, "limit": 10, "network": "Bitcoin", "key": "btc-wallet", "verified": True,
    "amount": "0.001", "ascending": True, "converted_asset": "USD", "hide_zero_allocations": True,
    "lock_type": "flex", "cursor": "", "validate": True, "trading_agreement": "agree", "cancel_response": False,
}  # fmt: skip
LIVE = ["Assets", "AssetPairs", "Ticker", "OHLC", "Depth", "Trades", "Spread", "Balance", "BalanceEx",
        "TradeBalance", "OpenOrders", "ClosedOrders", "TradesHistory", "OpenPositions", "Ledgers", "TradeVolume",
        "DepositMethods", "DepositAddresses", "DepositStatus", "WithdrawMethods", "WithdrawAddresses",
        "WithdrawStatus", "Earn/Strategies", "Earn/Allocations", "CancelAllOrdersAfter"]  # fmt: skip


@pytest.mark.parametrize("name", LIVE)
def test_documented_parameters_are_taken_on_the_wire(kraken_venue: Any, funded: dict[str, Any], name: str) -> None:
    raw = Raw(kraken_venue, funded)
    raw.account_id = funded["account_id"]  # type: ignore[attr-defined]
    table = PUBLIC_DOC if name in PUBLIC_DOC else PRIVATE_DOC
    if name == "AssetPairs":
        params = {"pair": "XBTUSD", "info": "info", "aclass_base": "currency", "country_code": "GB"}
    else:
        params = {k: SAMPLE[k] for k in table[name] if k in SAMPLE}
    if name in PUBLIC_DOC:
        body = raw.public(name, **{k: json.dumps(v) if isinstance(v, bool) else v for k, v in params.items()})
        errors = body["error"]
    else:
        errors = _private_errors(kraken_venue, raw, name, params)
    assert not any(e.startswith("EGeneral:Invalid arguments:") for e in errors), (name, params, errors)


def _private_errors(venue: Any, raw: Raw, name: str, params: dict[str, Any]) -> list[str]:
    venue.admin.request("POST", f"/accounts/{raw.account_id}/tier", {"tier": "pro", "rate_limits": False})
    _, res = raw.post(name, params, as_json=True)
    errors: list[str] = res["error"]
    return errors
