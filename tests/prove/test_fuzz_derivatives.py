"""Hypothesis over Derivatives REST v3 and WS v1: Kraken-style requests, valid
and invalid params, wrong types, huge fields, form/JSON/garbage bodies, every
way to get APIKey/Authent/Nonce wrong (correctly signed about half the time so
the handlers run), and over WS v1: random and malformed JSON, unknown events
and feeds, challenges signed wrong, for the wrong key, or issued elsewhere.

Per REST request: no 5xx, Kraken's envelope (`result`, `serverTime`, and on
error only `error`), never `Server Error`, nothing logged, an unauthenticated
request refused with `authenticationError`, a replayed nonce with
`nonceDuplicate`, and a refused request changes no state (state digest;
refused engine commands may be journaled, without events).  Per WS message:
only documented events, the connection stays, WS v1 (streaming only) changes
no state, a private feed is granted only to a correct challenge of the
fuzzer's own key, and no feed carries another account's data.  The victim's
orders, positions and balances never change.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.gateways.futures_rest.endpoints import ROUTES
from simulator.gateways.futures_ws.hub import PRIVATE as WS_PRIVATE
from simulator.gateways.futures_ws.hub import PUBLIC as WS_PUBLIC
from simulator.pytest_plugin import KrakenVenue

from .kit import (
    FUTURES_V3,
    FuturesRest,
    FuturesWs,
    LogWatch,
    WsClosed,
    changes_since,
    futures_alive,
    futures_authent,
    futures_fund,
    futures_sign_challenge,
    fuzz_settings,
    next_nonce,
    snapshot,
)

# the fuzzer trades PF_XBTUSD and friends; the victim rests on PF_SOLUSD, a
# contract the fuzzer never names, so fuzzed trades cannot fill the victim's
# orders (that would change its state legitimately) while every id-based path
# (cancel, edit, batch, status) still points at the victim's orders
FUZZ_SYMBOLS = ["PF_XBTUSD", "pf_xbtusd", "PI_XBTUSD", "PF_ETHUSD", "FI_XBTUSD_271231", "PF_NOPE", "XBTUSD", ""]
VICTIM_SYMBOL = "PF_SOLUSD"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
AUTH_MODES = ["valid"] * 5 + ["nonceless", "bad_sig", "no_sig", "unknown_key", "no_key", "spot_key",
                                "other_secret", "victim_key", "replay", "bad_nonce", "wrong_path"]
BAD_NONCES = ["abc", "-1", "1.5", "1 2", "0x10", "1e5", "+5", "0", "1"]
# parameter names per endpoint (Kraken's docs), with a few names nobody documents
ORDER_NAMES = ["orderType", "symbol", "side", "size", "limitPrice", "stopPrice", "triggerSignal", "cliOrdId",
               "reduceOnly", "trailingStopMaxDeviation", "trailingStopDeviationUnit", "limitPriceOffsetValue",
               "limitPriceOffsetUnit", "processBefore"]
NAMES: dict[str, list[str]] = {
    "orderbook": ["symbol"], "history": ["symbol", "lastTime"], "historicalfundingrates": ["symbol"],
    "fills": ["lastFillTime"], "leveragepreferences": ["symbol", "maxLeverage"],
    "pnlpreferences": ["symbol", "pnlPreference"], "self-trade-strategy": ["strategy"],
    "sendorder": ORDER_NAMES,
    "editorder": ["orderId", "cliOrdId", "size", "limitPrice", "stopPrice", "trailingStopMaxDeviation",
                  "trailingStopDeviationUnit", "qtyMode", "processBefore"],
    "cancelorder": ["order_id", "orderId", "cliOrdId", "processBefore"],
    "cancelallorders": ["symbol"], "cancelallordersafter": ["timeout"], "batchorder": ["json", "processBefore"],
    "orders/status": ["orderIds", "cliOrdIds"], "transfer": ["fromAccount", "toAccount", "unit", "amount"],
}
WEIRD_PATHS = ["", "sendOrder", "SENDORDER", "sendorder/", "sendorder/x", "orders", "orders/status/x",
               "..%2f..%2fadmin%2freset", "sendorder%00", "X" * 300, "tickers/", "instruments//status", "accounts?x"]
HISTORY_PATHS = ["executions", "orders", "triggers", "account-log", "accountlogcsv", "positions", "nope",
                 "market/PF_XBTUSD/executions", "market/PF_XBTUSD/price", "market/PF_XBTUSD/orders",
                 "market/PF_NOPE/executions", "market/PF_XBTUSD/nope"]
CHART_PATHS = ["", "trade", "mark", "spot", "nope", "trade/PF_XBTUSD", "trade/PF_XBTUSD/1m", "trade/PF_XBTUSD/1h",
               "trade/PF_NOPE/1m", "trade/PF_XBTUSD/7m", "trade/PF_XBTUSD/1m/x"]
# Kraken checks required arguments before the key (sendorder with no body -> requiredArgumentMissing)
ENVELOPE_ERRORS_ALLOWED_AFTER_AUTH_FAILURE = {"authenticationError", "requiredArgumentMissing"}


@dataclass
class World:
    """The accounts and ids both fuzzers draw from."""

    venue: KrakenVenue
    fuzzer: dict[str, Any]
    victim: dict[str, Any]
    own_orders: list[str]
    victim_orders: list[str]
    http: httpx.Client
    last_valid: list[tuple[str, str, bytes, dict[str, str]]] = field(default_factory=list)  # method, url, body, hdrs

    def victim_view(self) -> Any:
        a = self.venue.admin.account(self.victim["account_id"])
        return a["futures"], a["balances"]

    @property
    def victim_ids(self) -> list[str]:
        return [*self.victim_orders, self.victim["account_id"]]


@pytest.fixture(scope="module")
def world(venue: KrakenVenue) -> Iterator[World]:
    venue.admin.freeze()  # no timer (funding, dead man's switch) fires between before/after snapshots
    fuzzer = futures_fund(venue, "50000")
    victim = futures_fund(venue, "50000")
    with FuturesRest(venue) as fr:
        own = [fr.place(fuzzer, "PF_XBTUSD", "buy", "0.001", str(50000 + i), cliOrdId=f"own{i}") for i in range(3)]
        vic = [fr.place(victim, VICTIM_SYMBOL, "buy", "1", str(10 + i), cliOrdId=f"vic{i}") for i in range(3)]
        # a position and fills of its own, so a leaking read would show them
        fr.ok(victim, "POST", "sendorder", {"orderType": "mkt", "symbol": VICTIM_SYMBOL, "side": "buy", "size": "1"})
        trig = fr.ok(victim, "POST", "sendorder", {"orderType": "stp", "symbol": VICTIM_SYMBOL, "side": "sell",
                                                   "size": "1", "stopPrice": "1", "cliOrdId": "victrig"})
        vic.append(trig["sendStatus"]["order_id"])
    assert venue.admin.account(victim["account_id"])["futures"]["positions"], "the victim should hold a position"
    http = httpx.Client(timeout=15)
    try:
        yield World(venue, fuzzer, victim, own, vic, http)
    finally:
        http.close()
        venue.admin.set_clock(mode="real")


# ====================================================================== REST
def _values(w: World) -> st.SearchStrategy[Any]:
    domain = st.sampled_from([
        *FUZZ_SYMBOLS, "lmt", "post", "ioc", "fok", "mkt", "stp", "take_profit", "trailing_stop", "LMT", "limit",
        "buy", "sell", "BUY", "mark", "index", "last", "true", "false", "True", "maybe", "0", "1", "-1", "0.001",
        "0.0001", "0.00001", "1000", "50000", "90000", "1e3", "1e999", "1E-9999", "1e30", "1e31", "1e999999", "-1e999999", "1e-999999",
        "NaN", "Infinity",
        "-0", "", " ", "+5", "PERCENT", "QUOTE_CURRENCY", "RELATIVE", "ABSOLUTE", "REJECT_TAKER", "flex", "cash",
        "fi_xbtusd", "USD", "XBT", "BTC", "2030-01-01T00:00:00.000Z", "2020-01-01T00:00:00Z", "1700000000000",
        "yesterday", "own0", "vic0", "vic1", "victrig", "2147483648", "4294967296", "99999999999999999999999",
        "\x00", "\u202e", "'; DROP TABLE orders; --", "{}", "[]", "%", "%zz", "&", "=", "a=b&c=d",
        *w.own_orders, *w.victim_orders, w.victim["account_id"], w.fuzzer["account_id"], str(uuid.UUID(int=0)),
    ])
    scalar = st.one_of(domain, domain, domain, st.text(max_size=40), st.integers(),
                       st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none())
    nested = st.recursive(scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(
        st.sampled_from(["order", "order_id", "orderType", "symbol", "side", "size", "limitPrice", "cliOrdId", "x"]),
        c, max_size=4), max_leaves=8)
    huge = st.sampled_from(["9" * 5000, "A" * 70_000, "1." + "0" * 4000 + "1", ",".join(["x"] * 3000)])
    return st.one_of(scalar, scalar, scalar, nested, huge, huge)


def _batch(w: World) -> st.SearchStrategy[Any]:
    """batchorder's `json`: valid instructions on own and foreign ids, then mutations."""
    send = {"order": "send", "order_tag": "1", "orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy",
            "size": 0.001, "limitPrice": 40000}
    items = st.sampled_from([
        send, {**send, "size": "abc"}, {**send, "symbol": "PF_NOPE"},
        {"order": "cancel", "order_id": w.own_orders[0]}, {"order": "cancel", "order_id": w.victim_orders[0]},
        {"order": "cancel", "cliOrdId": "vic1"}, {"order": "edit", "order_id": w.victim_orders[1], "size": 5},
        {"order": "edit", "order_id": w.own_orders[1], "limitPrice": 50001}, {"order": "nope"}, {},
    ])
    good = st.lists(items, max_size=4).map(lambda xs: json.dumps({"batchOrder": xs}))
    junk = st.one_of(st.text(max_size=50), st.just("[" * 5000), st.just("{'batchOrder': [" + "(" * 2000 + "]}"),
                     st.just('{"batchOrder": "x"}'), st.just('{"batchOrder": [1, 2]}'),
                     st.just(json.dumps({"batchOrder": [send] * 400})))
    return st.one_of(good, good, good, junk)


def _bases(w: World) -> dict[str, dict[str, Any]]:
    """Valid parameters per endpoint (own and foreign ids where isolation matters)."""
    own, vic = w.own_orders, w.victim_orders
    return {
        "orderbook": {"symbol": "PF_XBTUSD"}, "history": {"symbol": "PF_XBTUSD"},
        "historicalfundingrates": {"symbol": "PF_XBTUSD"},
        "sendorder": {"orderType": "lmt", "symbol": "PF_XBTUSD", "side": "buy", "size": "0.001", "limitPrice": "40000"},
        "editorder": {"orderId": own[1], "limitPrice": "50010"},
        "cancelorder": {"order_id": own[0]},
        "cancelallorders": {"symbol": "PF_XBTUSD"},
        "cancelallordersafter": {"timeout": "0"},
        "orders/status": {"orderIds": [own[2], vic[0]]},
        "transfer": {"fromAccount": "flex", "toAccount": "cash", "unit": "USD", "amount": "1"},
        "leveragepreferences": {"symbol": "PF_XBTUSD", "maxLeverage": "5"},
        "pnlpreferences": {"symbol": "PF_XBTUSD", "pnlPreference": "USD"},
        "self-trade-strategy": {"strategy": "REJECT_TAKER"},
    }


@st.composite
def rest_requests(draw: st.DrawFn, w: World) -> dict[str, Any]:
    kind = draw(st.sampled_from(["route"] * 16 + ["weird", "history", "charts"]))
    values = _values(w)
    route: tuple[str, str] | None = None
    if kind == "route":
        route = draw(st.sampled_from(sorted(ROUTES)))
        http_method, pattern = route
        symbol = draw(st.sampled_from(["PF_XBTUSD", "pi_xbtusd", "PF_NOPE", "%2e%2e", "x" * 200]))
        path = FUTURES_V3 + pattern.replace("{symbol}", symbol)
        if draw(st.integers(0, 9)) == 0:
            http_method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
        if draw(st.integers(0, 14)) == 0:
            path = path.replace("/v3/", draw(st.sampled_from(["/v4/", "/V3/", "/v2/", "/v3//", "/v0/"])))
        name = pattern
    elif kind == "weird":
        http_method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
        path = FUTURES_V3 + draw(st.sampled_from(WEIRD_PATHS))
        name = ""
    elif kind == "history":
        http_method, path, name = "GET", "/api/history/v2/" + draw(st.sampled_from(HISTORY_PATHS)), ""
    else:
        http_method, path, name = "GET", "/api/charts/v1/" + draw(st.sampled_from(CHART_PATHS)), ""
    names = NAMES.get(name, []) + ["x", "symbol", "since", "before", "count", "sort", "from", "to"]
    base = _bases(w).get(name)
    if base is not None and draw(st.booleans()):  # a valid request with a few fields mutated
        params: dict[str, Any] = dict(base)
        chosen = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    else:
        params = {}
        chosen = draw(st.lists(st.sampled_from(names), max_size=6, unique=True))
    for pname in chosen:
        params[pname] = draw(_batch(w)) if pname == "json" and draw(st.booleans()) else draw(values)
    if name == "batchorder" and "json" not in params and draw(st.integers(0, 3)):
        params["json"] = draw(_batch(w))
    if draw(st.integers(0, 9)) == 0:
        params[draw(st.text(min_size=1, max_size=12))] = draw(values)
    return {
        "kind": kind, "route": route, "method": http_method, "path": path, "params": params,
        "placement": draw(st.sampled_from(["query", "form", "form", "json", "garbage", "both"])),
        "auth": draw(st.sampled_from(AUTH_MODES)),
        "garbage": draw(st.binary(max_size=300) | st.just(b"[" * 30_000) | st.just(b'{"a":' * 20_000)),
        "bad_nonce": draw(st.sampled_from(BAD_NONCES)),
        "ctype": draw(st.sampled_from(["application/x-www-form-urlencoded", "", "application/json", "text/plain"])),
    }


def _form(params: dict[str, Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for k, v in params.items():
        for item in (v if isinstance(v, list) and k in ("orderIds", "cliOrdIds") else [v]):
            if isinstance(item, (dict, list)):
                item = json.dumps(item)
            pairs.append((str(k), "" if item is None else str(item)))
    return urlencode(pairs, encoding="utf-8", errors="surrogatepass")


def _layout(req: dict[str, Any]) -> tuple[str, bytes]:
    """(raw query, raw body) for the drawn placement of the parameters."""
    params, placement = req["params"], req["placement"]
    if placement == "query" or req["method"] in ("GET", "DELETE"):
        return _form(params), b""
    if placement == "form":
        return "", _form(params).encode()
    if placement == "both":
        items = list(params.items())
        return _form(dict(items[::2])), _form(dict(items[1::2])).encode()
    if placement == "json":
        try:
            return "", json.dumps(params, allow_nan=True).encode("utf-8", "surrogatepass")
        except (TypeError, ValueError):
            return "", req["garbage"]
    return "", req["garbage"]


def _send(w: World, req: dict[str, Any]) -> tuple[httpx.Response, str, int]:
    """Build and send one request; (response, auth mode really used, body size)."""
    auth = req["auth"]
    if auth == "replay" and not w.last_valid:
        auth = "valid"
    if auth == "replay":
        r_method, r_url, r_body, r_headers = w.last_valid[-1]
        return w.http.request(r_method, r_url, content=r_body, headers=r_headers), auth, len(r_body)
    query, body = _layout(req)
    query = query[:60_000]  # httpx refuses URLs over 64 KiB; long ones still reach the venue
    path = req["path"]
    nonce = "" if auth == "nonceless" else req["bad_nonce"] if auth == "bad_nonce" else str(next_nonce())
    secret = w.victim["futures_api_secret"] if auth == "other_secret" else w.fuzzer["futures_api_secret"]
    key = w.fuzzer["futures_api_key"]
    if auth == "unknown_key":
        key = "K" + key[1:] if key[0] != "K" else "J" + key[1:]
    elif auth == "victim_key":
        key = w.victim["futures_api_key"]
    elif auth == "spot_key":
        key, secret = w.fuzzer["api_key"], w.fuzzer["api_secret"]
    signed_path = path.split("?")[0]
    if auth == "wrong_path":  # a genuine signature for another endpoint
        signed_path = FUTURES_V3 + ("accounts" if signed_path.rstrip("/").endswith("openorders") else "openorders")
    sig = futures_authent(query + body.decode("utf-8", "replace"), nonce, signed_path, secret)
    if auth == "bad_sig":
        sig = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    headers: dict[str, str] = {}
    if req["ctype"]:
        headers["Content-Type"] = req["ctype"]
    if auth != "no_key":
        headers["APIKey"] = key
    if auth != "no_sig":
        headers["Authent"] = sig
    if nonce:
        headers["Nonce"] = nonce
    url = w.venue.futures_rest + path + ("?" + query if query else "")
    r = w.http.request(req["method"], url, content=body, headers=headers)
    private = req["route"] is not None and ROUTES[req["route"]][1]
    if auth == "valid" and private and r.status_code == 200:
        data = r.json()
        if isinstance(data, dict) and data.get("result") == "success":
            w.last_valid.append((req["method"], url, body, headers))  # its nonce is spent: a replay must be refused
            del w.last_valid[:-3]
    return r, auth, len(body)


def _check_v3(w: World, req: dict[str, Any], r: httpx.Response, auth: str, size: int, where: str) -> str:
    """Kraken's v3 envelope; returns the outcome word."""
    assert r.status_code in (200, 404, 405), where
    data = r.json()
    assert isinstance(data, dict) and data.get("result") in ("success", "error"), where
    assert isinstance(data.get("serverTime"), str) and ISO.match(data["serverTime"]), where
    if data["result"] == "error":
        assert set(data) == {"result", "serverTime", "error"}, where
        assert isinstance(data["error"], str) and data["error"], where
        assert data["error"] not in ("Server Error", "unknownError"), where
    if size > 64 * 1024:  # over the body cap: refused before anything else is looked at
        assert data["result"] == "error" and data["error"] == "invalidArgument" and r.status_code == 200, where
    private = req["route"] is not None and ROUTES[req["route"]][1] and r.status_code == 200 and \
        req["route"][0] == req["method"] and "/v3/" in req["path"]
    if private and auth not in ("valid", "nonceless", "replay"):
        assert data["result"] == "error", "unauthenticated request accepted: " + where
        if size > 64 * 1024:
            pass  # checked above
        elif auth == "bad_nonce":
            assert data["error"] in ("nonceBelowThreshold", *ENVELOPE_ERRORS_ALLOWED_AFTER_AUTH_FAILURE), where
        else:
            assert data["error"] in ENVELOPE_ERRORS_ALLOWED_AFTER_AUTH_FAILURE, where
    if auth == "replay":  # an accepted private request, byte for byte again
        assert data == {"result": "error", "serverTime": data["serverTime"], "error": "nonceDuplicate"}, where
    if data["result"] == "success":
        return "ok-private" if private else "ok"
    return str(data["error"])


def test_derivatives_rest_fuzz(venue: KrakenVenue, world: World, venue_errors: LogWatch) -> None:
    w = world
    seen: dict[str, int] = {}
    victim_before = w.victim_view()

    @fuzz_settings(300)
    @given(req=rest_requests(w))
    def one(req: dict[str, Any]) -> None:
        before = snapshot(venue)
        r, auth, size = _send(w, req)
        where = f"{req['method']} {req['path'][:120]} auth={auth} placement={req['placement']} " \
                f"params={str(req['params'])[:300]} -> {r.status_code} {r.text[:300]}"
        assert r.status_code < 500, where
        assert not venue_errors.problems(), (venue_errors.problems()[:3], where)
        if req["kind"] == "route" or req["kind"] == "weird":
            outcome = _check_v3(w, req, r, auth, size, where)
            refused = outcome not in ("ok", "ok-private")
        else:  # history and charts: JSON (or the account log's CSV), and reads only
            if not req["path"].endswith("accountlogcsv") or r.status_code != 200:
                r.json()
            outcome = f"{req['kind']} {r.status_code}"
            refused = True
        seen[outcome] = seen.get(outcome, 0) + 1
        if refused:
            assert changes_since(venue, before) == [], where
        sent = req["path"] + json.dumps(req["params"], default=str)
        for secret_id in w.victim_ids:  # no answer reveals the victim's ids it was not asked about
            assert secret_id not in r.text or secret_id in sent, f"leaked {secret_id}: " + where
        if req["route"] in (("GET", "openorders"), ("GET", "fills"), ("GET", "openpositions"), ("GET", "accounts")):
            assert not any(v in r.text for v in w.victim_ids), where
        if req["route"] in (("GET", "orders/status"), ("POST", "orders/status")) and outcome == "ok-private":
            shown = {o["order"]["orderId"] for o in r.json()["orders"]}
            assert not shown & set(w.victim_orders), where  # asked for by id, still not shown
        assert w.victim_view() == victim_before, "another account's state changed: " + where

    one()
    print("outcomes:", dict(sorted(seen.items(), key=lambda kv: -kv[1])))
    assert seen.get("ok-private", 0) >= 20, seen  # the handlers were reached, not only the auth layer
    assert seen.get("authenticationError", 0) >= 20, seen
    futures_alive(venue, w.fuzzer)


# ======================================================================== WS
@dataclass
class WsWorld:
    """One fuzzed connection (reopened if it closes) and the credentials the fuzzer may misuse."""

    w: World
    conn: FuturesWs | None = None
    own: dict[str, str] = field(default_factory=dict)  # a correct login on this connection
    foreign_challenge: str = ""  # issued on this connection for the victim's key
    captured: dict[str, str] = field(default_factory=dict)  # the victim's genuine login, from its own connection

    def ws(self) -> FuturesWs:
        if self.conn is None:
            self.conn = FuturesWs(self.w.venue.futures_ws)
            self.own = self.conn.login(self.w.fuzzer)
            self.foreign_challenge = self.conn.challenge(self.w.victim["futures_api_key"])
        return self.conn


@pytest.fixture(scope="module")
def wsw(world: World) -> Iterator[WsWorld]:
    victim_conn = FuturesWs(world.venue.futures_ws)
    out = WsWorld(world, captured=victim_conn.login(world.victim))
    try:
        yield out
    finally:
        victim_conn.close()
        if out.conn is not None:
            out.conn.close()


def _auth_fields(ww: WsWorld, mode: str) -> tuple[dict[str, Any], bool]:
    """(api_key/original_challenge/signed_challenge, whether they are genuinely the fuzzer's)."""
    w = ww.w
    fz, vic = w.fuzzer, w.victim
    own = ww.own
    if mode == "good":
        return dict(own), True
    if mode == "victim_key_own_sig":  # a challenge for the victim's key, signed with the fuzzer's secret
        return {"api_key": vic["futures_api_key"], "original_challenge": ww.foreign_challenge,
                "signed_challenge": futures_sign_challenge(ww.foreign_challenge, fz["futures_api_secret"])}, False
    if mode == "own_key_foreign_challenge":  # the fuzzer's key on the challenge issued for the victim
        return {"api_key": fz["futures_api_key"], "original_challenge": ww.foreign_challenge,
                "signed_challenge": futures_sign_challenge(ww.foreign_challenge, fz["futures_api_secret"])}, False
    if mode == "captured":  # the victim's genuine login, replayed on another connection
        return dict(ww.captured), False
    if mode == "unissued":  # correctly signed, but this connection never issued it
        ch = str(uuid.uuid4())
        return {"api_key": fz["futures_api_key"], "original_challenge": ch,
                "signed_challenge": futures_sign_challenge(ch, fz["futures_api_secret"])}, False
    if mode == "bad_sig":
        return {**own, "signed_challenge": own["signed_challenge"][:-4] + "AAA="}, False
    if mode == "spot_key":
        return {**own, "api_key": fz["api_key"]}, False
    if mode == "missing":
        return {k: v for k, v in own.items() if k != "signed_challenge"}, False
    return {"api_key": 5, "original_challenge": None, "signed_challenge": ["x"]}, False


WS_AUTH_MODES = ["good"] * 4 + ["victim_key_own_sig", "own_key_foreign_challenge", "captured", "unissued", "bad_sig",
                                "spot_key", "missing", "types"]
WS_EVENTS = ["subscribe", "unsubscribe", "challenge", "ping", "pong", "info", "heartbeat", "subscribed", "alert",
             "", "SUBSCRIBE"]
WS_FEEDS = sorted(WS_PUBLIC | WS_PRIVATE) + ["open_position", "book_snapshot", "fills_snapshot", "nope", ""]
WS_NAMES = ["event", "feed", "product_ids", "api_key", "original_challenge", "signed_challenge", "x"]
DOCUMENTED_EVENTS = {"info", "challenge", "subscribed", "unsubscribed", "error", "alert", "subscribed_failed",
                     "unsubscribed_failed"}


def _ws_values(ww: WsWorld) -> st.SearchStrategy[Any]:
    w = ww.w
    domain = st.sampled_from([
        "PF_XBTUSD", "pf_xbtusd", "PI_XBTUSD", "PF_SOLUSD", "PF_NOPE", "", "ticker", "fills", "open_orders",
        w.fuzzer["futures_api_key"], w.victim["futures_api_key"], w.fuzzer["api_key"], ww.foreign_challenge,
        *w.victim_orders, 0, 1, -1, 2**63, 1.5, True, False, None, [], {}, ["PF_XBTUSD"], ["PF_XBTUSD", 5],
        ["PF_XBTUSD"] * 3, ["PF_NOPE"], [None],
    ])
    scalar = st.one_of(domain, domain, st.text(max_size=30), st.integers(), st.floats(allow_nan=False),
                       st.booleans(), st.none())
    return st.recursive(scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(WS_NAMES), c,
                                                                                     max_size=4), max_leaves=10)


@st.composite
def ws_frames(draw: st.DrawFn, ww: WsWorld) -> tuple[str, Any, str]:
    """(kind, frame, auth mode): a dict to send as JSON, or raw str/bytes."""
    kind = draw(st.sampled_from(["private"] * 6 + ["public"] * 3 + ["challenge", "envelope", "envelope", "json",
                                                                     "text", "binary", "big"]))
    values = _ws_values(ww)
    if kind == "private":
        mode = draw(st.sampled_from(WS_AUTH_MODES))
        fields, _ = _auth_fields(ww, mode)
        msg: dict[str, Any] = {"event": draw(st.sampled_from(["subscribe"] * 3 + ["unsubscribe"])),
                               "feed": draw(st.sampled_from(sorted(WS_PRIVATE) + ["open_position"])), **fields}
        if msg["feed"] == "fills" and draw(st.booleans()):
            msg["product_ids"] = draw(st.sampled_from([["PF_XBTUSD"], ["PF_SOLUSD"], ["PF_NOPE"], "PF_XBTUSD", []]))
        if draw(st.integers(0, 4)) == 0:
            msg[draw(st.sampled_from(WS_NAMES))] = draw(values)
        return kind, msg, mode
    if kind == "public":
        msg = {"event": draw(st.sampled_from(["subscribe", "subscribe", "unsubscribe"])),
               "feed": draw(st.sampled_from(sorted(WS_PUBLIC)))}
        if msg["feed"] != "heartbeat" or draw(st.booleans()):
            msg["product_ids"] = draw(st.sampled_from([["PF_XBTUSD"], ["PI_XBTUSD", "PF_ETHUSD"], ["pf_xbtusd"]])
                                      | values)
        return kind, msg, "none"
    if kind == "challenge":
        return kind, {"event": "challenge", "api_key": draw(values)}, "none"
    if kind == "envelope":
        env: dict[str, Any] = {"event": draw(st.sampled_from(WS_EVENTS) | values)}
        for name in draw(st.lists(st.sampled_from(WS_NAMES[1:]), max_size=5, unique=True)):
            env[name] = draw(st.sampled_from(WS_FEEDS) | values) if name == "feed" else draw(values)
        return kind, env, "none"
    if kind == "json":
        return kind, json.dumps(draw(values)), "none"
    if kind == "text":
        return kind, draw(st.sampled_from(["{", "}", "[", "null", "NaN", '{"event": "subscribe"', "\x00",
                                           '{"event":"ping"}', "{}" * 40000, '{"event":"challenge"}{"event":"x"}'])
                          | st.text(max_size=200)), "none"
    if kind == "binary":
        return kind, draw(st.binary(max_size=200) | st.just(b'{"event":"subscribe","feed":"heartbeat"}')), "none"
    size = draw(st.sampled_from([65_537, 70_000, 200_000]))
    return kind, json.dumps({"event": "subscribe", "feed": "ticker", "product_ids": ["PF_XBTUSD"], "x": "y" * size}), \
        "none"


def _private_feed(msg: Any) -> bool:
    return isinstance(msg, dict) and msg.get("feed") in (WS_PRIVATE | {"open_position"})


def test_derivatives_ws_fuzz(venue: KrakenVenue, world: World, wsw: WsWorld, venue_errors: LogWatch) -> None:
    w = world
    outcomes: dict[str, int] = {}
    victim_before = w.victim_view()
    fuzzer_id = w.fuzzer["account_id"]

    @fuzz_settings(250)
    @given(item=ws_frames(wsw))
    def one(item: tuple[str, Any, str]) -> None:
        kind, frame, mode = item
        ws = wsw.ws()
        before = snapshot(venue)
        where = f"{kind}/{mode}: {str(frame)[:400]}"
        try:
            replies = ws.request(frame)
        except WsClosed as exc:
            wsw.conn = None
            raise AssertionError(f"connection closed ({exc}) by {where}") from exc
        assert not venue_errors.problems(), (venue_errors.problems()[:3], where)
        for r in replies:
            assert r.get("event") in DOCUMENTED_EVENTS, (r, where)
            if r["event"] in ("error", "alert"):
                assert isinstance(r.get("message"), str) and r["message"], (r, where)
        acks = [r for r in replies if r["event"] in ("subscribed", "unsubscribed")]
        if any(_private_feed(r) for r in acks):
            # a private feed only for the fuzzer's own key, with a challenge this connection issued and signed right
            assert kind == "private" and mode == "good", ("private feed granted", replies, where)
            # and, as the live venue, the ack does not echo the credentials back
            assert not any({"api_key", "original_challenge", "signed_challenge"} & set(r) for r in acks), where
        if kind == "big":
            assert [r.get("message") for r in replies] == ["Json Error"], (replies, where)
        if any(_private_feed(r) for r in acks):
            key = "private ack"
        elif acks or not replies:
            key = "ack" if acks else "no reply"
        else:
            key = replies[0]["event"] if replies[0]["event"] == "challenge" else str(replies[0].get("message"))[:60]
        outcomes[key] = outcomes.get(key, 0) + 1
        for m in ws.feed:  # whatever private data arrives is the fuzzer's own
            for name in ("account", "username", "account_id"):
                assert m.get(name, fuzzer_id) == fuzzer_id, (m, where)
            assert not any(v in json.dumps(m) for v in w.victim_ids), (m, where)
        ws.feed.clear()
        assert changes_since(venue, before) == [], where  # WS v1 is streaming only: no message changes state
        assert w.victim_view() == victim_before, "another account's state changed: " + where

    one()
    print("outcomes:", dict(sorted(outcomes.items(), key=lambda kv: -kv[1])))
    # private feeds were reached, not only refusals (the count moves with the fixed example set: a few, not a quota)
    assert outcomes.get("private ack", 0) >= 5, outcomes
    assert outcomes.get("Failed to subscribe to authenticated feed", 0) >= 10, outcomes
    # the victim trades now: nothing of it reaches the fuzzed connection, which still serves
    ws = wsw.ws()
    ws.request({"event": "subscribe", "feed": "fills", **wsw.own})
    ws.request({"event": "subscribe", "feed": "open_orders", **wsw.own})
    ws.feed.clear()
    with FuturesRest(venue) as fr:
        oid = fr.place(w.victim, VICTIM_SYMBOL, "buy", "1", "11")
        fr.ok(w.victim, "POST", "cancelorder", {"order_id": oid})
        fr.ok(w.victim, "POST", "sendorder", {"orderType": "mkt", "symbol": VICTIM_SYMBOL, "side": "sell", "size": "1"})
    leaked = [m for m in ws.drain_feed(0.5) if m.get("feed") in ("fills", "open_orders")]
    assert leaked == [], leaked
    futures_alive(venue, w.fuzzer)


# inputs the fuzzers found (each was a `Server Error` with a logged exception, a 500, or a WS alert from a crash):
# (method, path, query, body, nonce) -> HTTP status, error word
FOUND_REST = [
    ("POST", FUTURES_V3 + "sendorder", "", "orderType=lmt&symbol=PF_XBTUSD&side=buy&size=1e999999&limitPrice=1000",
     None, 200, "invalidArgument"),  # decimal.Overflow scaling the size
    ("POST", FUTURES_V3 + "sendorder", "", "orderType=lmt&symbol=PF_XBTUSD&side=buy&size=1&limitPrice=-1e999999",
     None, 200, "invalidArgument"),
    ("POST", FUTURES_V3 + "editorder", "", "orderId=x&size=1e999999", None, 200, "invalidArgument"),
    ("POST", FUTURES_V3 + "batchorder", "", "json=" + "[" * 50_000, None, 200, "Json Parse Error"),  # RecursionError
    ("POST", FUTURES_V3 + "sendorder", "", "[" * 30_000, None, 200, "requiredArgumentMissing"),  # a JSON body as deep
    ("GET", FUTURES_V3 + "history", "symbol=PF_XBTUSD&lastTime=" + "9" * 5000, "", None, 200, "invalidArgument"),
    ("GET", FUTURES_V3 + "fills", "lastFillTime=" + "9" * 5000, "", None, 200, "invalidArgument"),  # int() > 4300 digits
    ("GET", FUTURES_V3 + "accounts", "", "", "9" * 5000, 200, "authenticationError"),  # the same, in the Nonce
    ("GET", FUTURES_V3 + "accounts", "", "", "\u00b2", 200, "authenticationError"),  # "²".isdigit(), int("²") fails
    ("GET", "/api/history/v2/executions", "count=" + "9" * 5000, "", None, 400, "invalidArgument"),  # was a 500
]


@pytest.mark.parametrize(("method", "path", "query", "body", "nonce", "status", "error"), FOUND_REST)
def test_rest_inputs_found_by_fuzzing(venue: KrakenVenue, world: World, venue_errors: LogWatch, method: str,
                                      path: str, query: str, body: str, nonce: str | None, status: int,
                                      error: str) -> None:
    nonce = str(next_nonce()) if nonce is None else nonce
    headers = {"APIKey": world.fuzzer["futures_api_key"], "Nonce": nonce.encode("latin-1"),
               "Authent": futures_authent(query + body, nonce, path, world.fuzzer["futures_api_secret"]),
               "Content-Type": "application/x-www-form-urlencoded"}
    before = snapshot(venue)
    r = world.http.request(method, venue.futures_rest + path + ("?" + query if query else ""),
                           content=body.encode(), headers=headers)
    assert r.status_code == status, r.text
    data = r.json()
    assert data["result"] == "error" and data["error"] == error, data
    assert changes_since(venue, before) == []
    assert not venue_errors.problems()


FOUND_WS: list[Any] = [
    {"event": "subscribe", "feed": {"x": 1}},  # an object as the feed: TypeError (unhashable) in the hub
    {"event": "unsubscribe", "feed": ["ticker"], "product_ids": ["PF_XBTUSD"]},
]


@pytest.mark.parametrize("frame", FOUND_WS)
def test_ws_inputs_found_by_fuzzing(venue: KrakenVenue, world: World, venue_errors: LogWatch, frame: Any) -> None:
    ws = FuturesWs(venue.futures_ws)
    try:
        replies = ws.request(frame)
        verb = frame["event"]
        assert replies == [{"event": "alert", "message": f"Couldn't {verb} to invalid feed"}], replies
    finally:
        ws.close()
    assert not venue_errors.problems()
