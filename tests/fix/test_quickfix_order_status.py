"""A stock QuickFIX initiator's view of one order agrees with REST's (issue 14.4:
events carry the facts as of the moment).  On one unified session, a Spot and a
Derivatives order are each partly filled, re-priced (G), filled again, asked
for (H), and cancelled; every ExecutionReport's CumQty/LeavesQty/AvgPx/OrdStatus
equals what REST reports for that order at that moment (Spot `QueryOrders`,
Derivatives `orders/status`), each fill's LastQty/LastPx is the REST trade /
fill, and an H for the finished order is 35=j 380=101 (fix.md 6.7)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.fix.fixclient import run
from tests.fix.quickfix_client import Initiator, eventually, no_initiator_outlives_its_test, signed_app
from tests.fix.test_gateway_derivatives import inside as futures_inside
from tests.fix.venue import account, inside_spread, next_cl_ord_id
from tests.kit.clients import FuturesRest
from tests.spot_rest.helpers import Raw

fix: Any = pytest.importorskip("quickfix")

__all__ = ["no_initiator_outlives_its_test"]  # the harness's autouse cleanup applies here too

FUNDS = {"USD": "1000000", "XBT": "10"}
FUT_FUNDS = {"USD": "1000000"}
D = Decimal


def _msg(kind: str, fields: list[tuple[int, str]]) -> Any:
    msg = fix.Message()
    msg.getHeader().setField(fix.MsgType(kind))
    for tag, value in fields:
        msg.setField(tag, value)
    msg.setField(fix.TransactTime())
    return msg


def _get(m: Any, tag: int) -> str | None:
    return m.getField(tag) if m.isSetField(tag) else None


def _facts(m: Any) -> dict[str, Any]:
    """An ER's order facts, as numbers."""
    return {
        "status": _get(m, 39),
        "cum": D(m.getField(14)),
        "leaves": D(m.getField(151)),
        "qty": D(m.getField(38)),
        "avg": D(m.getField(6)) if m.isSetField(6) else None,
    }


class Session:
    """One QuickFIX session's reports, consumed in order."""

    def __init__(self, ini: Initiator) -> None:
        self.ini = ini
        self.seen = 0

    async def next(self, n: int = 1) -> list[Any]:
        app = self.ini.app
        assert await eventually(lambda: len(app.reports()) >= self.seen + n), (
            f"expected {n} report(s), have {[r.toString() for r in app.reports()[self.seen :]]}"
        )
        out = app.reports()[self.seen : self.seen + n]
        self.seen += n
        return out

    async def reject(self) -> Any:
        app = self.ini.app

        def rejects() -> list[Any]:
            with app.lock:
                return [m for m in app.app_in if m.getHeader().getField(35) == "j"]

        assert await eventually(lambda: bool(rejects()))
        return rejects()[-1]


# ------------------------------------------------------------- REST truths
def spot_truth(v: Any, creds: dict[str, Any], oid: str) -> dict[str, Any]:
    o = Raw(v, creds).ok("QueryOrders", {"txid": oid, "trades": "true", "consolidate_taker": "false"})[oid]  # each fill
    vol, done = D(o["vol"]), D(o["vol_exec"])
    # REST `closed` short of `vol` is an IOC/market remainder that left (spec: spot-rest.md 5.x status
    # semantics): FIX says 39=4 Canceled with CumQty > 0 for it
    closed = "2" if done == vol else "4"
    status = {"open": "1" if done else "0", "canceled": "4", "closed": closed}[o["status"]]
    return {"status": status, "cum": done, "leaves": D(0) if o["status"] != "open" else vol - done, "qty": vol,
            "avg": D(o["price"]) if done else None, "trades": o.get("trades", [])}  # fmt: skip


def spot_fills(v: Any, creds: dict[str, Any], trade_ids: list[str]) -> list[tuple[Decimal, Decimal]]:
    """Each fill of the order, as TradesHistory lists them unconsolidated (a
    taker's fills at several prices are one row by default)."""
    got = Raw(v, creds).ok("TradesHistory", {"consolidate_taker": "false"})["trades"]
    return [(D(got[t]["vol"]), D(got[t]["price"])) for t in trade_ids]


def futures_truth(v: Any, creds: dict[str, Any], oid: str) -> dict[str, Any]:
    """orders/status has no average price: it is the fills' (REST /fills)
    volume-weighted price, half-even in the contract's price decimals (as the
    Spot REST `price` is in the pair's)."""
    with FuturesRest(v.futures_rest) as rest:
        code, st = rest.signed(creds, "GET", "orders/status", {"orderIds": oid})
        assert code == 200 and st["result"] == "success", st
        code, fl = rest.signed(creds, "GET", "fills")
        assert code == 200 and fl["result"] == "success", fl
    (entry,) = st["orders"]
    o = entry["order"]
    fills = [f for f in reversed(fl["fills"]) if f["order_id"] == oid]  # newest first on the wire
    done = sum((D(str(f["size"])) for f in fills), D(0))
    assert D(str(o["filled"])) == done, (o, fills)
    cost = sum((D(str(f["size"])) * D(str(f["price"])) for f in fills), D(0))
    status = {"ENTERED_BOOK": "1" if done else "0", "CANCELLED": "4", "FULLY_EXECUTED": "2"}[entry["status"]]
    qty = D(str(o["quantity"]))
    return {"status": status, "cum": done, "leaves": D(0) if status in ("2", "4") else qty - done, "qty": qty,
            "avg": (cost / done).quantize(D(1).scaleb(-v.call(lambda: v.runtime.venue.derivatives.specs["PF_XBTUSD"].pdp)),
                                          ROUND_HALF_EVEN) if done else None,
            "fills": [(D(str(f["size"])), D(str(f["price"]))) for f in fills]}  # fmt: skip


def assert_agrees(er: Any, truth: dict[str, Any], label: str, status: str | None = None) -> None:
    """`status`: the OrdStatus this report type has instead of the order's
    (a replace confirms with 39=5, README "Order entry")."""
    got = _facts(er)
    want = {k: truth[k] for k in got}
    if status is not None:
        want["status"] = status
    if want["avg"] is None:  # nothing filled: FIX 4.4 AvgPx 0 (or absent)
        assert got["avg"] in (None, D(0)), (label, got)
        got.pop("avg"), want.pop("avg")
    assert got == want, (label, er.toString(), truth)


# ------------------------------------------------------------------- flows
async def _flow(
    s: Session,
    symbol: str,
    cl: Callable[[], str],
    px: str,
    px2: str,
    taker_buy: Callable[[str], None],
    truth: Callable[[str], dict[str, Any]],
    rest_fills: Callable[[dict[str, Any]], list[tuple[Decimal, Decimal]]],
) -> None:
    """Sell 0.03 at `px`; 0.01 trades; G to `px2`; 0.005 trades; H; F; H."""
    first = cl()
    s.ini.send(_msg("D", [(11, first), (55, symbol), (54, "2"), (38, "0.03"), (40, "2"), (44, px), (59, "1"),
                          *([(18, "s")] if symbol.startswith("PF_") else [])]))  # fmt: skip
    (ack,) = await s.next()
    oid = ack.getField(37)
    assert (ack.getField(150), ack.getField(39)) == ("0", "0"), ack.toString()
    assert_agrees(ack, truth(oid), "new")
    erf: list[Any] = []

    taker_buy("0.01")
    (fill,) = await s.next()
    assert (fill.getField(37), fill.getField(150)) == (oid, "F"), fill.toString()
    erf.append(fill)
    assert_agrees(fill, truth(oid), "first fill")

    second = cl()
    s.ini.send(_msg("G", [(11, second), (37, oid), (41, first), (55, symbol), (54, "2"), (38, "0.03"), (40, "2"),
                          (44, px2), (59, "1")]))  # fmt: skip
    (rep,) = await s.next()
    assert (rep.getField(37), rep.getField(150), rep.getField(11)) == (oid, "5", second), rep.toString()
    assert_agrees(rep, truth(oid), "replaced", status="5")

    taker_buy("0.005")
    (fill2,) = await s.next()
    assert (fill2.getField(150), D(fill2.getField(31))) == ("F", D(px2)), fill2.toString()
    erf.append(fill2)
    t = truth(oid)
    assert_agrees(fill2, t, "second fill")
    assert t["cum"] == D("0.015") and t["status"] == "1" and t["avg"] not in (D(px), D(px2))
    assert [(D(f.getField(32)), D(f.getField(31))) for f in erf] == rest_fills(t)
    running = D(0)
    for f in erf:
        running += D(f.getField(32))
        assert D(f.getField(14)) == running  # CumQty as of that fill, not as of now

    status_id = cl()
    s.ini.send(_msg("H", [(11, status_id), (37, oid), (55, symbol), (54, "2")]))
    (st,) = await s.next()
    assert (st.getField(37), st.getField(150)) == (oid, "I"), st.toString()
    assert_agrees(st, truth(oid), "status")

    s.ini.send(_msg("F", [(11, cl()), (37, oid), (41, second), (55, symbol), (54, "2")]))
    (gone,) = await s.next()
    assert (gone.getField(37), gone.getField(150), gone.getField(39)) == (oid, "4", "4"), gone.toString()
    t = truth(oid)
    assert t["status"] == "4" and t["cum"] == D("0.015")
    assert_agrees(gone, t, "cancelled")

    s.ini.send(_msg("H", [(11, cl()), (37, oid), (55, symbol), (54, "2")]))
    rej = await s.reject()
    assert (rej.getField(372), rej.getField(380)) == ("H", "101"), rej.toString()


def test_quickfix_reports_match_rest_for_spot_and_derivatives(kraken_venue: Any, tmp_path: Path) -> None:
    v = kraken_venue
    creds = account(v, FUNDS, futures_balances=FUT_FUNDS)
    taker = account(v, FUNDS, futures_balances=FUT_FUNDS)
    for a in (creds, taker):
        v.admin.request("POST", f"/accounts/{a['account_id']}/tier", {"rate_limits": False})
    sender = creds["fix"]["sender_comp_id"]

    def spot_buy(qty: str) -> None:
        Raw(v, taker).ok("AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "market", "volume": qty})

    def futures_buy(qty: str) -> None:
        with FuturesRest(v.futures_rest) as rest:
            code, res = rest.signed(taker, "POST", "sendorder",
                                    {"orderType": "mkt", "symbol": "PF_XBTUSD", "side": "buy", "size": qty})  # fmt: skip
        assert code == 200 and res["sendStatus"]["status"] == "placed", res

    def below(price: str, ticks: int) -> str:
        """`ticks` steps of the price's last digit lower (the tick on XBTUSD and PF_XBTUSD), still above the bid."""
        exp = D(price).as_tuple().exponent
        assert isinstance(exp, int)
        return str(D(price) - ticks * D(1).scaleb(min(exp, 0)))

    async def body() -> None:
        app = signed_app(creds)
        ini = Initiator(tmp_path, v.fix_port, app, sender)
        await ini.start()
        s = Session(ini)
        px = inside_spread(v)
        await _flow(s, "BTC/USD", next_cl_ord_id, px, below(px, 5),
                    spot_buy, lambda oid: spot_truth(v, creds, oid),
                    lambda t: spot_fills(v, creds, t["trades"]))  # fmt: skip
        fpx = futures_inside(v)
        await _flow(s, "PF_XBTUSD", lambda: str(uuid.uuid4()), fpx, below(fpx, 5),
                    futures_buy, lambda oid: futures_truth(v, creds, oid), lambda t: t["fills"])  # fmt: skip
        await ini.stop()

    run(body, timeout=60)


# ------------------------------------------------ one command, several fills
def _vwap(fills: list[tuple[Decimal, Decimal]], dp: int) -> Decimal:
    qty = sum((q for q, _ in fills), D(0))
    return (sum((q * p for q, p in fills), D(0)) / qty).quantize(D(1).scaleb(-dp), ROUND_HALF_EVEN)


@pytest.mark.parametrize("market", ["spot", "derivatives"])
def test_quickfix_ioc_sweep_reports_each_fill_as_of_itself(kraken_venue: Any, tmp_path: Path, market: str) -> None:
    """An IOC buy takes two resting sells at two prices and its remainder is
    cancelled, all in one engine command: each 150=F carries CumQty and AvgPx
    as of that fill (not the order's final totals), its LastQty/LastPx is that
    REST trade, and the 150=4 carries the totals REST reports."""
    v = kraken_venue
    creds = account(v, FUNDS, futures_balances=FUT_FUNDS)
    maker = account(v, FUNDS, futures_balances=FUT_FUNDS)
    for a in (creds, maker):
        v.admin.request("POST", f"/accounts/{a['account_id']}/tier", {"rate_limits": False})
    spot = market == "spot"
    if spot:
        dp = v.call(lambda: v.runtime.venue.instruments.pairs["XXBTZUSD"].pair_decimals)
        top = D(inside_spread(v))  # one tick under the best ask
        tick = D(1).scaleb(-dp)
    else:
        dp = v.call(lambda: v.runtime.venue.derivatives.specs["PF_XBTUSD"].pdp)
        top = D(futures_inside(v))
        tick = D(1).scaleb(-dp)
    low, high = top - 2 * tick, top  # 0.004 at `low`, 0.006 at `high`: the running average is no tie

    def rest_sell(qty: str, price: Decimal) -> None:
        if spot:
            Raw(v, maker).ok("AddOrder", {"pair": "XBTUSD", "type": "sell", "ordertype": "limit", "volume": qty,
                                          "price": str(price)})  # fmt: skip
            return
        with FuturesRest(v.futures_rest) as rest:
            code, res = rest.signed(maker, "POST", "sendorder", {"orderType": "lmt", "symbol": "PF_XBTUSD",
                                                                 "side": "sell", "size": qty, "limitPrice": str(price)})  # fmt: skip
        assert code == 200 and res["sendStatus"]["status"] == "placed", res

    rest_sell("0.004", low)
    rest_sell("0.006", high)
    symbol = "BTC/USD" if spot else "PF_XBTUSD"
    cl = next_cl_ord_id() if spot else str(uuid.uuid4())

    async def body() -> None:
        ini = Initiator(tmp_path, v.fix_port, signed_app(creds), creds["fix"]["sender_comp_id"])
        await ini.start()
        s = Session(ini)
        ini.send(_msg("D", [(11, cl), (55, symbol), (54, "1"), (38, "0.02"), (40, "2"), (44, str(high)), (59, "3"),
                            *([] if spot else [(18, "s")])]))  # fmt: skip
        new, f1, f2, end = await s.next(4)
        oid = new.getField(37)
        assert [m.getField(150) for m in (new, f1, f2, end)] == ["0", "F", "F", "4"], [
            m.toString() for m in (new, f1, f2, end)
        ]
        assert {m.getField(37) for m in (f1, f2, end)} == {oid}
        truth = spot_truth(v, creds, oid) if spot else futures_truth(v, creds, oid)
        fills = spot_fills(v, creds, truth["trades"]) if spot else truth["fills"]
        assert fills == [(D("0.004"), low), (D("0.006"), high)], fills
        for k, er in enumerate((f1, f2), start=1):
            (q, p) = fills[k - 1]
            assert (D(er.getField(32)), D(er.getField(31))) == (q, p), er.toString()
            so_far = fills[:k]
            cum = sum((x for x, _ in so_far), D(0))
            assert D(er.getField(14)) == cum, er.toString()
            assert D(er.getField(151)) == D("0.02") - cum, er.toString()
            assert D(er.getField(6)) == _vwap(so_far, dp), er.toString()
            assert er.getField(39) == "1", er.toString()
        assert truth["status"] == "4" and truth["cum"] == D("0.01")
        assert_agrees(end, truth, "ioc remainder cancelled")
        await ini.stop()

    run(body, timeout=60)
