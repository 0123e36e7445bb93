"""Assets, spot pairs and futures contracts, with every Kraken spelling.

Loaded from data (`fixtures/instruments.json` by default); any spelling any
protocol uses (pair id, altname, wsname, WS v2 symbol) resolves to one object.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from .numbers import BALANCE_DP, PPM, decimals_of, to_units


@dataclass(frozen=True)
class Asset:
    id: str  # XXBT
    altname: str  # XBT
    display: str  # BTC (WS v2 / UI name)
    decimals: int
    display_decimals: int
    aclass: str = "currency"
    collateral_value: str = "1.0"
    status: str = "enabled"


@dataclass(frozen=True)
class FeeTier:
    volume: Decimal  # 30-day volume threshold (fee_volume_currency)
    percent: Decimal  # fee in percent, as Kraken publishes it

    @property
    def ppm(self) -> int:
        return int(self.percent * 10_000)


@dataclass(eq=False)
class SpotPair:
    id: str  # XXBTZUSD
    altname: str  # XBTUSD
    wsname: str  # XBT/USD
    symbol: str  # BTC/USD (WS v2)
    base: Asset
    quote: Asset
    pair_decimals: int
    lot_decimals: int
    cost_decimals: int
    tick_size: Decimal
    ordermin: Decimal
    costmin: Decimal
    fees: tuple[FeeTier, ...]
    fees_maker: tuple[FeeTier, ...]
    status: str = "online"
    raw: dict[str, Any] = field(default_factory=dict)
    # derived integer facts for the hot path
    tick_units: int = 0
    ordermin_lots: int = 0
    costmin_units: int = 0  # in cost_decimals units
    base_mult: int = 1  # lots -> balance units
    cost_mult: int = 1  # cost units -> balance units
    cost_shift: int = 0  # 10**(pair_dp+lot_dp-cost_dp): price*qty -> cost units

    def __post_init__(self) -> None:
        tick = to_units(self.tick_size, self.pair_decimals)
        if tick is None or tick <= 0:
            raise ValueError(f"{self.id}: tick_size {self.tick_size} off pair_decimals")
        self.tick_units = tick
        lots = to_units(self.ordermin, self.lot_decimals)
        self.ordermin_lots = lots if lots is not None else 0
        self.costmin_units = int(self.costmin.scaleb(self.cost_decimals))
        if self.lot_decimals > BALANCE_DP or self.cost_decimals > BALANCE_DP:
            raise ValueError(f"{self.id}: more decimals than balances keep")
        self.base_mult = 10 ** (BALANCE_DP - self.lot_decimals)
        self.cost_mult = 10 ** (BALANCE_DP - self.cost_decimals)
        shift = self.pair_decimals + self.lot_decimals - self.cost_decimals
        if shift < 0:
            raise ValueError(f"{self.id}: cost_decimals larger than price*qty precision")
        self.cost_shift = 10**shift

    @property
    def names(self) -> tuple[str, ...]:
        return (self.id, self.altname, self.wsname, self.symbol)

    @property
    def aclass_base(self) -> str:
        """`currency`, or `tokenized_asset` for xStocks (listed only when asked for)."""
        return str(self.raw.get("aclass_base", self.base.aclass))

    def fee_ppm(self, volume_30d: Decimal, maker: bool) -> int:
        table = self.fees_maker if maker else self.fees
        ppm = table[0].ppm if table else 0
        for tier in table:
            if volume_30d >= tier.volume:
                ppm = tier.ppm
        return ppm

    def price_dp_of(self, price: Decimal) -> int:
        return decimals_of(price)


@dataclass(eq=False)
class FuturesContract:
    symbol: str  # PI_XBTUSD
    type: str  # futures_inverse | flexible_futures
    base: str
    quote: str
    tick_size: Decimal
    contract_size: Decimal
    margin_levels: tuple[tuple[Decimal, Decimal, Decimal], ...]  # (contracts or USD notional, im, mm)
    maker_fee: Decimal
    taker_fee: Decimal
    reference_price: Decimal
    last_trading_time: str | None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def inverse(self) -> bool:
        return self.symbol.startswith(("PI_", "FI_"))

    @property
    def perpetual(self) -> bool:
        return self.symbol.startswith(("PI_", "PF_"))

    @property
    def qty_decimals(self) -> int:
        return int(self.raw.get("contractValueTradePrecision", 0) or 0)

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.tick_size)

    def margin_rates(self, contracts: Decimal) -> tuple[Decimal, Decimal]:
        im, mm = self.margin_levels[0][1], self.margin_levels[0][2]
        for threshold, i, m in self.margin_levels:
            if contracts >= threshold:
                im, mm = i, m
        return im, mm


class InstrumentRegistry:
    """Every asset, pair and contract by every name they go by."""

    def __init__(
        self,
        assets: list[Asset],
        pairs: list[SpotPair],
        futures: list[FuturesContract],
        reference_prices: dict[str, Decimal] | None = None,
    ) -> None:
        self.assets: dict[str, Asset] = {a.id: a for a in assets}
        self._asset_names: dict[str, Asset] = {}
        for a in assets:
            for n in (a.id, a.altname, a.display):
                self._asset_names.setdefault(n, a)
        self.pairs: dict[str, SpotPair] = {p.id: p for p in pairs}
        self._pair_names: dict[str, SpotPair] = {}
        for p in pairs:
            for n in p.names:
                self._pair_names.setdefault(n, p)
        self.futures: dict[str, FuturesContract] = {f.symbol: f for f in futures}
        self._futures_names = {f.symbol.upper(): f for f in futures}
        self.reference_prices = reference_prices or {}

    def asset(self, name: str) -> Asset | None:
        return self._asset_names.get(name)

    def pair(self, name: str) -> SpotPair | None:
        """Resolve any spelling: XXBTZUSD, XBTUSD, XBT/USD, BTC/USD."""
        return self._pair_names.get(name)

    def future(self, name: str) -> FuturesContract | None:
        return self._futures_names.get(name.upper())

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> InstrumentRegistry:
        assets = [
            Asset(
                id=a["id"],
                altname=a["altname"],
                display=a.get("display", a["altname"]),
                decimals=int(a["decimals"]),
                display_decimals=int(a["display_decimals"]),
                aclass=a.get("aclass", "currency"),
                collateral_value=str(a.get("collateral_value", "1.0")),
                status=a.get("status", "enabled"),
            )
            for a in data["assets"]
        ]
        by_id = {a.id: a for a in assets}
        pairs: list[SpotPair] = []
        refs: dict[str, Decimal] = {}
        # most pairs share one of a few published fee tables: `fee_schedule` names it
        schedules: dict[str, dict[str, Any]] = data.get("fee_schedules", {})
        for p in data["spot_pairs"]:
            if "fees" not in p and p.get("fee_schedule") in schedules:
                p = {**p, **schedules[p["fee_schedule"]]}
            pair = SpotPair(
                id=p["id"],
                altname=p["altname"],
                wsname=p["wsname"],
                symbol=p["symbol"],
                base=by_id[p["base"]],
                quote=by_id[p["quote"]],
                pair_decimals=int(p["pair_decimals"]),
                lot_decimals=int(p["lot_decimals"]),
                cost_decimals=int(p["cost_decimals"]),
                tick_size=Decimal(str(p["tick_size"])),
                ordermin=Decimal(str(p["ordermin"])),
                costmin=Decimal(str(p.get("costmin", "0"))),
                fees=tuple(FeeTier(Decimal(str(v)), Decimal(str(f))) for v, f in p.get("fees", [])),
                fees_maker=tuple(
                    FeeTier(Decimal(str(v)), Decimal(str(f))) for v, f in p.get("fees_maker", [])
                ),
                status=p.get("status", "online"),
                raw=p,
            )
            pairs.append(pair)
            if p.get("reference_price"):
                refs[pair.id] = Decimal(str(p["reference_price"]))
        futures = []
        for f in data.get("futures", []):
            fc = FuturesContract(
                symbol=f["symbol"],
                type=f["type"],
                base=f.get("base", ""),
                quote=f.get("quote", "USD"),
                tick_size=Decimal(str(f["tickSize"])),
                contract_size=Decimal(str(f.get("contractSize", "1"))),
                margin_levels=tuple(
                    (
                        Decimal(str(m.get("contracts", m.get("numNonContractUnits", 0)))),
                        Decimal(str(m["initialMargin"])),
                        Decimal(str(m["maintenanceMargin"])),
                    )
                    for m in f.get("marginLevels", [])
                )
                or ((Decimal(0), Decimal("0.02"), Decimal("0.01")),),
                maker_fee=Decimal(str(f.get("maker_fee", "0.0002"))),
                taker_fee=Decimal(str(f.get("taker_fee", "0.0005"))),
                reference_price=Decimal(str(f.get("reference_price", "0"))),
                last_trading_time=f.get("lastTradingTime"),
                raw=f,
            )
            futures.append(fc)
            refs[fc.symbol] = fc.reference_price
        return cls(assets, pairs, futures, refs)

    @classmethod
    def default(cls) -> InstrumentRegistry:
        return cls.from_data(load_default_instruments())


def load_default_instruments() -> dict[str, Any]:
    """The bundled `fixtures/instruments.json`: the source checkout's own copy
    when running from one (an editable install may map simulator.fixtures to
    another checkout), else the installed simulator.fixtures package."""
    repo = Path(__file__).resolve().parents[2] / "fixtures" / "instruments.json"
    if repo.is_file():
        text = repo.read_text()
    else:
        text = resources.files("simulator.fixtures").joinpath("instruments.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


__all__ = ["PPM", "Asset", "FeeTier", "FuturesContract", "InstrumentRegistry", "SpotPair"]
