"""Level 2 `book`: shapes (vs recorded payloads), checksums, windowing, subscriptions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from simulator.gateways.spot_ws.channels.checksum import l2_checksum, l3_checksum

from .book_replica import Replica
from .churn import churn, churn_accounts
from .helpers import open_client, place, run

RECORDED = Path(__file__).resolve().parents[3] / "shared" / "data" / "recorded"
if not RECORDED.exists():
    RECORDED = Path("/work/shared/data/recorded")


def _units(levels, pdp, qdp):
    return [(int(Decimal(p).scaleb(pdp)), int(Decimal(q).scaleb(qdp))) for p, q in levels]


def test_checksum_vectors():
    bids = [("45283.5", "0.10000000"), ("45283.4", "1.54582015"), ("45282.1", "0.10000000"), ("45281.0", "0.10000000"),
            ("45280.3", "1.54592586"), ("45279.0", "0.07990000"), ("45277.6", "0.03310103"), ("45277.5", "0.30000000"),
            ("45277.3", "1.54602737"), ("45276.6", "0.15445238")]  # fmt: skip
    asks = [("45285.2", "0.00100000"), ("45286.4", "1.54571953"), ("45286.6", "1.54571109"), ("45289.6", "1.54560911"),
            ("45290.2", "0.15890660"), ("45291.8", "1.54553491"), ("45294.7", "0.04454749"), ("45296.1", "0.35380000"),
            ("45297.5", "0.09945542"), ("45299.5", "0.18772827")]  # fmt: skip
    assert l2_checksum(_units(asks, 1, 8), _units(bids, 1, 8), 1, 8) == 3310070434
    mb = [("0.5666", "4831.75496356"), ("0.5665", "6658.22734739"), ("0.5664", "18724.91513344"), ("0.5663", "11563.92544914"),
          ("0.5662", "14006.65365711"), ("0.5661", "17454.85679807"), ("0.566", "18097.1547"), ("0.5659", "33644.89175666"),
          ("0.5658", "148.3464"), ("0.5657", "606.70854372")]  # fmt: skip
    ma = [("0.5668", "4410.79769741"), ("0.5669", "4655.40412487"), ("0.567", "49844.89424998"), ("0.5671", "24306.41678"),
          ("0.5672", "29783.25223475"), ("0.5673", "57234.71239278"), ("0.5674", "45065.04744"), ("0.5675", "5912.76380354"),
          ("0.5676", "42514.92434778"), ("0.5677", "36304.0847022")]  # fmt: skip
    assert l2_checksum(_units(ma, 4, 8), _units(mb, 4, 8), 4, 8) == 2439117997
    mb[-1] = ("0.5657", "1098.3947558")
    assert l2_checksum(_units(ma, 4, 8), _units(mb, 4, 8), 4, 8) == 2114181697
    assert l3_checksum([], [], 1, 8) == 0


def test_recorded_orderbook_v2_replays_with_our_checksum():
    data = json.loads((RECORDED / "python-kraken-sdk" / "orderbook-v2.json").read_text())
    book: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}

    def apply(levels, side):
        for lv in levels:
            p = int(Decimal(repr(lv["price"])).scaleb(1))
            q = int(Decimal(repr(lv["qty"])).scaleb(8))
            if q:
                book[side][p] = q
            else:
                book[side].pop(p, None)
        keep = sorted(book[side], reverse=side == "bids")[:10]
        book[side] = {p: book[side][p] for p in keep}

    for msg in [data["init"], *data["updates"]]:
        d = msg["data"][0]
        apply(d["bids"], "bids")
        apply(d["asks"], "asks")
        asks = sorted(book["asks"].items())
        bids = sorted(book["bids"].items(), reverse=True)
        assert l2_checksum(asks, bids, 1, 8) == d["checksum"]


def _shape(obj):
    if isinstance(obj, dict):
        return {k: _shape(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_shape(obj[0])] if obj else []
    return type(obj).__name__


def test_snapshot_and_update_match_recorded_shapes(kraken_venue):
    rec_snap = json.loads((RECORDED / "nautilus_trader" / "ws_book_snapshot.json").read_text(), parse_float=Decimal)
    rec_upd = json.loads((RECORDED / "nautilus_trader" / "ws_book_update.json").read_text(), parse_float=Decimal)
    acct = kraken_venue.admin.create_account({"USD": "10000000", "XBT": "100"})["account_id"]

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        ack = await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"]})
        assert ack["result"] == {"channel": "book", "depth": 10, "snapshot": True, "symbol": "BTC/USD"}
        snap = await c.expect(lambda m: m.get("channel") == "book")
        assert _shape(snap) == _shape(rec_snap)
        d = snap["data"][0]
        assert len(d["bids"]) == 10 and len(d["asks"]) == 10
        # exact tokens: price padded to 1 decimal, qty to 8
        assert all(str(lv["price"]).split(".")[1].__len__() == 1 for lv in d["bids"] + d["asks"])
        assert all(len(format(lv["qty"], "f").split(".")[1]) == 8 for lv in d["bids"] + d["asks"])
        rep = Replica(10)
        rep.apply(snap)
        place(kraken_venue, acct, "buy", "91414.5", "0.25")
        upd = await c.expect(lambda m: m.get("channel") == "book")
        assert _shape(upd) == _shape(rec_upd)
        assert upd["data"][0]["bids"] == [{"price": Decimal("91414.5"), "qty": Decimal("0.25000000")}]
        rep.apply(upd)
        await c.ws.close()

    run(go())


def test_level_coming_into_view_is_sent(kraken_venue):
    acct = kraken_venue.admin.create_account({"USD": "10000000", "XBT": "100"})["account_id"]

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 10})
        rep = Replica(10)
        rep.apply(await c.expect(lambda m: m.get("channel") == "book"))
        best_ask = min(rep.asks)
        # a better ask pushes the 10th level out: no delete for it
        oid = place(kraken_venue, acct, "sell", str(best_ask - Decimal("0.5")), "0.1")
        upd = await c.expect(lambda m: m.get("channel") == "book")
        assert [lv["qty"] for lv in upd["data"][0]["asks"]] == [Decimal("0.10000000")]
        rep.apply(upd)
        # cancelling it brings the old 10th level back into view: sent in the same update
        from .helpers import submit

        submit(kraken_venue, "cancel_order", {"account_id": acct, "order_id": oid})
        upd = await c.expect(lambda m: m.get("channel") == "book")
        asks = upd["data"][0]["asks"]
        assert asks[0]["qty"] == 0 and len(asks) == 2 and asks[1]["qty"] > 0
        rep.apply(upd)
        assert len(rep.asks) == 10
        await c.ws.close()

    run(go())


def test_random_book_changes_checksums_every_depth(kraken_venue):
    accts = churn_accounts(kraken_venue)

    async def go():
        c = await open_client(kraken_venue.spot_ws)
        reps = {}
        for depth in (10, 25, 100):
            c2 = c if depth == 10 else await open_client(kraken_venue.spot_ws)
            await c2.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": depth})
            reps[depth] = (c2, Replica(depth))
            reps[depth][1].apply(await c2.expect(lambda m: m.get("channel") == "book"))
        for rnd in range(6):
            churn(kraken_venue, accts, 400, seed=rnd)
            for _depth, (cl, rep) in reps.items():
                for m in await cl.drain(0.3):
                    if m.get("channel") == "book":
                        rep.apply(m)
        rt = kraken_venue.runtime
        book = rt.venue.spot.books["XXBTZUSD"]
        for depth, (cl, rep) in reps.items():
            want = [(Decimal(p).scaleb(-1), Decimal(q).scaleb(-8)) for p, q in book.l2("buy", depth)]
            assert rep.levels("bids") == want
            want = [(Decimal(p).scaleb(-1), Decimal(q).scaleb(-8)) for p, q in book.l2("sell", depth)]
            assert rep.levels("asks") == want
            assert rep.checked > 100
            await cl.ws.close()

    run(go())


def test_multi_symbol_acks_then_snapshots_and_duplicates(kraken_venue):
    async def go():
        c = await open_client(kraken_venue.spot_ws)
        await c.send(
            {
                "method": "subscribe",
                "params": {"channel": "book", "symbol": ["BTC/USD", "ETH/USD"], "depth": 25},
                "req_id": 1,
            }
        )
        msgs = [await c.recv() for _ in range(4)]
        assert [m.get("method") for m in msgs[:2]] == ["subscribe", "subscribe"]
        assert [m["result"]["symbol"] for m in msgs[:2]] == ["BTC/USD", "ETH/USD"]
        assert [m["data"][0]["symbol"] for m in msgs[2:]] == ["BTC/USD", "ETH/USD"]
        r = await c.call("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 10}, req_id=2)
        assert r["error"] == "Already subscribed" and r["symbol"] == "BTC/USD" and r["req_id"] == 2
        await c.send({"method": "unsubscribe", "params": {"channel": "book", "symbol": ["BTC/USD"]}, "req_id": 3})
        assert (await c.reply("subscribe", 3))["error"] == "Subscription Not Found"  # depth must be repeated
        r = await c.call("unsubscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 25}, req_id=4)
        assert r["success"] is True and r["result"]["depth"] == 25 and r["result"]["symbol"] == "BTC/USD"
        r = await c.call(
            "subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 10, "snapshot": False}, req_id=5
        )
        assert r["success"] is True
        assert await c.drain(0.3) == []  # snapshot:false sends none
        await c.ws.close()

    run(go())
