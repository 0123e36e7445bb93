"""Kraken-shaped identifiers from a seeded generator (replayable)."""

from __future__ import annotations

import random

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


class IdGenerator:
    """Makes ids like `OQCLML-BW3P3-BUCMWZ` (6-5-6, first letter a prefix)."""

    __slots__ = ("_rng",)

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def kraken_id(self, prefix: str) -> str:
        bits = self._rng.getrandbits(80)
        chars = []
        for _ in range(16):
            chars.append(_ALPHABET[bits & 31])
            bits >>= 5
        body = prefix + "".join(chars)
        return f"{body[:6]}-{body[6:11]}-{body[11:17]}"

    def order_id(self) -> str:
        return self.kraken_id("O")

    def trade_id(self) -> str:
        return self.kraken_id("T")

    def ledger_id(self) -> str:
        return self.kraken_id("L")

    def uuid(self) -> str:
        """RFC 4122 version-4 shaped UUID (derivatives order ids)."""
        b = self._rng.getrandbits(128)
        b = (b & ~(0xF << 76)) | (4 << 76)
        b = (b & ~(0x3 << 62)) | (0x2 << 62)
        h = f"{b:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def token(self, nbytes: int = 32) -> bytes:
        return self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
