"""Market-data replay: the file formats (docs/replay.md) and playing them into a server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from simulator.core.recording import (
    BookRecord,
    RecordingFormatError,
    TradeRecord,
    parse_csv,
    parse_jsonl,
    parse_records,
)
from simulator.pytest_plugin import AdminError, KrakenVenue, start_venue
from simulator.server.market import resolve_data_file

S = 1_000_000_000


@pytest.fixture
def data_venue(tmp_path: Path) -> Iterator[KrakenVenue]:
    """A venue whose --data-dir is this test's tmp_path (files outside it are refused)."""
    tv, venue = start_venue(data_dir=str(tmp_path))
    try:
        yield venue
    finally:
        tv.stop()


# ---------------------------------------------------------------- formats
def test_csv_trades_any_column_order_comments_and_time_forms() -> None:
    text = "# recorded somewhere\nside,qty,price,time\nb,0.5,100.5,1700000001.25\nsell,0.1,100.4,2023-11-14T22:13:20Z\n\nbuy,1,100.6,1700000002\n"
    recs = parse_csv(text)
    assert recs == [
        TradeRecord(0, Decimal("100.4"), Decimal("0.1"), "sell"),  # 2023-11-14T22:13:20Z is 1700000000
        TradeRecord(int(1.25 * S), Decimal("100.5"), Decimal("0.5"), "buy"),
        TradeRecord(2 * S, Decimal("100.6"), Decimal("1"), "buy"),
    ]


def test_jsonl_trades_and_books_keep_exact_numbers() -> None:
    text = "\n".join([
        '{"type": "book", "time": 10.5, "bids": [[99.9, 1.1], ["99.8", "2"]], "asks": [[100.1, 0.3]]}',
        '# a comment',
        '{"time": 11, "price": 100.1, "qty": 0.30000001, "side": "buy"}',
        '{"type": "trade", "time": "1970-01-01T00:00:12.000000001Z", "price": "100.0", "qty": "1", "side": "s"}',
    ])
    recs = parse_jsonl(text)
    assert recs[0] == BookRecord(0, ((Decimal("99.9"), Decimal("1.1")), (Decimal("99.8"), Decimal("2"))), ((Decimal("100.1"), Decimal("0.3")),))
    assert recs[1] == TradeRecord(S // 2, Decimal("100.1"), Decimal("0.30000001"), "buy")
    assert recs[2] == TradeRecord(3 * S // 2 + 1, Decimal("100.0"), Decimal("1"), "sell")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"time": 1, "price": 1, "qty": 1, "side": "buy"}\n{"time": 2, "price": 1, "qty": 1}', "line 2: trade without side"),
        ('not json', "line 1: not JSON"),
        ('{"price": 1}', "line 1: missing time"),
        ('{"time": 1, "type": "quote"}', "line 1: type must be trade or book"),
        ('{"time": 1, "price": -1, "qty": 1, "side": "buy"}', "line 1: price must be positive"),
        ('{"time": "yesterday", "price": 1, "qty": 1, "side": "buy"}', "line 1: time"),
        ('{"time": 1, "type": "book", "bids": [[1]]}', "line 1: bids[0]"),
        ('{"time": 1, "price": 1, "qty": 1, "side": "up"}', "line 1: side"),
    ],
)
def test_jsonl_errors_name_the_line(text: str, where: str) -> None:
    with pytest.raises(RecordingFormatError, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_jsonl(text, "f.jsonl")


def test_csv_errors_name_the_record() -> None:
    with pytest.raises(RecordingFormatError, match="header must name"):
        parse_csv("when,price\n1,2\n")
    with pytest.raises(RecordingFormatError, match="record 2: qty"):
        parse_csv("time,price,qty,side\n1,2,3,buy\n2,2,x,buy\n")


def test_shipped_replay_files_parse() -> None:
    jl = resolve_data_file("replay_btcusd.jsonl")
    recs = parse_records(jl.read_text(), jl.name)
    assert sum(isinstance(r, BookRecord) for r in recs) == 4 and sum(isinstance(r, TradeRecord) for r in recs) == 60
    assert [r.offset_ns for r in recs] == sorted(r.offset_ns for r in recs) and recs[0].offset_ns == 0
    csvp = resolve_data_file("replay_btcusd_trades.csv")
    trades = parse_records(csvp.read_text(), csvp.name)
    assert len(trades) == 40 and all(isinstance(r, TradeRecord) for r in trades)


# ----------------------------------------------------------------- server
def wait_done(kv: KrakenVenue, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = kv.admin.request("GET", "/replay")[0]
        if st["done"]:
            return st  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError("replay did not finish in time")


def engine_trades(kv: KrakenVenue, pair: str = "XXBTZUSD") -> list[Any]:
    return kv.call(lambda: list(kv.runtime.venue.spot.trades[pair]))  # type: ignore[no-any-return]


def test_recorded_trades_print_through_the_book(data_venue: KrakenVenue, tmp_path: Path) -> None:
    kraken_venue = data_venue
    f = tmp_path / "small.jsonl"
    f.write_text("\n".join([
        '{"type": "book", "time": 100, "bids": [["50000.0", "0.5"], ["49999.0", "1"]], "asks": [["50001.0", "0.4"], ["50002.0", "1"]]}',
        '{"time": 100.5, "price": "50001.0", "qty": "0.25", "side": "buy"}',
        '{"time": 101, "price": "50000.0", "qty": "0.1", "side": "sell"}',
        '{"type": "book", "time": 102, "bids": [["50000.0", "0.4"], ["49998.0", "2"]], "asks": [["50001.0", "0.15"]]}',
    ]))
    st = kraken_venue.admin.request("POST", "/replay", {"file": str(f), "symbol": "BTC/USD", "speed": "max"})
    assert st["records"] == 4
    st = wait_done(kraken_venue)
    assert (st["trades_played"], st["books_played"], st["rejects"]) == (2, 2, {})
    trades = engine_trades(kraken_venue)
    assert [(t.price, t.qty, t.taker_side) for t in trades] == [(500010, 25_000_000, "buy"), (500000, 10_000_000, "sell")]
    # the last snapshot is the replay maker's resting book: unchanged levels kept, others replaced
    maker = st["accounts"]["maker"]
    book = kraken_venue.call(lambda: {s: kraken_venue.runtime.venue.spot.books["XXBTZUSD"].l2(s) for s in ("buy", "sell")})
    assert book == {"buy": [(500000, 40_000_000), (499980, 200_000_000)], "sell": [(500010, 15_000_000)]}
    assert len(kraken_venue.admin.account(maker)["open_orders"]) == 3


def test_replay_at_speed_follows_the_frozen_clock(kraken_venue: KrakenVenue) -> None:
    a = kraken_venue.admin
    a.freeze()
    path = resolve_data_file("replay_btcusd_trades.csv")
    offsets = [r.offset_ns for r in parse_records(path.read_text(), path.name)]
    st = a.request("POST", "/replay", {"file": "replay_btcusd_trades.csv", "symbol": "BTC/USD", "speed": 10})
    assert st["played"] == sum(1 for o in offsets if o == 0)  # only what is due at the start
    time.sleep(0.3)
    assert a.request("GET", "/replay")[0]["played"] == st["played"]  # wall time does not count
    for ms in (5_000, 60_000, 200_000):
        a.advance(ms)
    elapsed = 265_000 * 1_000_000
    st = a.request("GET", "/replay")[0]
    assert st["played"] == sum(1 for o in offsets if o // 10 <= elapsed)
    assert 0 < st["played"] < len(offsets) or st["done"]
    assert st["prints"] >= 1
    a.advance(10_000_000)
    assert a.request("GET", "/replay")[0]["done"]


def test_shipped_jsonl_replays_and_can_be_stopped(kraken_venue: KrakenVenue) -> None:
    a = kraken_venue.admin
    a.request("POST", "/replay", {"file": "replay_btcusd.jsonl", "symbol": "XBTUSD", "speed": "max"})
    st = wait_done(kraken_venue)
    assert st["trades_played"] + st["skipped"] == 60 and st["trades_played"] > 50 and st["prints"] >= 40
    recorded = {Decimal(x) for x in ("106060.0",)}
    assert any(Decimal(t.price).scaleb(-1) in recorded for t in engine_trades(kraken_venue))
    maker = st["accounts"]["maker"]
    assert a.account(maker)["open_orders"]
    out = a.request("DELETE", "/replay/BTC/USD")
    assert out["stopped"] and a.account(maker)["open_orders"] == []
    with pytest.raises(AdminError) as exc:
        a.request("DELETE", "/replay/ETH/USD")
    assert exc.value.status == 404


def test_replay_request_errors(data_venue: KrakenVenue, tmp_path: Path) -> None:
    a = data_venue.admin
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"time": 1, "price": 1, "qty": 1, "side": "sideways"}\n')
    for body, text in (
        ({"file": "nope.csv", "symbol": "BTC/USD"}, "file not found"),
        ({"file": str(bad), "symbol": "BTC/USD"}, "line 1: side"),
        ({"file": "replay_btcusd.jsonl", "symbol": "NOPE"}, "unknown symbol"),
        ({"file": "replay_btcusd.jsonl", "symbol": "BTC/USD", "speed": 0}, "speed"),
        ({"file": "replay_btcusd.jsonl", "symbol": "BTC/USD", "speed": "fast"}, "speed"),
    ):
        with pytest.raises(AdminError) as exc:
            a.request("POST", "/replay", body)
        assert exc.value.status == 400 and text in str(exc.value.detail)
