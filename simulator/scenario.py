"""Scenario files (TOML or YAML): instruments, accounts, balances, books,
tiers, faults, seed.  Errors name the bad field (and line, for YAML)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from simulator.core.instruments import load_default_instruments
from simulator.core.retention import RetentionPolicy

DEFAULT_DEMO_BALANCES = {
    "XBT": "10",
    "ETH": "100",
    "SOL": "1000",
    "XDG": "100000",
    "USDT": "1000000",
    "USDC": "1000000",
    "USD": "1000000",
    "EUR": "1000000",
}
DEFAULT_FUTURES_BALANCES = {"USD": "100000", "XBT": "1"}


class ScenarioError(ValueError):
    """A scenario file is wrong; the message says where."""


@dataclass
class BookSeed:
    symbol: str
    levels: int = 10
    step: str | None = None  # price step between levels; default: 10 ticks
    qty: str | None = None  # per level; default: a few ordermins
    mid: str | None = None  # default: the pair's reference price
    bids: list[tuple[str, str]] = field(default_factory=list)
    asks: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class AccountSeed:
    name: str
    balances: dict[str, str] = field(default_factory=dict)
    futures_balances: dict[str, str] = field(default_factory=dict)
    tier: str = "intermediate"
    nonce_window: int = 0
    margin: bool = False  # Spot margin trading allowed (off by default, as on Kraken)


@dataclass
class Scenario:
    seed: int | None = None
    instruments: dict[str, Any] | None = None
    demo_balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DEMO_BALANCES))
    demo_futures_balances: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FUTURES_BALANCES))
    accounts: list[AccountSeed] = field(default_factory=list)
    books: list[BookSeed] | None = None  # None: seed every spot pair around its reference price
    faults: dict[str, Any] = field(default_factory=dict)
    clock: dict[str, Any] = field(default_factory=dict)
    status: str = "online"
    market: list[dict[str, Any]] = field(default_factory=list)  # background participants (server/market.py)
    fix: dict[str, Any] = field(default_factory=dict)  # FIX gateway settings (gateways/fix/README.md)
    retention: dict[str, Any] = field(default_factory=dict)  # [retention] keep / trades_keep / days (core/retention.py)


def _line(data: Any, path: str) -> str:
    lines = getattr(data, "_lines", {})
    n = lines.get(path)
    return f" (line {n})" if n else ""


class _LineLoader(yaml.SafeLoader):
    """YAML loader that remembers the line of every mapping key."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = _LinedDict()
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping._lines[key] = key_node.start_mark.line + 1
    return mapping


class _LinedDict(dict):  # type: ignore[type-arg]
    def __init__(self) -> None:
        super().__init__()
        self._lines: dict[str, int] = {}


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)  # type: ignore[arg-type]


def _bool(d: dict[str, Any], key: str, path: str, src: str) -> bool:
    v = d.get(key, False)
    if not isinstance(v, bool):
        raise ScenarioError(f"{src}: {_where(d, key, path)}: must be true or false")
    return v


def _where(d: Any, key: str, path: str) -> str:
    lines = getattr(d, "_lines", None)
    if lines and key in lines:
        return f"{path} (line {lines[key]})"
    return path


def _dec(d: Any, key: str, path: str) -> str:
    v = d[key]
    try:
        if isinstance(v, float):
            v = repr(v)
        Decimal(str(v))
    except (InvalidOperation, ValueError) as exc:
        raise ScenarioError(f"{_where(d, key, path)}: {v!r} is not a number") from exc
    return str(v)


KNOWN_TOP = {"seed", "instruments", "demo", "accounts", "books", "faults", "clock", "status", "market", "fix", "retention"}
RETENTION_KEYS = ("keep", "trades_keep", "days")


def retention_policy(
    table: dict[str, Any] | None, keep: int | None = None, trades_keep: int | None = None, days: float | None = None
) -> RetentionPolicy:
    """The retention policy: the scenario's [retention] table, each field
    overridden by a command-line value when one is given, else the default.
    `0` turns a bound off (keep everything)."""
    t = dict(table or {})
    for k, v in (("keep", keep), ("trades_keep", trades_keep), ("days", days)):
        if v is not None:
            t[k] = v
    d = RetentionPolicy()

    def count(name: str, default: int | None) -> int | None:
        v = t.get(name)
        return default if v is None else (int(v) or None)

    return RetentionPolicy.from_days(count("keep", d.keep), count("trades_keep", d.trades_keep), t.get("days"))


def _retention_table(data: Any, src: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ScenarioError(f"{src}: retention: must be a table")
    for k, v in data.items():
        if k not in RETENTION_KEYS:
            raise ScenarioError(f"{src}: {_where(data, k, 'retention.' + k)}: unknown field (expected one of {list(RETENTION_KEYS)})")
        ok = isinstance(v, int) if k != "days" else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or v < 0 or v > 10**12:
            raise ScenarioError(f"{src}: {_where(data, k, 'retention.' + k)}: must be a number from 0 (no bound) up")
    return dict(data)
FIX_KEYS = {"plain_enabled": (bool,), "plain_comp_ids": (dict,), "sending_time_accuracy_s": (int, float),
            "md_max_subscriptions": (int,), "derivatives_cost": (int,)}


def _fix_table(data: Any, src: str) -> dict[str, Any]:
    """`[fix]`: known keys with the right types (the FIX gateway applies them)."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{src}: fix: must be a table")
    for k, v in data.items():
        types = FIX_KEYS.get(k)
        if types is None:
            raise ScenarioError(f"{src}: {_where(data, k, 'fix.' + k)}: unknown field (expected one of {sorted(FIX_KEYS)})")
        out_of_range = isinstance(v, (int, float)) and not isinstance(v, bool) and not 0 <= v <= 1_000_000
        if not isinstance(v, types) or (isinstance(v, bool) and bool not in types) or out_of_range:
            raise ScenarioError(f"{src}: {_where(data, k, 'fix.' + k)}: bad value {v!r}")
    comp_ids = data.get("plain_comp_ids", {})
    if not all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in comp_ids.items()):
        raise ScenarioError(f"{src}: fix.plain_comp_ids: SenderCompID -> account name, id or \"demo\"")
    return dict(data)


def load_scenario(path: str) -> Scenario:
    p = Path(path)
    text = p.read_text()
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - safe loader subclass
        else:
            data = tomllib.loads(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path}: {exc}") from exc
    return parse_scenario(data or {}, path)


def parse_scenario(data: dict[str, Any], src: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{src}: top level must be a table/mapping")
    for k in data:
        if k not in KNOWN_TOP:
            raise ScenarioError(f"{src}: {_where(data, k, k)}: unknown field (expected one of {sorted(KNOWN_TOP)})")
    sc = Scenario()
    if "retention" in data:
        sc.retention = _retention_table(data["retention"], src)
    if "seed" in data:
        if not isinstance(data["seed"], int):
            raise ScenarioError(f"{src}: {_where(data, 'seed', 'seed')}: must be an integer")
        sc.seed = data["seed"]
    if "instruments" in data:
        inst = data["instruments"]
        if isinstance(inst, str):
            base = Path(src).parent if src != "scenario" else Path(".")
            import json

            sc.instruments = json.loads((base / inst).read_text())
        elif isinstance(inst, dict):
            merged = load_default_instruments()
            for section in ("assets", "spot_pairs", "futures"):
                if section in inst:
                    if not isinstance(inst[section], list):
                        raise ScenarioError(f"{src}: {_where(inst, section, 'instruments.' + section)}: must be a list")
                    merged[section] = list(inst[section])
            sc.instruments = merged
        else:
            raise ScenarioError(f"{src}: {_where(data, 'instruments', 'instruments')}: must be a table or a file name")
    if "demo" in data:
        demo = data["demo"]
        if not isinstance(demo, dict):
            raise ScenarioError(f"{src}: {_where(data, 'demo', 'demo')}: must be a table")
        if "balances" in demo:
            sc.demo_balances = {k: _dec(demo["balances"], k, f"demo.balances.{k}") for k in demo["balances"]}
        if "futures_balances" in demo:
            fb = demo["futures_balances"]
            sc.demo_futures_balances = {k: _dec(fb, k, f"demo.futures_balances.{k}") for k in fb}
    for i, a in enumerate(data.get("accounts", []) or []):
        path = f"accounts[{i}]"
        if not isinstance(a, dict) or "name" not in a:
            raise ScenarioError(f"{src}: {path}: each account needs a name")
        bal = a.get("balances", {}) or {}
        fb = a.get("futures_balances", {}) or {}
        tier = a.get("tier", "intermediate")
        if tier not in ("starter", "intermediate", "pro"):
            raise ScenarioError(f"{src}: {_where(a, 'tier', path + '.tier')}: unknown tier {tier!r}")
        sc.accounts.append(
            AccountSeed(
                name=str(a["name"]),
                balances={k: _dec(bal, k, f"{path}.balances.{k}") for k in bal},
                futures_balances={k: _dec(fb, k, f"{path}.futures_balances.{k}") for k in fb},
                tier=tier,
                nonce_window=int(a.get("nonce_window", 0)),
                margin=_bool(a, "margin", f"{path}.margin", src),
            )
        )
    if "books" in data:
        books = data["books"]
        if books is False:
            sc.books = []
        elif isinstance(books, list):
            sc.books = []
            for i, b in enumerate(books):
                path = f"books[{i}]"
                if not isinstance(b, dict) or "symbol" not in b:
                    raise ScenarioError(f"{src}: {path}: each book needs a symbol")
                seed = BookSeed(symbol=str(b["symbol"]), levels=int(b.get("levels", 10)))
                for k in ("step", "qty", "mid"):
                    if k in b:
                        setattr(seed, k, _dec(b, k, f"{path}.{k}"))
                for side in ("bids", "asks"):
                    for j, lvl in enumerate(b.get(side, []) or []):
                        if not isinstance(lvl, (list, tuple)) or len(lvl) != 2:
                            raise ScenarioError(f"{src}: {path}.{side}[{j}]: expected [price, qty]")
                        getattr(seed, side).append((str(lvl[0]), str(lvl[1])))
                sc.books.append(seed)
        else:
            raise ScenarioError(f"{src}: {_where(data, 'books', 'books')}: must be a list or false")
    if "faults" in data:
        if not isinstance(data["faults"], dict):
            raise ScenarioError(f"{src}: {_where(data, 'faults', 'faults')}: must be a table")
        sc.faults = dict(data["faults"])
    if "clock" in data:
        sc.clock = dict(data["clock"])
    if "status" in data:
        sc.status = str(data["status"])
    if "fix" in data:
        sc.fix = _fix_table(data["fix"], src)
    if "market" in data:
        from simulator.core.market_config import parse_market_config

        entries = data["market"] if isinstance(data["market"], list) else [data["market"]]
        for i, m in enumerate(entries):
            try:
                parse_market_config(m, f"market[{i}]")
            except ValueError as exc:
                raise ScenarioError(f"{src}: {exc}") from exc
            sc.market.append(dict(m))
    return sc
