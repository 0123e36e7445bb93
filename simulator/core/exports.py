"""Data export reports (Kraken's AddExport / ExportStatus / RetrieveExport /
RemoveExport): what was asked for, per account.  A report's rows are the
account's own trades or ledger entries in its time window, rendered by the
REST gateway when retrieved; the venue makes reports at once, so every report
is `Processed` when listed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from simulator.core.clock import NS_PER_S

from .errors import EngineError, Reject

REPORTS = ("trades", "ledgers")
FORMATS = ("CSV", "TSV")
# the fields a report may be narrowed to, in the order the file has them
FIELDS = {
    "trades": ("ordertxid", "time", "ordertype", "price", "cost", "fee", "vol", "margin", "misc", "ledgers"),
    "ledgers": ("refid", "time", "type", "subtype", "aclass", "asset", "amount", "fee", "balance", "wallet"),
}
RETENTION_NS = 14 * 86_400 * NS_PER_S  # a report expires two weeks after it was made
MAX_REPORTS = 50  # per account: more is refused, as a user would clear old ones


@dataclass(frozen=True, slots=True)
class ExportRequest:
    report: str
    description: str
    format: str = "CSV"
    fields: tuple[str, ...] = ()  # empty: all
    start_ns: int | None = None  # None: the first of the current month
    end_ns: int | None = None  # None: now


@dataclass(slots=True)
class ExportReport:
    id: str
    account_id: str
    req: ExportRequest
    created_ns: int
    start_ns: int
    end_ns: int

    @property
    def expire_ns(self) -> int:
        return self.created_ns + RETENTION_NS

    @property
    def columns(self) -> tuple[str, ...]:
        return self.req.fields or FIELDS[self.req.report]


@dataclass
class ExportRegistry:
    """Every account's reports, in the order they were asked for."""

    by_account: dict[str, list[ExportReport]] = field(default_factory=dict)

    def add(self, report: ExportReport) -> None:
        reports = self.by_account.setdefault(report.account_id, [])
        if len(reports) >= MAX_REPORTS:
            raise EngineError(Reject.INVALID_ARGUMENTS, "too many reports")
        reports.append(report)

    def of(self, account_id: str, kind: str | None = None, now_ns: int | None = None) -> list[ExportReport]:
        return [
            r
            for r in self.by_account.get(account_id, [])
            if (kind is None or r.req.report == kind) and (now_ns is None or r.expire_ns > now_ns)
        ]

    def find(self, account_id: str, report_id: str) -> ExportReport:
        for r in self.by_account.get(account_id, []):
            if r.id == report_id:
                return r
        raise EngineError(Reject.INVALID_ARGUMENTS, "id")

    def remove(self, account_id: str, report_id: str) -> ExportReport:
        r = self.find(account_id, report_id)
        self.by_account[account_id].remove(r)
        return r

    def to_state(self) -> dict[str, Any]:
        return {
            a: [[r.id, r.account_id, r.req.report, r.req.description, r.req.format, list(r.req.fields),
                 r.req.start_ns, r.req.end_ns, r.created_ns, r.start_ns, r.end_ns] for r in reports]
            for a, reports in self.by_account.items()
        }  # fmt: skip

    def from_state(self, state: dict[str, Any]) -> None:
        self.by_account = {
            a: [ExportReport(rid, acct, ExportRequest(rep, desc, fmt, tuple(fields), rs, re_), created, start, end)
                for rid, acct, rep, desc, fmt, fields, rs, re_, created, start, end in reports]
            for a, reports in state.items()
        }  # fmt: skip


def month_start_ns(now_ns: int) -> int:
    """00:00 UTC on the first of `now`'s month (Kraken's default `starttm`)."""
    d = dt.datetime.fromtimestamp(now_ns // NS_PER_S, dt.UTC)
    first = dt.datetime(d.year, d.month, 1, tzinfo=dt.UTC)
    return int(first.timestamp()) * NS_PER_S


_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def report_id(bits: int) -> str:
    """Kraken's report ids are four capital letters (`TCJA`)."""
    out = []
    for _ in range(4):
        bits, r = divmod(bits, 26)
        out.append(_LETTERS[r])
    return "".join(out)
