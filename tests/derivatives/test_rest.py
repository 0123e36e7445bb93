"""REST v3 edge behaviour with hand-signed requests: bad input answered with
Kraken's error words (never a 500, nothing changed), faults, rate limits,
history and charts endpoints, the dead man's switch on the venue clock."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from simulator.pytest_plugin import KrakenVenue
from tests.kit.clients import futures_authent as authent


class Rest:
    def __init__(self, v: KrakenVenue, acct: dict[str, Any]) -> None:
        self.base = v.futures_rest
        self.key = acct["futures_api_key"]
        self.secret = acct["futures_api_secret"]

    def raw(self, method: str, path: str, query: str = "", body: str = "", signed: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers.update({"APIKey": self.key, "Authent": authent(query + body, "", path, self.secret)})
        url = self.base + path + ("?" + query if query else "")
        req = urllib.request.Request(url, data=body.encode() if body else None, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def post(self, endpoint: str, **params: Any) -> Any:
        return self.raw("POST", "/derivatives/api/v3/" + endpoint, "", urllib.parse.urlencode(params))[1]

    def get(self, endpoint: str, **params: Any) -> Any:
        return self.raw("GET", "/derivatives/api/v3/" + endpoint, urllib.parse.urlencode(params))[1]


@pytest.fixture
def rest(kraken_venue: KrakenVenue) -> Rest:
    return Rest(kraken_venue, kraken_venue.admin.create_account({}, futures_balances={"USD": "100000"}))


def test_bad_input_never_500_and_changes_nothing(kraken_venue: KrakenVenue, rest: Rest) -> None:
    state = kraken_venue.admin.request("GET", "/state")["digest"]
    base = {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy", "size": "0.01", "limitPrice": "90000"}
    cases = [
        ({k: v for k, v in base.items() if k != "size"}, "requiredArgumentMissing"),
        ({**base, "size": "abc"}, "invalidArgument"),
        ({**base, "reduceOnly": "maybe"}, "invalidArgument"),
        ({**base, "symbol": "PF_NOPE"}, "contractNotFound"),
        ({**base, "processBefore": "yesterday"}, "invalidArgument"),
    ]
    for params, error in cases:
        body = rest.post("sendorder", **params)
        assert body["result"] == "error" and body["error"] == error, (params, body)
    statuses = [
        ({**base, "orderType": "nope"}, "invalidOrderType"),
        ({**base, "side": "long"}, "invalidSide"),
        ({**base, "size": "0.00001"}, "invalidSize"),
        ({**base, "limitPrice": "90000.5"}, "invalidPrice"),
        ({**base, "size": "200"}, "insufficientAvailableFunds"),
        ({**base, "processBefore": "2000-01-01T00:00:00Z"}, "wouldProcessAfterSpecifiedTime"),
    ]
    for params, status in statuses:
        body = rest.post("sendorder", **params)
        assert (
            body["result"] == "success"
            and body["sendStatus"]["status"] == status
            and body["sendStatus"]["orderEvents"] == []
        )
    assert rest.post("editorder", orderId="nope", size="1")["editStatus"]["status"] == "orderForEditNotFound"
    assert rest.post("cancelorder", order_id="nope")["cancelStatus"]["status"] == "notFound"
    assert rest.post("cancelorder")["error"] == "requiredArgumentMissing"
    assert rest.post("batchorder", json="{not json")["error"] == "Json Parse Error"
    assert rest.post("cancelallordersafter", timeout="-5")["error"] == "invalidArgument"
    assert rest.post("cancelallorders", symbol="PF_NOPE")["error"] == "contractNotFound"
    code, body = rest.raw("GET", "/derivatives/api/v3/tickers/PF_NOPE", signed=False)
    assert code == 404 and body["error"] == "contractNotFound"
    code, body = rest.raw("GET", "/derivatives/api/v3/nothing", signed=False)
    assert code == 404 and body["result"] == "error"
    assert rest.get("orderbook")["error"] == "requiredArgumentMissing"
    assert rest.get("history", symbol="PF_XBTUSD", lastTime="garbage")["error"] == "invalidArgument"
    assert rest.raw("GET", "/api/charts/v1/trade/PF_XBTUSD/7m", signed=False)[0] == 400
    assert kraken_venue.admin.request("GET", "/state")["digest"] == state


def test_batch_mixed_results(rest: Rest) -> None:
    placed = rest.post(
        "sendorder", orderType="lmt", symbol="PF_ETHUSD", side="buy", size="1", limitPrice="3000", cliOrdId="keep"
    )
    oid = placed["sendStatus"]["order_id"]
    batch = {
        "batchOrder": [
            {
                "order": "send",
                "order_tag": "1",
                "orderType": "lmt",
                "symbol": "PF_ETHUSD",
                "side": "buy",
                "size": 1,
                "limitPrice": 3001.5,
            },
            {"order": "send", "order_tag": "2", "orderType": "lmt", "symbol": "PF_ETHUSD", "side": "buy", "size": 1},
            {"order": "edit", "order_id": oid, "size": 2, "limitPrice": 3000.5},
            {"order": "cancel", "cliOrdId": "keep"},
            {"order": "cancel", "order_id": "e35d61dd-8a30-4d5f-a574-b5593ef0c050"},
        ]
    }
    # ccxt sends the JSON raw in the body: json=<raw>
    status, body = rest.raw("POST", "/derivatives/api/v3/batchorder", "", "json=" + json.dumps(batch))
    res = body["batchStatus"]
    assert [r["status"] for r in res] == ["placed", "invalidPrice", "edited", "cancelled", "notFound"]
    assert res[0]["order_tag"] == "1" and res[1]["order_tag"] == "2" and res[1]["orderEvents"] == []
    assert res[2]["orderEvents"][0]["new"]["quantity"] == 2.0 and res[2]["orderEvents"][0]["old"]["quantity"] == 1.0
    assert res[3]["order_id"] == oid


def test_orders_status_window_dms_and_history(kraken_venue: KrakenVenue, rest: Rest) -> None:
    admin = kraken_venue.admin
    admin.freeze()
    oid = rest.post("sendorder", orderType="lmt", symbol="PF_XBTUSD", side="buy", size="0.01", limitPrice="90000")[
        "sendStatus"
    ]["order_id"]
    dms = rest.post("cancelallordersafter", timeout="30")["status"]
    assert dms["triggerTime"] > dms["currentTime"]
    admin.advance(31_000)
    assert rest.get("openorders")["openOrders"] == []
    st = rest.post("orders/status", orderIds=oid)["orders"]
    assert st[0]["status"] == "CANCELLED" and st[0]["updateReason"] == "DEAD_MAN_SWITCH"
    admin.advance(6_000)
    assert rest.post("orders/status", orderIds=oid)["orders"] == []  # finished orders stay 5 s
    status, orders = rest.raw("GET", "/api/history/v2/orders")
    kinds = [next(iter(e["event"])) for e in orders["elements"]]
    assert status == 200 and kinds == ["OrderCancelled", "OrderPlaced"]  # newest first
    assert orders["elements"][0]["event"]["OrderCancelled"]["reason"] == "dead_man_switch"
    status, log = rest.raw("GET", "/api/history/v3/account-log", "count=1")
    assert status == 200 and len(log["logs"]) == 1 and log["logs"][0]["info"] == "cross-exchange transfer"
    admin.set_clock(mode="real")


def test_faults_and_rate_limits(kraken_venue: KrakenVenue, rest: Rest) -> None:
    kraken_venue.admin.faults(unavailable_share=1.0)
    assert rest.get("tickers")["error"] == "Unavailable"
    kraken_venue.admin.faults(unavailable_share=0.0)
    assert rest.get("tickers")["result"] == "success"
    errors = []
    for _ in range(60):  # sendorder costs 10 of the 500-unit budget
        body = rest.post("sendorder", orderType="lmt", symbol="PF_XBTUSD", side="buy", size="0.001", limitPrice="80000")
        if body["result"] == "error":
            errors.append(body["error"])
    assert errors and set(errors) == {"apiLimitExceeded"}
