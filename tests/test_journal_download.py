"""`GET /admin/journal.jsonl` under order traffic is a consistent prefix of
the journal: whole lines, seqs 1..n without a gap, a body exactly as long as
its Content-Length, byte for byte the start of the journal the run ends
with.  From the state directory's file (`--journal-max`: memory keeps only
the newest entries) and from memory alike; the journal grows while it is
sent (the file-backed download was cut mid-body in 19 of 20 tries)."""

from __future__ import annotations

import json
import threading
import time
import types
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulator.pytest_plugin import AdminClient
from simulator.server.persistence import JOURNAL
from tests.cli_serve import Served, serve_cmd
from tests.prove.kit import Rest, fund

DOWNLOADS = 20


def _traffic(venue: Any, stop: threading.Event, counts: list[int]) -> None:
    """Orders placed and cancelled as fast as one client goes, until told (or 60 s)."""
    a = fund(venue)
    deadline = time.monotonic() + 60
    with Rest(venue) as rest:
        i = 0
        while not stop.is_set() and time.monotonic() < deadline:
            txid = rest.ok(a, "AddOrder", {"pair": "XBTUSD", "type": "buy", "ordertype": "limit",
                                           "price": str(1000 + i % 50), "volume": "0.01"})["txid"][0]
            if i % 2:
                rest.ok(a, "CancelOrder", {"txid": txid})
            i += 1
            counts[0] = i


@pytest.mark.parametrize("from_file", [True, False], ids=["state-dir file", "memory"])
def test_journal_download_is_a_consistent_prefix_under_traffic(tmp_path: Path, from_file: bool) -> None:
    state = tmp_path / "state"
    extra = ("--journal-max", "50") if from_file else ()
    srv = Served(serve_cmd(state, *extra))
    bodies: list[tuple[int, bytes, dict[str, Any]]] = []
    counts = [0]
    stop = threading.Event()
    try:
        venue = types.SimpleNamespace(spot_rest=srv.info["spot_rest"], admin=AdminClient(srv.admin))
        th = threading.Thread(target=_traffic, args=(venue, stop, counts), daemon=True)
        th.start()
        with httpx.Client(timeout=30) as http:
            while counts[0] < 20:  # the traffic is under way
                time.sleep(0.01)
            for _ in range(DOWNLOADS):
                r = http.get(srv.admin + "/journal.jsonl")  # a cut body raises here
                bodies.append((r.status_code, r.content, dict(r.headers)))
        stop.set()
        th.join(30)
    finally:
        stop.set()
        rc, err = srv.stop()
    assert rc == 0, err
    final = (state / JOURNAL).read_bytes()
    sizes = []
    for status, body, headers in bodies:
        assert status == 200
        assert int(headers["content-length"]) == len(body)
        assert body.endswith(b"\n") and final.startswith(body)  # whole lines, the journal's own start
        seqs = [json.loads(ln)["seq"] for ln in body.splitlines()]
        assert seqs == list(range(1, len(seqs) + 1))
        assert ("x-journal-dropped" in headers) is False  # complete: nothing left out
        sizes.append(len(body))
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0], sizes  # it grew between (and during) downloads
    assert counts[0] >= DOWNLOADS  # orders went on throughout
