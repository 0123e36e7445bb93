"""The soak's hidden memory diagnostic: silent unless `KRAKEN_SIM_MEMDIAG`
names a file, then one JSON line per interval with RSS, pymalloc's figures,
the GC-tracked type counts and the large containers named by their holder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.server.memdiag import MemDiag


class Holder:
    def __init__(self) -> None:
        self.items = list(range(5000))


def test_off_by_default_and_names_what_holds_a_large_container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KRAKEN_SIM_MEMDIAG", raising=False)
    off = MemDiag()
    off.next = 0
    off.poll()
    assert off.path is None
    out = tmp_path / "diag.jsonl"
    monkeypatch.setenv("KRAKEN_SIM_MEMDIAG", str(out))
    monkeypatch.setenv("KRAKEN_SIM_MEMDIAG_S", "0")
    monkeypatch.setenv("KRAKEN_SIM_MEMDIAG_OWNERS", "1")
    h = Holder()
    on = MemDiag()
    on.poll()
    on.poll()
    rows = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert len(rows) == 2
    row = rows[-1]
    assert row["rss"] > 0 and row["types"]["dict"] > 0
    assert row["pymalloc"]["bytes in allocated blocks"] > 0
    assert [5000, "list", "Holder.items"] in row["big"], row["big"]
    del h
