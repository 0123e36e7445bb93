"""Message store: memory and on-disk persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.gateways.fix import store
from simulator.gateways.fix.registry import SessionRegistry, next_epoch, session_day
from simulator.gateways.fix.store import FileStore, MessageStore, SessionKey, open_store

KEY = SessionKey("FIX.4.4", "KRAKEN-TRD", "CLIENT")


def test_memory_store_sequences_and_range() -> None:
    s = MessageStore(KEY)
    assert (s.next_sender_seq, s.next_target_seq) == (1, 1)
    s.save_outbound(1, b"one")
    s.save_outbound(2, b"two")
    s.set_next_target_seq(5)
    assert s.next_sender_seq == 3
    assert s.get_range(1, 10) == [(1, b"one"), (2, b"two")]
    s.reset(7)
    assert (s.next_sender_seq, s.next_target_seq, s.session_day) == (1, 1, 7)
    assert s.get_range(1, 10) == []


def test_file_store_survives_reopen(tmp_path: Path) -> None:
    s = open_store(KEY, tmp_path)
    assert isinstance(s, FileStore)
    s.save_outbound(1, b"8=FIX.4.4\x01\xff binary ok")
    s.save_outbound(2, b"second")
    s.set_next_target_seq(9)
    s.set_session_day(3)
    s.close()
    again = open_store(KEY, tmp_path)
    assert (again.next_sender_seq, again.next_target_seq, again.session_day) == (3, 9, 3)
    assert again.get_range(1, 2) == [(1, b"8=FIX.4.4\x01\xff binary ok"), (2, b"second")]
    again.reset(4)
    again.close()
    third = open_store(KEY, tmp_path)
    assert (third.next_sender_seq, third.next_target_seq, third.get_range(1, 5)) == (1, 1, [])
    third.close()


def test_file_store_writes_seqnums_in_place_and_outbound_messages_only_once(tmp_path: Path) -> None:
    """The seqnums file is overwritten in place (no temp file and rename per
    message), an outbound message is one appended line and no seqnums write,
    and a shorter record after a longer one still reads back (padding)."""
    s = open_store(KEY, tmp_path)
    assert isinstance(s, FileStore)
    d = next((tmp_path / "sessions").iterdir())
    s.set_next_target_seq(10**12)  # a long record, then a short one
    s.set_next_target_seq(2)
    inode = (d / "seqnums.json").stat().st_ino
    before = (d / "seqnums.json").read_bytes()
    for seq in range(1, 6):
        s.save_outbound(seq, b"msg%d" % seq)
    assert (d / "seqnums.json").read_bytes() == before  # the messages carry their seqnums
    s.set_next_target_seq(3)
    assert (d / "seqnums.json").stat().st_ino == inode  # the same file, written in place
    assert sorted(p.name for p in d.iterdir()) == ["messages.jsonl", "seqnums.json"]  # no temp file left
    s.close()
    again = open_store(KEY, tmp_path)
    assert (again.next_sender_seq, again.next_target_seq) == (6, 3)
    again.close()


def test_file_store_tolerates_torn_last_line(tmp_path: Path) -> None:
    s = open_store(KEY, tmp_path)
    s.save_outbound(1, b"one")
    s.close()
    path = next((tmp_path / "sessions").iterdir()) / "messages.jsonl"
    with open(path, "a") as fh:
        fh.write('{"seq": 2, "raw": "tw')  # crash mid-write
    again = open_store(KEY, tmp_path)
    assert again.get_range(1, 5) == [(1, b"one")]
    again.close()


def test_distinct_sessions_distinct_dirs(tmp_path: Path) -> None:
    a = open_store(KEY, tmp_path)
    b = open_store(SessionKey("FIX.4.4", "KRAKEN-TRD", "CLIENT/../x"), tmp_path)
    a.save_outbound(1, b"a")
    b.save_outbound(1, b"b")
    assert len(list((tmp_path / "sessions").iterdir())) == 2
    a.close()
    b.close()


def test_registry_instance_ids_unique_across_restart(tmp_path: Path) -> None:
    r1 = SessionRegistry(tmp_path)
    ids = {r1.new_instance_id(), r1.new_instance_id()}
    r2 = SessionRegistry(tmp_path)
    ids.add(r2.new_instance_id())
    assert len(ids) == 3


def test_epoch_counts_process_starts(tmp_path: Path) -> None:
    """ExecIDs carry it: a restart on the same state directory never repeats one."""
    assert [next_epoch(tmp_path), next_epoch(tmp_path), next_epoch(tmp_path)] == [1, 2, 3]
    (tmp_path / "epoch.json").write_text("not json")
    assert next_epoch(tmp_path) == 1  # a damaged counter restarts rather than failing the start


def test_session_day_boundary_is_22_utc() -> None:
    from datetime import time

    day0 = 1_700_000_000 // 86400 * 86400  # a UTC midnight
    before = (day0 + 22 * 3600 - 1) * 1_000_000_000
    after = (day0 + 22 * 3600) * 1_000_000_000
    assert session_day(after, time(22, 0)) == session_day(before, time(22, 0)) + 1
    assert session_day(before, None) == session_day(after, None) == 0


def test_resend_plan_gap_fills_admin_and_missing() -> None:
    from simulator.gateways.fix.codec import encode_message
    from simulator.gateways.fix.resend import GapFill, Replay, plan_resend, resend_range

    def raw(mt: str, seq: int) -> bytes:
        return encode_message("FIX.4.4", mt, "S", "C", seq, "20240101-00:00:00.000", [(58, "x")])

    stored = {1: raw("A", 1), 2: raw("8", 2), 3: raw("0", 3), 4: raw("3", 4), 6: raw("j", 6), 7: raw("5", 7)}
    plan = plan_resend(stored, 1, 7)
    assert [(type(p).__name__, p.seq, getattr(p, "new_seq", None)) for p in plan] == [
        ("GapFill", 1, 2), ("Replay", 2, None), ("GapFill", 3, 6), ("Replay", 6, None), ("GapFill", 7, 8)]
    assert isinstance(plan[1], Replay) and plan[1].msg.msg_type == "8"
    assert plan_resend({}, 3, 4) == [GapFill(3, 5)]
    assert resend_range(2, 0, 9) == (2, 9) and resend_range(2, 99, 9) == (2, 9)
    assert resend_range(10, 0, 9) is None and resend_range(3, 4, 9) == (3, 4)


def test_file_store_keeps_its_file_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long session's messages.jsonl is rewritten with the messages kept for
    resends once it holds twice as many (it grew by every outbound message),
    and a reopened store still resends the newest ones and goes on numbering."""
    monkeypatch.setattr(store, "RESEND_KEEP", 100)
    s = open_store(KEY, tmp_path)
    path = next((tmp_path / "sessions").iterdir()) / "messages.jsonl"
    most = 0
    for seq in range(1, 1001):
        s.save_outbound(seq, b"msg %d" % seq)
        most = max(most, path.read_text().count("\n"))
    s.close()
    assert most <= 200, most
    again = open_store(KEY, tmp_path)
    assert again.next_sender_seq == 1001
    held = again.get_range(1, 1000)
    assert held[-1] == (1000, b"msg 1000") and len(held) >= 100
    assert [seq for seq, _ in held] == list(range(held[0][0], 1001))
    again.close()
