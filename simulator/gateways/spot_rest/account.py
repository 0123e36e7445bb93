"""Private account data: balances, orders, trades, ledgers, fees, WS tokens.

Reads go straight to engine state (no command needed); every object is
shaped by `formatting` so REST matches Kraken field for field."""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from simulator.core.accounts import (
    QUERY_CLOSED,
    QUERY_FUNDS,
    QUERY_LEDGER,
    QUERY_OPEN,
    WEBSOCKET,
    LedgerEntry,
)
from simulator.core.clock import NS_PER_S
from simulator.core.events import Fill
from simulator.core.history import TradeIndex, find_by_id
from simulator.core.instruments import FeeTier, SpotPair
from simulator.core.margin import Position
from simulator.core.numbers import BALANCE_DP, fmt_decimal
from simulator.core.orders import Order
from simulator.server.tokens import TOKEN_TTL_S

from . import render
from .parse import ApiError, Params, invalid, sane
from .registry import UNKNOWN_ASSET, Ctx, private

PAGE = 50
E_INVALID_ORDER = "EOrder:Invalid order"
LEDGER_TYPES = (
    "all", "trade", "deposit", "withdrawal", "transfer", "margin", "adjustment", "rollover", "credit",
    "settled", "staking", "dividend", "sale", "nft_rebate", "earn",
)  # fmt: skip
TRADE_TYPES = ("all", "any position", "closed position", "closing position", "no position")


# ------------------------------------------------------------------ balances
def _funding(ctx: Ctx) -> Any:
    return ctx.venue.funding


def balances(ctx: Ctx) -> list[tuple[str, int, int, int]]:
    """(asset key, decimals, total, hold_trade) as Balance/BalanceEx show them:
    net of pending withdrawals, plus Earn allocations as `<ALT>.B`."""
    acct = ctx.acct
    inst = ctx.venue.instruments
    funding = _funding(ctx)
    out = []
    for asset_id, units in acct.balances.items():
        asset = inst.assets.get(asset_id)
        dp = asset.decimals if asset is not None else BALANCE_DP
        pending = funding.pending_withdrawals(acct.id, asset_id) if funding is not None else 0
        held = acct.held.get(asset_id, 0) - pending
        out.append((asset_id, dp, units - pending, max(held, 0)))
    if funding is not None:
        per_asset: dict[str, int] = {}
        for s in funding.strategies():
            units = funding.allocated(acct.id, s.id)
            if units:
                per_asset[s.asset] = per_asset.get(s.asset, 0) + units
        for asset_id, units in per_asset.items():
            asset = inst.assets[asset_id]
            out.append((f"{asset.altname}.B", asset.decimals, units, 0))
    return out


@private("Balance", perms=[(QUERY_FUNDS,)])
def balance(ctx: Ctx, p: Params) -> dict[str, str]:
    return {k: render.balance(total, dp) for k, dp, total, _ in balances(ctx)}


@private("BalanceEx", perms=[(QUERY_FUNDS,)])
def balance_ex(ctx: Ctx, p: Params) -> dict[str, dict[str, str]]:
    return {
        k: {"balance": render.balance(total, dp), "hold_trade": render.balance(held, dp)}
        for k, dp, total, held in balances(ctx)
    }


@private("TradeBalance", ("asset", "aclass"), perms=[(QUERY_OPEN, QUERY_FUNDS)])
def trade_balance(ctx: Ctx, p: Params) -> dict[str, str]:
    name = p.text("asset") or "ZUSD"
    target = ctx.venue.instruments.asset(name)
    if target is None:
        raise ApiError(UNKNOWN_ASSET)
    with ctx.venue.spot_seq.view() as eng:  # one consistent picture: balances, positions, the book
        t = eng.margin.trade_balance(ctx.account_id, target.id)
    dp = target.decimals

    def f(d: Decimal) -> str:
        return fmt_decimal(d, dp)

    return {"eb": f(t.eb), "tb": f(t.tb), "m": f(t.m), "uv": f(t.uv), "n": f(t.n), "c": f(t.c), "v": f(t.v),
            "e": f(t.e), "mf": f(t.mf), "ml": fmt_decimal(t.ml, 2) if t.ml is not None else f(Decimal(0))}  # fmt: skip


# -------------------------------------------------------------------- orders
def _order_trades(ctx: Ctx, o: Order, consolidate: bool) -> list[str]:
    if not o.trades:
        return []
    fills = list(o.trades)
    return [r.id for r in render.trade_rows(fills, consolidate)]


class _Rendered:
    """The newest rendered history rows of one engine (closed orders, trades,
    ledger entries): such a row never changes, and a poller asks for the same
    first page again and again."""

    CAP = 2048

    def __init__(self) -> None:
        self.rows: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...], make: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        rows = self.rows
        d = rows.get(key)
        if d is None:
            d = rows[key] = make()
            if len(rows) > self.CAP:
                rows.popitem(last=False)
        else:
            rows.move_to_end(key)
        return d


_RENDERED: WeakKeyDictionary[Any, _Rendered] = WeakKeyDictionary()


def _rendered(ctx: Ctx) -> _Rendered:
    cache = _RENDERED.get(ctx.engine)
    if cache is None:
        cache = _RENDERED[ctx.engine] = _Rendered()
    return cache


def _orders_out(ctx: Ctx, p: Params, orders: list[Order]) -> dict[str, Any]:
    with_trades = p.flag("trades")
    consolidate = p.flag("consolidate_taker", True)
    cache = _rendered(ctx)

    def row(o: Order) -> dict[str, Any]:
        return render.order_json(o, _order_trades(ctx, o, consolidate) if with_trades else None)

    return {
        o.id: cache.get(("order", o.id, with_trades, consolidate), partial(row, o)) if o.closed_ns else row(o)
        for o in orders
    }


def _filter_ids(p: Params, orders: list[Order]) -> list[Order]:
    userref = p.userref()
    cl = p.text("cl_ord_id")
    if userref is not None:
        orders = [o for o in orders if o.userref == userref]
    if cl is not None:
        orders = [o for o in orders if o.cl_ord_id == cl]
    return orders


@private("OpenOrders", ("trades", "userref", "cl_ord_id"), perms=[(QUERY_OPEN,)])
def open_orders(ctx: Ctx, p: Params) -> dict[str, Any]:
    orders = sorted(ctx.engine.open_orders.get(ctx.account_id, {}).values(), key=lambda o: o.opened_ns, reverse=True)
    return {"open": _orders_out(ctx, p, _filter_ids(p, orders))}


def time_bound(ctx: Ctx, p: Params, name: str, lookup: Any) -> int | None:
    """`start`/`end`: unix seconds (decimals allowed) or an id whose time counts."""
    v = p.text(name, max_len=64)
    if v is None:
        return None
    try:
        d = Decimal(v)
    except ArithmeticError:
        d = None
    if d is not None and d.is_finite():
        return int(sane(d, name) * NS_PER_S)
    t = lookup(v)
    if t is None:
        raise invalid(name)
    return int(t)


def _window(ctx: Ctx, p: Params, lookup: Any) -> tuple[int | None, int | None, int]:
    start = time_bound(ctx, p, "start", lookup)
    end = time_bound(ctx, p, "end", lookup)
    ofs = p.integer("ofs", 0, lo=0)
    assert ofs is not None
    return start, end, ofs


@private(
    "ClosedOrders",
    ("trades", "userref", "cl_ord_id", "start", "end", "ofs", "closetime", "consolidate_taker", "without_count"),
    perms=[(QUERY_CLOSED,)],
)
def closed_orders(ctx: Ctx, p: Params) -> dict[str, Any]:
    eng = ctx.engine

    def order_time(oid: str) -> int | None:
        o = eng.orders.get(oid)
        return o.opened_ns if o is not None and o.account_id == ctx.account_id else None

    start, end, ofs = _window(ctx, p, order_time)
    closetime = p.enum("closetime", ("open", "close", "both"), "both") or "both"
    userref = p.integer("userref", lo=-(2**31), hi=2**31 - 1)
    cl = p.text("cl_ord_id")
    index = eng.history.closed(ctx.account_id, eng.closed_orders.setdefault(ctx.account_id, []))
    page, total = index.page(start, end, closetime, userref, cl, ofs, PAGE)
    out: dict[str, Any] = {"closed": _orders_out(ctx, p, page)}
    if not p.flag("without_count"):
        out["count"] = total
    return out


@private("QueryOrders", ("txid", "trades", "userref", "consolidate_taker"), perms=[(QUERY_OPEN, QUERY_CLOSED)])
def query_orders(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = p.items("txid", required=True, max_items=50)
    found = []
    for oid in ids:
        o = ctx.engine.orders.get(oid)
        if o is None or o.account_id != ctx.account_id:
            raise ApiError(E_INVALID_ORDER)
        found.append(o)
    return _orders_out(ctx, p, _filter_ids(p, found))


# -------------------------------------------------------------------- trades
def _trade_index(ctx: Ctx) -> TradeIndex:
    eng = ctx.engine
    return eng.history.fills(ctx.account_id, eng.fills.setdefault(ctx.account_id, []))


def _row(fills: list[Fill]) -> render.TradeRow:
    row = render.TradeRow(fills[0])
    row.fills = list(fills)
    return row


def _trade_json(fills: list[Fill], with_ledgers: bool, position: Position | None = None) -> dict[str, Any]:
    return _row(fills).to_json(with_ledgers, position)


def _opened(ctx: Ctx, fills: list[Fill]) -> Position | None:
    """The position entry the first fill of a trade row opened (if kept)."""
    f = fills[0]
    if not f.opened:
        return None
    return ctx.engine.margin.positions.get(f.id)  # type: ignore[no-any-return]


def _version(pos: Position | None) -> tuple[Any, ...]:
    """What of a position a rendered trade row shows (the row is cached by it)."""
    return () if pos is None else (pos.status, pos.vol_closed, len(pos.trades), pos.fee)


def _position_rows(ctx: Ctx, kind: str) -> list[list[Fill]]:
    """TradesHistory `type` filters over the account's kept positions (bounded by
    the margin book's cap, never by the length of the trade history): opening
    trades (`closed position`: of closed positions only), closing trades, or both."""
    eng = ctx.engine
    fills = eng.fills.get(ctx.account_id, [])
    ids: set[str] = set()
    for pos in eng.margin.account_positions(ctx.account_id):
        if kind in ("any position", "closed position") and (kind == "any position" or pos.status == "closed"):
            ids.add(pos.id)
        if kind in ("any position", "closing position"):
            ids.update(pos.trades)
    rows = []
    for tid in ids:
        i = _fill_at(ctx, tid)
        if i is not None:
            rows.append([fills[i]])
    rows.sort(key=lambda r: (r[0].ts, r[0]._bits), reverse=True)
    return rows


def _fill_at(ctx: Ctx, tid: str) -> int | None:
    """Where the account's fill with this id sits (a binary search, no id map)."""
    return find_by_id(ctx.engine.fills.get(ctx.account_id, []), tid, ctx.engine.ids, _bits, _id)


def _bits(x: Any) -> int:
    return x._bits  # type: ignore[no-any-return]


def _id(x: Any) -> str:
    return x.id  # type: ignore[no-any-return]


@private(
    "TradesHistory",
    ("type", "trades", "start", "end", "ofs", "without_count", "consolidate_taker", "ledgers"),
    perms=[(QUERY_CLOSED,)],
)
def trades_history(ctx: Ctx, p: Params) -> dict[str, Any]:
    kind = p.enum("type", TRADE_TYPES, "all")
    p.flag("trades")
    consolidate = p.flag("consolidate_taker", True)

    def trade_time(tid: str) -> int | None:
        i = _fill_at(ctx, tid)
        return ctx.engine.fills[ctx.account_id][i].ts if i is not None else None

    start, end, ofs = _window(ctx, p, trade_time)
    if kind in ("any position", "closed position", "closing position"):
        rows = [r for r in _position_rows(ctx, kind)
                if (start is None or r[0].ts > start) and (end is None or r[0].ts <= end)]  # fmt: skip
        total = len(rows)
        rows = rows[ofs : ofs + PAGE]
    else:
        rows, total = _trade_index(ctx).page(consolidate, start, end, ofs, PAGE, spot=kind == "no position")
    with_ledgers = p.flag("ledgers")
    cache = _rendered(ctx)
    trades: dict[str, Any] = {}
    for r in rows:
        pos = _opened(ctx, r)
        key = ("trade", r[0].id, len(r), with_ledgers, _version(pos))
        trades[r[0].id] = cache.get(key, partial(_trade_json, r, with_ledgers, pos))
    out: dict[str, Any] = {"trades": trades}
    if not p.flag("without_count"):
        out["count"] = total
    return out


@private("QueryTrades", ("txid", "trades"), perms=[(QUERY_OPEN, QUERY_CLOSED)])
def query_trades(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = p.items("txid", required=True, max_items=20)
    p.flag("trades")
    index = _trade_index(ctx)
    out = {}
    for tid in ids:
        pos = _fill_at(ctx, tid)
        if pos is None:
            raise ApiError(E_INVALID_ORDER)
        # a consolidated row is named by its first fill; any other fill id names that fill alone
        starts = index.rows(True)
        j = bisect_left(starts, pos)
        fills = index.row(starts, j) if j < len(starts) and starts[j] == pos else [index.fills[pos]]
        out[tid] = _row(fills).to_json(False, _opened(ctx, fills))
    return out


@private("OpenPositions", ("txid", "docalcs", "consolidation"), perms=[(QUERY_OPEN,)])
def open_positions(ctx: Ctx, p: Params) -> dict[str, Any] | list[Any]:
    docalcs = p.flag("docalcs")
    consolidated = p.enum("consolidation", ("market",)) is not None
    wanted = set(p.items("txid", max_items=100))
    with ctx.venue.spot_seq.view() as eng:  # value and net priced at the book as it is now
        margin = eng.margin
        positions = [x for x in margin.open_positions(ctx.account_id) if not wanted or x.id in wanted]
        calcs = {x.id: margin.calcs(x) for x in positions} if docalcs else None
    if consolidated:
        return render.consolidated_json(positions, calcs)
    return {x.id: render.position_json(x, calcs[x.id] if calcs is not None else None) for x in positions}


# ------------------------------------------------------------------- ledgers
def _entry(ctx: Ctx, lid: str) -> LedgerEntry | None:
    i = find_by_id(ctx.acct.ledger, lid, ctx.engine.ids, _bits, _id)
    return ctx.acct.ledger[i] if i is not None else None


@private("Ledgers", ("asset", "aclass", "type", "start", "end", "ofs", "without_count"), perms=[(QUERY_LEDGER,)])
def ledgers(ctx: Ctx, p: Params) -> dict[str, Any]:
    inst = ctx.venue.instruments
    wanted: set[str] | None = None
    names = p.items("asset", max_items=100)
    if names and names != ["all"]:
        wanted = set()
        for n in names:
            a = inst.asset(n)
            if a is None:
                raise ApiError(UNKNOWN_ASSET)
            wanted.add(a.id)
    aclass = p.enum("aclass", ("currency", "tokenized_asset"), "currency")
    kind = p.enum("type", LEDGER_TYPES, "all")

    def entry_time(lid: str) -> int | None:
        e = _entry(ctx, lid)
        return e.time_ns if e is not None else None

    start, end, ofs = _window(ctx, p, entry_time)
    index = ctx.engine.history.ledger(ctx.account_id, ctx.acct.ledger)
    assets = [
        a
        for a in index.assets()
        if (wanted is None or a in wanted) and (inst.assets[a].aclass if a in inst.assets else "currency") == aclass
    ]
    page, total = index.page(assets, None if kind == "all" else kind, start, end, ofs, PAGE)
    cache = _rendered(ctx)
    out: dict[str, Any] = {
        "ledger": {e.id: cache.get(("ledger", e.id), partial(render.ledger_json, ctx.engine, e)) for e in page}
    }
    if not p.flag("without_count"):
        out["count"] = total
    return out


@private("QueryLedgers", ("id", "trades"), perms=[(QUERY_LEDGER,)])
def query_ledgers(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = p.items("id", required=True, max_items=20)
    p.flag("trades")
    out = {}
    for lid in ids:
        e = _entry(ctx, lid)
        if e is None:
            raise invalid("id")
        out[lid] = render.ledger_json(ctx.engine, e)
    return out


# ---------------------------------------------------------------------- fees
def _pct(d: Decimal) -> str:
    return fmt_decimal(d, 4)


def fee_info(tiers: tuple[FeeTier, ...], volume: Decimal) -> dict[str, Any]:
    if not tiers:
        zero = _pct(Decimal(0))
        return {"fee": zero, "minfee": zero, "maxfee": zero, "nextfee": None, "tiervolume": zero, "nextvolume": None}
    i = 0
    for j, t in enumerate(tiers):
        if volume >= t.volume:
            i = j
    nxt = tiers[i + 1] if i + 1 < len(tiers) else None
    return {
        "fee": _pct(tiers[i].percent),
        "minfee": _pct(min(t.percent for t in tiers)),
        "maxfee": _pct(max(t.percent for t in tiers)),
        "nextfee": _pct(nxt.percent) if nxt else None,
        "tiervolume": _pct(tiers[i].volume),
        "nextvolume": _pct(nxt.volume) if nxt else None,
    }


@private("TradeVolume", ("pair", "fee-info", "fee_schedule"), perms=[(QUERY_FUNDS,)])
def trade_volume(ctx: Ctx, p: Params) -> dict[str, Any]:
    p.flag("fee-info")
    p.flag("fee_schedule")
    vol = ctx.acct.volume_30d
    out: dict[str, Any] = {"currency": "ZUSD", "volume": _pct(vol)}
    names = p.items("pair", max_items=100)
    if names:
        pairs: list[tuple[str, SpotPair]] = [(n, ctx.pair(n)) for n in names]
        out["fees"] = {n: fee_info(pr.fees, vol) for n, pr in pairs}
        out["fees_maker"] = {n: fee_info(pr.fees_maker, vol) for n, pr in pairs}
    return out


# ---------------------------------------------------------------- websockets
@private("GetWebSocketsToken", perms=[(WEBSOCKET,)])
def ws_token(ctx: Ctx, p: Params) -> dict[str, Any]:
    store = ctx.rt.services.ws_tokens
    tok = store.mint(ctx.account_id, ctx.key.permissions if ctx.key is not None else None)
    return {"token": tok.token, "expires": TOKEN_TTL_S}
