"""History indexes page exactly like a scan of everything (the old reads),
however the history grew between reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.core.history import ClosedOrderIndex, LedgerIndex, TradeIndex, find_by_id
from simulator.core.ids import IdGenerator


@dataclass
class Ord:
    opened_ns: int
    closed_ns: int
    userref: int | None
    cl_ord_id: str | None


@dataclass
class F:
    ts: int
    maker: bool
    order: Any
    leverage: int = 0


@dataclass
class L:
    time_ns: int
    asset: str
    type: str


def _in(t: int, start: int | None, end: int | None) -> bool:
    return (start is None or t > start) and (end is None or t <= end)


def brute_closed(orders: list[Ord], start: int | None, end: int | None, closetime: str,
                 userref: int | None, cl: str | None) -> list[Ord]:
    rows = [o for o in orders if (userref is None or o.userref == userref) and (cl is None or o.cl_ord_id == cl)]
    idx = {id(o): i for i, o in enumerate(rows)}
    if closetime == "open":
        rows = [o for o in rows if _in(o.opened_ns, start, end)]
        rows.sort(key=lambda o: (o.opened_ns, idx[id(o)]), reverse=True)
    else:
        if closetime == "close":
            rows = [o for o in rows if _in(o.closed_ns, start, end)]
        else:
            rows = [o for o in rows if _in(o.opened_ns, start, end) or _in(o.closed_ns, start, end)]
        rows.sort(key=lambda o: (o.closed_ns, idx[id(o)]), reverse=True)
    return rows


times = st.integers(0, 40)
bound = st.none() | times


@st.composite
def closed_lists(draw: Any) -> list[Ord]:
    n = draw(st.integers(0, 60))
    out, t = [], 0
    for _ in range(n):
        t += draw(st.integers(0, 3))  # closed in time order, ties allowed
        opened = t - draw(st.integers(0, 10))
        out.append(Ord(opened, t, draw(st.none() | st.integers(0, 2)), draw(st.none() | st.sampled_from("ab"))))
    return out


@settings(max_examples=300, deadline=None)
@given(closed_lists(), st.data())
def test_closed_orders_pages_equal_a_full_scan(orders: list[Ord], data: Any) -> None:
    live: list[Ord] = []
    ix = ClosedOrderIndex(live)  # type: ignore[arg-type]
    cut = data.draw(st.integers(0, len(orders)))
    for part in (orders[:cut], orders[cut:]):
        live.extend(part)
        for _ in range(3):
            start, end = data.draw(bound), data.draw(bound)
            closetime = data.draw(st.sampled_from(["open", "close", "both"]))
            userref = data.draw(st.none() | st.integers(0, 2))
            cl = data.draw(st.none() | st.sampled_from("ab"))
            ofs = data.draw(st.integers(0, 70))
            limit = data.draw(st.integers(1, 7))
            want = brute_closed(live, start, end, closetime, userref, cl)
            got, total = ix.page(start, end, closetime, userref, cl, ofs, limit)  # type: ignore[arg-type]
            assert total == len(want)
            assert [id(o) for o in got] == [id(o) for o in want[ofs : ofs + limit]]


def brute_rows(fills: list[F], consolidate: bool) -> list[list[F]]:
    rows: list[list[F]] = []
    for f in fills:
        if consolidate and rows and not f.maker and not rows[-1][-1].maker and rows[-1][-1].order is f.order \
                and rows[-1][-1].ts == f.ts:
            rows[-1].append(f)
        else:
            rows.append([f])
    return rows


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.booleans(), st.integers(0, 2)), max_size=60), st.data())
def test_trade_pages_equal_a_full_scan(spec: list[tuple[int, bool, int]], data: Any) -> None:
    orders = [object() for _ in range(3)]
    fills, t = [], 0
    for dt, maker, o in spec:
        t += dt
        fills.append(F(t, maker, orders[o], 2 if o == 2 else 0))  # the third order is a margin order
    live: list[F] = []
    ix = TradeIndex(live)  # type: ignore[arg-type]
    cut = data.draw(st.integers(0, len(fills)))
    for part in (fills[:cut], fills[cut:]):
        live.extend(part)
        for _ in range(3):
            consolidate, spot = data.draw(st.booleans()), data.draw(st.booleans())
            start, end = data.draw(st.none() | st.integers(0, 120)), data.draw(st.none() | st.integers(0, 120))
            ofs, limit = data.draw(st.integers(0, 70)), data.draw(st.integers(1, 7))
            want = [r for r in brute_rows(live, consolidate) if _in(r[0].ts, start, end)
                    and not (spot and r[0].leverage)]  # fmt: skip
            want.reverse()
            got, total = ix.page(consolidate, start, end, ofs, limit, spot=spot)
            assert total == len(want)
            assert [[id(f) for f in r] for r in got] == [[id(f) for f in r] for r in want[ofs : ofs + limit]]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from("XYZ"), st.sampled_from(["trade", "deposit"])),
                max_size=80), st.data())
def test_ledger_pages_equal_a_full_scan(spec: list[tuple[int, str, str]], data: Any) -> None:
    entries, t = [], 0
    for dt, asset, kind in spec:
        t += dt
        entries.append(L(t, asset, kind))
    live: list[L] = []
    ix = LedgerIndex(live)  # type: ignore[arg-type]
    cut = data.draw(st.integers(0, len(entries)))
    for part in (entries[:cut], entries[cut:]):
        live.extend(part)
        for _ in range(3):
            assets = data.draw(st.sets(st.sampled_from("XYZW"), min_size=1))
            kind = data.draw(st.none() | st.sampled_from(["trade", "deposit"]))
            start, end = data.draw(st.none() | st.integers(0, 160)), data.draw(st.none() | st.integers(0, 160))
            ofs, limit = data.draw(st.integers(0, 90)), data.draw(st.integers(1, 9))
            want = [e for e in reversed(live) if e.asset in assets and (kind is None or e.type == kind)
                    and _in(e.time_ns, start, end)]
            got, total = ix.page(sorted(assets), kind, start, end, ofs, limit)
            assert total == len(want)
            assert [id(e) for e in got] == [id(e) for e in want[ofs : ofs + limit]]


def test_an_id_is_found_by_binary_search_and_only_its_exact_text() -> None:
    ids = IdGenerator(42)

    @dataclass
    class E:
        bits: int

    items = []
    for n in range(500):
        b = ids.reserve()
        if n % 3 == 0:  # other lists take ids in between
            items.append(E(b))
    render = lambda e: IdGenerator.render("L", e.bits)  # noqa: E731
    for i, e in enumerate(items):
        assert find_by_id(items, render(e), ids, lambda x: x.bits, render) == i
    text = render(items[7])
    assert find_by_id(items, "T" + text[1:], ids, lambda x: x.bits, render) is None  # another prefix
    assert find_by_id(items, text.lower(), ids, lambda x: x.bits, render) is None
    assert find_by_id(items, "LAAAAA-AAAAA-AAAAAA", ids, lambda x: x.bits, render) is None
    assert find_by_id(items, "nonsense", ids, lambda x: x.bits, render) is None


class Counting(list):  # type: ignore[type-arg]
    """A list that counts item reads (what a page costs)."""

    reads = 0

    def __getitem__(self, i: Any) -> Any:
        Counting.reads += 1
        return super().__getitem__(i)


def test_a_page_reads_what_it_returns_not_the_whole_history() -> None:
    n = 100_000
    orders = Counting(Ord(i, i + 5, i % 3, None) for i in range(n))
    ix = ClosedOrderIndex(orders)  # type: ignore[arg-type]
    ix.page()  # the first read indexes everything once
    for kw in ({}, {"start": 50_000}, {"closetime": "close", "end": 90_000}, {"closetime": "open", "ofs": 70_000},
               {"userref": 1, "ofs": 1000}):
        ix.page(**kw)  # type: ignore[arg-type]  # a view's open-time order is built on its first use
        Counting.reads = 0
        page, total = ix.page(**kw)  # type: ignore[arg-type]
        assert len(page) == 50 and total > 1000
        assert Counting.reads <= 50 + 4 * 20, (kw, Counting.reads)  # the page + a few binary searches
    entries = Counting(L(i, "XYZ"[i % 3], "trade") for i in range(n))
    lx = LedgerIndex(entries)  # type: ignore[arg-type]
    lx.page(["X"], None, None, None, 0)
    Counting.reads = 0
    page2, total2 = lx.page(["X", "Y"], "trade", 1000, None, 20_000)
    assert len(page2) == 50 and total2 > 20_000
    assert Counting.reads <= 50 + 4 * 20 * 2 * 20  # k lists: a binary search of binary searches
