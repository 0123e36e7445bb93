"""Per-session message store: outbound messages by MsgSeqNum and both next seqnums.

ResendRequest is answered from here, and sequence numbers survive reconnects
(and, with a state directory, process restarts) until the daily reset. On disk
a session is a directory with `messages.jsonl` (appended to, one outbound
message a line; rewritten with only the messages memory keeps once it holds
twice as many, so a long session's file stays bounded) and `seqnums.json`.

`seqnums.json` is overwritten in place, as QuickFIX/J's FileStore does its
seqnums file: one positioned write of a record padded to the file's width
(a temp file and a rename per message cost about 250 us each, twice per
round trip).  An outbound message does not rewrite it at all: its line in
`messages.jsonl` carries its seqnum, and loading takes the next sender
seqnum past the newest message kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


@dataclass(frozen=True, order=True)
class SessionKey:
    """FIX session identity, from the venue's side: we are the SenderCompID."""

    begin_string: str
    sender_comp_id: str
    target_comp_id: str

    def __str__(self) -> str:
        return f"{self.begin_string}:{self.sender_comp_id}->{self.target_comp_id}"


RESEND_KEEP = 10_000  # outbound messages a session keeps in memory for ResendRequest


class MessageStore:
    """In-memory store; `FileStore` adds persistence on top of the same API."""

    def __init__(self, key: SessionKey) -> None:
        self.key = key
        self._messages: dict[int, bytes] = {}
        self._next_sender = 1
        self._next_target = 1
        self._session_day: int | None = None

    @property
    def next_sender_seq(self) -> int:
        return self._next_sender

    @property
    def next_target_seq(self) -> int:
        return self._next_target

    @property
    def session_day(self) -> int | None:
        """Venue session day the seqnums belong to (None: never used)."""
        return self._session_day

    def set_next_sender_seq(self, seq: int) -> None:
        self._next_sender = seq
        self._save_seqnums()

    def set_next_target_seq(self, seq: int) -> None:
        self._next_target = seq
        self._save_seqnums()

    def set_session_day(self, day: int) -> None:
        self._session_day = day
        self._save_seqnums()

    def _remember(self, seq: int, raw: bytes) -> None:
        """Keep a message for resends: the newest RESEND_KEEP only (older ones
        are answered with a gap fill, as for session messages), trimmed in
        slices of an eighth so a long session stays flat."""
        msgs = self._messages
        msgs[seq] = raw
        if len(msgs) > RESEND_KEEP + (RESEND_KEEP >> 3):
            for old in sorted(msgs)[: len(msgs) - RESEND_KEEP]:
                del msgs[old]

    def save_outbound(self, seq: int, raw: bytes) -> None:
        """Keep an outbound message and advance the next sender seqnum past it
        (persisted by the message itself: see the module docstring)."""
        self._remember(seq, raw)
        self._next_sender = max(self._next_sender, seq + 1)
        self._append_message(seq, raw)

    def get_range(self, begin: int, end: int) -> list[tuple[int, bytes]]:
        """Stored messages with begin <= seq <= end, in order."""
        msgs = self._messages
        if not msgs:
            return []
        lo, hi = max(begin, min(msgs)), min(end, max(msgs))  # the window held, not the range asked
        return [(s, msgs[s]) for s in range(lo, hi + 1) if s in msgs]

    def reset(self, session_day: int | None = None) -> None:
        """Forget every message; both next seqnums back to 1."""
        self._messages.clear()
        self._next_sender = 1
        self._next_target = 1
        if session_day is not None:
            self._session_day = session_day
        self._truncate_messages()
        self._save_seqnums()

    def close(self) -> None:
        """Release files (no-op in memory)."""

    # persistence hooks, no-ops in memory
    def _append_message(self, seq: int, raw: bytes) -> None:
        pass

    def _save_seqnums(self) -> None:
        pass

    def _truncate_messages(self) -> None:
        pass


class FileStore(MessageStore):
    """MessageStore persisted under `directory` (created if missing)."""

    def __init__(self, key: SessionKey, directory: Path) -> None:
        super().__init__(key)
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._messages_path = directory / "messages.jsonl"
        self._seqnums_path = directory / "seqnums.json"
        self._lines = 0  # lines in messages.jsonl
        self._load()
        self._fh: IO[str] = open(self._messages_path, "a", encoding="utf-8")  # noqa: SIM115
        self._seq_fd = os.open(self._seqnums_path, os.O_RDWR | os.O_CREAT, 0o644)
        self._seq_width = os.fstat(self._seq_fd).st_size  # records are padded to this; it never shrinks

    def _load(self) -> None:
        if self._seqnums_path.exists():
            try:
                data = json.loads(self._seqnums_path.read_text(encoding="utf-8"))
                self._next_sender = int(data["next_sender"])
                self._next_target = int(data["next_target"])
                day = data.get("session_day")
                self._session_day = int(day) if day is not None else None
            except (ValueError, KeyError, TypeError) as exc:
                log.warning("FIX store %s: unreadable seqnums file, starting at 1: %s", self.key, exc)
        if self._messages_path.exists():
            with open(self._messages_path, encoding="utf-8") as fh:
                for line in fh:
                    self._lines += 1
                    try:
                        rec = json.loads(line)
                        self._remember(int(rec["seq"]), rec["raw"].encode("latin-1"))
                    except (ValueError, KeyError, TypeError):
                        log.warning("FIX store %s: skipping a torn line", self.key)
        # messages beyond the saved seqnum (crash between the two writes) still count
        if self._messages:
            self._next_sender = max(self._next_sender, max(self._messages) + 1)

    def _append_message(self, seq: int, raw: bytes) -> None:
        self._fh.write(_line(seq, raw))
        self._fh.flush()
        self._lines += 1
        if self._lines > 2 * RESEND_KEEP:
            self._compact()

    def _compact(self) -> None:
        """Rewrite the file with only the messages kept for resends (temp file,
        then an atomic rename): amortised O(1) per message, the file bounded."""
        tmp = self._messages_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(_line(seq, self._messages[seq]) for seq in sorted(self._messages))
        self._fh.close()
        os.replace(tmp, self._messages_path)
        self._fh = open(self._messages_path, "a", encoding="utf-8")  # noqa: SIM115
        self._lines = len(self._messages)

    def _save_seqnums(self) -> None:
        data = {
            "begin_string": self.key.begin_string,
            "sender_comp_id": self.key.sender_comp_id,
            "target_comp_id": self.key.target_comp_id,
            "next_sender": self._next_sender,
            "next_target": self._next_target,
            "session_day": self._session_day,
        }
        record = json.dumps(data).encode()
        if len(record) > self._seq_width:  # the file grows once (longer numbers): round up
            self._seq_width = (len(record) + 63) & ~63
        os.pwrite(self._seq_fd, record.ljust(self._seq_width), 0)

    def _truncate_messages(self) -> None:
        self._fh.close()
        self._fh = open(self._messages_path, "w", encoding="utf-8")  # noqa: SIM115
        self._lines = 0

    def close(self) -> None:
        self._fh.close()
        if self._seq_fd >= 0:
            os.close(self._seq_fd)
            self._seq_fd = -1


def _line(seq: int, raw: bytes) -> str:
    return json.dumps({"seq": seq, "raw": raw.decode("latin-1")}) + "\n"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def session_dir_name(key: SessionKey) -> str:
    """A readable, collision-free directory name for a session."""
    readable = _UNSAFE.sub("_", f"{key.begin_string}-{key.sender_comp_id}-{key.target_comp_id}")
    digest = hashlib.sha256(
        "\x01".join((key.begin_string, key.sender_comp_id, key.target_comp_id)).encode()
    ).hexdigest()[:8]
    return f"{readable[:80]}-{digest}"


def open_store(key: SessionKey, state_dir: Path | None) -> MessageStore:
    """A file-backed store under state_dir, or a memory store when it is None."""
    if state_dir is None:
        return MessageStore(key)
    return FileStore(key, state_dir / "sessions" / session_dir_name(key))
