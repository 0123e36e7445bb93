"""Command payloads the engines accept.  Plain data, JSON-able for the journal."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from typing import Any

from .orders import GTC, STP_NEWEST, RelPrice

PriceIn = Decimal | RelPrice | None


@dataclass(slots=True)
class CloseRequest:
    """Kraken's conditional close (OTO): placed on each fill of the primary."""

    ordertype: str
    price: PriceIn = None
    price2: PriceIn = None


@dataclass(slots=True)
class OrderRequest:
    pair: str
    side: str
    ordertype: str
    qty: Decimal
    price: PriceIn = None
    price2: PriceIn = None
    trigger_ref: str = "last"
    tif: str = GTC
    post_only: bool = False
    reduce_only: bool = False
    stp: str = STP_NEWEST
    cl_ord_id: str | None = None
    userref: int | None = None
    display_qty: Decimal | None = None
    fee_in_base: bool | None = None
    viqc: bool = False
    start_ns: int = 0
    expire_ns: int = 0
    deadline_ns: int = 0
    validate: bool = False
    close: CloseRequest | None = None
    leverage: str | None = None
    oflags: str = ""


@dataclass(slots=True)
class AmendRequest:
    order_id: str | None = None
    cl_ord_id: str | None = None
    qty: Decimal | None = None
    display_qty: Decimal | None = None
    limit_price: PriceIn = None
    trigger_price: PriceIn = None
    post_only: bool = False
    deadline_ns: int = 0


@dataclass(slots=True)
class EditRequest:
    order_id: str
    pair: str | None = None
    qty: Decimal | None = None
    display_qty: Decimal | None = None
    price: PriceIn = None
    price2: PriceIn = None
    post_only: bool | None = None
    userref: int | None = None
    deadline_ns: int = 0
    validate: bool = False
    reduce_only: bool | None = None  # WS v2 edit_order `reduce_only` (None: the order's own)


# ------------------------------------------------------------- derivatives
@dataclass(slots=True)
class FuturesOrderRequest:
    """A derivatives order (Futures REST sendorder or a batch `send`, FIX D,
    seeding), in the engine's words: no protocol's field names."""

    symbol: str
    side: str  # buy | sell
    order_type: str  # lmt post ioc fok mkt stp take_profit trailing_stop
    size: Decimal
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trigger_signal: str | None = None  # mark | index | spot | last (None: last)
    trail_deviation: Decimal | None = None  # trailing stop: max deviation
    trail_unit: str | None = None  # PERCENT | QUOTE_CURRENCY
    limit_offset: Decimal | None = None  # trigger order: limit = trigger price + offset
    limit_offset_unit: str | None = None  # PERCENT | QUOTE_CURRENCY
    cl_ord_id: str | None = None
    reduce_only: bool = False
    deadline_ns: int = 0  # refused if the engine sees it later (0: none)
    tag: str | None = None  # batch `order_tag`, echoed in the result


@dataclass(slots=True)
class FuturesEditRequest:
    """Change a live derivatives order (by id or client id); None: unchanged."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    size: Decimal | None = None
    absolute_size: bool = False  # size is the new total (else: new unfilled size)
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    trail_deviation: Decimal | None = None
    trail_unit: str | None = None
    deadline_ns: int = 0


@dataclass(slots=True)
class FuturesCancelRequest:
    """Cancel one derivatives order (by id or client id)."""

    order_id: str | None = None
    cl_ord_id: str | None = None
    deadline_ns: int = 0


FuturesInstruction = FuturesOrderRequest | FuturesEditRequest | FuturesCancelRequest

# journals written before the typed derivatives commands keyed orders by Futures REST names
_LEGACY_ORDER = {
    "orderType": "order_type", "limitPrice": "limit_price", "stopPrice": "stop_price",
    "triggerSignal": "trigger_signal", "trailingStopMaxDeviation": "trail_deviation",
    "trailingStopDeviationUnit": "trail_unit", "limitPriceOffsetValue": "limit_offset",
    "limitPriceOffsetUnit": "limit_offset_unit", "cliOrdId": "cl_ord_id", "reduceOnly": "reduce_only",
    "processBefore": "deadline_ns", "order_tag": "tag", "symbol": "symbol", "side": "side", "size": "size",
}
_LEGACY_EDIT = {
    "orderId": "order_id", "order_id": "order_id", "cliOrdId": "cl_ord_id", "size": "size",
    "limitPrice": "limit_price", "stopPrice": "stop_price", "trailingStopMaxDeviation": "trail_deviation",
    "trailingStopDeviationUnit": "trail_unit", "processBefore": "deadline_ns",
}


def _legacy(d: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    out = {names[k]: v for k, v in d.items() if k in names and v is not None}
    if "deadline_ns" in out:
        out["deadline_ns"] = int(out["deadline_ns"])
    return out


def legacy_futures(d: Any) -> Any:
    """An old journal's dict-shaped derivatives request -> its typed command
    (typed commands pass through)."""
    if not isinstance(d, dict):
        return d
    kind = d.get("order", "send")
    if kind == "edit":
        out = _legacy(d, _LEGACY_EDIT)
        out["absolute_size"] = str(d.get("qtyMode") or "").upper() == "ABSOLUTE"
        return FuturesEditRequest(**out)
    if kind == "cancel":
        return FuturesCancelRequest(d.get("order_id") or d.get("orderId"), d.get("cliOrdId"))
    if "orderType" not in d:  # an editorder request
        out = _legacy(d, _LEGACY_EDIT)
        out["absolute_size"] = str(d.get("qtyMode") or "").upper() == "ABSOLUTE"
        return FuturesEditRequest(**out)
    out = _legacy(d, _LEGACY_ORDER)
    out["order_type"] = str(out.get("order_type", ""))
    out["symbol"] = str(out.get("symbol", ""))
    out["side"] = str(out.get("side", ""))
    out.setdefault("size", None)
    out["reduce_only"] = bool(out.get("reduce_only"))
    return FuturesOrderRequest(**out)


_CLASSES = (
    CloseRequest, OrderRequest, AmendRequest, EditRequest,
    FuturesOrderRequest, FuturesEditRequest, FuturesCancelRequest,
)


def _enc(v: Any) -> Any:
    if isinstance(v, Decimal):
        return {"$d": str(v)}
    if isinstance(v, RelPrice):
        return {"$rel": [v.sign, str(v.amount), v.percent]}
    if isinstance(v, _CLASSES):
        return {"$" + type(v).__name__: {f.name: _enc(getattr(v, f.name)) for f in fields(v)}}
    if isinstance(v, dict):
        return {k: _enc(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    return v


_TYPES = {c.__name__: c for c in _CLASSES}


def _dec(v: Any) -> Any:
    if isinstance(v, dict):
        if len(v) == 1:
            (k, x), = v.items()
            if k == "$d":
                return Decimal(x)
            if k == "$rel":
                return RelPrice(x[0], Decimal(x[1]), bool(x[2]))
            if k.startswith("$") and k[1:] in _TYPES:
                return _TYPES[k[1:]](**{n: _dec(y) for n, y in x.items()})
        return {k: _dec(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_dec(x) for x in v]
    return v


def encode_params(params: dict[str, Any]) -> dict[str, Any]:
    """Command params -> JSON-safe (exact decimals kept as strings)."""
    return _enc(params)  # type: ignore[no-any-return]


def decode_params(data: dict[str, Any]) -> dict[str, Any]:
    return _dec(data)  # type: ignore[no-any-return]


__all__ = [
    "AmendRequest",
    "CloseRequest",
    "EditRequest",
    "FuturesCancelRequest",
    "FuturesEditRequest",
    "FuturesInstruction",
    "FuturesOrderRequest",
    "OrderRequest",
    "asdict",
    "decode_params",
    "encode_params",
    "legacy_futures",
]
