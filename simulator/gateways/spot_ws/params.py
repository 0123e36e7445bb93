"""Request-field checks with Kraken's WS v2 wording.

Kraken words type errors as `<Field> field must be a number_float` (first
letter capitalised) and unknown fields as `Unsupported field: '<name>' for the
given msg type: <method with spaces>`; these helpers keep that wording in one
place."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.core import validation


class WsError(Exception):
    """A request refused before it reaches the engine; `text` goes to the client."""

    def __init__(self, text: str, **extra: Any) -> None:
        super().__init__(text)
        self.text = text
        self.extra = extra


def msg_type(method: str) -> str:
    return method.replace("_", " ")


def unsupported(field: str, method: str) -> WsError:
    return WsError(f"Unsupported field: '{field}' for the given msg type: {msg_type(method)}")


def check_fields(params: dict[str, Any], allowed: frozenset[str], method: str) -> None:
    for k in params:
        if k not in allowed:
            raise unsupported(k, method)


def _type_error(field: str, kind: str) -> WsError:
    return WsError(f"{field[:1].upper()}{field[1:]} field must be {kind}")


def is_number(v: Any) -> bool:
    return (type(v) is int) or isinstance(v, Decimal)


def number(params: dict[str, Any], field: str, required: bool = False) -> Decimal | None:
    v = params.get(field)
    if v is None:
        if required:
            raise missing(field)
        return None
    if not is_number(v) or (isinstance(v, Decimal) and not v.is_finite()):
        raise _type_error(field, "a number_float")
    try:
        return validation.required_number(v, field)
    except validation.Invalid as exc:
        raise ws_error(exc) from exc


def ws_error(exc: validation.Invalid) -> WsError:
    """WS v2 words a broken order-entry rule as REST does (`EGeneral:Invalid arguments:<field>`,
    `EService:Deadline elapsed`), naming the WS field."""
    return WsError(exc.text)


def boolean(params: dict[str, Any], field: str, default: bool = False) -> bool:
    v = params.get(field)
    if v is None:
        return default
    if type(v) is not bool:
        raise _type_error(field, "a boolean")
    return v


def string(params: dict[str, Any], field: str, required: bool = False) -> str | None:
    v = params.get(field)
    if v is None:
        if required:
            raise missing(field)
        return None
    if type(v) is not str:
        raise _type_error(field, "a string")
    return v


def integer(params: dict[str, Any], field: str, required: bool = False) -> int | None:
    v = params.get(field)
    if v is None:
        if required:
            raise missing(field)
        return None
    if type(v) is not int:
        raise _type_error(field, "an integer")
    return v


def array(params: dict[str, Any], field: str) -> list[Any] | None:
    v = params.get(field)
    if v is None:
        return None
    if type(v) is not list:
        raise _type_error(field, "an array")
    return v


def obj(params: dict[str, Any], field: str) -> dict[str, Any] | None:
    v = params.get(field)
    if v is None:
        return None
    if type(v) is not dict:
        raise _type_error(field, "an object")
    return v


def enum(
    params: dict[str, Any], field: str, values: frozenset[str] | tuple[str, ...], default: str | None = None
) -> str | None:
    v = string(params, field)
    if v is None:
        return default
    if v not in values:
        raise WsError(f"EGeneral:Invalid arguments:{field}")
    return v


def missing(field: str) -> WsError:
    """A required field is absent (Kraken's exact text is unconfirmed; EGeneral style)."""
    return WsError(f"EGeneral:Invalid arguments:{field}")
