"""Public market data: Time, SystemStatus, Assets, AssetPairs, Ticker, OHLC,
Depth, Trades, Spread — all built from the venue's own books and trades."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.core.clock import NS_PER_S, rfc3339_s
from simulator.core.instruments import Asset, SpotPair, load_default_instruments
from simulator.core.margin import terms_of
from simulator.core.numbers import fmt_units

from . import render
from .market import OHLC_INTERVALS, ohlc, parse_since_ns, public_trades, vwap
from .parse import ApiError, Params, invalid
from .registry import UNKNOWN_ASSET, Ctx, public

ASSET_CLASSES = ("currency", "tokenized_asset", "forex")
PAIR_INFO = ("info", "leverage", "fees", "margin")
# 2026 additions and xStocks options: accepted, nothing to do with them here
IGNORED = ("asset_class", "country_code", "execution_venue", "assetVersion", "rebase_multiplier")


def _num(d: Decimal) -> int | float:
    """A JSON number as Kraken prints fee tiers and collateral values (0.26, 1.0, 50000)."""
    return int(d) if d == d.to_integral_value() and "." not in str(d) else float(d)


def _dstr(raw: Any, fallback: Decimal) -> str:
    return raw if isinstance(raw, str) else f"{fallback:f}"


def _pairs_param(ctx: Ctx, p: Params, required: bool) -> list[tuple[str, SpotPair]]:
    names = p.items("pair", required=required, max_items=500)
    return [(ctx.pair_key(pr, n), pr) for n in names for pr in (ctx.pair(n),)]


def _one_pair(ctx: Ctx, p: Params) -> tuple[str, SpotPair]:
    name = p.req_text("pair")
    if "," in name:
        raise ApiError("EQuery:Unknown asset pair")
    pair = ctx.pair(name)
    return ctx.pair_key(pair, name), pair


# ------------------------------------------------------------------- basics
@public("Time")
def time_(ctx: Ctx, p: Params) -> dict[str, Any]:
    now = ctx.now_ns()
    return {"unixtime": now // NS_PER_S, "rfc1123": render.rfc1123(now)}


@public("SystemStatus")
def system_status(ctx: Ctx, p: Params) -> dict[str, Any]:
    return {"status": ctx.engine.status, "timestamp": rfc3339_s(ctx.now_ns())}


def _asset_raw(ctx: Ctx) -> dict[str, dict[str, Any]]:
    raw = ctx.rt.services.spot_rest_asset_raw
    if raw is None:
        data = ctx.venue.config.instruments or load_default_instruments()
        raw = {a["id"]: a for a in data.get("assets", [])}
        ctx.rt.services.spot_rest_asset_raw = raw
    return dict(raw)


def asset_info(a: Asset, raw: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = {
        "aclass": a.aclass,
        "altname": a.altname,
        "decimals": a.decimals,
        "display_decimals": a.display_decimals,
        "collateral_value": _num(Decimal(a.collateral_value)),
        "status": a.status,
    }
    if raw.get("margin_rate") is not None:
        d["margin_rate"] = raw["margin_rate"]
    return d


@public("Assets", ("asset", "aclass", *IGNORED))
def assets(ctx: Ctx, p: Params) -> dict[str, Any]:
    aclass = p.enum("aclass", ASSET_CLASSES, "currency")
    inst = ctx.venue.instruments
    names = p.items("asset", max_items=500)
    if names:
        chosen = []
        for n in names:
            a = inst.asset(n) or inst.asset(n.upper())
            if a is None:
                raise ApiError(UNKNOWN_ASSET)
            chosen.append(a)
    else:
        chosen = [a for a in inst.assets.values() if a.aclass == aclass]
    raw = _asset_raw(ctx)
    return {a.id: asset_info(a, raw.get(a.id, {})) for a in chosen}


def pair_info(pr: SpotPair, info: str) -> dict[str, Any]:
    raw = pr.raw
    terms = terms_of(pr)  # the core's margin terms: leverage offered, margin call and stop levels
    fees = [[_num(t.volume), _num(t.percent)] for t in pr.fees]
    fees_maker = [[_num(t.volume), _num(t.percent)] for t in pr.fees_maker]
    if info == "leverage":
        return {"leverage_buy": list(terms.leverage_buy), "leverage_sell": list(terms.leverage_sell)}
    if info == "fees":
        return {"fees": fees, "fees_maker": fees_maker, "fee_volume_currency": raw.get("fee_volume_currency", "ZUSD")}
    if info == "margin":
        return {"margin_call": terms.margin_call, "margin_stop": terms.margin_stop}
    d: dict[str, Any] = {
        "altname": pr.altname,
        "wsname": pr.wsname,
        "aclass_base": pr.aclass_base,
        "base": pr.base.id,
        "aclass_quote": raw.get("aclass_quote", pr.quote.aclass),
        "quote": pr.quote.id,
        "lot": "unit",
        "cost_decimals": pr.cost_decimals,
        "pair_decimals": pr.pair_decimals,
        "lot_decimals": pr.lot_decimals,
        "lot_multiplier": raw.get("lot_multiplier", 1),
        "leverage_buy": list(terms.leverage_buy),
        "leverage_sell": list(terms.leverage_sell),
        "fees": fees,
        "fees_maker": fees_maker,
        "fee_volume_currency": raw.get("fee_volume_currency", "ZUSD"),
        "margin_call": terms.margin_call,
        "margin_stop": terms.margin_stop,
        "ordermin": _dstr(raw.get("ordermin"), pr.ordermin),
        "costmin": _dstr(raw.get("costmin"), pr.costmin),
        "tick_size": _dstr(raw.get("tick_size"), pr.tick_size),
        "status": pr.status,
        "execution_venue": raw.get("execution_venue", "international"),
    }
    for k in ("long_position_limit", "short_position_limit"):
        if raw.get(k) is not None:
            d[k] = raw[k]
    return d


@public("AssetPairs", ("pair", "info", "aclass_base", *IGNORED))
def asset_pairs(ctx: Ctx, p: Params) -> dict[str, Any]:
    info = p.enum("info", PAIR_INFO, "info") or "info"
    aclass = p.enum("aclass_base", ASSET_CLASSES, "currency")
    if p.items("pair", max_items=500):
        # keyed by what the request named (BTC/USD -> "BTC/USD"), as every public pair lookup
        chosen = _pairs_param(ctx, p, required=False)
    else:
        chosen = [(pr.id, pr) for pr in ctx.venue.instruments.pairs.values() if pr.aclass_base == aclass]
    return {key: pair_info(pr, info) for key, pr in chosen}


# -------------------------------------------------------------- market data
def _top(ctx: Ctx, pr: SpotPair, side: str) -> list[str]:
    book = ctx.engine.books[pr.id]
    lvl = (book.asks if side == "a" else book.bids).best()
    if lvl is None:
        return [render.ZERO5, "0", "0.000"]
    whole = lvl.visible // 10**pr.lot_decimals
    return [render.pub_price(pr, lvl.price), str(whole), render.book_volume(pr, lvl.visible)]


def ticker_entry(ctx: Ctx, pr: SpotPair) -> dict[str, Any]:
    tk = ctx.engine.market.ticker(pr.id, ctx.engine.trades[pr.id], ctx.now_ns())
    today, last24, last = tk.today, tk.day, tk.last
    last_price = last.price if last else None

    def px(units: int | None) -> str:
        units = units if units is not None else last_price
        return render.pub_price(pr, units) if units is not None else render.ZERO5

    return {
        "a": _top(ctx, pr, "a"),
        "b": _top(ctx, pr, "b"),
        "c": [px(last_price), render.volume(pr, last.qty) if last else render.volume(pr, 0)],
        "v": [render.volume(pr, today.volume), render.volume(pr, last24.volume)],
        "p": [render.pub_decimal(pr, vwap(today, pr)), render.pub_decimal(pr, vwap(last24, pr))],
        "t": [today.count, last24.count],
        "l": [px(today.low), px(last24.low)],
        "h": [px(today.high), px(last24.high)],
        "o": px(tk.today_open),
    }


@public("Ticker", ("pair", *IGNORED))
def ticker(ctx: Ctx, p: Params) -> dict[str, Any]:
    chosen = _pairs_param(ctx, p, required=False)
    if not p.has("pair"):
        # every pair of one class: xStocks only with asset_class=tokenized_asset
        aclass = p.enum("asset_class", ASSET_CLASSES, "currency")
        chosen = [(pr.id, pr) for pr in ctx.venue.instruments.pairs.values() if pr.aclass_base == aclass]
    return {key: ticker_entry(ctx, pr) for key, pr in chosen}


@public("OHLC", ("pair", "interval", "since", *IGNORED))
def ohlc_(ctx: Ctx, p: Params) -> dict[str, Any]:
    key, pr = _one_pair(ctx, p)
    interval = p.integer("interval", 1)
    if interval not in OHLC_INTERVALS:
        raise invalid("interval")
    since = p.decimal("since")
    assert interval is not None
    rows, last = ohlc(ctx.engine, pr, interval, ctx.now_ns(), int(since) if since is not None else None)
    dp = pr.pair_decimals
    out = []
    for t, o, h, lo, c, vol, notional, count in rows:
        vwap = fmt_units(0, dp) if not vol else render.price(pr, (notional * 2 + vol) // (2 * vol))
        out.append(
            [
                t,
                render.price(pr, o),
                render.price(pr, h),
                render.price(pr, lo),
                render.price(pr, c),
                vwap,
                render.volume(pr, vol),
                count,
            ]
        )
    return {key: out, "last": last}


def _level_ts(level: Any) -> int:
    return max((o.last_update_ns for o in level.live()), default=0) // NS_PER_S


@public("Depth", ("pair", "count", *IGNORED))
def depth(ctx: Ctx, p: Params) -> dict[str, Any]:
    key, pr = _one_pair(ctx, p)
    count = p.integer("count", 100)
    assert count is not None
    count = min(max(count, 1), 500)
    book = ctx.engine.books[pr.id]
    sides: dict[str, list[list[Any]]] = {}
    for name, side in (("asks", book.asks), ("bids", book.bids)):
        rows: list[list[Any]] = []
        for lvl in side:
            if lvl.visible <= 0:
                continue
            rows.append([render.pub_price(pr, lvl.price), render.book_volume(pr, lvl.visible), _level_ts(lvl)])
            if len(rows) >= count:
                break
        sides[name] = rows
    return {key: sides}


@public("Trades", ("pair", "since", "count", *IGNORED))
def trades(ctx: Ctx, p: Params) -> dict[str, Any]:
    key, pr = _one_pair(ctx, p)
    count = p.integer("count", 1000)
    assert count is not None
    count = min(max(count, 1), 1000)
    since = p.decimal("since")
    since_ns = parse_since_ns(since) if since is not None else None
    page = public_trades(ctx.engine.trades[pr.id], since_ns, count)
    rows = [
        [
            render.pub_price(pr, t.price),
            render.volume(pr, t.qty),
            render.ts(t.ts),
            render.side_letter(t.taker_side),
            "m" if t.ordertype in render.MARKET_TYPES else "l",
            "",
            t.trade_id,
        ]
        for t in page
    ]
    last = page[-1].ts if page else (since_ns or 0)
    return {key: rows, "last": str(last)}


@public("Spread", ("pair", "since", *IGNORED))
def spread(ctx: Ctx, p: Params) -> dict[str, Any]:
    key, pr = _one_pair(ctx, p)
    since = p.decimal("since")
    rec = ctx.venue.extensions.get("spot_rest_spread")
    rows_raw = list(rec.rows.get(pr.id, ())) if rec is not None else []
    if not rows_raw:
        book = ctx.engine.books[pr.id]
        rows_raw = [(ctx.now_ns() // NS_PER_S, book.best_bid(), book.best_ask())]
    if since is not None:
        rows_raw = [r for r in rows_raw if r[0] > since]
    rows = [
        [t, render.pub_price(pr, b) if b else render.ZERO5, render.pub_price(pr, a) if a else render.ZERO5] for t, b, a in rows_raw
    ]
    last = rows_raw[-1][0] if rows_raw else (int(since) if since is not None else ctx.now_ns() // NS_PER_S)
    return {key: rows, "last": last}
