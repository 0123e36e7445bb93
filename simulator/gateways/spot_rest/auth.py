"""Kraken's private-call authentication, in Kraken's order.

API-Sign = base64(HMAC-SHA512(key=b64decode(secret), msg=path + SHA256(nonce + body)))
over the body bytes exactly as received (clients order and space fields
differently; nothing is re-serialized).  The signature is checked before the
nonce, so a forged request never burns a nonce.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from simulator.core.accounts import ApiKey

from .parse import ApiError

E_KEY = "EAPI:Invalid key"
E_SIGN = "EAPI:Invalid signature"
E_NONCE = "EAPI:Invalid nonce"
E_OTP = "EAPI:Invalid otp"  # spec: UNSURE (alternative seen: EGeneral:Invalid arguments:otp)
E_PERMISSION = "EGeneral:Permission denied"
MAX_NONCE = 2**64 - 1


def sign(urlpath: str, nonce: str, body: bytes, secret_b64: str) -> str:
    """The API-Sign a client computes (used by tests and the benchmark too)."""
    inner = hashlib.sha256(nonce.encode() + body).digest()
    mac = hmac.new(base64.b64decode(secret_b64), urlpath.encode() + inner, hashlib.sha512)
    return base64.b64encode(mac.digest()).decode()


def find_key(accounts: Any, key_text: str | None) -> ApiKey:
    if not key_text:
        raise ApiError(E_KEY)
    key: ApiKey | None = accounts.key(key_text.strip())
    if key is None or key.kind != "spot" or accounts.get(key.account_id) is None:
        raise ApiError(E_KEY)
    return key


def nonce_text(value: Any) -> str:
    """The nonce as the client hashed it: form text, JSON string, or JSON integer."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""


def verify(key: ApiKey, urlpath: str, body: bytes, params: dict[str, Any], api_sign: str | None) -> None:
    """Signature, then nonce, then otp; raises ApiError with Kraken's string."""
    if not api_sign:
        raise ApiError(E_SIGN)
    try:
        given = base64.b64decode(api_sign.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(E_SIGN) from exc
    nonce = nonce_text(params.get("nonce"))
    inner = hashlib.sha256(nonce.encode() + body).digest()
    expected = hmac.new(key.secret_bytes, urlpath.encode() + inner, hashlib.sha512).digest()
    if not hmac.compare_digest(expected, given):
        raise ApiError(E_SIGN)
    if not nonce.isdigit() or len(nonce) > 20 or int(nonce) > MAX_NONCE or int(nonce) <= 0:
        raise ApiError(E_NONCE)
    if not key.accept_nonce(int(nonce)):
        raise ApiError(E_NONCE)
    if key.otp:
        otp = params.get("otp")
        if not isinstance(otp, (str, int)) or not hmac.compare_digest(str(otp).encode(), key.otp.encode()):
            raise ApiError(E_OTP)


def check_permissions(key: ApiKey, groups: tuple[frozenset[str], ...]) -> None:
    for group in groups:
        if not (group & key.permissions):
            raise ApiError(E_PERMISSION)


__all__ = ["E_KEY", "E_NONCE", "E_OTP", "E_PERMISSION", "E_SIGN", "check_permissions", "find_key", "sign", "verify"]
