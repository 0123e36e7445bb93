"""Funding, Earn and subaccount endpoints over `simulator.core.funding`.

Reads format `FundingState` and the account ledger; changes are sequencer
commands (journaled).  WalletTransfer also credits the futures wallet
through the derivatives gateway's `futures_deposit` hook when present."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulator.core.accounts import DEPOSIT, EARN, QUERY_FUNDS, WITHDRAW
from simulator.core.clock import NS_PER_S
from simulator.core.errors import EngineError
from simulator.core.funding import (
    E_UNKNOWN_ASSET,
    Address,
    FundingError,
    FundingState,
    Strategy,
    Withdrawal,
    make_address,
)
from simulator.core.instruments import Asset
from simulator.core.numbers import BALANCE_DP, fmt_decimal, to_units

from . import render
from .market import Valuer
from .parse import ApiError, Params, invalid
from .registry import Ctx, private

SPOT_WALLET = "Spot Wallet"
FUTURES_WALLET = "Futures Wallet"


def state(ctx: Ctx) -> FundingState:
    st: FundingState = ctx.venue.funding
    return st


def _asset(ctx: Ctx, p: Params, name: str = "asset", required: bool = True) -> Asset | None:
    v = p.text(name, required=required, max_len=32)
    if v is None:
        return None
    a = ctx.venue.instruments.asset(v)
    if a is None:
        raise ApiError(E_UNKNOWN_ASSET)
    return a


def _req_asset(ctx: Ctx, p: Params) -> Asset:
    a = _asset(ctx, p)
    assert a is not None
    return a


def _amount(a: Asset, units: int) -> str:
    return render.balance(units, a.decimals)


def _dec_amount(a: Asset, d: Decimal) -> str:
    return fmt_decimal(d, a.decimals)


MAX_CURSOR_DIGITS = 16


def _offset(cur: str) -> int:
    """A cursor is an offset in ASCII digits: `'²'.isdigit()` is true, `int('²')` fails,
    and a 5000-digit number cannot be converted at all."""
    if not (cur.isascii() and cur.isdigit()) or len(cur) > MAX_CURSOR_DIGITS:
        raise invalid("cursor")
    return int(cur)


def _page(p: Params, rows: list[Any], key: str) -> Any:
    """Kraken's optional cursor paging: `cursor` false/absent -> a plain list."""
    cur = p.raw("cursor")
    limit = p.integer("limit", 500, lo=1, hi=1000)
    assert limit is not None
    if cur is None or cur is False or (isinstance(cur, str) and cur.lower() in ("", "false")):
        return rows[:limit]
    start = 0
    if isinstance(cur, str) and cur.lower() != "true":
        start = _offset(cur)
    page = rows[start : start + limit]
    nxt = str(start + limit) if start + limit < len(rows) else None
    return {key: page, "next_cursor": nxt}


def _time_filter(p: Params, rows: list[Any], ns_of: Any) -> list[Any]:
    start, end = p.decimal("start"), p.decimal("end")
    return [r for r in rows if (start is None or ns_of(r) >= start * NS_PER_S) and (end is None or ns_of(r) <= end * NS_PER_S)]


# ------------------------------------------------------------------ deposits
@private("DepositMethods", ("asset", "aclass"), perms=[(QUERY_FUNDS,), (DEPOSIT,)])
def deposit_methods(ctx: Ctx, p: Params) -> list[dict[str, Any]]:
    a = _req_asset(ctx, p)
    m = state(ctx).method(a)
    return [
        {
            "method": m.name,
            "limit": False,
            "fee": _amount(a, 0),
            "gen-address": m.gen_address,
            "minimum": f"{m.minimum:f}",
        }
    ]


def _address_json(addr: Address, new: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"address": addr.address, "expiretm": addr.expiretm}
    if new:
        d["new"] = True
    if addr.tag is not None:
        d["tag"] = addr.tag
    return d


@private("DepositAddresses", ("asset", "method", "new", "amount", "aclass"), perms=[(QUERY_FUNDS,)])
def deposit_addresses(ctx: Ctx, p: Params) -> list[dict[str, Any]]:
    a = _req_asset(ctx, p)
    method = p.req_text("method", 64)
    st = state(ctx)
    m = st.method(a)
    if method != m.name or not m.gen_address:
        raise ApiError("EFunding:No funding method")
    p.decimal("amount")
    if p.flag("new"):
        if DEPOSIT not in (ctx.key.permissions if ctx.key else ()):
            raise ApiError("EGeneral:Permission denied")
        addr = ctx.submit("funding_new_address", {"account_id": ctx.account_id, "asset_name": a.id, "method": method})
        return [_address_json(addr, new=True)]
    if not st.addresses.get((ctx.account_id, a.id)):
        # an account always has an address for a method once asked for one
        ctx.submit("funding_new_address", {"account_id": ctx.account_id, "asset_name": a.id, "method": method})
    return [_address_json(x) for x in reversed(st.addresses.get((ctx.account_id, a.id), []))]


@private("DepositStatus", ("asset", "aclass", "method", "start", "end", "cursor", "limit"), perms=[(QUERY_FUNDS,)])
def deposit_status(ctx: Ctx, p: Params) -> Any:
    a = _asset(ctx, p, required=False)
    method = p.text("method", max_len=64)
    st = state(ctx)
    inst = ctx.venue.instruments
    rows = []
    for e in reversed(ctx.acct.ledger):
        if e.type != "deposit" or (a is not None and e.asset != a.id) or e.asset not in inst.assets:
            continue
        asset = inst.assets[e.asset]
        m = st.method(asset)
        if method is not None and method != m.name:
            continue
        addrs = st.addresses.get((ctx.account_id, asset.id))
        info = addrs[0].address if addrs else make_address(m.style, "dep", ctx.account_id, asset.id, "0")
        rows.append(
            {
                "method": m.name,
                "aclass": asset.aclass,
                "asset": asset.id,
                "refid": e.refid,
                "txid": st.deposit_txid(e.refid),
                "info": info,
                "amount": _amount(asset, e.amount),
                "fee": _amount(asset, e.fee),
                "time": e.time_ns // NS_PER_S,
                "status": "Success",
            }
        )
    return _page(p, _time_filter(p, rows, lambda r: r["time"] * NS_PER_S), "deposit")


# --------------------------------------------------------------- withdrawals
@private("WithdrawMethods", ("asset", "aclass", "network"), perms=[(QUERY_FUNDS,)])
def withdraw_methods(ctx: Ctx, p: Params) -> list[dict[str, Any]]:
    a = _asset(ctx, p, required=False)
    network = p.text("network", max_len=64)
    st = state(ctx)
    out = []
    for asset in ctx.venue.instruments.assets.values():
        m = st.method(asset)
        if (a is not None and asset.id != a.id) or (network is not None and network != m.network):
            continue
        out.append({"asset": asset.id, "method": m.name, "network": m.network, "minimum": f"{m.minimum:f}"})
    return out


@private("WithdrawAddresses", ("asset", "aclass", "method", "key", "verified"), perms=[(QUERY_FUNDS,)])
def withdraw_addresses(ctx: Ctx, p: Params) -> list[dict[str, Any]]:
    a = _asset(ctx, p, required=False)
    method, key = p.text("method", max_len=64), p.text("key", max_len=64)
    verified = p.flag("verified", True) if p.has("verified") else None
    return [
        {"address": k.address, "asset": k.asset, "method": k.method, "key": k.key, "verified": True}
        for k in state(ctx).withdraw_keys(ctx.account_id)
        if (a is None or k.asset == a.id)
        and (method is None or k.method == method)
        and (key is None or k.key == key)
        and verified is not False
    ]


@private("WithdrawInfo", ("asset", "key", "amount", "aclass"), perms=[(QUERY_FUNDS,), (WITHDRAW,)])
def withdraw_info(ctx: Ctx, p: Params) -> dict[str, Any]:
    a = _req_asset(ctx, p)
    st = state(ctx)
    st.key(ctx.account_id, a, p.req_text("key", 64))
    amount = p.req_decimal("amount")
    if amount <= 0 or to_units(amount, a.decimals) is None:
        raise ApiError("EFunding:Invalid amount")
    m = st.method(a)
    available = ctx.acct.available(a.id)
    return {
        "method": m.name,
        "limit": _amount(a, max(available, 0)),
        "amount": _dec_amount(a, max(amount - m.fee, Decimal(0))),
        "fee": _dec_amount(a, m.fee),
    }


@private("Withdraw", ("asset", "key", "amount", "address", "max_fee", "aclass"), perms=[(WITHDRAW,)])
def withdraw(ctx: Ctx, p: Params) -> dict[str, Any]:
    a = _req_asset(ctx, p)
    params = {
        "account_id": ctx.account_id,
        "asset_name": a.id,
        "key": p.req_text("key", 64),
        "amount": p.req_decimal("amount"),
        "max_fee": p.decimal("max_fee"),
        "address": p.text("address", max_len=128),
    }
    w: Withdrawal = ctx.submit("funding_withdraw", params)
    return {"refid": w.refid}


def _withdrawal_json(ctx: Ctx, w: Withdrawal) -> dict[str, Any]:
    a = ctx.venue.instruments.assets[w.asset]
    d: dict[str, Any] = {
        "method": w.method.name,
        "network": w.method.network,
        "aclass": a.aclass,
        "asset": w.asset,
        "refid": w.refid,
        "txid": w.txid,
        "info": w.address,
        "amount": _amount(a, w.amount),
        "fee": _amount(a, w.fee),
        "time": w.time_ns // NS_PER_S,
        "status": w.status,
        "key": w.key,
    }
    if w.status_prop:
        d["status-prop"] = w.status_prop
    return d


@private(
    "WithdrawStatus", ("asset", "aclass", "method", "start", "end", "cursor", "limit"), perms=[(WITHDRAW, QUERY_FUNDS)]
)
def withdraw_status(ctx: Ctx, p: Params) -> Any:
    a = _asset(ctx, p, required=False)
    method = p.text("method", max_len=64)
    rows = [
        _withdrawal_json(ctx, w)
        for w in reversed(state(ctx).account_withdrawals(ctx.account_id))
        if (a is None or w.asset == a.id) and (method is None or w.method.name == method)
    ]
    return _page(p, _time_filter(p, rows, lambda r: r["time"] * NS_PER_S), "withdrawals")


@private("WithdrawCancel", ("asset", "refid"), perms=[(WITHDRAW,)])
def withdraw_cancel(ctx: Ctx, p: Params) -> bool:
    a = _req_asset(ctx, p)
    ok: bool = ctx.submit(
        "funding_withdraw_cancel", {"account_id": ctx.account_id, "asset_name": a.id, "refid": p.req_text("refid", 64)}
    )
    return ok


@private("WalletTransfer", ("asset", "from", "to", "amount"), perms=[(WITHDRAW,)])
def wallet_transfer(ctx: Ctx, p: Params) -> dict[str, Any]:
    a = _req_asset(ctx, p)
    if p.req_text("from", 64) != SPOT_WALLET:
        raise invalid("from")
    if p.req_text("to", 64) != FUTURES_WALLET:
        raise invalid("to")
    amount = p.req_decimal("amount")
    credit = ctx.venue.deposit_derivatives
    base = {"account_id": ctx.account_id, "asset_name": a.id, "amount": amount}
    ref: str = ctx.submit("funding_wallet_transfer", base)
    try:
        credit(ctx.account_id, a.altname, amount)
    except (EngineError, ValueError, KeyError) as exc:
        ctx.submit("funding_wallet_transfer", {**base, "refund": True})
        if isinstance(exc, EngineError):
            raise
        raise invalid("asset") from exc
    return {"refid": ref}


# --------------------------------------------------------------- subaccounts
@private("CreateSubaccount", ("username", "email"), perms=[(WITHDRAW,)])
def create_subaccount(ctx: Ctx, p: Params) -> bool:
    params = {"account_id": ctx.account_id, "username": p.req_text("username", 64), "email": p.req_text("email", 128)}
    ctx.submit("funding_create_subaccount", params)
    return True


@private("AccountTransfer", ("asset", "amount", "from", "to"), perms=[(WITHDRAW,)])
def account_transfer(ctx: Ctx, p: Params) -> dict[str, Any]:
    a = _req_asset(ctx, p)
    params = {
        "account_id": ctx.account_id,
        "asset_name": a.id,
        "amount": p.req_decimal("amount"),
        "from_": p.req_text("from", 64),
        "to": p.req_text("to", 64),
    }
    ref = ctx.submit("funding_account_transfer", params)
    return {"transfer_id": ref, "status": "complete"}


# ---------------------------------------------------------------------- earn
def _strategy_json(ctx: Ctx, s: Strategy, st: FundingState) -> dict[str, Any]:
    a = ctx.venue.instruments.assets[s.asset]
    low, high = st.config.earn_apr
    return {
        "id": s.id,
        "asset": a.altname,
        "lock_type": {"type": "instant", "payout_frequency": 604800},
        "apr_estimate": {"low": low, "high": high},
        "user_min_allocation": f"{s.min_allocation:f}",
        "allocation_fee": "0.0000",
        "deallocation_fee": "0.0000",
        "auto_compound": {"type": "enabled"},
        "yield_source": {"type": s.yield_source},
        "can_allocate": True,
        "can_deallocate": True,
        "allocation_restriction_info": [],
    }


@private("Earn/Strategies", ("ascending", "asset", "cursor", "limit", "lock_type"), perms=[(QUERY_FUNDS, EARN)])
def earn_strategies(ctx: Ctx, p: Params) -> dict[str, Any]:
    st = state(ctx)
    a = _asset(ctx, p, required=False)
    lock = p.items("lock_type", max_items=4)
    if set(lock) - {"flex", "bonded", "timed", "instant"}:
        raise invalid("lock_type")
    items = sorted(st.strategies(), key=lambda s: s.id, reverse=not p.flag("ascending", True))
    items = [s for s in items if (a is None or s.asset == a.id) and (not lock or "instant" in lock)]
    limit = p.integer("limit", 1000, lo=1, hi=1000)
    cur = p.text("cursor", max_len=MAX_CURSOR_DIGITS)
    start = _offset(cur) if cur else 0
    assert limit is not None
    nxt = str(start + limit) if start + limit < len(items) else None
    return {"items": [_strategy_json(ctx, s, st) for s in items[start : start + limit]], "next_cursor": nxt}


def _earn_change(ctx: Ctx, p: Params, kind: str) -> bool:
    amount = p.req_decimal("amount")
    sid = p.req_text("strategy_id", 64)
    done: bool = ctx.submit(kind, {"account_id": ctx.account_id, "strategy": sid, "amount": amount})
    return done


@private("Earn/Allocate", ("amount", "strategy_id"), perms=[(EARN,)])
def earn_allocate(ctx: Ctx, p: Params) -> bool:
    return _earn_change(ctx, p, "earn_allocate")


@private("Earn/Deallocate", ("amount", "strategy_id"), perms=[(EARN,)])
def earn_deallocate(ctx: Ctx, p: Params) -> bool:
    return _earn_change(ctx, p, "earn_deallocate")


def _status(ctx: Ctx, p: Params) -> dict[str, bool]:
    state(ctx).strategy(p.req_text("strategy_id", 64))
    return {"pending": False}  # (de)allocations settle inside their command


@private("Earn/AllocateStatus", ("strategy_id",), perms=[(EARN, QUERY_FUNDS)])
def earn_allocate_status(ctx: Ctx, p: Params) -> dict[str, bool]:
    return _status(ctx, p)


@private("Earn/DeallocateStatus", ("strategy_id",), perms=[(EARN, QUERY_FUNDS)])
def earn_deallocate_status(ctx: Ctx, p: Params) -> dict[str, bool]:
    return _status(ctx, p)


@private("Earn/Allocations", ("ascending", "converted_asset", "hide_zero_allocations"), perms=[(QUERY_FUNDS,)])
def earn_allocations(ctx: Ctx, p: Params) -> dict[str, Any]:
    st = state(ctx)
    conv = _asset(ctx, p, "converted_asset", required=False) or ctx.venue.instruments.asset("USD")
    if conv is None:
        raise ApiError(E_UNKNOWN_ASSET)
    hide = p.flag("hide_zero_allocations")
    valuer = Valuer(ctx.engine)
    items = []
    total = Decimal(0)
    keys = sorted(
        (sid for (aid, sid) in st.allocations if aid == ctx.account_id), reverse=not p.flag("ascending", True)
    )
    for sid in keys:
        units = st.allocated(ctx.account_id, sid)
        if hide and not units:
            continue
        s = st.strategy(sid)
        a = ctx.venue.instruments.assets[s.asset]
        native = Decimal(units).scaleb(-BALANCE_DP)
        value = valuer.convert(native, a.id, conv.id)
        total += value
        items.append(
            {
                "strategy_id": sid,
                "native_asset": a.altname,
                "amount_allocated": {
                    "total": {"native": _amount(a, units), "converted": fmt_decimal(value, conv.decimals)}
                },
                "total_rewarded": {"native": _amount(a, 0), "converted": fmt_decimal(Decimal(0), conv.decimals)},
            }
        )
    return {
        "converted_asset": conv.altname,
        "total_allocated": fmt_decimal(total, conv.decimals),
        "total_rewarded": fmt_decimal(Decimal(0), conv.decimals),
        "next_cursor": None,
        "items": items,
    }


__all__ = ["FundingError", "state"]
