"""The state directory's journal as segments, so its disk stays bounded.

`journal.jsonl` is the active segment (appended to); a rotation seals it as
`journal-<base>.jsonl`, where `base` is the position of its first byte in
the run's whole journal (every byte ever written, sealed segments deleted
or not), and starts an empty active one.  Positions (snapshot headers'
`offset`, replay starts) are these run-wide offsets, so a snapshot names
the same journal line whatever was rotated or deleted since.

Rotation happens only at a snapshot, between commands (`JournalFile`), and
a sealed segment is deleted once it ends before every kept snapshot's line:
a restart needs the newest snapshot that checks out and the journal after
it, and nothing older.  The newest sealed segment always stays (the active
segment's base is its end).  Lines never span segments.

Rotation is crash-safe: the active file is hard-linked to its sealed name,
then an empty file replaces it; a crash between the two leaves both names
on one file, which `settle()` finishes on the next open.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO

SEALED_PREFIX = "journal-"
SEALED_SUFFIX = ".jsonl"


def sealed_files(state_dir: Path) -> list[tuple[int, Path]]:
    """Sealed segments as (base, path), oldest first."""
    out = []
    for p in state_dir.glob(f"{SEALED_PREFIX}*{SEALED_SUFFIX}"):
        stem = p.name[len(SEALED_PREFIX) : -len(SEALED_SUFFIX)]
        if stem.isdigit():
            out.append((int(stem), p))
    return sorted(out)


def sealed_name(base: int) -> str:
    return f"{SEALED_PREFIX}{base:016d}{SEALED_SUFFIX}"


class Segments:
    """The journal's files in one directory: sealed ones and `active`."""

    def __init__(self, active: Path) -> None:
        self.active = active
        self.dir = active.parent

    def settle(self) -> None:
        """Finish a rotation a crash interrupted (the active file also under
        its sealed name): the sealed one stays, the active one starts empty."""
        sealed = sealed_files(self.dir)
        if sealed and self.active.is_file() and os.path.samefile(sealed[-1][1], self.active):
            tmp = self.active.with_name(self.active.name + ".new")
            tmp.write_bytes(b"")
            os.replace(tmp, self.active)

    def base(self) -> int:
        """Run-wide offset of the active segment's first byte."""
        return self.files()[-1][0]

    def files(self) -> list[tuple[int, Path]]:
        """Every segment on disk as (base, path), oldest first, the active one last."""
        sealed = sealed_files(self.dir)
        base = sealed[-1][0] + sealed[-1][1].stat().st_size if sealed else 0
        return [*sealed, (base, self.active)]

    def start(self) -> int:
        """Run-wide offset of the oldest byte still on disk (0: nothing rotated away)."""
        sealed = sealed_files(self.dir)
        return sealed[0][0] if sealed else 0

    def end(self) -> int:
        size = self.active.stat().st_size if self.active.is_file() else 0
        return self.base() + size

    def rotated(self) -> bool:
        return bool(sealed_files(self.dir))

    def locate(self, offset: int) -> tuple[Path, int] | None:
        """(segment, offset in it) of the line ending at run-wide `offset`:
        the segment with base < offset <= its end; None when not on disk."""
        for base, p in reversed(self.files()):
            if base < offset:
                size = p.stat().st_size if p.is_file() else 0
                return (p, offset - base) if offset <= base + size else None
        return None

    def tail(self, offset: int) -> list[tuple[Path, int]]:
        """(segment, offset in it) of every segment with bytes after run-wide `offset`, oldest first."""
        out = []
        for base, p in self.files():
            size = p.stat().st_size if p.is_file() else 0
            if base + size > offset:
                out.append((p, max(0, offset - base)))
        return out

    def seal(self, base: int) -> int:
        """Rotate: the active file (synced and closed by the caller) is
        sealed under its base; an empty one takes its place.  Returns the new
        active base.  The caller reopens `active`."""
        size = self.active.stat().st_size
        sealed = self.dir / sealed_name(base)
        os.link(self.active, sealed)
        tmp = self.active.with_name(self.active.name + ".new")
        tmp.write_bytes(b"")
        os.replace(tmp, self.active)
        _fsync_dir(self.dir)
        return base + size

    def prune(self, keep_from: int) -> list[Path]:
        """Delete sealed segments that end before run-wide offset `keep_from`
        (the oldest kept snapshot's position), oldest first, never the newest."""
        gone = []
        sealed = sealed_files(self.dir)
        for base, p in sealed[:-1]:
            if base + p.stat().st_size >= keep_from:
                break
            p.unlink(missing_ok=True)
            gone.append(p)
        return gone

    def remove_sealed(self) -> None:
        for _, p in sealed_files(self.dir):
            p.unlink(missing_ok=True)

    def first_seq(self) -> int | None:
        """Seq of the oldest line on disk (None: no line)."""
        for _, p in self.files():
            if p.is_file():
                with open(p, "rb") as fh:
                    line = fh.readline()
                if line.strip():
                    return line_seq(line)
        return None

    def open_all(self) -> list[tuple[IO[bytes], int]]:
        """Every segment on disk, open, with its run-wide base, oldest first.
        Files stay readable once open, even if a prune deletes them
        meanwhile; a prune between the listing and the opening is retried."""
        for _ in range(5):
            opened: list[tuple[IO[bytes], int]] = []
            try:
                for base, p in self.files():
                    opened.append((open(p, "rb"), base))  # noqa: SIM115 - the caller closes them
                return opened
            except FileNotFoundError:
                for fh, _ in opened:
                    fh.close()
        raise FileNotFoundError(self.dir)


def line_seq(line: bytes) -> int | None:
    """The seq of one journal line (None: not a journal line)."""
    try:
        return int(json.loads(line)["seq"])
    except (ValueError, KeyError, TypeError):
        return None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

