"""Hypothesis over FIX 4.4 on a raw socket: valid orders with mutated fields,
random tags and values, wrong BodyLength and CheckSum, wrong seqnums and
CompIDs, huge fields and messages, garbage bytes, messages before Logon.

Per message (then a TestRequest sentinel): no internal error, the acceptor
either answers or closes the connection for a reason FIX allows (never just
stops answering a well-framed message), a message no ExecutionReport accepted
changes no state, and another account's orders are never touched."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.pytest_plugin import KrakenVenue

from .kit import (
    FixEOF,
    FixGap,
    FixMsg,
    FixNonces,
    FixRaw,
    Rest,
    assert_alive,
    changes_since,
    fix_time,
    fix_trader,
    frame,
    fund,
    fuzz_settings,
    next_cl_ord_id,
    snapshot,
)

ORDER = {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "price": "900", "volume": "0.01"}
TAGS = [1, 11, 18, 37, 38, 40, 41, 44, 54, 55, 58, 59, 60, 78, 79, 99, 110, 111, 112, 126, 146, 167, 168, 262,
        263, 264, 265, 267, 269, 320, 335, 530, 559, 581, 790, 1138, 5001, 7928, 8674, 34, 43, 49, 52, 56, 97, 122]
MSG_TYPES = ["D", "F", "G", "H", "q", "V", "x", "g", "AF", "AN", "0", "1", "2", "3", "4", "5", "A", "j", "8", "ZZ",
             "", "DD"]
# kinds whose bytes a FIX acceptor may legitimately treat as garbled, or answer with Logout
LOOSE = {"bad_length", "bad_checksum", "garbage", "huge_message", "bad_begin", "bad_seq_low", "bad_header"}


@dataclass
class World:
    venue: KrakenVenue
    fuzzer: dict[str, Any]
    victim: dict[str, Any]
    victim_orders: list[str]
    nonces: FixNonces
    conn: FixRaw | None = None

    def victim_view(self) -> tuple[Any, Any]:
        a = self.venue.admin.account(self.victim["account_id"])
        return a["open_orders"], a["balances"]

    def session(self) -> FixRaw:
        if self.conn is None:
            self.conn = fix_trader(self.venue, self.fuzzer, self.nonces)
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@pytest.fixture(scope="module")
def world(venue: KrakenVenue) -> Iterator[World]:
    venue.admin.freeze()
    fuzzer = fund(venue)
    victim = fund(venue)
    with Rest(venue) as rest:
        vic = [rest.ok(victim, "AddOrder", {**ORDER, "price": str(900 + i), "cl_ord_id": f"vic{i}"})["txid"][0]
               for i in range(3)]
    w = World(venue, fuzzer, victim, vic, FixNonces(venue))
    try:
        yield w
    finally:
        w.drop()
        venue.admin.set_clock(mode="real")


def _values(w: World) -> st.SearchStrategy[str]:
    domain = st.sampled_from([
        "BTC/USD", "XBT/USD", "ETH/USD", "NOPE/USD", "PF_XBTUSD", "1", "2", "3", "4", "5", "7", "8", "P", "K", "0",
        "-1", "0.01", "1000", "1e5", "NaN", "999999999999999999999", "0.000000000001", "Y", "N", "",
        "20300101-00:00:00.000", "20200101-00:00:00", "bogus-time", "vic0", *w.victim_orders,
        w.victim["account_id"], w.fuzzer["account_id"], "=", "\x01", "é",
    ])
    return st.one_of(domain, domain, st.text(max_size=30).map(lambda s: s.replace("\x01", "")),
                     st.integers().map(str))


def _bases(w: World) -> list[tuple[str, list[tuple[int, str]]]]:
    vic = w.victim_orders
    own_order = ("D", [(11, "{cl}"), (55, "BTC/USD"), (54, "1"), (38, "0.01"), (40, "2"), (44, "1000"), (59, "1"),
                       (60, "{now}")])
    return [
        own_order,
        own_order,  # weighted: most order flow reaches the engine
        own_order,
        ("D", [(11, "{cl}"), (55, "BTC/USD"), (54, "1"), (38, "0.01"), (40, "2"), (44, "1000"), (59, "1"),
               (60, "{now}"), (78, "1"), (79, w.victim["account_id"])]),
        ("F", [(11, "{cl}"), (37, vic[0]), (55, "BTC/USD"), (54, "1"), (60, "{now}")]),
        ("F", [(11, "{cl}"), (41, "vic1"), (55, "BTC/USD"), (54, "1"), (60, "{now}")]),
        ("G", [(11, "{cl}"), (37, vic[2]), (55, "BTC/USD"), (54, "1"), (38, "0.5"), (40, "2"), (44, "950"),
               (60, "{now}")]),
        ("H", [(790, "{cl}"), (37, vic[1]), (55, "BTC/USD"), (54, "1")]),
        ("q", [(11, "{cl}"), (530, "7"), (60, "{now}")]),
        ("AF", [(584, "{cl}"), (585, "7")]),
        ("x", [(320, "{cl}"), (559, "4")]),
    ]


@st.composite
def messages(draw: st.DrawFn, w: World) -> dict[str, Any]:
    kind = draw(st.sampled_from(["base"] * 6 + ["app"] * 3 + sorted(LOOSE) + ["huge_field", "pre_logon"]))
    values = _values(w)
    if kind in ("base", "pre_logon") or draw(st.booleans()):
        msg_type, fields = draw(st.sampled_from(_bases(w)))
        fields = list(fields)
        mutations = draw(st.sampled_from([0, 0, 1, 1, 2]))
        for _ in range(mutations):
            op = draw(st.sampled_from(["set", "drop", "add", "dup"]))
            if op == "drop" and fields:
                fields.pop(draw(st.integers(0, len(fields) - 1)))
            elif op == "dup" and fields:
                fields.append(fields[draw(st.integers(0, len(fields) - 1))])
            elif op == "set" and fields:
                i = draw(st.integers(0, len(fields) - 1))
                fields[i] = (fields[i][0], draw(values))
            else:
                fields.append((draw(st.sampled_from(TAGS) | st.integers(1, 99999)), draw(values)))
    else:
        msg_type = draw(st.sampled_from(MSG_TYPES) | st.text(max_size=3).map(lambda s: s.replace("\x01", "")))
        fields = [(draw(st.sampled_from(TAGS) | st.integers(-5, 99999)), draw(values))
                  for _ in range(draw(st.integers(0, 12)))]
    return {"kind": kind, "type": msg_type, "fields": fields, "garbage": draw(st.binary(min_size=1, max_size=300)),
            "delta": draw(st.sampled_from([-50, -3, -1, 1, 2, 7, 1000])), "where": draw(st.integers(0, 3))}


def _render(c: FixRaw, m: dict[str, Any]) -> tuple[bytes, bool]:
    """The bytes to send, and whether a well-behaved acceptor consumes a seqnum for them."""
    cl = next_cl_ord_id()
    fields = [(t, v.replace("{cl}", cl).replace("{now}", fix_time()) if isinstance(v, str) else v)
              for t, v in m["fields"]]
    kind = m["kind"]
    seq = c.next_seq
    header = c.header(m["type"], seq)
    if kind == "bad_seq_low":
        header[3] = (34, max(1, seq - 1 - abs(m["delta"]) % 5))
        return frame([*header, *fields]), False
    if kind == "bad_header":
        which = m["where"]
        if which == 0:
            header[1] = (49, "SOMEONE-ELSE")
        elif which == 1:
            header[2] = (56, "KRAKEN-NOPE")
        elif which == 2:
            header = header[1:]  # no MsgType
        else:
            header = [header[1], header[0], *header[2:]]  # MsgType not third
        return frame([*header, *fields]), False
    if kind == "bad_length":
        raw = frame([*header, *fields])
        body = frame([*header, *fields]).split(b"\x01", 2)[2]
        n = len(body) - len(b"10=000\x01") + m["delta"]
        return frame([*header, *fields], body_length=max(0, n)), False
    if kind == "bad_checksum":
        raw = frame([*header, *fields])
        good = sum(raw[: raw.rfind(b"10=")]) % 256
        return frame([*header, *fields], checksum=(good + 1 + abs(m["delta"])) % 256), False
    if kind == "bad_begin":
        return frame([*header, *fields], begin=["FIX.4.2", "FIXT.1.1", "FIX.4.4\x00", "X" * 40][m["where"]]), False
    if kind == "garbage":
        return m["garbage"], False
    if kind == "huge_field":
        return frame([*header, *fields, (58, "x" * 5000)]), True
    if kind == "huge_message":
        return frame([*header, *fields, *[(58, "y" * 4000)] * 17]), False
    return frame([*header, *fields]), True


def _accepted(replies: list[FixMsg]) -> bool:
    """Did an order message get through (ExecutionReport that is not a reject or status)?"""
    for r in replies:
        if r.msg_type == "8" and r.get(150) not in ("8", "I"):
            return True
        if r.msg_type == "r" and r.get(531) not in (None, "0"):
            return True
    return False


def test_fix_fuzz(venue: KrakenVenue, world: World) -> None:
    w = world
    outcomes: dict[str, int] = {}
    victim_before = w.victim_view()
    history: list[str] = []

    @fuzz_settings(200)
    @given(m=messages(w))
    def one(m: dict[str, Any]) -> None:
        kind = m["kind"]
        before = snapshot(venue)
        if kind == "pre_logon":  # a fresh socket, nothing sent before: the acceptor must not act on it
            c = FixRaw(venue.fix_host, venue.fix_port, w.fuzzer["fix"]["sender_comp_id"]).connect()
            try:
                c.send_raw(_render(c, m)[0])
                try:
                    got = [c.recv(0.5)]
                except FixEOF:
                    got = []
                assert all(g is None or g.msg_type in ("5", "3") for g in got), (got, m)
            finally:
                c.close()
            assert changes_since(venue, before) == [], m
            outcomes["pre_logon"] = outcomes.get("pre_logon", 0) + 1
            return
        c = w.session()
        data, consumes = _render(c, m)
        where = f"{kind} 35={m['type']} {data[:300]!r}"
        history.append(where)
        c.send_raw(data)
        if consumes:
            c.next_seq += 1
        replies: list[FixMsg] = []
        try:
            replies = c.sync(timeout=1.5 if kind in LOOSE else 3.0)
            outcome = "answered"
        except FixEOF:
            outcome = "closed"
            w.drop()
        except FixGap:
            outcome = "gap"  # a message we counted was dropped as garbled; start a new session
            w.drop()
        except TimeoutError:
            gap = any(r.msg_type == "2" for r in c.received)  # it saw our seqnum run ahead: a ResendRequest
            loose = kind in LOOSE or any("\x01" in str(v) for _, v in m["fields"])  # SOH inside a value garbles
            assert gap or loose, f"acceptor stopped answering after {where}; before: {history[-4:]}"
            outcome = "gap" if gap else "garbled"
            w.drop()
        replies += [r for r in c.received if r not in replies and r.msg_type in ("5", "3", "j", "8")]
        c.received.clear()
        for r in replies:
            assert "internal" not in (r.get(58) or "").lower(), (r.raw, where)
        if not _accepted(replies):
            assert changes_since(venue, before) == [], ([r.raw for r in replies], where)
        else:
            outcome = "accepted"
        outcomes[f"{kind}:{outcome}"] = outcomes.get(f"{kind}:{outcome}", 0) + 1
        assert w.victim_view() == victim_before, "another account's orders or balances changed: " + where

    one()
    w.drop()
    print("outcomes:", dict(sorted(outcomes.items())))
    assert sum(v for k, v in outcomes.items() if k.endswith(":accepted")) >= 3, outcomes  # the engine was reached
    assert_alive(venue, w.fuzzer)
    c = fix_trader(venue, w.fuzzer, w.nonces)  # a fresh session still trades
    try:
        c.send("D", [(11, next_cl_ord_id()), (55, "BTC/USD"), (54, "1"), (38, "0.01"), (40, "2"), (44, "1000"),
                     (59, "1"), (60, fix_time())])
        er = c.expect("8")
        assert er.get(150) == "0", er.raw
    finally:
        c.close()


def test_fix_size_caps(venue: KrakenVenue, world: World) -> None:
    """Field over 4 KiB: session Reject; message over 64 KiB: refused, never buffered whole."""
    c = fix_trader(venue, world.fuzzer, world.nonces)
    try:
        c.send("1", [(112, "x" * 5000)])
        first = c.expect("3")
        assert first.get(45) == "2", first.raw
        c.send_raw(frame([*c.header("1"), (112, "y" * 70_000)]))
        try:
            left = c.sync(timeout=2.0)
            assert all(m.msg_type in ("3", "2") for m in left), [m.raw for m in left]
        except (FixEOF, TimeoutError):
            pass  # closing, or discarding the oversized frame, are both refusals
    finally:
        c.close()
    assert_alive(venue, world.fuzzer)
