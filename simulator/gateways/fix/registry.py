"""Who is logged on as which FIX session, and each session's message store.

Stores outlive connections (seqnums continue across reconnects within the
session day); at most one connection may hold a session at a time.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import time
from pathlib import Path
from typing import Protocol

from simulator.core.clock import NS_PER_S
from simulator.gateways.fix.store import MessageStore, SessionKey, open_store, session_dir_name

_DAY_S = 86_400


def session_day(now_ns: int, reset_at: time | None) -> int:
    """Index of the venue session day; a new day starts at `reset_at` UTC.

    With no daily reset every instant is day 0, so stores never roll over.
    """
    if reset_at is None:
        return 0
    offset = reset_at.hour * 3600 + reset_at.minute * 60 + reset_at.second
    return (now_ns // NS_PER_S - offset) // _DAY_S


def seconds_into_day(now_ns: int, reset_at: time | None) -> float:
    """Seconds since the last daily reset (inf when there is none)."""
    if reset_at is None:
        return float("inf")
    offset = reset_at.hour * 3600 + reset_at.minute * 60 + reset_at.second
    return ((now_ns / NS_PER_S) - offset) % _DAY_S


class Holder(Protocol):
    """The part of a session the registry needs."""

    @property
    def is_logged_on(self) -> bool: ...

    def write(self, raw: bytes) -> None: ...


def _read_count(path: Path) -> int:
    try:
        return int(json.loads(path.read_text())["count"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def _write_count(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"count": n}))
    os.replace(tmp, path)


def next_epoch(state_dir: Path) -> int:
    """Count this process start on the state directory (1 for the first)."""
    path = state_dir / "epoch.json"
    n = _read_count(path) + 1
    _write_count(path, n)
    return n


class SessionRegistry:
    """Stores by SessionKey (opened lazily) and the connection holding each key."""

    def __init__(self, state_dir: Path | None) -> None:
        self.state_dir = state_dir
        self._stores: dict[SessionKey, MessageStore] = {}
        self._holders: dict[SessionKey, Holder] = {}
        self._instances = 0
        self._instances_path = state_dir / "instances.json" if state_dir else None
        if self._instances_path is not None:
            self._instances = _read_count(self._instances_path)

    def new_instance_id(self) -> str:
        """Unique connection id; the counter persists with a state dir (unique across restarts)."""
        self._instances += 1
        if self._instances_path is not None:
            _write_count(self._instances_path, self._instances)
        return f"fix-{self._instances}"

    def claim(self, key: SessionKey, holder: Holder) -> bool:
        """Reserve a session for one connection; False if another already holds it."""
        current = self._holders.get(key)
        if current is not None and current is not holder:
            return False
        self._holders[key] = holder
        return True

    def release(self, key: SessionKey, holder: Holder) -> None:
        if self._holders.get(key) is holder:
            del self._holders[key]

    def holder(self, key: SessionKey) -> Holder | None:
        return self._holders.get(key)

    def store(self, key: SessionKey) -> MessageStore:
        store = self._stores.get(key)
        if store is None:
            store = self._stores[key] = open_store(key, self.state_dir)
        return store

    def peek_next_sender(self, key: SessionKey) -> int:
        """Next outbound seqnum without creating a store for an unauthenticated key."""
        if key in self._stores:
            return self._stores[key].next_sender_seq
        if self.state_dir and (self.state_dir / "sessions" / session_dir_name(key)).exists():
            return self.store(key).next_sender_seq
        return 1

    def deliver(self, key: SessionKey, raw: bytes) -> None:
        """Write to the connection holding the session, if it is logged on."""
        holder = self._holders.get(key)
        if holder is not None and holder.is_logged_on:
            holder.write(raw)

    def stores(self) -> list[MessageStore]:
        return list(self._stores.values())

    def reset_all(self, day: int | None = None) -> None:
        """Every known store back to seqnum 1 (on disk too)."""
        for store in self._stores.values():
            store.reset(day)
        sessions = self.state_dir / "sessions" if self.state_dir else None
        if sessions is not None and sessions.exists():
            loaded = {session_dir_name(key) for key in self._stores}
            for d in sessions.iterdir():
                if d.is_dir() and d.name not in loaded:
                    shutil.rmtree(d)

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
