"""Hidden memory diagnostic for soak runs (off unless `KRAKEN_SIM_MEMDIAG`
names a file): every `KRAKEN_SIM_MEMDIAG_S` seconds (default 60) a full
collection, then one JSON line with RSS, pymalloc's figures, the count of
every GC-tracked type and the length of every large container.  Diffing two
lines shows what grows; nothing is logged otherwise.  A sample stops the
loop for about a second on a large heap; `KRAKEN_SIM_MEMDIAG_OWNERS=1` also
names what holds each large container (gc.get_referrers: many seconds)."""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

BIG = 2000  # containers at least this long are listed


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _pymalloc() -> dict[str, int]:
    """pymalloc's own figures (bytes in live blocks, in free blocks, arenas):
    what the heap holds against what RSS shows."""
    import tempfile

    out: dict[str, int] = {}
    with tempfile.TemporaryFile() as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        for raw in tmp.read().decode(errors="replace").splitlines():
            if raw.startswith("# ") and "=" in raw:
                k, v = raw[2:].split("=", 1)
                if k.strip() in WANT:
                    out[k.strip()] = int(v.strip().replace(",", ""))
    return out


WANT = ("arenas allocated current", "arenas highwater mark", "bytes in allocated blocks", "bytes in available blocks")


def _owner(obj: Any, mine: set[int]) -> str:
    """Who holds `obj`: `Type.attr` for an attribute, else the referrers' types."""
    names = []
    for ref in gc.get_referrers(obj):
        if id(ref) in mine or type(ref).__name__ in ("cell", "frame"):
            continue
        if isinstance(ref, dict):
            d: dict[Any, Any] = ref
            for holder in gc.get_referrers(d):
                if getattr(holder, "__dict__", None) is d:
                    key = next((k for k, v in d.items() if v is obj), "?")
                    names.append(f"{type(holder).__name__}.{key}")
                    break
            else:
                key = next((repr(k)[:40] for k, v in d.items() if v is obj), "?")
                names.append(f"dict[{key}]")
        elif hasattr(type(ref), "__slots__"):
            slot = next((s for s in type(ref).__slots__ if getattr(ref, s, None) is obj), "?")
            names.append(f"{type(ref).__name__}.{slot}")
        elif isinstance(getattr(ref, "__dict__", None), dict):
            key = next((k for k, v in ref.__dict__.items() if v is obj), "?")
            names.append(f"{type(ref).__name__}.{key}")
        elif not isinstance(ref, list | type(gc.get_referrers)):
            names.append(type(ref).__name__)
        if len(names) >= 2:
            break
    return "|".join(names) or "?"


def sample() -> dict[str, Any]:
    gc.collect()
    objs = gc.get_objects()
    counts = Counter(type(o).__name__ for o in objs)
    big = [o for o in objs if isinstance(o, dict | list | set | deque) and len(o) >= BIG]
    big.sort(key=len, reverse=True)
    del big[40:]
    mine = {id(objs), id(big)}
    owners = bool(os.environ.get("KRAKEN_SIM_MEMDIAG_OWNERS"))
    out = {
        "t": time.time(),
        "rss": round(_rss_mib(), 1),
        "gc_objects": len(objs),
        "pymalloc": _pymalloc(),
        "types": dict(counts.most_common(80)),
        "big": [[len(o), type(o).__name__, _owner(o, mine) if owners else "?"] for o in big],
    }
    del objs, big
    return out


class MemDiag:
    """Polled by the server's timer loop; a no-op unless the env var is set."""

    def __init__(self) -> None:
        self.path = os.environ.get("KRAKEN_SIM_MEMDIAG") or None
        self.every = float(os.environ.get("KRAKEN_SIM_MEMDIAG_S", "60"))
        self.next = time.monotonic() + self.every

    def poll(self) -> None:
        if self.path is None or time.monotonic() < self.next:
            return
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(sample()) + "\n")
        self.next = time.monotonic() + self.every
