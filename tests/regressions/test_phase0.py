"""The small fixes that stopped users cold: a documented AddOrder parameter a real
bot always sends, and a WS v2 number that used to reach (and poison) the journal."""

from __future__ import annotations

import json

import httpx

from simulator.cli import main as cli_main
from tests.spot_rest.helpers import Raw, journal_len
from tests.spot_ws.helpers import new_account, open_client, run

FUNDED = {"USD": "1000000", "XBT": "100"}


def test_add_order_accepts_trading_agreement(kraken_venue):
    creds = kraken_venue.admin.create_account(FUNDED)
    raw = Raw(kraken_venue, creds)
    order = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "1000", "volume": "0.01"}
    res = raw.ok("AddOrder", {**order, "trading_agreement": "agree"})
    assert len(res["txid"]) == 1
    assert (
        raw.error("AddOrder", {**order, "trading_agreement": "maybe"}) == "EGeneral:Invalid arguments:trading_agreement"
    )
    batch = {"pair": "XBTUSD", "trading_agreement": "agree", "orders": [
        {"type": "buy", "ordertype": "limit", "price": "1000", "volume": "0.01"},
        {"type": "buy", "ordertype": "limit", "price": "1001", "volume": "0.01"},
    ]}  # fmt: skip
    assert len(raw.ok("AddOrderBatch", batch, as_json=True)["orders"]) == 2
    edited = raw.ok(
        "EditOrder", {"txid": res["txid"][0], "pair": "XBTUSD", "volume": "0.02", "trading_agreement": "agree"}
    )
    assert edited["status"] == "ok"


def test_freqtrade_style_order_through_ccxt(kraken_venue):
    """ccxt passes freqtrade's `trading_agreement` through to AddOrder untouched."""
    from tests.spot_rest.helpers import ccxt_client

    creds = kraken_venue.admin.create_account(FUNDED)
    ex = ccxt_client(kraken_venue, creds)
    o = ex.create_order("BTC/USD", "limit", "buy", 0.01, 1000, {"trading_agreement": "agree"})
    assert o["id"]
    assert ex.fetch_open_orders("BTC/USD")[0]["id"] == o["id"]


HUGE = ["1e999999", "1e40", "-1e999999", "1e-999999"]


def test_ws_absurd_numbers_are_refused_before_the_journal(kraken_venue, tmp_path):
    acct, tok = new_account(kraken_venue)
    before = journal_len(kraken_venue)

    async def go() -> list[dict]:
        c = await open_client(kraken_venue.spot_ws_auth)
        out = []
        for i, text in enumerate(HUGE):
            for field in ("order_qty", "limit_price"):
                params = {"order_type": "limit", "side": "buy", "order_qty": "0.01", "limit_price": "1000",
                          "symbol": "BTC/USD", "token": tok}  # fmt: skip
                body = json.dumps({"method": "add_order", "req_id": 100 + i, "params": params})
                # raw JSON number text, not a Python value: what a client can really send
                body = body.replace(f'"{field}": "{params[field]}"', f'"{field}": {text}')
                body = body.replace('"order_qty": "0.01"', '"order_qty": 0.01').replace(
                    '"limit_price": "1000"', '"limit_price": 1000'
                )
                await c.send(body)
                out.append(await c.reply("add_order", 100 + i))
        await c.ws.close()
        return out

    replies = run(go())
    for r in replies:
        assert r["success"] is False and r["req_id"] >= 100
        assert r["error"].startswith("EGeneral:Invalid arguments:"), r
    assert journal_len(kraken_venue) == before
    # and what the journal holds replays without raising
    path = tmp_path / "journal.jsonl"
    path.write_bytes(httpx.get(kraken_venue.admin_url + "/journal.jsonl").content)
    assert cli_main(["replay", str(path)]) == 0


def test_futures_charts_far_past_range_is_bounded(kraken_venue):
    """`from=-1e11` used to walk every empty minute since the epoch with the venue
    locked; candles now come from the points that exist, within the capped count."""
    base = kraken_venue.futures_rest
    with httpx.Client(timeout=10) as http:
        for tick in ("trade", "mark", "spot"):
            for q in ("from=-100000000000", "from=0", "from=0&to=99999999999", "from=0&count=5"):
                r = http.get(f"{base}/api/charts/v1/{tick}/PF_XBTUSD/1m?{q}")
                assert r.status_code == 200, r.text
                body = r.json()
                assert len(body["candles"]) <= 2000
                times = [c["time"] for c in body["candles"]]
                assert times == sorted(times) and len(set(times)) == len(times)
                if "count=5" in q:
                    assert len(body["candles"]) <= 5
        assert http.get(kraken_venue.spot_rest + "/health").json() == {"status": "ok"}
