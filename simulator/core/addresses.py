"""Deposit and withdrawal addresses that pass their network's own checks.

Clients validate an address before they show or use it (bech32 checksum for
`bc1…`, base58check for legacy and Tron/XRP/Dogecoin, EIP-55 for Ethereum,
StrKey for Stellar, SS58 for Polkadot...).  The key bytes come from a seeded
digest, so an address is deterministic, well formed and belongs to nobody.
Pure functions, standard library only (keccak-256 included: hashlib's sha3 is
not Ethereum's keccak).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
B58_RIPPLE = "rpshnaf39wBUDNEGHJKLM4PQRST7VWXYZ2bcdeCg65jkm8oFqi1tuvAxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


# ------------------------------------------------------------------ keccak
_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]  # fmt: skip
_ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
_M64 = (1 << 64) - 1


def _rol(v: int, n: int) -> int:
    return ((v << n) | (v >> (64 - n))) & _M64 if n else v


def _keccak_f(a: list[list[int]]) -> None:
    for rc in _RC:
        c = [a[x][0] ^ a[x][1] ^ a[x][2] ^ a[x][3] ^ a[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rol(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                a[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rol(a[x][y], _ROT[x][y])
        for x in range(5):
            for y in range(5):
                a[x][y] = b[x][y] ^ (~b[(x + 1) % 5][y] & b[(x + 2) % 5][y])
        a[0][0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Keccak-256 as Ethereum uses it (original padding 0x01, not SHA-3's 0x06)."""
    rate = 136
    msg = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 1) % rate)
    msg[-1] |= 0x80
    a = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off : off + rate]
        for i in range(rate // 8):
            a[i % 5][i // 5] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(a)
    return b"".join(a[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


# ---------------------------------------------------------------- encoders
def b58encode(data: bytes, alphabet: str = B58) -> str:
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, r = divmod(num, 58)
        out.append(alphabet[r])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return alphabet[0] * pad + "".join(reversed(out))


def b58check(payload: bytes, alphabet: str = B58) -> str:
    check = hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    return b58encode(payload + check, alphabet)


def _polymod(values: list[int]) -> int:
    gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


def _convertbits(data: bytes, frm: int, to: int) -> list[int]:
    acc, bits, out, maxv = 0, 0, [], (1 << to) - 1
    for b in data:
        acc = (acc << frm) | b
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if bits:
        out.append((acc << (to - bits)) & maxv)
    return out


def bech32(hrp: str, data5: list[int]) -> str:
    """BIP-173 bech32 (the checksum of segwit v0 and of Cosmos/Cardano addresses)."""
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    pm = _polymod(expanded + data5 + [0] * 6) ^ 1
    check = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(BECH32[d] for d in data5 + check)


def segwit_v0(hrp: str, program: bytes) -> str:
    return bech32(hrp, [0, *_convertbits(program, 8, 5)])


def eip55(raw20: bytes) -> str:
    hexaddr = raw20.hex()
    digest = keccak256(hexaddr.encode()).hex()
    return "0x" + "".join(c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(hexaddr))


def stellar(key32: bytes) -> str:
    """StrKey account id: version byte (6 << 3), key, CRC16-XModem little-endian."""
    payload = bytes([6 << 3]) + key32
    crc = binascii.crc_hqx(payload, 0).to_bytes(2, "little")
    return base64.b32encode(payload + crc).decode()


def ss58(key32: bytes, prefix: int = 0) -> str:
    """Polkadot (prefix 0) SS58: blake2b-512 over "SS58PRE" + payload, 2 bytes."""
    payload = bytes([prefix]) + key32
    check = hashlib.blake2b(b"SS58PRE" + payload, digest_size=64).digest()[:2]
    return b58encode(payload + check)


def algorand(key32: bytes) -> str:
    check = hashlib.new("sha512_256", key32).digest()[-4:]
    return base64.b32encode(key32 + check).decode().rstrip("=")


def monero(spend: bytes, view: bytes) -> str:
    """Standard address: netbyte 18, keys, keccak checksum; Monero's block base58."""
    data = bytes([18]) + spend + view
    data += keccak256(data)[:4]
    sizes = {0: 0, 1: 2, 2: 3, 3: 5, 4: 6, 5: 7, 6: 9, 7: 10, 8: 11}
    out = []
    for off in range(0, len(data), 8):
        block = data[off : off + 8]
        enc = b58encode(block).lstrip(B58[0]) if any(block) else ""
        out.append(enc.rjust(sizes[len(block)], B58[0]))
    return "".join(out)


def _digest(*seed: str) -> bytes:
    return hashlib.sha256("|".join(("addr", *seed)).encode()).digest()


def _two(*seed: str) -> tuple[bytes, bytes]:
    return _digest(*seed, "a"), _digest(*seed, "b")


# style -> seeded address of that network
STYLES: dict[str, Callable[[tuple[str, ...]], str]] = {
    "btc": lambda s: segwit_v0("bc", _digest(*s)[:20]),  # P2WPKH
    "ltc": lambda s: segwit_v0("ltc", _digest(*s)[:20]),
    "bch": lambda s: b58check(b"\x00" + _digest(*s)[:20]),  # legacy P2PKH, valid on Bitcoin Cash
    "doge": lambda s: b58check(b"\x1e" + _digest(*s)[:20]),
    "eth": lambda s: eip55(_digest(*s)[:20]),
    "trx": lambda s: b58check(b"\x41" + _digest(*s)[:20]),
    "xrp": lambda s: b58check(b"\x00" + _digest(*s)[:20], B58_RIPPLE),
    "xlm": lambda s: stellar(_digest(*s)),
    "dot": lambda s: ss58(_digest(*s)),
    "atom": lambda s: bech32("cosmos", _convertbits(_digest(*s)[:20], 8, 5)),
    "ada": lambda s: bech32("addr", _convertbits(b"\x61" + _digest(*s)[:28], 8, 5)),  # enterprise, mainnet
    "algo": lambda s: algorand(_digest(*s)),
    "xmr": lambda s: monero(*_two(*s)),
    "sol": lambda s: b58encode(_digest(*s)),  # a 32-byte ed25519 public key
    "sui": lambda s: "0x" + _digest(*s).hex(),
    "near": lambda s: _digest(*s).hex(),  # an implicit account
    "bank": lambda s: "KRAKEN" + _digest(*s)[:6].hex().upper(),
}


def make_address(style: str, *seed: str) -> str:
    """A deterministic, checksum-valid address of the style's network
    (an unknown style gets a legacy base58check one)."""
    fn = STYLES.get(style)
    return fn(seed) if fn is not None else b58check(b"\x00" + _digest(*seed)[:20])


__all__ = ["STYLES", "b58check", "b58encode", "bech32", "eip55", "keccak256", "make_address", "segwit_v0"]
