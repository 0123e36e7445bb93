"""Running background participants and replays under the venue clock.

`simulator.core.participants` decides; this module schedules and submits.
Every participant has its own account and sends its orders through the spot
sequencer with `Origin("bot", ...)`, so they appear on every feed of every
protocol and in the journal, and a journal replay rebuilds the same state.

Time is venue time.  A market acts once per `interval_ms` of venue time, on
a fixed grid of step times: with a frozen clock nothing happens until the
clock is advanced, then every step that became due runs (stamped with its
own step time), before the call that advanced the clock returns.  A large
jump runs at most `max_catchup` steps (the most recent ones).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import random
from collections import Counter
from contextlib import AbstractContextManager
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.core.commands import AmendRequest, OrderRequest
from simulator.core.errors import EngineError
from simulator.core.instruments import SpotPair
from simulator.core.market_config import MarketConfig, number, parse_market_config, qty_range
from simulator.core.numbers import to_decimal
from simulator.core.orders import Origin
from simulator.core.participants import (
    Amend,
    BookState,
    Cancel,
    Command,
    InstrumentSpec,
    MakerParams,
    MarketModel,
    OwnOrder,
    Place,
    TakerParams,
    WalkParams,
    maker_name,
    taker_name,
)
from simulator.core.recording import TradeRecord, parse_csv, parse_time
from simulator.core.venue import Venue

from .runtime import Runtime

if TYPE_CHECKING:
    from .playback import PlaybackRun

log = logging.getLogger("kraken_sim")

BOT_BALANCE = Decimal("1000000000")
BOOK_DEPTH = 25  # levels each side the participants look at
# ----------------------------------------------------------------- helpers
def resolve_data_file(name: str, data_dir: str | None = None) -> Path:
    """A file the admin API may read: a name shipped in the package's fixtures, or
    a path inside the configured data directory (--data-dir).  Nothing else is
    opened, and a refused path reads exactly like a missing one, so the API
    cannot be used to probe the server's filesystem."""
    missing = ValueError(f"file not found: {name} (files come from the bundled fixtures or --data-dir)")
    p = Path(name)
    if not name or "\x00" in name:
        raise missing
    if data_dir:
        root = Path(data_dir).resolve()
        cand = (root / p).resolve()  # an absolute `p` stays itself; symlinks and `..` are resolved
        if cand.is_relative_to(root) and cand.is_file():
            return cand
    if p.name == name and name not in (".", ".."):  # a bare name: look among the shipped fixtures
        try:
            shipped = resources.files("simulator.fixtures").joinpath(name)
            if shipped.is_file():
                return Path(str(shipped))
        except ModuleNotFoundError:
            pass
        repo = Path(__file__).resolve().parents[2] / "fixtures" / name
        if repo.is_file():
            return repo
    raise missing


def load_series(name: str, pair: SpotPair, data_dir: str | None = None) -> tuple[tuple[int, int], ...]:
    """A `time,price` CSV -> ((offset_ns, price units), ...) from the first point."""
    path = resolve_data_file(name, data_dir)
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    reader = csv.DictReader(io.StringIO("\n".join(lines)))
    if not reader.fieldnames or not {"time", "price"} <= {f.strip().lower() for f in reader.fieldnames}:
        # a trades file works too: its prices are a series
        trades = [r for r in parse_csv(path.read_text(), path.name) if isinstance(r, TradeRecord)]
        return tuple((r.offset_ns, price_units(pair, r.price)) for r in trades)
    pts: list[tuple[int, int]] = []
    for i, row in enumerate(reader):
        r = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
        t = parse_time(r["time"], f"{path.name} record {i + 1}")
        pts.append((t, price_units(pair, number(r["price"], f"{path.name} record {i + 1} price", Decimal(0)))))
    if not pts:
        raise ValueError(f"{path.name}: no points")
    pts.sort()
    t0 = pts[0][0]
    return tuple((t - t0, p) for t, p in pts)


def price_units(pair: SpotPair, price: Decimal) -> int:
    """Nearest price on the pair's tick grid, in units."""
    units = int(price.scaleb(pair.pair_decimals).to_integral_value(ROUND_HALF_EVEN))
    tick = pair.tick_units
    units = (units + tick // 2) // tick * tick
    return max(units, tick)


def qty_lots(pair: SpotPair, qty: Decimal) -> int:
    return int(qty.scaleb(pair.lot_decimals).to_integral_value(ROUND_FLOOR))


def dec_price(pair: SpotPair, units: int) -> Decimal:
    return Decimal(units).scaleb(-pair.pair_decimals)


def dec_qty(pair: SpotPair, lots: int) -> Decimal:
    return Decimal(lots).scaleb(-pair.lot_decimals)


def _ppm(v: Any) -> int:
    return int((to_decimal(v) * 1_000_000).to_integral_value(ROUND_HALF_EVEN))


def _bps_ppm(v: Any) -> int:
    return int((to_decimal(v) * 100).to_integral_value(ROUND_HALF_EVEN))


def book_state(venue: Venue, pair: SpotPair, agents: dict[str, str]) -> BookState:
    """What the participants see: top levels and each agent's resting orders."""
    book = venue.spot.books[pair.id]
    own: dict[str, tuple[OwnOrder, ...]] = {}
    for agent, acct in agents.items():
        mine = venue.spot.open_orders.get(acct, {})
        own[agent] = tuple(
            OwnOrder(o.id, o.side, o.price, o.remaining)
            for o in mine.values()
            if o.pair is pair and o.in_book and o.price is not None
        )
    return BookState(tuple(book.l2("buy", BOOK_DEPTH)), tuple(book.l2("sell", BOOK_DEPTH)), own)


def start_price(venue: Venue, pair: SpotPair) -> int:
    """Where a walk starts by default: the book's mid, else last, else reference."""
    book = venue.spot.books[pair.id]
    b, a = book.best_bid(), book.best_ask()
    if b is not None and a is not None:
        return (a + b) // 2
    last = venue.spot.last_price.get(pair.id)
    if last:
        return last
    ref = venue.instruments.reference_prices.get(pair.id)
    if ref:
        return price_units(pair, Decimal(ref))
    if b or a:
        return int(b or a or 0)
    raise ValueError(f"{pair.symbol}: no price to start from (set walk.start)")


def create_bot_account(venue: Venue, label: str) -> str:
    """A participant's own account: deep balances, pro tier, no rate limits
    (a venue's market makers have their own arrangements)."""
    creds = venue.create_account(
        {a.id: BOT_BALANCE for a in venue.instruments.assets.values()},
        tier="pro",
        origin=Origin("bot", label),
        rate_limits=False,
    )
    return creds.account.id


# -------------------------------------------------------------- the market
class LiveMarket:
    """One instrument's participants: a model, their accounts, a step grid."""

    def __init__(
        self, venue: Venue, cfg: MarketConfig, seed: int, now_ns: int, accounts: dict[str, str], clear_account: str | None = None,
        data_dir: str | None = None,
    ) -> None:
        pair = venue.instruments.pair(cfg.symbol)
        if pair is None:
            raise ValueError(f"unknown symbol {cfg.symbol!r}")
        self.venue = venue
        self.pair = pair
        self.cfg = cfg
        self.interval_ns = cfg.interval_ms * 1_000_000
        self.next_ns = now_ns + self.interval_ns
        self.clear_account = clear_account if cfg.clear_seed else None
        spec = InstrumentSpec(pair.tick_units, pair.ordermin_lots, pair.costmin_units, pair.cost_shift)
        w = cfg.walk
        start = price_units(pair, to_decimal(w["start"])) if w.get("start") else start_price(venue, pair)
        walk = WalkParams(
            kind=str(w.get("kind", "random")),
            vol_ppm=_bps_ppm(w.get("vol_bps", "1.5")),
            drift_ppm=_bps_ppm(w.get("drift_bps", 0)),
            revert_ppm=_bps_ppm(w.get("revert_bps", 0)),
            series=load_series(str(w["file"]), pair, data_dir) if w.get("kind") == "series" else (),
            speed=int(w.get("speed", 1)),
            loop=bool(w.get("loop", True)),
            rebase=bool(w.get("rebase", False)),
        )
        m, t = cfg.maker, cfg.taker
        mq = qty_range(m["qty"], "maker.qty") if "qty" in m else None
        tq = qty_range(t["qty"], "taker.qty") if "qty" in t else None
        makers = MakerParams(
            count=cfg.makers,
            levels=int(m.get("levels", 5)),
            half_spread_ppm=_bps_ppm(m.get("spread_bps", 1)),
            step_ppm=_bps_ppm(m.get("step_bps", 1)),
            qty_min=qty_lots(pair, mq[0]) if mq else 0,
            qty_max=qty_lots(pair, mq[1]) if mq else 0,
        )
        takers = TakerParams(
            count=cfg.takers,
            rate_ppm=_ppm(t.get("rate", "0.25")),
            informed_ppm=_ppm(t.get("informed", "0.6")),
            sweep_ppm=_bps_ppm(t.get("sweep_bps", 2)),
            qty_min=qty_lots(pair, tq[0]) if tq else 0,
            qty_max=qty_lots(pair, tq[1]) if tq else 0,
        )
        rng = random.Random(f"kraken-sim/market/{seed}/{pair.id}")
        self.model = MarketModel(spec, start, now_ns, rng, walk, makers, takers)
        self.agents = {a: accounts[a] for a in self.model.agents}
        self.steps = 0
        self.commands = 0
        self.rejects: Counter[str] = Counter()
        self.skipped = 0  # steps a clock jump passed over (beyond max_catchup)

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Held while a step claims its time and submits (one step, one unit)."""
        return self.venue.spot_seq.exclusive()

    def run_due(self, now_ns: int) -> int:
        """Run every step due by `now_ns` (bounded); returns how many ran."""
        if not self.cfg.enabled:
            return 0
        behind = (now_ns - self.next_ns) // self.interval_ns + 1
        if behind > self.cfg.max_catchup:
            with self.lock:
                self.next_ns += (behind - self.cfg.max_catchup) * self.interval_ns
                self.skipped += behind - self.cfg.max_catchup
        n = 0
        while n < self.cfg.max_catchup:
            with self.lock:  # claim and run one step atomically (any thread may call)
                ts = self.next_ns
                if ts > now_ns or not self.cfg.enabled:
                    break
                self.next_ns = ts + self.interval_ns
                self.step(ts)
            n += 1
        return n

    def step(self, ts: int) -> None:
        """One decision round at venue time `ts`."""
        self.steps += 1
        if self.clear_account is not None:
            self._submit("cancel_all", Origin("bot", "market:clear-seed", self.clear_account),
                         {"account_id": self.clear_account, "pair": self.pair.id}, ts)
            self.clear_account = None
        cmds = self.model.step(ts, book_state(self.venue, self.pair, self.agents))
        for c in cmds:
            self.submit(c, ts)

    def submit(self, c: Command, ts: int | None) -> Any:
        """One participant command through the spot sequencer."""
        pair = self.pair
        acct = self.agents[c.agent]
        origin = Origin("bot", f"market:{c.agent}", acct)
        if isinstance(c, Place):
            req = OrderRequest(pair.id, c.side, "limit", dec_qty(pair, c.qty), dec_price(pair, c.price), tif=c.tif, post_only=c.post_only)
            return self._submit("add_order", origin, {"account_id": acct, "req": req}, ts)
        if isinstance(c, Amend):
            areq = AmendRequest(order_id=c.order_id, limit_price=dec_price(pair, c.price))
            return self._submit("amend_order", origin, {"account_id": acct, "req": areq}, ts)
        if isinstance(c, Cancel):
            return self._submit("cancel_order", origin, {"account_id": acct, "order_id": c.order_id}, ts)
        raise TypeError(c)

    def _submit(self, kind: str, origin: Origin, params: dict[str, Any], ts: int | None) -> Any:
        self.commands += 1
        try:
            return self.venue.spot_seq.submit(kind, origin, params, ts=ts)
        except EngineError as exc:
            # quotes race the book (post-only, a filled order): counted, not fatal
            self.rejects[exc.text] += 1
            return None

    def withdraw(self) -> None:
        """Cancel every participant order on this instrument."""
        with self.lock:
            for agent, acct in self.agents.items():
                self._submit("cancel_all", Origin("bot", f"market:{agent}", acct), {"account_id": acct, "pair": self.pair.id}, None)

    def status(self) -> dict[str, Any]:
        return {
            **self.cfg.to_json(),
            "symbol": self.pair.symbol,
            "pair": self.pair.id,
            "reference": str(dec_price(self.pair, self.model.reference)),
            "steps": self.steps,
            "commands": self.commands,
            "rejects": dict(self.rejects),
            "skipped": self.skipped,
            "next_step_ns": self.next_ns,
            "accounts": dict(self.agents),
        }



# ------------------------------------------------------------- the manager
POLL_S = 0.05  # how often the task looks at a running clock
FAST_CHUNK = 200  # records a "max" replay plays per event-loop turn


class MarketManager:
    """Every living market and replay of one runtime (`rt.services.market`).

    Cleared on reset (the venue it drove is gone) and rebuilt from the
    scenario's `market` section."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.markets: dict[str, LiveMarket] = {}  # pair id -> market (enabled or not)
        self.playbacks: dict[str, PlaybackRun] = {}  # pair id -> replay
        self.accounts: dict[tuple[str, str], str] = {}  # (pair id, agent) -> account id
        self.labels: dict[str, str] = {}  # account id -> label for the dashboard
        self.running = True
        self.task: asyncio.Task[None] | None = None

    @property
    def venue(self) -> Venue:
        return self.rt.venue

    def clear(self) -> None:
        """Forget everything (the venue was rebuilt)."""
        self.markets = {}
        self.playbacks = {}
        self.accounts = {}
        self.labels = {}

    def apply_scenario(self) -> None:
        for i, entry in enumerate(getattr(self.rt.scenario, "market", None) or []):
            self.configure(entry, where=f"market[{i}]")

    def _pair(self, symbol: Any) -> SpotPair:
        pair = self.venue.instruments.pair(str(symbol))
        if pair is None:
            raise ValueError(f"unknown symbol {symbol!r}")
        return pair

    def _account(self, pair: SpotPair, agent: str) -> str:
        key = (pair.id, agent)
        acct = self.accounts.get(key)
        if acct is None:
            acct = self.accounts[key] = create_bot_account(self.venue, f"{agent}:{pair.id}")
            self.labels[acct] = f"{agent} {pair.symbol}"
        return acct

    def _seed_account(self) -> str | None:
        mm = self.rt.services.market_maker
        return mm.account.id if mm is not None else None

    def configure(self, data: dict[str, Any], where: str = "market") -> dict[str, Any]:
        """Enable, change or disable one instrument's participants."""
        if not isinstance(data, dict) or "symbol" not in data:
            raise ValueError(f"{where}.symbol: required")
        pair = self._pair(data["symbol"])
        old = self.markets.get(pair.id)
        cfg = parse_market_config(data, where, old.cfg if old is not None else None)
        cfg.symbol = pair.symbol
        v = self.venue
        with v.spot_seq.exclusive():
            now = v.clock.now_ns()
            if not cfg.enabled:
                if old is not None:
                    old.cfg = cfg  # kept: a later enable starts from these settings
                    old.withdraw()
                    return old.status()
                return cfg.to_json()
            if old is not None and "start" not in cfg.walk:
                cfg.walk = {**cfg.walk, "start": str(dec_price(pair, old.model.reference))}
            agents = [maker_name(i) for i in range(cfg.makers)] + [taker_name(i) for i in range(cfg.takers)]
            seed = cfg.seed if cfg.seed is not None else self.rt.settings.seed
            fresh = old is None or not old.cfg.enabled
            # built before any bot account exists: a refused config changes nothing
            market = LiveMarket(v, cfg, seed, now, dict.fromkeys(agents, ""), self._seed_account() if fresh else None,
                                self.rt.settings.data_dir)
            accounts = {a: self._account(pair, a) for a in agents}
            market.agents = {a: accounts[a] for a in market.model.agents}
            if old is not None:
                market.steps, market.commands, market.rejects = old.steps, old.commands, old.rejects
                market.skipped = old.skipped
                gone = set(old.agents) - set(market.agents)
                for agent in sorted(gone):
                    acct = old.agents[agent]
                    market._submit("cancel_all", Origin("bot", f"market:{agent}", acct), {"account_id": acct, "pair": pair.id}, None)
            self.markets[pair.id] = market
            return market.status()

    def start_playback(self, file: str, speed: Any, symbol: str, clear_seed: bool = True) -> dict[str, Any]:
        """Load a recorded file and start playing it into `symbol`."""
        from simulator.core.recording import parse_records

        from .playback import PlaybackRun

        pair = self._pair(symbol)
        path = resolve_data_file(file, self.rt.settings.data_dir)
        records = parse_records(path.read_text(), path.name)
        if not records:
            raise ValueError(f"{path.name}: no records")
        rate: Decimal | None
        if isinstance(speed, str) and speed.strip().lower() == "max":
            rate = None
        else:
            rate = number(speed, "speed", Decimal(0))
            if rate <= 0:
                raise ValueError("speed: must be positive or 'max'")
        v = self.venue
        with v.spot_seq.exclusive():
            old = self.playbacks.pop(pair.id, None)
            if old is not None:
                old.stop()
            maker, taker = self._account(pair, "replay-maker"), self._account(pair, "replay-taker")
            run = PlaybackRun(
                v, pair, records, rate, maker, taker, v.clock.now_ns(), str(path),
                self._seed_account() if clear_seed else None,
            )
            self.playbacks[pair.id] = run
        if rate is not None:
            run.pump(v.clock.now_ns())  # records at offset 0 play now
        return run.status()

    def stop_playback(self, symbol: str) -> dict[str, Any]:
        pair = self._pair(symbol)
        run = self.playbacks.get(pair.id)
        if run is None:
            raise KeyError(symbol)
        run.stop()
        return run.status()

    # ------------------------------------------------------------ driving
    def catch_up(self, now_ns: int | None = None) -> None:
        """Run whatever venue time has made due (any thread)."""
        if not self.running:
            return
        now = self.venue.clock.now_ns() if now_ns is None else now_ns
        for m in list(self.markets.values()):
            try:
                m.run_due(now)
            except Exception:  # noqa: BLE001 - a participant bug must not stop the venue
                log.exception("market %s step failed", m.pair.symbol)
        for r in list(self.playbacks.values()):
            if r.speed is not None and not r.done:
                try:
                    r.pump(now)
                except Exception:  # noqa: BLE001
                    log.exception("replay %s failed", r.pair.symbol)
                    r.stopped = True

    def pump_fast(self, limit: int = FAST_CHUNK) -> bool:
        """One chunk of every "max" replay; True while any has more."""
        busy = False
        for r in list(self.playbacks.values()):
            if r.speed is None and not r.done:
                try:
                    r.pump(None, limit)
                except Exception:  # noqa: BLE001
                    log.exception("replay %s failed", r.pair.symbol)
                    r.stopped = True
                busy = busy or not r.done
        return busy

    async def run(self) -> None:
        """The task: follows a running clock and plays "max" replays."""
        while self.running:
            busy = False
            try:
                self.catch_up()
                busy = self.pump_fast()
            except Exception:  # noqa: BLE001
                log.exception("market task")
            await asyncio.sleep(0 if busy else POLL_S)

    async def start(self) -> None:
        """The server started: follow its clock."""
        self.running = True
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        self.running = False
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.task, timeout=5)
            self.task = None

    def status(self) -> dict[str, Any]:
        return {
            "markets": [m.status() for m in self.markets.values()],
            "replays": [r.status() for r in self.playbacks.values()],
        }


__all__ = [
    "BOT_BALANCE",
    "LiveMarket",
    "MarketConfig",
    "MarketManager",
    "book_state",
    "create_bot_account",
    "dec_price",
    "dec_qty",
    "load_series",
    "parse_market_config",
    "price_units",
    "qty_lots",
    "resolve_data_file",
    "start_price",
]
