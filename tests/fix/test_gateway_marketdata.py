"""Market-data sessions: snapshots, incrementals that keep a client book equal to
the engine's, trades, rejects, L3, instrument list and trading session status."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from simulator.gateways.fix import Msg
from tests.fix.fixclient import run
from tests.fix.venue import Trader, account, fields, inside_spread, plain_comp_ids, rest_private


def md_request(req_id: str, symbol: str = "BTC/USD", depth: int = 10, types: str = "012",
               sub: str = "1", aggregated: str | None = None) -> list[tuple[int, Any]]:
    out: list[tuple[int, Any]] = [(262, req_id), (263, sub), (264, depth), (265, 1)]
    if aggregated is not None:
        out.append((266, aggregated))
    out.append((267, len(types)))
    out += [(269, t) for t in types]
    out += [(146, 1), (55, symbol)]
    return out


def entries(msg: Msg) -> list[dict[int, str]]:
    """The repeating group as dicts (a new entry starts at 279 for X, 269 for W)."""
    start = 279 if msg.msg_type == "X" else 269
    out: list[dict[int, str]] = []
    seen_count = False
    for tag, value in msg.pairs:
        if tag == 268:
            seen_count = True
            continue
        if not seen_count or tag == 10:
            continue
        if tag == start:
            out.append({})
        if out:
            out[-1][tag] = value
    return out


def engine_top(venue: Any, depth: int) -> dict[tuple[str, str], str]:
    def read() -> dict[tuple[str, str], str]:
        book = venue.runtime.venue.spot.books["XXBTZUSD"]
        out = {}
        for side, code in ((book.asks, "1"), (book.bids, "0")):
            for i, lvl in enumerate(side):
                if i == depth:
                    break
                out[(code, f"{Decimal(lvl.price).scaleb(-1):.1f}")] = f"{Decimal(lvl.visible).scaleb(-8):.8f}"
        return out

    result: dict[tuple[str, str], str] = venue.call(read)
    return result


def checksum(book: dict[tuple[str, str], str]) -> int:
    def tok(s: str) -> str:
        return s.replace(".", "").lstrip("0")

    asks = sorted((Decimal(p), q) for (s, p), q in book.items() if s == "1")
    bids = sorted(((Decimal(p), q) for (s, p), q in book.items() if s == "0"), reverse=True)
    parts = [tok(f"{p:.1f}") + tok(q) for p, q in asks[:10]] + [tok(f"{p:.1f}") + tok(q) for p, q in bids[:10]]
    return zlib.crc32("".join(parts).encode())


def test_l2_snapshot_incrementals_trades_and_unsubscribe(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session
    creds = account(venue)
    maker, taker = account(venue), account(venue)

    async def body() -> None:
        md = await Trader(venue, creds, target="KRAKEN-MD").connect()
        await md.sign_on()  # an account's CompID signs on every session, market data too
        await md.send("V", md_request("md-1", depth=10))
        snap = await md.expect("W")
        assert fields(snap, 55, 262) == ("BTC/USD", "md-1")
        rows = entries(snap)
        assert int(snap.get(268) or 0) == len(rows) == 20
        assert [r[269] for r in rows] == ["1"] * 10 + ["0"] * 10  # offers first, best first
        assert rows[0][278] == "O" + rows[0][270] and rows[10][278] == "B" + rows[10][270]
        assert Decimal(rows[0][270]) < Decimal(rows[1][270]) and Decimal(rows[10][270]) > Decimal(rows[11][270])
        assert len(rows[0][273]) == 12  # HH:MM:SS.sss
        book = {(r[269], r[270]): r[271] for r in rows}
        assert book == engine_top(venue, 10)
        # a new best ask enters the depth, the 10th ask leaves it (delete with its size)
        px = inside_spread(venue)
        rest_private(venue, maker, "AddOrder", pair="XBTUSD", type="sell", ordertype="limit", volume="0.5",
                     price=px)
        inc = await md.expect("X")
        rows = entries(inc)
        actions = {(r[279], r[269], r[270]) for r in rows}
        assert ("0", "1", px) in actions
        left = [r for r in rows if r[279] == "2"]
        assert len(left) == 1 and Decimal(left[0][271]) > 0
        for r in rows:
            key = (r[269], r[270])
            if r[279] == "2":
                book.pop(key)
            else:
                book[key] = r[271]
        assert book == engine_top(venue, 10)
        assert inc.get(5041) == str(checksum(book))
        # a trade: a trade entry with the aggressor side, and the book change
        rest_private(venue, taker, "AddOrder", pair="XBTUSD", type="buy", ordertype="market", volume="0.2")
        inc = await md.expect("X")
        rows = entries(inc)
        trades = [r for r in rows if r[269] == "2"]
        assert [(t[279], t[270], t[271], t[2446], t[40]) for t in trades] == [("0", px, "0.20000000", "1", "1")]
        for r in rows:
            if r[269] != "2":
                book[(r[269], r[270])] = r[271]
        assert book == engine_top(venue, 10)
        # unsubscribe: no more updates
        await md.send("V", md_request("md-1", sub="2"))
        rest_private(venue, maker, "CancelAll")
        assert await md.nothing_within(0.3)
        await md.logout()

    run(body)


def test_market_data_rejects_and_level3(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session

    async def body() -> None:
        with plain_comp_ids(venue, {"MD-STOCK": "demo"}):
            md = await Trader(venue, None, sender="MD-STOCK", target="KRAKEN-MD").connect()
            await md.sign_on(signed=False)
        await md.send("V", md_request("a", symbol="TEST/TEST"))
        y = await md.expect("Y")
        assert fields(y, 262, 281, 58) == ("a", "0", "MarketData subscription failed due to unsupported symbol: "
                                                      "TEST/TEST")
        await md.send("V", md_request("b", types="0"))
        assert fields(await md.expect("Y"), 262, 281) == ("b", "8")
        await md.send("V", md_request("c", depth=7))
        assert fields(await md.expect("Y"), 281) == ("5",)
        await md.send("V", md_request("d", aggregated="N"))
        assert fields(await md.expect("Y"), 281) == ("C",)
        await md.send("V", md_request("e", sub="0"))
        assert fields(await md.expect("Y"), 281) == ("4",)
        await md.send("V", md_request("f", types="01", aggregated="N", depth=1))
        l3 = await md.expect("W")
        rows = entries(l3)
        assert rows and all(r[278].startswith("O") and r[278].count("-") == 2 for r in rows)  # order ids
        assert len({r[270] for r in rows if r[269] == "1"}) == 1  # one level per side
        assert all(r[5060].endswith("Z") for r in rows)
        await md.send("V", md_request("f", types="01"))
        assert fields(await md.expect("Y"), 262, 281) == ("f", "1")
        # derivatives books on the same session (unified)
        await md.send("V", md_request("g", symbol="PF_XBTUSD", types="01", depth=1))
        fut = await md.expect("W")
        rows = entries(fut)
        assert fields(fut, 55, 262) == ("PF_XBTUSD", "g") and [r[269] for r in rows] == ["1", "0"]
        assert rows[0][278] == "O" + rows[0][270]
        await md.order()  # order entry belongs to trading sessions
        assert fields(await md.expect("j"), 372, 380) == ("D", "3")
        await md.logout()

    run(body)


def test_security_list_and_trading_session_status(kraken_venue_session: Any) -> None:
    venue = kraken_venue_session

    async def body() -> None:
        with plain_comp_ids(venue, {"MD-REF": "demo"}):
            md = await Trader(venue, None, sender="MD-REF", target="KRAKEN-MD").connect()
            await md.sign_on(signed=False)
        await md.send("x", [(320, "sl-1"), (263, 0), (559, 4)])
        sl = await md.expect("y")
        symbols = sl.get_all(55)
        assert fields(sl, 320, 560, 893) == ("sl-1", "0", "Y")
        assert "BTC/USD" in symbols and "PF_XBTUSD" in symbols and int(sl.get(146) or 0) == len(symbols)
        await md.send("x", [(320, "sl-2"), (559, 0), (55, "XBT/USD")])
        one = await md.expect("y")
        assert one.get_all(55) == ["BTC/USD"]
        assert fields(one, 167, 2349, 5010, 5022, 562, 5013, 5032) == ("CASH", "1", "8", "0.1", "0.00005", "0.5",
                                                                        "1")
        await md.send("x", [(320, "sl-3"), (559, 1), (167, "OPT")])
        assert fields(await md.expect("y"), 560, 146) == ("2", "0")
        await md.send("g", [(335, "ts-1"), (336, "SESSION"), (263, 1)])
        assert fields(await md.expect("h"), 335, 336, 340) == ("ts-1", "SESSION", "2")
        venue.admin.faults(status="post_only")
        try:
            assert fields(await md.expect("h"), 340) == ("102",)
        finally:
            venue.admin.faults(status="online")
        assert fields(await md.expect("h"), 340) == ("2",)
        await md.logout()

    run(body)
