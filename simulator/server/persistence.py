"""Engine state that survives a restart: with a state directory, every
journaled command is appended to `journal.jsonl` as it happens; on start the
venue is rebuilt by replaying it (same seed, same timestamps), so orders,
balances, trades and ids come back exactly.  FIX keeps its own sequence
numbers and message stores in the same directory."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import IO, Any

from simulator.core.sequencer import Journal, JournalEntry

log = logging.getLogger("kraken_sim")
JOURNAL = "journal.jsonl"
IDENTITY = "identity.json"


class JournalFile:
    """Appends journal entries as JSON lines; flushed on every write batch."""

    def __init__(self, state_dir: str) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / JOURNAL
        self._fh: IO[str] | None = None
        self.replaying = False

    def exists(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def commands(self) -> list[dict[str, Any]]:
        out = []
        for c in Journal.read_commands(str(self.path)):
            out.append(c)
        return out

    def open(self) -> None:
        if self._fh is None:
            self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends

    def truncate(self) -> None:
        self.close()
        self.path.write_text("")
        (self.dir / IDENTITY).unlink(missing_ok=True)

    def write(self, entry: JournalEntry) -> None:
        if self.replaying:
            return
        self.open()
        assert self._fh is not None
        self._fh.write(json.dumps(entry.to_json(with_events=False)) + "\n")
        self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def save_identity(self, data: dict[str, Any]) -> None:
        (self.dir / IDENTITY).write_text(json.dumps(data))

    def identity(self) -> dict[str, Any]:
        p = self.dir / IDENTITY
        return json.loads(p.read_text()) if p.is_file() else {}
