"""Data exports (AddExport, ExportStatus, RetrieveExport, RemoveExport) and
OrderAmends.  The reports themselves are core state (simulator/core/exports.py),
made and removed by journaled commands; this module parses the requests and
renders Kraken's shapes: status rows with unix-second strings, and a zip
holding one CSV (or TSV) file of the account's trades or ledger entries."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from bisect import bisect_left, bisect_right
from typing import Any

from simulator.core.accounts import EXPORT, QUERY_CLOSED, QUERY_OPEN
from simulator.core.amends import AmendRecord
from simulator.core.clock import NS_PER_S
from simulator.core.exports import FIELDS, FORMATS, REPORTS, ExportReport

from . import render
from .parse import ApiError, Params, invalid
from .registry import Ctx, RawResult, private

EXPORT_PERMS = [(EXPORT,)]
_MAX_UNIX_S = 10**11  # far beyond any venue time; keeps the integers small
TRADE_COLUMNS = ("txid", "ordertxid", "pair", "time", "type", "ordertype", "price", "cost", "fee", "vol", "margin",
                 "misc", "ledgers")  # fmt: skip


def _unix(p: Params, name: str) -> int | None:
    v = p.integer(name, lo=0, hi=_MAX_UNIX_S)
    return None if v is None else v * NS_PER_S


def _fields(p: Params, report: str) -> list[str]:
    names = p.items("fields", max_items=len(FIELDS[report]) + 1)
    if not names or names == ["all"]:
        return []
    if set(names) - set(FIELDS[report]) or len(set(names)) != len(names):
        raise invalid("fields")
    return [f for f in FIELDS[report] if f in names]  # the file's own column order


@private("AddExport", ("report", "description", "format", "fields", "starttm", "endtm"), perms=EXPORT_PERMS)
def add_export(ctx: Ctx, p: Params) -> dict[str, Any]:
    report = p.enum("report", REPORTS)
    if report is None:
        raise invalid("report")
    description = p.text("description", max_len=256)
    if not description:
        raise invalid("description")
    fmt_name = p.enum("format", FORMATS, "CSV") or "CSV"
    fields = _fields(p, report)
    start, end = _unix(p, "starttm"), _unix(p, "endtm")
    if start is not None and end is not None and start > end:
        raise invalid("starttm")
    rep: ExportReport = ctx.submit(
        "add_export",
        {"account_id": ctx.account_id, "report": report, "description": description, "format": fmt_name,
         "fields": fields, "start_ns": start, "end_ns": end},
    )  # fmt: skip
    return {"id": rep.id}


def _status_row(r: ExportReport) -> dict[str, str]:
    s = str  # Kraken sends every number of this row as a string
    return {
        "id": r.id,
        "descr": r.req.description,
        "format": r.req.format,
        "report": r.req.report,
        "subtype": "all",
        "status": "Processed",
        "flags": "0",
        "fields": ",".join(r.req.fields) if r.req.fields else "all",
        "createdtm": s(r.created_ns // NS_PER_S),
        "expiretm": s(r.expire_ns // NS_PER_S),
        "starttm": s(r.start_ns // NS_PER_S),
        "completedtm": s(r.created_ns // NS_PER_S),
        "datastarttm": s(r.start_ns // NS_PER_S),
        "dataendtm": s(r.end_ns // NS_PER_S),
        "aclass": "currency",
        "asset": "all",
    }


@private("ExportStatus", ("report",), perms=EXPORT_PERMS)
def export_status(ctx: Ctx, p: Params) -> list[dict[str, str]]:
    report = p.enum("report", REPORTS)
    if report is None:
        raise invalid("report")
    return [_status_row(r) for r in ctx.engine.exports.of(ctx.account_id, report, ctx.now_ns())]


def _csv_time(ns: int) -> str:
    """Kraken's export time column: `2024-03-04 12:34:56.1234` (UTC)."""
    d = dt.datetime.fromtimestamp(ns // NS_PER_S, dt.UTC)
    return f"{d:%Y-%m-%d %H:%M:%S}.{ns % NS_PER_S // 100_000:04d}"


def _window(items: list[Any], start: int, end: int, key: Any) -> list[Any]:
    """The items (time ordered) within [start, end]: found by bisection, so the
    cost is what the report holds, not the account's whole history."""
    lo = bisect_left(items, start, key=key)
    hi = bisect_right(items, end, key=key)
    return items[lo:hi]


def _trade_rows(ctx: Ctx, r: ExportReport) -> list[dict[str, str]]:
    fills = _window(ctx.engine.fills.get(ctx.account_id, []), r.start_ns, r.end_ns, lambda f: f.ts)
    out = []
    for row in render.trade_rows(fills, consolidate=True):
        j = row.to_json(with_ledgers=True)
        out.append({
            "txid": row.id, "ordertxid": j["ordertxid"], "pair": j["pair"], "time": _csv_time(row.time_ns),
            "type": j["type"], "ordertype": j["ordertype"], "price": j["price"], "cost": j["cost"], "fee": j["fee"],
            "vol": j["vol"], "margin": j["margin"], "misc": j["misc"], "ledgers": ",".join(j["ledgers"]),
        })  # fmt: skip
    return out


def _ledger_rows(ctx: Ctx, r: ExportReport) -> list[dict[str, str]]:
    entries = _window(ctx.acct.ledger, r.start_ns, r.end_ns, lambda e: e.time_ns)
    out = []
    for e in entries:
        j = render.ledger_json(ctx.engine, e)
        out.append({"txid": e.id, **{k: str(v) for k, v in j.items() if k != "time"}, "time": _csv_time(e.time_ns),
                    "wallet": "spot / main"})  # fmt: skip
    return out


def report_file(ctx: Ctx, r: ExportReport) -> bytes:
    """The zip Kraken serves: one file of the report's rows, every value quoted."""
    if r.req.report == "trades":
        cols = [c for c in TRADE_COLUMNS if c in ("txid", "pair", "type") or c in r.columns]
        rows = _trade_rows(ctx, r)
    else:
        cols = ["txid", *r.columns]
        rows = _ledger_rows(ctx, r)
    text = io.StringIO()
    w = csv.writer(text, delimiter="\t" if r.req.format == "TSV" else ",", quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(cols)
    for row in rows:
        w.writerow([row.get(c, "") for c in cols])
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(f"{r.req.report}.{r.req.format.lower()}", _zip_time(r.created_ns))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text.getvalue())
    return blob.getvalue()


def _zip_time(ns: int) -> tuple[int, int, int, int, int, int]:
    d = dt.datetime.fromtimestamp(max(ns // NS_PER_S, 315_532_800), dt.UTC)  # zip dates start in 1980
    return (d.year, d.month, d.day, d.hour, d.minute, d.second)


@private("RetrieveExport", ("id",), perms=EXPORT_PERMS)
def retrieve_export(ctx: Ctx, p: Params) -> RawResult:
    rid = p.req_text("id", 16)
    rep = ctx.engine.exports.find(ctx.account_id, rid)
    return RawResult(report_file(ctx, rep), "application/zip")


@private("RemoveExport", ("id", "type"), perms=EXPORT_PERMS)
def remove_export(ctx: Ctx, p: Params) -> dict[str, bool]:
    rid = p.req_text("id", 16)
    kind = p.enum("type", ("cancel", "delete"))
    if kind is None:
        raise invalid("type")
    ctx.submit("remove_export", {"account_id": ctx.account_id, "report_id": rid})
    return {kind: True}


# ------------------------------------------------------------- OrderAmends
def _amend_json(o: Any, a: AmendRecord) -> dict[str, Any]:
    pair = o.pair
    d: dict[str, Any] = {
        "amend_id": a.amend_id,
        "amend_type": a.amend_type,
        "order_qty": render.volume(pair, a.qty),
        "remaining_qty": render.volume(pair, a.remaining),
        "post_only": a.post_only,
        "timestamp": a.ts // 1_000_000,
    }
    if a.display:
        d["display_qty"] = render.volume(pair, a.display)
    if a.price is not None:
        d["limit_price"] = render.price(pair, a.price)
    if a.trigger_price is not None:
        d["trigger_price"] = render.price(pair, a.trigger_price)
    if a.reason:
        d["reason"] = a.reason
    return d


@private("OrderAmends", ("order_id", "rebase_multiplier"), perms=[(QUERY_OPEN, QUERY_CLOSED)])
def order_amends(ctx: Ctx, p: Params) -> dict[str, Any]:
    oid = p.req_text("order_id", 64)
    o = ctx.engine.orders.get(oid)
    if o is None or o.account_id != ctx.account_id:
        raise ApiError("EOrder:Unknown order")
    versions = ctx.engine.amend_history.of(oid)
    return {"amends": [_amend_json(o, a) for a in versions], "count": len(versions)}
