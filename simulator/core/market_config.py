"""A living market's settings, as a scenario file or the admin API gives them.

Validation only (pure): the scheduling and the accounts are the server's
(simulator/server/market.py), the decisions `participants.py`'s.  A scenario
file is checked with this before anything runs, so a bad field is named at
load time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal
from typing import Any

from .numbers import MAX_EXPONENT, BadNumber, bounded, to_decimal
from .participants import WALK_KINDS

MAX_MAKERS = 20
# the rate bound: a market decides at most 10 times a second of venue time, so its
# command rate (and journal growth) stays within what the makers' ladder needs
MIN_INTERVAL_MS = 100
MAX_CATCHUP = 10_000  # most steps one clock jump may run (each step is a few commands)
MAX_TAKERS = 20
MAX_LEVELS = 50

_MARKET_KEYS = {"symbol", "enabled", "makers", "takers", "interval_ms", "seed", "walk", "maker", "taker", "clear_seed", "max_catchup"}
_WALK_KEYS = {"kind", "start", "vol_bps", "drift_bps", "revert_bps", "file", "speed", "loop", "rebase"}
_MAKER_KEYS = {"levels", "spread_bps", "step_bps", "qty"}
_TAKER_KEYS = {"rate", "informed", "sweep_bps", "qty"}


# ------------------------------------------------------------------ config
@dataclass
class MarketConfig:
    """One instrument's participants, as a scenario or the admin API gives them."""

    symbol: str
    enabled: bool = True
    makers: int = 2
    takers: int = 1
    interval_ms: int = 500
    seed: int | None = None
    clear_seed: bool = True  # take the static seeded ladder away when the market comes alive
    max_catchup: int = 1000
    walk: dict[str, Any] = field(default_factory=dict)
    maker: dict[str, Any] = field(default_factory=dict)
    taker: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # every field, in order; the nested dicts copied


def _int(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{name}: must be an integer")
    if not lo <= v <= hi:
        raise ValueError(f"{name}: must be between {lo} and {hi}")
    return v


def number(v: Any, name: str, lo: Decimal | None = None, hi: Decimal | None = None) -> Decimal:
    try:
        d = bounded(to_decimal(v))  # a start price of `1e100000` would be an integer nothing can print
    except BadNumber as exc:
        raise ValueError(f"{name}: not a number within 1e-{MAX_EXPONENT}..1e{MAX_EXPONENT}") from exc
    if (lo is not None and d < lo) or (hi is not None and d > hi):
        raise ValueError(f"{name}: must be between {lo} and {hi}")
    return d


def qty_range(v: Any, name: str) -> tuple[Decimal, Decimal]:
    if isinstance(v, (list, tuple)) and len(v) == 2:
        lo, hi = number(v[0], f"{name}[0]", Decimal(0)), number(v[1], f"{name}[1]", Decimal(0))
    else:
        lo = hi = number(v, name, Decimal(0))
    if hi < lo or hi <= 0:
        raise ValueError(f"{name}: expected [min, max] with 0 < min <= max")
    return lo, hi


def _check_keys(d: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise ValueError(f"{where}: must be a table/object")
    for k in d:
        if k not in allowed:
            raise ValueError(f"{where}.{k}: unknown field (expected one of {sorted(allowed)})")
    return dict(d)


def parse_market_config(data: Any, where: str = "market", base: MarketConfig | None = None) -> MarketConfig:
    """Validate one market entry; fields not given keep `base`'s values.

    Raises ValueError naming the bad field.  Instrument-specific checks
    (does the symbol exist, is a quantity on the lot grid) happen when the
    market is built."""
    d = _check_keys(data, _MARKET_KEYS, where)
    if base is None:
        if "symbol" not in d:
            raise ValueError(f"{where}.symbol: required")
        base = MarketConfig(symbol=str(d["symbol"]))
    cfg = replace(base, walk=dict(base.walk), maker=dict(base.maker), taker=dict(base.taker))
    if "symbol" in d:
        cfg.symbol = str(d["symbol"])
    if "enabled" in d:
        if not isinstance(d["enabled"], bool):
            raise ValueError(f"{where}.enabled: must be true or false")
        cfg.enabled = d["enabled"]
    if "clear_seed" in d:
        if not isinstance(d["clear_seed"], bool):
            raise ValueError(f"{where}.clear_seed: must be true or false")
        cfg.clear_seed = d["clear_seed"]
    if "makers" in d:
        cfg.makers = _int(d["makers"], f"{where}.makers", 0, MAX_MAKERS)
    if "takers" in d:
        cfg.takers = _int(d["takers"], f"{where}.takers", 0, MAX_TAKERS)
    if "interval_ms" in d:
        cfg.interval_ms = _int(d["interval_ms"], f"{where}.interval_ms", MIN_INTERVAL_MS, 3_600_000)
    if "max_catchup" in d:
        cfg.max_catchup = _int(d["max_catchup"], f"{where}.max_catchup", 1, MAX_CATCHUP)
    if "seed" in d:
        cfg.seed = None if d["seed"] is None else _int(d["seed"], f"{where}.seed", -(2**63), 2**63)
    if "walk" in d:
        w = _check_keys(d["walk"], _WALK_KEYS, f"{where}.walk")
        kind = w.get("kind", "random")
        if kind not in WALK_KINDS:
            raise ValueError(f"{where}.walk.kind: must be one of {list(WALK_KINDS)}")
        if kind == "series" and "file" not in w:
            w["file"] = "btcusd_1m.csv"
        for k in ("vol_bps", "revert_bps"):
            if k in w:
                number(w[k], f"{where}.walk.{k}", Decimal(0), Decimal(10_000))
        if "drift_bps" in w:
            number(w["drift_bps"], f"{where}.walk.drift_bps", Decimal(-10_000), Decimal(10_000))
        if "start" in w:
            number(w["start"], f"{where}.walk.start", Decimal(0))
        if "speed" in w:
            _int(w["speed"], f"{where}.walk.speed", 1, 1_000_000)
        for k in ("loop", "rebase"):
            if k in w and not isinstance(w[k], bool):
                raise ValueError(f"{where}.walk.{k}: must be true or false")
        cfg.walk = w
    if "maker" in d:
        m = _check_keys(d["maker"], _MAKER_KEYS, f"{where}.maker")
        if "levels" in m:
            _int(m["levels"], f"{where}.maker.levels", 1, MAX_LEVELS)
        for k in ("spread_bps", "step_bps"):
            if k in m:
                number(m[k], f"{where}.maker.{k}", Decimal(0), Decimal(10_000))
        if "qty" in m:
            qty_range(m["qty"], f"{where}.maker.qty")
        cfg.maker = m
    if "taker" in d:
        t = _check_keys(d["taker"], _TAKER_KEYS, f"{where}.taker")
        for k in ("rate", "informed"):
            if k in t:
                number(t[k], f"{where}.taker.{k}", Decimal(0), Decimal(1))
        if "sweep_bps" in t:
            number(t["sweep_bps"], f"{where}.taker.sweep_bps", Decimal(0), Decimal(10_000))
        if "qty" in t:
            qty_range(t["qty"], f"{where}.taker.qty")
        cfg.taker = t
    return cfg


