"""Background participants: the decision logic of a living market.

Pure: given the book, a seeded rng and the venue time, `MarketModel.step`
returns the commands the market makers and takers want to send.  It does no
I/O and never touches an engine, so the same seed and the same book give the
same commands on every machine (integer arithmetic only, no floats: the
rng's integer draws are platform independent).  The server side
(`simulator.server.market`) turns the commands into sequencer submissions
from the participants' own accounts, so they reach every feed like anyone's.

Units are the engine's: prices in 10**-pair_decimals, quantities in lots.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .numbers import PPM, ceil_div
from .orders import BUY, GTC, IOC, SELL

WALK_KINDS = ("random", "series")
_MICRO = 1_000_000  # the walk keeps its price in millionths of a unit


# ---------------------------------------------------------------- inputs
@dataclass(frozen=True)
class InstrumentSpec:
    """What the participants must respect to have their orders accepted."""

    tick: int  # price units per tick
    ordermin: int  # lots
    costmin: int = 0  # cost units (10**-cost_decimals of quote)
    cost_shift: int = 1  # price*qty // cost_shift -> cost units

    def min_lots(self, price: int) -> int:
        """Smallest quantity at `price` that passes ordermin and costmin."""
        lots = max(self.ordermin, 1)
        if self.costmin and price > 0:
            lots = max(lots, ceil_div(self.costmin * self.cost_shift, price))
        return lots


@dataclass(frozen=True)
class OwnOrder:
    """One of a participant's resting orders, as the book shows it."""

    order_id: str
    side: str
    price: int
    remaining: int


@dataclass(frozen=True)
class BookState:
    """The book as the participants see it before a step (best first)."""

    bids: tuple[tuple[int, int], ...] = ()  # (price, visible qty)
    asks: tuple[tuple[int, int], ...] = ()
    own: Mapping[str, tuple[OwnOrder, ...]] = field(default_factory=dict)  # agent -> its open orders

    @property
    def best_bid(self) -> int | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> int | None:
        return self.asks[0][0] if self.asks else None

    def mid(self) -> int | None:
        b, a = self.best_bid, self.best_ask
        if b is not None and a is not None:
            return (a + b) // 2
        return b if b is not None else a


# --------------------------------------------------------------- commands
@dataclass(frozen=True)
class Place:
    """A new limit order (makers: post-only GTC; takers: IOC crossing the spread)."""

    agent: str
    side: str
    price: int
    qty: int
    tif: str = GTC
    post_only: bool = False


@dataclass(frozen=True)
class Amend:
    """Move a resting order to a new price (keeps its id, loses priority)."""

    agent: str
    order_id: str
    price: int


@dataclass(frozen=True)
class Cancel:
    agent: str
    order_id: str


Command = Place | Amend | Cancel


# ------------------------------------------------------------ parameters
@dataclass(frozen=True)
class WalkParams:
    """How the reference price moves.

    `random`: a seeded geometric walk, `vol_ppm` the typical move per step,
    `drift_ppm` a bias per step, `revert_ppm` a pull back toward the start
    (millionths of the gap per step) so long runs stay near their level.
    `series`: recorded (offset_ns, price) points played at `speed`×,
    interpolated between points; past the end the series plays backwards
    (`loop`), so it never jumps; `rebase` scales it to start at the start price.
    """

    kind: str = "random"
    vol_ppm: int = 150
    drift_ppm: int = 0
    revert_ppm: int = 0
    series: tuple[tuple[int, int], ...] = ()
    speed: int = 1
    loop: bool = True
    rebase: bool = False


@dataclass(frozen=True)
class MakerParams:
    """A ladder of post-only quotes on a price grid around the reference.

    Prices sit on a grid of `step_ppm` (at least one tick), so a small move
    of the reference changes nothing and a move of one grid step reprices one
    order per side (an amend), as a real quoting engine would."""

    count: int = 2
    levels: int = 5
    half_spread_ppm: int = 100  # maker i quotes (i+1) times this far from the reference
    step_ppm: int = 100
    qty_min: int = 0  # lots; 0: 10 × the minimum order
    qty_max: int = 0  # lots; 0: 100 × the minimum order


@dataclass(frozen=True)
class TakerParams:
    """Takers cross the spread with IOC limit orders.

    Each step each taker trades with probability `rate_ppm`; with probability
    `informed_ppm` it trades toward the reference (buys when the reference is
    above the mid), else on a coin flip.  Its limit is the touch plus
    `sweep_ppm`, so a large order can take several levels."""

    count: int = 1
    rate_ppm: int = 250_000
    informed_ppm: int = 600_000
    sweep_ppm: int = 200
    qty_min: int = 0  # lots; 0: 5 × the minimum order
    qty_max: int = 0  # lots; 0: 50 × the minimum order


# ------------------------------------------------------------------ walk
class ReferenceWalk:
    """The price the participants believe in; moves once per step."""

    def __init__(self, start: int, start_ns: int, tick: int, params: WalkParams, rng: random.Random) -> None:
        if params.kind not in WALK_KINDS:
            raise ValueError(f"walk kind must be one of {WALK_KINDS}")
        if start <= 0:
            raise ValueError("walk needs a positive start price")
        self.params = params
        self.tick = tick
        self.rng = rng
        self.start = start
        self.start_ns = start_ns
        self._x = start * _MICRO
        self._series = self._prepare_series(params, start)

    @staticmethod
    def _prepare_series(params: WalkParams, start: int) -> tuple[tuple[int, int], ...]:
        if params.kind != "series":
            return ()
        pts = tuple(sorted(params.series))
        if not pts:
            raise ValueError("a series walk needs at least one point")
        if params.rebase:
            first = pts[0][1]
            pts = tuple((t, p * start // first) for t, p in pts)
        return pts

    @property
    def price(self) -> int:
        """The current reference, snapped to the tick grid (never below a tick)."""
        units = self._x // _MICRO
        units -= units % self.tick
        return max(units, self.tick)

    def step(self, now_ns: int) -> int:
        """Advance to `now_ns` (one step) and return the new reference."""
        if self.params.kind == "series":
            self._x = self._series_at(now_ns) * _MICRO
            return self.price
        p = self.params
        # a bell-shaped integer draw: the sum of three uniforms (std ≈ vol_ppm)
        v = p.vol_ppm
        move = sum(self.rng.randint(-v, v) for _ in range(3)) if v > 0 else 0
        move += p.drift_ppm
        x = self._x
        if p.revert_ppm:
            x -= (x - self.start * _MICRO) * p.revert_ppm // PPM
        x += x * move // PPM
        self._x = max(x, self.tick * _MICRO)
        return self.price

    def _series_at(self, now_ns: int) -> int:
        pts = self._series
        if len(pts) == 1:
            return pts[0][1]
        t0 = pts[0][0]
        span = pts[-1][0] - t0
        t = max(0, now_ns - self.start_ns) * max(self.params.speed, 1)
        if span <= 0:
            return pts[-1][1]
        if t > span:
            if not self.params.loop:
                return pts[-1][1]
            t %= 2 * span
            if t > span:
                t = 2 * span - t  # play backwards: no jump at the end
        t += t0
        lo, hi = 0, len(pts) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if pts[mid][0] <= t:
                lo = mid
            else:
                hi = mid
        (ta, pa), (tb, pb) = pts[lo], pts[hi]
        if t <= ta or tb == ta:
            return pa
        if t >= tb:
            return pb
        return pa + (pb - pa) * (t - ta) // (tb - ta)


# ----------------------------------------------------------------- model
def maker_name(i: int) -> str:
    return f"maker-{i + 1}"


def taker_name(i: int) -> str:
    return f"taker-{i + 1}"


class MarketModel:
    """Makers and takers of one instrument.  `step` is the whole decision."""

    def __init__(
        self,
        spec: InstrumentSpec,
        start_price: int,
        start_ns: int,
        rng: random.Random,
        walk: WalkParams | None = None,
        makers: MakerParams | None = None,
        takers: TakerParams | None = None,
    ) -> None:
        self.spec = spec
        self.rng = rng
        self.walk = ReferenceWalk(start_price, start_ns, spec.tick, walk or WalkParams(), rng)
        self.makers = makers or MakerParams()
        self.takers = takers or TakerParams()
        self.steps = 0

    @property
    def agents(self) -> list[str]:
        return [maker_name(i) for i in range(self.makers.count)] + [taker_name(i) for i in range(self.takers.count)]

    @property
    def reference(self) -> int:
        return self.walk.price

    def step(self, now_ns: int, book: BookState) -> list[Command]:
        """Move the reference, then let every maker and taker decide."""
        self.steps += 1
        ref = self.walk.step(now_ns)
        out: list[Command] = []
        for i in range(self.makers.count):
            out.extend(self._quote(i, ref, book))
        for i in range(self.takers.count):
            out.extend(self._take(i, ref, book))
        return out

    # ---------------------------------------------------------- makers
    def _qty(self, lo: int, hi: int, default_lo: int, default_hi: int, price: int) -> int:
        """A random size on the ordermin grid, never below what is accepted."""
        unit = max(self.spec.ordermin, 1)
        lo = lo or default_lo * unit
        hi = max(hi or default_hi * unit, lo)
        q = self.rng.randint(lo, hi)
        q -= q % unit
        return max(q, self.spec.min_lots(price))

    def ladder(self, i: int, ref: int) -> tuple[list[int], list[int]]:
        """Maker i's bid and ask prices, best first, on the grid."""
        m = self.makers
        tick = self.spec.tick
        grid = max(ref * m.step_ppm // PPM, tick)
        grid -= grid % tick
        half = max(ref * m.half_spread_ppm * (i + 1) // PPM, tick)
        top_bid = (ref - half) // grid * grid
        top_ask = ceil_div(ref + half, grid) * grid
        bids = [top_bid - k * grid for k in range(m.levels) if top_bid - k * grid > 0]
        asks = [top_ask + k * grid for k in range(m.levels)]
        return bids, asks

    def _quote(self, i: int, ref: int, book: BookState) -> list[Command]:
        agent = maker_name(i)
        bids, asks = self.ladder(i, ref)
        own = book.own.get(agent, ())
        # never cross someone else's resting order (post-only would refuse it)
        other_ask = _best_other(book.asks, own, SELL)
        other_bid = _best_other(book.bids, own, BUY)
        if other_ask is not None:
            bids = [p for p in bids if p < other_ask]
        if other_bid is not None:
            asks = [p for p in asks if p > other_bid]
        cancels: list[Command] = []
        side_cmds: dict[str, list[Command]] = {}
        for side, want in ((BUY, bids), (SELL, asks)):
            mine = sorted((o for o in own if o.side == side), key=lambda o: (o.price, o.order_id))
            have: dict[int, OwnOrder] = {}
            spare: list[OwnOrder] = []
            for o in mine:
                if o.price in want and o.price not in have:
                    have[o.price] = o
                else:
                    spare.append(o)
            # the farthest spare orders move first: they have the least queue to lose
            spare.sort(key=lambda o: o.price, reverse=(side == SELL))
            cmds: list[Command] = []
            for price in want:
                if price in have:
                    continue
                if spare:
                    cmds.append(Amend(agent, spare.pop(0).order_id, price))
                else:
                    cmds.append(Place(agent, side, price, self._qty(self.makers.qty_min, self.makers.qty_max, 10, 100, price), GTC, True))
            cancels.extend(Cancel(agent, o.order_id) for o in spare)
            side_cmds[side] = cmds
        # a rising reference moves the asks out of the way first, a falling one the bids
        cur_bid = max((o.price for o in own if o.side == BUY), default=None)
        first = SELL if cur_bid is not None and bids and bids[0] > cur_bid else BUY
        second = BUY if first == SELL else SELL
        return cancels + side_cmds[first] + side_cmds[second]

    # ---------------------------------------------------------- takers
    def _take(self, i: int, ref: int, book: BookState) -> list[Command]:
        t = self.takers
        if self.rng.randrange(PPM) >= t.rate_ppm:
            return []
        mid = book.mid()
        if mid is not None and mid != ref and self.rng.randrange(PPM) < t.informed_ppm:
            side = BUY if ref > mid else SELL
        else:
            side = BUY if self.rng.randrange(2) else SELL
        touch = book.best_ask if side == BUY else book.best_bid
        if touch is None:
            return []
        tick = self.spec.tick
        sweep = touch * t.sweep_ppm // PPM
        if side == BUY:
            price = ceil_div(touch + sweep, tick) * tick
        else:
            price = max((touch - sweep) // tick * tick, tick)
        qty = self._qty(t.qty_min, t.qty_max, 5, 50, price)
        return [Place(taker_name(i), side, price, qty, IOC, False)]


def _best_other(levels: Sequence[tuple[int, int]], own: Sequence[OwnOrder], side: str) -> int | None:
    """Best price on a side once the agent's own quantity is taken out."""
    mine: dict[int, int] = {}
    for o in own:
        if o.side == side:
            mine[o.price] = mine.get(o.price, 0) + o.remaining
    for price, qty in levels:
        if qty > mine.get(price, 0):
            return price
    return None


__all__ = [
    "Amend",
    "BookState",
    "Cancel",
    "Command",
    "InstrumentSpec",
    "MakerParams",
    "MarketModel",
    "OwnOrder",
    "Place",
    "ReferenceWalk",
    "TakerParams",
    "WalkParams",
    "maker_name",
    "taker_name",
]
