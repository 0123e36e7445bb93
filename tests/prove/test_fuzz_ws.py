"""Hypothesis over Spot WS v2: random JSON, wrong types, unknown methods, valid
requests with mutated fields, garbage text and binary frames, frames over the
size caps — on the auth, public and L3 hosts.

Per message: no `EGeneral:Internal error`, the connection stays open (frames
over the transport cap excepted), a message nothing acknowledged changes no
state, and another account's orders and balances are never touched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.gateways.spot_ws.methods import ADD_FIELDS, AMEND_FIELDS, EDIT_FIELDS, TRADING_METHODS
from simulator.gateways.spot_ws.subscriptions import FIELDS
from simulator.pytest_plugin import KrakenVenue

from .kit import (
    INTERNAL_ERRORS,
    Rest,
    Ws,
    WsClosed,
    assert_alive,
    changes_since,
    fund,
    fuzz_settings,
    mint_token,
    snapshot,
    ws_open,
)

LIMIT = {"order_type": "limit", "side": "buy", "order_qty": 0.01, "limit_price": 1000.0, "symbol": "BTC/USD"}
ORDER = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "900", "volume": "0.01"}
METHODS = sorted(TRADING_METHODS) + ["subscribe", "unsubscribe", "ping", "Add_Order", "", "status", "heartbeat"]
NAMES = sorted(ADD_FIELDS | AMEND_FIELDS | EDIT_FIELDS | set().union(*FIELDS.values())
               | {"orders", "order_id", "timeout", "cl_ord_id", "users", "x"})


@dataclass
class World:
    venue: KrakenVenue
    fuzzer: dict[str, Any]
    victim: dict[str, Any]
    token: str
    victim_orders: list[str]
    hosts: dict[str, Ws]

    def victim_view(self) -> tuple[Any, Any]:
        a = self.venue.admin.account(self.victim["account_id"])
        return a["open_orders"], a["balances"]

    def ws(self, host: str) -> Ws:
        """The host's connection, reopened if an earlier frame legitimately closed it."""
        c = self.hosts.get(host)
        if c is None:
            url = {"auth": self.venue.spot_ws_auth, "public": self.venue.spot_ws, "l3": self.venue.spot_ws_l3}[host]
            c = self.hosts[host] = ws_open(url)
        return c


@pytest.fixture(scope="module")
def world(venue: KrakenVenue) -> Iterator[World]:
    venue.admin.freeze()
    fuzzer = fund(venue)
    victim = fund(venue)
    with Rest(venue) as rest:
        vic = [rest.ok(victim, "AddOrder", {**ORDER, "price": str(900 + i), "cl_ord_id": f"vic{i}"})["txid"][0]
               for i in range(3)]
    w = World(venue, fuzzer, victim, mint_token(venue, fuzzer), vic, {})
    try:
        yield w
    finally:
        for c in w.hosts.values():
            c.close()
        venue.admin.set_clock(mode="real")


def _values(w: World) -> st.SearchStrategy[Any]:
    domain: st.SearchStrategy[Any] = st.sampled_from([
        "BTC/USD", "XBT/USD", "XBTUSD", "ETH/USD", "NOPE/USD", "buy", "sell", "limit", "market", "stop-loss",
        "iceberg", "trailing-stop", "gtc", "gtd", "ioc", "fok", "pct", "quote", "static", "index", "last", "all",
        "book", "ticker", "trade", "ohlc", "instrument", "executions", "balances", "level3", "heartbeat",
        "cancel_newest", "base", "2030-01-01T00:00:00Z", "yesterday", "", "vic0", *w.victim_orders, w.token,
        w.token + "x", "EAPI:Invalid token", 0, 1, -1, 10, 25, 1000, 0.01, 1e-30, 1e300, 2**63, -(2**63), 86400,
        True, False, None, [], {}, ["BTC/USD"], ["BTC/USD", "BTC/USD"], w.victim_orders,
    ])
    scalar = st.one_of(domain, domain, st.text(max_size=30), st.integers(), st.floats(allow_nan=False),
                       st.booleans(), st.none())
    return st.recursive(scalar, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(NAMES), c,
                                                                                     max_size=4), max_leaves=10)


def _bases(w: World) -> list[tuple[str, dict[str, Any]]]:
    t = w.token
    vic = w.victim_orders
    return [
        ("add_order", {**LIMIT, "token": t}),
        ("add_order", {**LIMIT, "order_type": "stop-loss", "triggers": {"price": 900.0}, "token": t}),
        ("batch_add", {"symbol": "BTC/USD", "orders": [{k: v for k, v in LIMIT.items() if k != "symbol"}] * 2,
                       "token": t}),
        ("cancel_order", {"order_id": [vic[0]], "token": t}),
        ("cancel_order", {"cl_ord_id": ["vic1"], "token": t}),
        ("batch_cancel", {"orders": vic[1:], "token": t}),
        ("amend_order", {"order_id": vic[2], "order_qty": 0.5, "token": t}),
        ("edit_order", {"order_id": vic[2], "symbol": "BTC/USD", "order_qty": 0.5, "token": t}),
        ("cancel_all", {"token": t}),
        ("cancel_all_orders_after", {"timeout": 60, "token": t}),
        ("subscribe", {"channel": "executions", "token": t, "snap_orders": True, "users": "all"}),
        ("subscribe", {"channel": "balances", "token": t}),
        ("subscribe", {"channel": "book", "symbol": ["BTC/USD"], "depth": 10}),
        ("subscribe", {"channel": "level3", "symbol": ["BTC/USD"], "token": t}),
        ("unsubscribe", {"channel": "executions", "token": t}),
        ("subscribe", {"channel": "ticker", "symbol": ["BTC/USD"]}),
    ]


@st.composite
def frames(draw: st.DrawFn, w: World) -> tuple[str, Any]:
    """(host, frame): a dict to send as JSON, or raw str/bytes."""
    host = draw(st.sampled_from(["auth"] * 6 + ["public"] * 2 + ["l3"]))
    kind = draw(st.sampled_from(["base"] * 5 + ["envelope"] * 3 + ["json", "text", "binary", "big"]))
    values = _values(w)
    if kind == "base":
        method, params = draw(st.sampled_from(_bases(w)))
        params = dict(params)
        mutations = draw(st.sampled_from([0, 0, 1, 1, 2]))
        for name in draw(st.lists(st.sampled_from(NAMES), min_size=mutations, max_size=mutations, unique=True)):
            params[name] = draw(values)
        if draw(st.integers(0, 4)) == 0:
            params.pop(draw(st.sampled_from(sorted(params))), None)
        msg: dict[str, Any] = {"method": method, "params": params}
        if draw(st.booleans()):
            msg["req_id"] = draw(st.integers(0, 2**31) | st.integers() | st.text(max_size=5) | st.floats())
        return host, msg
    if kind == "envelope":
        env: dict[str, Any] = {"method": draw(st.one_of(st.sampled_from(METHODS), values))}
        if draw(st.booleans()):
            env["params"] = draw(st.one_of(st.dictionaries(st.sampled_from(NAMES), values, max_size=6), values))
        if draw(st.booleans()):
            env["req_id"] = draw(values)
        if draw(st.integers(0, 5)) == 0:
            env[draw(st.text(max_size=8))] = draw(values)
        return host, env
    if kind == "json":
        return host, json.dumps(draw(values))
    if kind == "text":
        return host, draw(st.sampled_from(["{", "}", "[", "null", "NaN", '{"method": "ping"', "\x00", "{}" * 40000,
                                           '{"method":"ping","req_id":1}{"method":"ping"}']) | st.text(max_size=200))
    if kind == "binary":
        return host, draw(st.binary(max_size=200) | st.just(b'{"method":"ping","req_id":5}'))
    size = draw(st.sampled_from([65_537, 70_000, 200_000]))
    return host, json.dumps({"method": "add_order", "params": {**LIMIT, "token": w.token, "cl_ord_id": "x" * size}})


def test_spot_ws_fuzz(venue: KrakenVenue, world: World) -> None:
    w = world
    outcomes: dict[str, int] = {}
    victim_before = w.victim_view()

    @fuzz_settings(250)
    @given(item=frames(w))
    def one(item: tuple[str, Any]) -> None:
        host, frame = item
        before = snapshot(venue)
        ws = w.ws(host)
        where = f"{host}: {str(frame)[:400]}"
        try:
            replies = ws.request(frame)
        except WsClosed as exc:
            w.hosts.pop(host, None)
            raise AssertionError(f"connection closed ({exc}) by {where}") from exc
        for r in replies:
            assert r.get("error") not in INTERNAL_ERRORS, where
            assert isinstance(r.get("success", False), bool), (r, where)
        acked = any(r.get("success") is True for r in replies)
        key = "acked" if acked else (str(replies[0].get("error", replies[0]))[:40] if replies else "no reply")
        outcomes[key] = outcomes.get(key, 0) + 1
        if not acked:
            assert changes_since(venue, before) == [], (replies, where)
        assert w.victim_view() == victim_before, "another account's orders or balances changed: " + where

    one()
    print("outcomes:", dict(sorted(outcomes.items(), key=lambda kv: -kv[1])))
    assert outcomes.get("acked", 0) >= 10, outcomes  # trading and subscriptions were reached
    assert_alive(venue, w.fuzzer)
    pong = w.ws("auth").call("ping", req_id=1)  # the fuzzed connection still serves
    assert [(m["method"], m["req_id"]) for m in pong] == [("pong", 1)]


def test_ws_frame_caps(venue: KrakenVenue, world: World) -> None:
    """64 KiB: refused with an error reply, the connection stays; over 1 MiB: closed
    by the transport (1009), the venue unaffected."""
    ws = ws_open(venue.spot_ws_auth)
    try:
        big = json.dumps({"method": "ping", "req_id": 1, "x": "y" * 70_000})
        replies = ws.request(big)
        assert [r.get("error") for r in replies] == ["Malformed request"], replies
        with pytest.raises(WsClosed) as info:
            ws.send("z" * ((1 << 20) + 1))
            ws.request({"method": "ping"})
        assert info.value.rcvd is not None and info.value.rcvd.code == 1009, info.value
    finally:
        ws.close()
    assert_alive(venue, world.fuzzer)
