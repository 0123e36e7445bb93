"""Participant decision logic (simulator.core.participants): pure, seeded, exact."""

from __future__ import annotations

import random

import pytest

from simulator.core.orders import BUY, IOC, SELL
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
    ReferenceWalk,
    TakerParams,
    WalkParams,
)

# BTC/USD-like: 0.1 tick (1 unit), ordermin 0.00005 (5000 lots), costmin 0.5 USD
SPEC = InstrumentSpec(tick=1, ordermin=5000, costmin=50_000, cost_shift=10**4)
REF = 914_150  # 91415.0
T0 = 1_767_225_600_000_000_000
STEP = 500_000_000


def model(seed: int = 1, **kw: object) -> MarketModel:
    return MarketModel(
        SPEC,
        REF,
        T0,
        random.Random(seed),
        kw.get("walk", WalkParams()),  # type: ignore[arg-type]
        kw.get("makers", MakerParams()),  # type: ignore[arg-type]
        kw.get("takers", TakerParams()),  # type: ignore[arg-type]
    )


def apply(book_own: dict[str, list[OwnOrder]], cmds: list[Command], ids: list[int]) -> None:
    """A toy exchange for the makers' own orders: enough to test reconciling."""
    for c in cmds:
        if isinstance(c, Place) and c.post_only:
            ids[0] += 1
            book_own.setdefault(c.agent, []).append(OwnOrder(f"O{ids[0]}", c.side, c.price, c.qty))
        elif isinstance(c, Amend):
            lst = book_own[c.agent]
            i = next(i for i, o in enumerate(lst) if o.order_id == c.order_id)
            lst[i] = OwnOrder(c.order_id, lst[i].side, c.price, lst[i].remaining)
        elif isinstance(c, Cancel):
            book_own[c.agent] = [o for o in book_own[c.agent] if o.order_id != c.order_id]


def state(own: dict[str, list[OwnOrder]]) -> BookState:
    levels: dict[tuple[str, int], int] = {}
    for orders in own.values():
        for o in orders:
            levels[(o.side, o.price)] = levels.get((o.side, o.price), 0) + o.remaining
    bids = tuple(sorted(((p, q) for (s, p), q in levels.items() if s == BUY), reverse=True))
    asks = tuple(sorted((p, q) for (s, p), q in levels.items() if s == SELL))
    return BookState(bids, asks, {a: tuple(v) for a, v in own.items()})


# ------------------------------------------------------------------ walk
def test_random_walk_is_seeded_on_tick_and_positive() -> None:
    def run(seed: int) -> list[int]:
        w = ReferenceWalk(REF, T0, 5, WalkParams(vol_ppm=500), random.Random(seed))
        return [w.step(T0 + i * STEP) for i in range(500)]

    a, b, c = run(3), run(3), run(4)
    assert a == b
    assert a != c
    assert all(p > 0 and p % 5 == 0 for p in a)
    assert len(set(a)) > 100  # it moves


def test_walk_revert_keeps_a_long_run_near_its_start() -> None:
    w = ReferenceWalk(REF, T0, 1, WalkParams(vol_ppm=300, revert_ppm=20_000), random.Random(9))
    prices = [w.step(T0 + i * STEP) for i in range(5000)]
    assert all(abs(p - REF) < REF // 50 for p in prices)  # within 2 %


def test_walk_drift_moves_the_price_one_way() -> None:
    w = ReferenceWalk(REF, T0, 1, WalkParams(vol_ppm=0, drift_ppm=1000), random.Random(1))
    prices = [w.step(T0 + i * STEP) for i in range(100)]
    assert prices == sorted(prices) and prices[-1] > REF * 11 // 10


def test_series_interpolates_loops_backwards_and_rebases() -> None:
    s = 1_000_000_000
    pts = ((0, 1000), (10 * s, 2000), (20 * s, 1000))
    w = ReferenceWalk(500, T0, 1, WalkParams(kind="series", series=pts), random.Random(0))
    assert w.step(T0) == 1000
    assert w.step(T0 + 5 * s) == 1500
    assert w.step(T0 + 10 * s) == 2000
    assert w.step(T0 + 25 * s) == 1500  # past the end: backwards from 1000 toward 2000
    assert w.step(T0 + 30 * s) == 2000
    fast = ReferenceWalk(500, T0, 1, WalkParams(kind="series", series=pts, speed=10), random.Random(0))
    assert fast.step(T0 + s // 2) == 1500
    held = ReferenceWalk(500, T0, 1, WalkParams(kind="series", series=pts, loop=False), random.Random(0))
    assert held.step(T0 + 99 * s) == 1000
    rebased = ReferenceWalk(500, T0, 1, WalkParams(kind="series", series=pts, rebase=True), random.Random(0))
    assert rebased.step(T0) == 500 and rebased.step(T0 + 10 * s) == 1000


def test_walk_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        ReferenceWalk(REF, T0, 1, WalkParams(kind="brownian"), random.Random(0))
    with pytest.raises(ValueError):
        ReferenceWalk(0, T0, 1, WalkParams(), random.Random(0))
    with pytest.raises(ValueError):
        ReferenceWalk(REF, T0, 1, WalkParams(kind="series"), random.Random(0))


# ---------------------------------------------------------------- makers
def test_maker_ladder_is_on_the_grid_and_around_the_reference() -> None:
    m = model(makers=MakerParams(count=3, levels=4), takers=TakerParams(count=0))
    for i in range(3):
        bids, asks = m.ladder(i, REF)
        assert len(bids) == len(asks) == 4
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert bids[0] < REF < asks[0]
        grid = bids[0] - bids[1]
        assert grid >= SPEC.tick and all(p % grid == 0 for p in bids + asks)
    # wider makers quote farther out
    assert m.ladder(2, REF)[0][0] <= m.ladder(0, REF)[0][0]


def test_first_step_places_post_only_quotes_with_accepted_sizes() -> None:
    m = model(makers=MakerParams(count=2, levels=3), takers=TakerParams(count=0))
    cmds = m.step(T0 + STEP, BookState())
    assert len(cmds) == 12 and all(isinstance(c, Place) and c.post_only for c in cmds)
    for c in cmds:
        assert isinstance(c, Place)
        assert c.qty >= SPEC.min_lots(c.price) and c.qty % SPEC.ordermin == 0
    assert {c.agent for c in cmds} == {"maker-1", "maker-2"}


def test_makers_keep_quotes_when_nothing_moved_and_amend_on_a_grid_move() -> None:
    m = model(walk=WalkParams(vol_ppm=0), makers=MakerParams(count=1, levels=5), takers=TakerParams(count=0))
    own: dict[str, list[OwnOrder]] = {}
    ids = [0]
    apply(own, m.step(T0 + STEP, state(own)), ids)
    assert len(own["maker-1"]) == 10
    assert m.step(T0 + 2 * STEP, state(own)) == []  # flat reference: no messages at all
    # the reference rises by one grid step: one order per side moves (amend), asks first
    grid = m.ladder(0, REF)[0][0] - m.ladder(0, REF)[0][1]
    m.walk._x += grid * 1_000_000
    cmds = m.step(T0 + 3 * STEP, state(own))
    assert len(cmds) == 2 and all(isinstance(c, Amend) for c in cmds)
    sides = [next(o.side for o in own["maker-1"] if o.order_id == c.order_id) for c in cmds if isinstance(c, Amend)]
    assert sides == [SELL, BUY]
    apply(own, cmds, ids)
    bids, asks = m.ladder(0, m.reference)
    assert sorted(o.price for o in own["maker-1"] if o.side == BUY) == sorted(bids)
    assert sorted(o.price for o in own["maker-1"] if o.side == SELL) == sorted(asks)


def test_makers_replace_filled_levels_and_never_cross_others() -> None:
    m = model(walk=WalkParams(vol_ppm=0), makers=MakerParams(count=1, levels=3), takers=TakerParams(count=0))
    own: dict[str, list[OwnOrder]] = {}
    ids = [0]
    apply(own, m.step(T0 + STEP, state(own)), ids)
    # the best bid was filled
    best = max((o for o in own["maker-1"] if o.side == BUY), key=lambda o: o.price)
    own["maker-1"].remove(best)
    cmds = m.step(T0 + 2 * STEP, state(own))
    assert cmds == [Place("maker-1", BUY, best.price, cmds[0].qty, "GTC", True)]  # type: ignore[union-attr]
    # someone else's ask sits below the maker's best bid price: no bid at or above it
    bids, _ = m.ladder(0, REF)
    other = BookState(asks=((bids[1], 10_000),), own={})
    cmds = model(walk=WalkParams(vol_ppm=0), makers=MakerParams(count=1, levels=3), takers=TakerParams(count=0)).step(T0 + STEP, other)
    assert all(c.price < bids[1] for c in cmds if isinstance(c, Place) and c.side == BUY)
    assert len([c for c in cmds if isinstance(c, Place) and c.side == BUY]) == 1


def test_surplus_own_orders_are_cancelled() -> None:
    m = model(walk=WalkParams(vol_ppm=0), makers=MakerParams(count=1, levels=2), takers=TakerParams(count=0))
    bids, asks = m.ladder(0, REF)
    own = {
        "maker-1": [
            OwnOrder("A", BUY, bids[0], 5000),
            OwnOrder("B", BUY, bids[0], 5000),  # a duplicate level
            OwnOrder("C", BUY, bids[1], 5000),
            OwnOrder("D", BUY, bids[1] - 1000, 5000),  # far away: surplus
            OwnOrder("E", SELL, asks[0], 5000),
            OwnOrder("F", SELL, asks[1], 5000),
        ]
    }
    cmds = m.step(T0 + STEP, state(own))
    assert sorted(c.order_id for c in cmds if isinstance(c, Cancel)) == ["B", "D"]
    assert not [c for c in cmds if not isinstance(c, Cancel)]


# ---------------------------------------------------------------- takers
def test_takers_cross_the_spread_with_ioc() -> None:
    book = BookState(bids=((914_100, 100_000),), asks=((914_200, 100_000),))
    m = model(seed=5, makers=MakerParams(count=0), takers=TakerParams(count=2, rate_ppm=1_000_000, sweep_ppm=0))
    seen = set()
    for i in range(50):
        cmds = m.step(T0 + i * STEP, book)
        assert len(cmds) == 2
        for c in cmds:
            assert isinstance(c, Place) and c.tif == IOC and not c.post_only
            assert c.price == (914_200 if c.side == BUY else 914_100)
            assert c.qty >= SPEC.min_lots(c.price)
            seen.add((c.agent, c.side))
    assert seen == {("taker-1", BUY), ("taker-1", SELL), ("taker-2", BUY), ("taker-2", SELL)}


def test_informed_takers_trade_toward_the_reference_and_sweep() -> None:
    book = BookState(bids=((900_000, 100_000),), asks=((900_100, 100_000),))  # mid far below REF
    m = model(walk=WalkParams(vol_ppm=0), makers=MakerParams(count=0),
              takers=TakerParams(count=1, rate_ppm=1_000_000, informed_ppm=1_000_000, sweep_ppm=1000))
    for i in range(20):
        (c,) = m.step(T0 + i * STEP, book)
        assert isinstance(c, Place) and c.side == BUY and c.price == 900_100 + 900_100 * 1000 // 1_000_000  # touch + 10 bps


def test_takers_rest_when_rate_is_zero_or_the_book_is_empty() -> None:
    m = model(makers=MakerParams(count=0), takers=TakerParams(count=3, rate_ppm=0))
    assert all(m.step(T0 + i * STEP, BookState(((1, 1),), ((2, 1),))) == [] for i in range(50))
    m = model(makers=MakerParams(count=0), takers=TakerParams(count=3, rate_ppm=1_000_000))
    assert m.step(T0 + STEP, BookState()) == []


# ------------------------------------------------------------ the model
def test_model_is_deterministic_for_a_seed() -> None:
    def run(seed: int) -> list[list[Command]]:
        m = model(seed=seed, makers=MakerParams(count=2), takers=TakerParams(count=2, rate_ppm=500_000))
        own: dict[str, list[OwnOrder]] = {}
        ids = [0]
        out: list[list[Command]] = []
        for i in range(1, 200):
            cmds = m.step(T0 + i * STEP, state(own))
            apply(own, cmds, ids)
            out.append(list(cmds))
        return out

    assert run(11) == run(11)
    assert run(11) != run(12)


def test_min_lots_respects_costmin() -> None:
    spec = InstrumentSpec(tick=1, ordermin=10, costmin=100_000, cost_shift=10**4)
    assert spec.min_lots(10_000_000) == 100  # costmin beats ordermin at a low price...
    assert spec.min_lots(10**12) == 10  # ...ordermin at a high one
    assert InstrumentSpec(tick=1, ordermin=0).min_lots(5) == 1
