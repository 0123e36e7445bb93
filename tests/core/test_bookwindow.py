"""The book-window diff: a client that applies it (as WS and FIX clients do)
ends with exactly the engine's current window."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.core.bookwindow import level_changes, level_window, order_changes, order_window


@dataclass
class FakeOrder:
    id: str
    visible: int
    opened_ns: int
    in_book: bool = True


class FakeLevel:
    def __init__(self, price: int, orders: list[FakeOrder]) -> None:
        self.price = price
        self.orders = orders
        self.visible = sum(o.visible for o in orders if o.in_book)


class FakeSide:
    """A bid side: best = highest price."""

    def __init__(self, levels: dict[int, list[FakeOrder]]) -> None:
        self.levels = {p: FakeLevel(p, os) for p, os in levels.items() if any(o.in_book for o in os)}

    def __iter__(self) -> Any:
        return iter(self.levels[p] for p in sorted(self.levels, reverse=True))

    def level(self, price: int) -> FakeLevel | None:
        return self.levels.get(price)


@st.composite
def sides(draw: Any) -> FakeSide:
    ids = draw(st.permutations([f"O{i}" for i in range(8)]))
    n = draw(st.integers(0, 8))
    levels: dict[int, list[FakeOrder]] = {}
    for oid in ids[:n]:
        p = draw(st.integers(1, 6))
        # an order keeps its entry time unless it lost its place (then it comes back as a new add)
        levels.setdefault(p, []).append(FakeOrder(oid, draw(st.integers(1, 3)), int(oid[1:]),
                                                  draw(st.booleans() | st.just(True))))
    return FakeSide(levels)


@settings(max_examples=500, deadline=None)
@given(sides(), sides(), st.integers(1, 4))
def test_level_diff_rebuilds_the_window(old: FakeSide, new: FakeSide, depth: int) -> None:
    shown = level_window(old, depth)
    now = level_window(new, depth)
    ch = level_changes(shown, now, new)
    assert bool(ch) == (shown != now)
    # FIX: every left entry is deleted (with what is left of it), then changes and adds
    fix = dict(shown)
    for p, _, left in ch.gone:
        assert left == (new.levels[p].visible if p in new.levels else None)
        del fix[p]
    for p, q, is_new in ch.updates:
        assert is_new == (p not in shown)
        fix[p] = q
    assert fix == now
    # WS: only levels gone from the book are deleted; the client trims to the depth
    ws = dict(shown)
    for p, _, left in ch.gone:
        if left is None:
            del ws[p]
    for p, q, _ in ch.updates:
        ws[p] = q
    assert dict(sorted(ws.items(), reverse=True)[:depth]) == now
    assert list(now) == sorted(now, reverse=True)  # best first


@settings(max_examples=500, deadline=None)
@given(sides(), sides(), st.integers(1, 4))
def test_order_diff_rebuilds_every_queue_in_order(old: FakeSide, new: FakeSide, depth: int) -> None:
    shown = order_window(old, depth)
    now = order_window(new, depth)
    ch = order_changes(shown, now, new)
    where = {oid: p for p, os in now.items() for oid, _, _ in os}

    def apply(book: dict[int, list[tuple[str, int, int]]], ws: bool) -> dict[int, list[tuple[str, int, int]]]:
        book = {p: list(os) for p, os in book.items()}
        for oid, p, q, ts, left in ch.deletes:
            if ws and left is not None:
                assert where.get(oid) is None  # only ever an order that left the window
                continue
            assert (oid, q, ts) in book[p]
            book[p] = [r for r in book[p] if r[0] != oid]
        for action, oid, p, q, ts in ch.updates:
            queue = book.setdefault(p, [])
            if action == "modify":
                i = [r[0] for r in queue].index(oid)
                queue[i] = (oid, q, ts)
            else:
                assert oid not in [r[0] for r in queue]
                queue.append((oid, q, ts))
        return {p: os for p, os in book.items() if os}

    assert apply(shown, ws=False) == now
    ws_book = apply(shown, ws=True)
    assert dict(sorted(ws_book.items(), reverse=True)[:depth]) == now
    if shown == now:
        assert not ch
