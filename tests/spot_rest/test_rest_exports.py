"""Data exports and order amend history through python-kraken-sdk, as its
own integration suite uses them: request a report, list it, download the zip,
delete it; and OrderAmends after amends made over REST."""

from __future__ import annotations

import csv
import io
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from kraken.spot import Trade, User

from .helpers import Raw, journal_len, sdk, sdk_error


@pytest.fixture
def user(kraken_venue: Any, funded: dict[str, Any]) -> User:
    return sdk(User, kraken_venue, funded)


@pytest.fixture
def trade(kraken_venue: Any, funded: dict[str, Any]) -> Trade:
    return sdk(Trade, kraken_venue, funded)


def _unzip(raw: Any) -> tuple[str, list[list[str]]]:
    data = b"".join(chunk for chunk in raw.iter_content(chunk_size=512) if chunk)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        (name,) = z.namelist()
        text = z.read(name).decode()
    delim = "\t" if name.endswith(".tsv") else ","
    return name, list(csv.reader(io.StringIO(text), delimiter=delim))


def test_trades_and_ledgers_reports(kraken_venue: Any, user: User, trade: Trade) -> None:
    for _ in range(3):
        trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.01")
    mine = user.get_trades_history()["trades"]
    assert len(mine) == 3
    for report in ("trades", "ledgers"):
        fields = ["ordertxid", "time", "ordertype", "price", "cost", "fee", "vol", "margin", "misc", "ledgers"]
        if report == "ledgers":
            fields = ["refid", "time", "type", "aclass", "asset", "amount", "fee", "balance"]
        res = user.request_export_report(report=report, description=f"{report}-export", fields=",".join(fields),
                                         format_="CSV", starttm=0)  # fmt: skip
        rid = res["id"]
        assert len(rid) == 4 and rid.isalpha() and rid.isupper()
        status = user.get_export_report_status(report=report)
        (row,) = [s for s in status if s["id"] == rid]
        assert row["status"] == "Processed" and row["report"] == report and row["descr"] == f"{report}-export"
        assert row["format"] == "CSV" and int(row["expiretm"]) > int(row["createdtm"]) >= int(row["starttm"]) == 0
        name, rows = _unzip(user.retrieve_export(id_=rid))
        assert name == f"{report}.csv"
        header, body = rows[0], rows[1:]
        if report == "trades":
            assert header == ["txid", "ordertxid", "pair", "time", "type", "ordertype", "price", "cost", "fee", "vol",
                              "margin", "misc", "ledgers"]  # fmt: skip
            assert {r[0] for r in body} == set(mine)
            for r in body:
                t = mine[r[0]]
                assert r[1] == t["ordertxid"] and Decimal(r[6]) == Decimal(t["price"]) and r[9] == t["vol"]
        else:
            assert header == ["txid", *fields]
            ledger = user.get_ledgers_info()["ledger"]
            assert {r[0] for r in body} == set(ledger)
            for r in body:
                assert r[fields.index("amount") + 1] == ledger[r[0]]["amount"]
        assert user.delete_export_report(id_=rid, type_="delete") == {"delete": True}
        assert rid not in {s["id"] for s in user.get_export_report_status(report=report)}


def test_report_window_tsv_and_bad_requests(kraken_venue: Any, funded: dict[str, Any], user: User, trade: Trade) -> None:
    trade.create_order(ordertype="market", side="buy", pair="XBTUSD", volume="0.01")
    now_s = int(kraken_venue.admin.clock["now_ns"]) // 10**9
    rid = user.request_export_report(report="trades", description="later", format_="TSV", starttm=now_s + 10)["id"]
    name, rows = _unzip(user.retrieve_export(id_=rid))
    assert name == "trades.tsv" and len(rows) == 1  # the header only: nothing traded in the window
    raw = Raw(kraken_venue, kraken_venue.admin.create_account({"USD": "10"}))  # its own key: its own nonces
    before = journal_len(kraken_venue)
    bad = [
        ({"report": "orders", "description": "x"}, "EGeneral:Invalid arguments:report"),
        ({"report": "trades"}, "EGeneral:Invalid arguments:description"),
        ({"report": "trades", "description": "x", "format": "XLS"}, "EGeneral:Invalid arguments:format"),
        ({"report": "trades", "description": "x", "fields": "balance"}, "EGeneral:Invalid arguments:fields"),
        ({"report": "trades", "description": "x", "starttm": "20", "endtm": "10"}, "EGeneral:Invalid arguments:starttm"),
        ({"report": "trades", "description": "x", "starttm": "1e999999"}, "EGeneral:Invalid arguments:starttm"),
    ]
    for params, error in bad:
        assert raw.error("AddExport", params) == error, params
    assert journal_len(kraken_venue) == before  # refused requests never reach the journal
    assert raw.error("RetrieveExport", {"id": "NOPE"}) == "EGeneral:Invalid arguments:id"
    assert "Invalid arguments" in sdk_error(lambda: user.delete_export_report(id_="NOPE"))


def test_exports_replay_to_the_same_state(kraken_venue: Any, user: User) -> None:
    rid = user.request_export_report(report="ledgers", description="keep", format_="CSV")["id"]
    other = user.request_export_report(report="ledgers", description="drop", format_="CSV")["id"]
    user.delete_export_report(id_=other)
    from simulator.core.venue import Venue, VenueConfig

    rt = kraken_venue.runtime
    fresh = Venue(VenueConfig(seed=rt.venue.config.seed), rt.venue.clock)
    entries = kraken_venue.call(lambda: list(rt.venue.journal.entries))
    fresh.replay({**e.to_json(with_events=False), "params": e.params} for e in entries)
    reports = {r.id: r.req.description for rs in fresh.spot.exports.by_account.values() for r in rs}
    assert reports == {rid: "keep"}


def test_order_amends(kraken_venue: Any, user: User, trade: Trade, funded: dict[str, Any]) -> None:
    oid = trade.create_order(ordertype="limit", side="buy", pair="XBTUSD", volume="0.5", price="20000")["txid"][0]
    assert user.get_order_amends(order_id=oid) == {"amends": [], "count": 0}
    trade.amend_order(txid=oid, limit_price="20100")
    trade.amend_order(txid=oid, order_qty="0.4")
    res = user.get_order_amends(order_id=oid)
    assert res["count"] == 3
    original, first, second = res["amends"]
    assert [a["amend_type"] for a in res["amends"]] == ["original", "user", "user"]
    assert original["limit_price"] == "20000.0" and original["order_qty"] == "0.50000000"
    assert first["limit_price"] == "20100.0" and first["order_qty"] == "0.50000000"
    assert second["order_qty"] == "0.40000000" and second["remaining_qty"] == "0.40000000"
    assert len({a["amend_id"] for a in res["amends"]}) == 3
    assert original["timestamp"] <= first["timestamp"] <= second["timestamp"]
    assert "Unknown order" in sdk_error(lambda: user.get_order_amends(order_id="OAAAAA-BBBBB-CCCCCC"))
