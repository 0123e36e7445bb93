"""Spot margin on FIX: Kraken's NewOrderSingle has Leverage (5001: 0 margin
off, 1 margin on) and ExecInst (18) `E` reduce-only.  5001=1 trades at the
pair's highest leverage up to 5, as WS v2 `margin: true` does."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fix.fixclient import run
from tests.fix.venue import Trader, account, fields, rest_private


def _quote(venue: Any) -> None:
    venue.admin.seed_book("XBTUSD", bids=[["50000", "20"]], asks=[["50010", "20"]], clear=True)


async def _until_done(t: Trader) -> list[Any]:
    out = []
    while True:
        er = await t.report()
        out.append(er)
        if er.get(39) in ("2", "4", "8"):
            return out


def test_fix_leverage_opens_and_reduce_only_closes_a_position(kraken_venue: Any) -> None:
    venue = kraken_venue
    _quote(venue)
    plain = account(venue, {"USD": "20000"})
    creds = account(venue, {"USD": "20000"}, margin=True)

    async def refused() -> None:
        t = await Trader(venue, plain).connect()
        await t.sign_on()
        cl = await t.order(qty="0.2", price=None, ord_type="1", extra=[(5001, 1)])
        j = await t.expect("j")
        assert fields(j, 379, 58) == (cl, "EOrder:Cannot open position")
        await t.send("D", [(11, "77"), (55, "BTC/USD"), (54, "1"), (38, "0.2"), (40, "1"), (59, "1"),
                           (60, j.get(52)), (5001, 2)])  # fmt: skip
        rej = await t.expect("3")
        assert rej.get(371) == "5001"
        await t.logout()

    async def body() -> None:
        t = await Trader(venue, creds).connect()
        await t.sign_on()
        await t.order(qty="0.2", price=None, ord_type="1", extra=[(5001, 1)])
        ers = await _until_done(t)
        assert ers[-1].get(39) == "2" and ers[-1].get(14) == "0.20000000"
        [pos] = rest_private(venue, creds, "OpenPositions")["result"].values()
        assert pos["type"] == "buy" and Decimal(pos["margin"]) == Decimal(pos["cost"]) / 5  # 5:1
        # reduce-only for more than the position: closes exactly it
        await t.order(side="2", qty="0.5", price=None, ord_type="1", extra=[(5001, 1), (18, "E")])
        ers = await _until_done(t)
        assert ers[-1].get(39) == "2" and ers[-1].get(14) == "0.20000000" and ers[-1].get(18) == "E"
        assert rest_private(venue, creds, "OpenPositions")["result"] == {}
        trades = rest_private(venue, creds, "TradesHistory")["result"]["trades"]
        assert {t["posstatus"] for t in trades.values() if "posstatus" in t} >= {"closed"}
        await t.logout()

    run(refused)
    run(body)
