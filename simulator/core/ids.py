"""Kraken-shaped identifiers, deterministic per seed (replayable).

Ids come from a counter pushed through a keyed bijection on 80 bits, so they
look random, never repeat, and cost a few integer operations each."""

from __future__ import annotations

import random
from typing import Any

from .digest import StateHash

_MASK80 = (1 << 80) - 1
_MUL = 0x9E3779B97F4A7C15F39D  # odd: multiplication mod 2**80 is a bijection
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_PAIRS = [a + b for a in _B32 for b in _B32]  # 10 bits -> 2 chars
_MUL_INV = pow(_MUL, -1, 1 << 80)
_B32_VALUE = {c: i for i, c in enumerate(_B32)}


class IdGenerator:
    """Makes ids like `OQCLML-BW3P3-BUCMWZ` (6-5-6, first letter a prefix)."""

    __slots__ = ("_rng", "_key", "_n")

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._key = self._rng.getrandbits(80)
        self._n = 0

    def _bits(self) -> int:
        self._n += 1
        x = (self._n ^ self._key) * _MUL & _MASK80
        x ^= x >> 41
        x = x * _MUL & _MASK80
        return x ^ (x >> 37)

    def counter_of(self, bits: int) -> int:
        """The counter value `bits` was made from (the bijection undone):
        ids of one list made in order sort by it, so a lookup is a bisect."""
        x = bits ^ (bits >> 37) ^ (bits >> 74)
        x = x * _MUL_INV & _MASK80
        x ^= x >> 41
        x = x * _MUL_INV & _MASK80
        return x ^ self._key

    def counter_of_text(self, text: str) -> int | None:
        """`counter_of` for a rendered id (None when `text` is not id-shaped)."""
        if len(text) != 19 or text[6] != "-" or text[12] != "-":
            return None
        bits = 0
        for c in text[1:6] + text[7:12] + text[13:19]:
            v = _B32_VALUE.get(c)
            if v is None:
                return None
            bits = bits << 5 | v
        return self.counter_of(bits)

    def kraken_id(self, prefix: str) -> str:
        return self.render(prefix, self._bits())

    # Take the next id now, render it later with `render` (fills and ledger
    # entries: most are never shown, and rendering is the cost).
    reserve = _bits

    @staticmethod
    def render(prefix: str, bits: int) -> str:
        """80 bits as 16 base32 characters, 5-5-6 after the prefix (two characters
        per table lookup, in one step: every order's id is rendered at once)."""
        p, c, x = _PAIRS, _B32, bits
        return (f"{prefix}{p[x >> 70]}{p[(x >> 60) & 1023]}{c[(x >> 55) & 31]}-{c[(x >> 50) & 31]}"
                f"{p[(x >> 40) & 1023]}{p[(x >> 30) & 1023]}-{p[(x >> 20) & 1023]}{p[(x >> 10) & 1023]}{p[x & 1023]}")

    def order_id(self) -> str:
        return self.render("O", self._bits())

    def trade_id(self) -> str:
        return self.kraken_id("T")

    def ledger_id(self) -> str:
        return self.kraken_id("L")

    def uuid(self) -> str:
        """RFC 4122 version-4 shaped UUID (derivatives order ids)."""
        b = (self._bits() << 48) | (self._bits() & 0xFFFFFFFFFFFF)
        b = (b & ~(0xF << 76)) | (4 << 76)
        b = (b & ~(0x3 << 62)) | (0x2 << 62)
        h = f"{b:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def token(self, nbytes: int = 32) -> bytes:
        return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")

    def state_digest(self) -> str:
        """Where the sequence stands: the next id and the next token."""
        h = StateHash()
        h.add("ids", self._key, self._n, self._rng.getstate())
        return h.hexdigest()

    def to_state(self) -> dict[str, Any]:
        """Where the sequence stands (the key as text: JSON ints stop at 64 bits)."""
        from .state import enc

        return {"key": format(self._key, "x"), "n": self._n, "rng": enc(self._rng.getstate())}

    def from_state(self, state: dict[str, Any]) -> None:
        from .state import dec

        self._key = int(state["key"], 16)
        self._n = int(state["n"])
        self._rng.setstate(dec(state["rng"]))


class RenderedId:
    """A class attribute that renders an id taken with `IdGenerator.reserve`
    on first read; the owner keeps `_bits` (the reserved id) and `_id` (the
    text, None until read)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        i = obj._id
        if i is None:
            i = obj._id = IdGenerator.render(self.prefix, obj._bits)
        return i
