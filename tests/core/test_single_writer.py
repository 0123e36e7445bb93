"""One writer per engine: outside the core nobody takes a sequencer's lock or
sets engine time; reads go through `exclusive()` / `view()`."""

from __future__ import annotations

import re
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from simulator.core.orders import Origin
from simulator.core.venue import Venue, VenueConfig

T0 = 1_700_000_000 * 10**9
ROOT = Path(__file__).resolve().parents[2] / "simulator"


def test_no_lock_or_engine_time_outside_the_core() -> None:
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        if rel.startswith("simulator/core/"):
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "._lock" in line or re.search(r"\w\.now_ns\s*=[^=]", line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []


def test_view_brings_engine_time_to_the_clock_and_never_back() -> None:
    venue = Venue(VenueConfig(clock_mode="frozen", clock_start_ns=T0))
    seq = venue.derivatives_seq
    venue.clock.advance_ns(5 * 10**9)
    assert venue.derivatives.now_ns < venue.clock.now_ns()
    with seq.view() as eng:
        assert eng is venue.derivatives and eng.now_ns == venue.clock.now_ns()
    later = venue.clock.now_ns() + 4 * 10**9
    eng.now_ns = later  # a command stamped later than the clock (a replay)
    with seq.view():
        assert eng.now_ns == later
    with seq.exclusive() as held:
        assert held is venue.derivatives


def test_exclusive_keeps_other_writers_out_and_times_out() -> None:
    venue = Venue(VenueConfig(clock_mode="frozen", clock_start_ns=T0))
    acct = venue.create_account({"USD": "10"}).account.id
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def holder() -> None:
        with venue.spot_seq.exclusive():
            held.set()
            release.wait(5)

    def writer() -> None:
        venue.spot_seq.submit("adjust_balance", Origin("test"), {"account_id": acct, "asset": "USD", "amount": Decimal(1)})
        done.set()

    t = threading.Thread(target=holder)
    t.start()
    held.wait(5)
    w = threading.Thread(target=writer)
    w.start()
    assert not done.wait(0.2)  # the command waits for the reader
    with pytest.raises(TimeoutError), venue.quiesced(timeout=0.05):
        pass
    release.set()
    t.join(5)
    w.join(5)
    assert done.is_set()
    with venue.quiesced(timeout=1):  # both sequencers, re-entrant
        with venue.spot_seq.exclusive():
            venue.spot_seq.submit("adjust_balance", Origin("test"), {"account_id": acct, "asset": "USD", "amount": Decimal(1)})
