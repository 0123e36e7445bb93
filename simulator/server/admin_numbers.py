"""Admin input numbers, held to the bounds trading input has (one rule for
/admin, /admin/futures and /admin/market alike)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import HTTPException

from simulator.core.numbers import MAX_EXPONENT, BadNumber, bounded


def admin_decimal(v: Any, name: str) -> Decimal:
    """An admin number, held to the bound every trading protocol uses (numbers.bounded):
    `1e100000` would become an integer no reply or digest could print."""
    if isinstance(v, bool):
        raise HTTPException(400, f"{name}: not a number")
    try:
        d = Decimal(str(v))
    except InvalidOperation as exc:
        raise HTTPException(400, f"{name}: not a number") from exc
    if not d.is_finite():
        raise HTTPException(400, f"{name}: not a number")
    try:
        return bounded(d)
    except BadNumber as exc:
        raise HTTPException(400, f"{name}: out of range (at most {MAX_EXPONENT} digits either side of the point)") from exc
