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


def _enc(v: Any) -> Any:
    if isinstance(v, Decimal):
        return {"$d": str(v)}
    if isinstance(v, RelPrice):
        return {"$rel": [v.sign, str(v.amount), v.percent]}
    if isinstance(v, (CloseRequest, OrderRequest, AmendRequest, EditRequest)):
        return {"$" + type(v).__name__: {f.name: _enc(getattr(v, f.name)) for f in fields(v)}}
    if isinstance(v, dict):
        return {k: _enc(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    return v


_TYPES = {c.__name__: c for c in (CloseRequest, OrderRequest, AmendRequest, EditRequest)}


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


__all__ = ["AmendRequest", "CloseRequest", "EditRequest", "OrderRequest", "asdict", "decode_params", "encode_params"]
