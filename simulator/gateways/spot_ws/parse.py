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


def _typed(params: dict[str, Any], field: str, kind: type, what: str, required: bool = False) -> Any:
    """The field's value if it has JSON type `kind`; None when absent (unless required)."""
    v = params.get(field)
    if v is None:
        if required:
            raise missing(field)
        return None
    if type(v) is not kind:
        raise _type_error(field, what)
    return v


def boolean(params: dict[str, Any], field: str, default: bool = False) -> bool:
    v: bool | None = _typed(params, field, bool, "a boolean")
    return default if v is None else v


def string(params: dict[str, Any], field: str, required: bool = False) -> str | None:
    out: str | None = _typed(params, field, str, "a string", required)
    return out


def integer(params: dict[str, Any], field: str, required: bool = False) -> int | None:
    out: int | None = _typed(params, field, int, "an integer", required)
    return out


def array(params: dict[str, Any], field: str) -> list[Any] | None:
    out: list[Any] | None = _typed(params, field, list, "an array")
    return out


def obj(params: dict[str, Any], field: str) -> dict[str, Any] | None:
    out: dict[str, Any] | None = _typed(params, field, dict, "an object")
    return out


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
