"""A FIX session's resend store keeps the newest messages only (issue 15.11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.gateways.fix import store
from simulator.gateways.fix.store import FileStore, MessageStore, SessionKey

KEY = SessionKey("FIX.4.4", "KRAKEN-TRD", "CLIENT-1")


def _fill(s: MessageStore, n: int) -> None:
    for seq in range(1, n + 1):
        s.save_outbound(seq, b"8=FIX.4.4|34=%d|" % seq)


def test_memory_store_keeps_the_newest_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "RESEND_KEEP", 80)
    keep = store.RESEND_KEEP
    s = MessageStore(KEY)
    _fill(s, keep * 2)
    assert len(s._messages) <= keep + (keep >> 3)
    got = s.get_range(1, keep * 2)
    assert got[-1][0] == keep * 2 and got[0][0] > keep // 2
    assert s.next_sender_seq == keep * 2 + 1
    assert s.get_range(1, 10) == []  # older than the window: the session gap-fills


def test_file_store_reloads_only_the_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "RESEND_KEEP", 80)
    keep = store.RESEND_KEEP
    s = FileStore(KEY, tmp_path)
    _fill(s, keep + keep // 2)
    s.close()
    again = FileStore(KEY, tmp_path)
    assert len(again._messages) <= keep + (keep >> 3)
    assert again.next_sender_seq == keep + keep // 2 + 1
    again.close()
