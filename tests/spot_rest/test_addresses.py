"""Issue 16 item 5: every seeded deposit and withdrawal address passes its
network's own check, verified with independent implementations (bech32's
reference code, the base58 package, pycryptodome's keccak, stdlib CRCs)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import warnings
from collections.abc import Callable
from typing import Any

import base58
import bech32
import pytest
from Crypto.Hash import keccak
from kraken.spot import Funding

from .helpers import sdk

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _b58check(addr: str, version: bytes, alphabet: bytes = base58.BITCOIN_ALPHABET) -> bool:
    try:
        raw = base58.b58decode_check(addr, alphabet=alphabet)
    except ValueError:
        return False
    return raw[:1] == version and len(raw) == 21


def _segwit(hrp: str) -> Callable[[str], bool]:
    def check(addr: str) -> bool:
        ver, prog = bech32.decode(hrp, addr)
        return ver == 0 and prog is not None and len(prog) == 20

    return check


def _eip55(addr: str) -> bool:
    body = addr[2:]
    if not addr.startswith("0x") or len(body) != 40 or body.lower() == body:
        return False  # all-lowercase carries no checksum: a real client flags it as unchecked
    digest = keccak.new(digest_bits=256, data=body.lower().encode()).hexdigest()
    return all(c == (c.upper() if int(digest[i], 16) >= 8 else c.lower()) for i, c in enumerate(body))


def _stellar(addr: str) -> bool:
    raw = base64.b32decode(addr)
    payload, crc = raw[:-2], raw[-2:]
    return addr.startswith("G") and len(raw) == 35 and binascii.crc_hqx(payload, 0) == int.from_bytes(crc, "little")


def _ss58(addr: str) -> bool:
    raw = base58.b58decode(addr)
    payload, check = raw[:-2], raw[-2:]
    return raw[0] == 0 and len(raw) == 35 and hashlib.blake2b(b"SS58PRE" + payload).digest()[:2] == check


def _cosmos(addr: str) -> bool:
    hrp, data = bech32.bech32_decode(addr)
    return hrp == "cosmos" and data is not None and len(bech32.convertbits(data, 5, 8, False) or []) == 20


def _cardano(addr: str) -> bool:
    hrp, data = bech32.bech32_decode(addr)
    raw = bech32.convertbits(data, 5, 8, False) if data is not None else None
    return hrp == "addr" and raw is not None and raw[0] >> 4 in (0, 1, 2, 3, 6, 7) and len(raw) in (29, 57)


def _algorand(addr: str) -> bool:
    raw = base64.b32decode(addr + "=" * (-len(addr) % 8))
    return len(addr) == 58 and hashlib.new("sha512_256", raw[:32]).digest()[-4:] == raw[32:]


def _monero(addr: str) -> bool:
    alphabet = base58.BITCOIN_ALPHABET.decode()
    full = {11: 8, 7: 5}
    out = b""
    for off in range(0, len(addr), 11):
        chunk = addr[off : off + 11]
        num = 0
        for c in chunk:
            num = num * 58 + alphabet.index(c)
        out += num.to_bytes(full[len(chunk)], "big")
    data, check = out[:-4], out[-4:]
    return len(addr) == 95 and out[0] == 18 and keccak.new(digest_bits=256, data=data).digest()[:4] == check


def _solana(addr: str) -> bool:
    return len(base58.b58decode(addr)) == 32


CHECKS: dict[str, Callable[[str], bool]] = {
    "XBT": _segwit("bc"),
    "LTC": _segwit("ltc"),
    "BCH": lambda a: _b58check(a, b"\x00"),
    "XDG": lambda a: _b58check(a, b"\x1e"),
    "TRX": lambda a: _b58check(a, b"\x41"),
    "XRP": lambda a: _b58check(a, b"\x00", base58.RIPPLE_ALPHABET),
    "ETH": _eip55,
    "USDT": _eip55,
    "LINK": _eip55,
    "AVAX": _eip55,
    "ETC": _eip55,
    "XLM": _stellar,
    "DOT": _ss58,
    "ATOM": _cosmos,
    "ADA": _cardano,
    "ALGO": _algorand,
    "XMR": _monero,
    "SOL": _solana,
    "AAPLx": _solana,
}


@pytest.fixture
def funding(kraken_venue: Any, funded: dict[str, Any]) -> Funding:
    # many calls in a row: this account's REST call counter is off
    kraken_venue.admin.request("POST", f"/accounts/{funded['account_id']}/tier", {"tier": "pro", "rate_limits": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sdk(Funding, kraken_venue, funded)


def test_deposit_addresses_pass_their_network_checksum(funding: Funding) -> None:
    for asset, check in CHECKS.items():
        [m] = funding.get_deposit_methods(asset=asset)
        first = funding.get_deposit_address(asset=asset, method=m["method"])[0]["address"]
        new = funding.get_deposit_address(asset=asset, method=m["method"], new=True)[0]["address"]
        assert first != new, asset
        for addr in (first, new):
            assert check(addr), (asset, addr)
    # the checkers do catch a corrupted address (one character changed)
    btc = funding.get_deposit_address(asset="XBT", method="Bitcoin")[0]["address"]
    bad = btc[:-1] + ("q" if btc[-1] != "q" else "p")
    assert not CHECKS["XBT"](bad)
    assert "i" not in btc[3:] and "o" not in btc[3:] and "b" not in btc[4:]


def test_withdrawal_keys_pass_their_network_checksum(funding: Funding) -> None:
    for asset, check in CHECKS.items():
        keys = funding.withdraw_addresses(asset=asset)
        assert keys, asset
        for k in keys:
            assert check(k["address"]), (asset, k)
