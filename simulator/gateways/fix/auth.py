"""Kraken Unified FIX Logon authentication (fix.md §3.2).

Password (554) = base64(HMAC-SHA512(base64decode(secret),
SHA256("35=A|34=<seq>|49=<sender>|56=<target>|553=<key>|" + nonce))), with SOH
for "|"; the nonce (5025, ms since epoch) must be within 5 s of venue time and
strictly increasing per API key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from simulator.gateways.fix.codec import is_uint


def kraken_logon_password(
    api_secret: str, seq_num: int | str, sender_comp_id: str, target_comp_id: str,
    api_key: str, nonce: str,
) -> str:
    """The 554 value a Kraken client computes; used to verify and by test clients."""
    message_input = (
        f"35=A\x0134={seq_num}\x0149={sender_comp_id}\x0156={target_comp_id}\x01553={api_key}\x01"
    )
    digest = hashlib.sha256((message_input + nonce).encode()).digest()
    mac = hmac.new(base64.b64decode(api_secret), digest, hashlib.sha512).digest()
    return base64.b64encode(mac).decode()


def verify_password(
    password: str, api_secret: str, seq_num: str, sender_comp_id: str,
    target_comp_id: str, api_key: str, nonce: str,
) -> bool:
    """Constant-time check of a received 554; a malformed secret never verifies."""
    try:
        expected = kraken_logon_password(
            api_secret, seq_num, sender_comp_id, target_comp_id, api_key, nonce
        )
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected.encode(), password.encode())


class NonceTracker:
    """Enforces the nonce window and strictly increasing nonces per API key."""

    def __init__(self, window_ms: int = 5000) -> None:
        self.window_ms = window_ms
        self._last: dict[str, int] = {}

    def check(self, api_key: str, nonce: str, now_ms: int) -> str | None:
        """None if acceptable, else why not (for the server log)."""
        if not is_uint(nonce):
            return "nonce is not a number"
        value = int(nonce)
        if abs(value - now_ms) > self.window_ms:
            return f"nonce {value} outside {self.window_ms} ms of venue time {now_ms}"
        last = self._last.get(api_key)
        if last is not None and value <= last:
            return f"nonce {value} not greater than previous {last}"
        return None

    def commit(self, api_key: str, nonce: str) -> None:
        """Remember a nonce once its signature verified (a forged logon cannot burn nonces)."""
        self._last[api_key] = max(int(nonce), self._last.get(api_key, 0))
