"""Kraken derivatives request signing (`APIKey` / `Authent` / optional `Nonce`).

Authent = b64(HMAC-SHA512(b64decode(secret), SHA256(postData + nonce + path)))
with `path` stripped of its `/derivatives` prefix.  `postData` is whatever the
client signed: ccxt signs the query string (POST parameters travel in the
query, no nonce), python-kraken-sdk the query plus the form body with a
nonce; Kraken accepts the string as sent or URL-decoded.  The challenge of
the WebSocket uses the same HMAC with the challenge as the message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, unquote_plus

from simulator.core.accounts import ApiKey

from .parse import RestError


def sign(message: str, secret_b64: str) -> str:
    digest = hashlib.sha256(message.encode()).digest()
    return base64.b64encode(hmac.new(base64.b64decode(secret_b64), digest, hashlib.sha512).digest()).decode()


def authent(post_data: str, nonce: str, endpoint_path: str, secret_b64: str) -> str:
    """The Authent header a client computes for one request."""
    if endpoint_path.startswith("/derivatives"):
        endpoint_path = endpoint_path[len("/derivatives") :]
    return sign(post_data + nonce + endpoint_path, secret_b64)


def sign_challenge(challenge: str, secret_b64: str) -> str:
    return sign(challenge, secret_b64)


@dataclass
class NonceBook:
    """Per key: the highest nonce and a window of recent ones.

    Nonces are optional; a reused one is `nonceDuplicate`, one too far below
    the highest is `nonceBelowThreshold` (the window is undocumented: wide by
    default, as clients use both ms and 1e-8 s units)."""

    window: int = 10**10
    keep: int = 2048
    seen: dict[str, tuple[int, set[int], deque[int]]] = field(default_factory=dict)

    def check(self, key: str, nonce: int) -> None:
        top, recent, order = self.seen.get(key, (0, set(), deque()))
        if nonce in recent:
            raise RestError("nonceDuplicate")
        if top and nonce < top - self.window:
            raise RestError("nonceBelowThreshold")
        recent.add(nonce)
        order.append(nonce)
        if len(order) > self.keep:
            recent.discard(order.popleft())
        self.seen[key] = (max(top, nonce), recent, order)

    def to_state(self) -> dict[str, Any]:
        """Saved with the venue (a restart keeps refusing replayed nonces)."""
        return {key: [top, list(order)] for key, (top, _recent, order) in self.seen.items()}

    def from_state(self, state: dict[str, Any]) -> None:
        self.seen = {key: (top, set(order), deque(order)) for key, (top, order) in state.items()}


def candidates(raw_query: str, raw_body: str) -> list[str]:
    """Strings a client may have signed for this request."""
    base = raw_query + raw_body
    out = [base]
    for alt in (
        unquote(base),
        unquote_plus(base),
        unquote_plus(raw_query) + raw_body,
        raw_query + unquote_plus(raw_body),
    ):
        if alt not in out:
            out.append(alt)
    if raw_query and raw_body:
        for alt in (raw_body, raw_query):
            if alt not in out:
                out.append(alt)
    return out


def verify(
    key: ApiKey | None, authent_header: str | None, nonce: str, path: str, raw_query: str, raw_body: str
) -> None:
    """Raise authenticationError unless some signed form matches."""
    if key is None or key.kind != "futures" or not authent_header:
        raise RestError("authenticationError")
    try:
        given = base64.b64decode(authent_header.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RestError("authenticationError") from exc
    if path.startswith("/derivatives"):
        path = path[len("/derivatives") :]
    secret = base64.b64decode(key.secret)
    for post_data in candidates(raw_query, raw_body):
        digest = hashlib.sha256((post_data + nonce + path).encode()).digest()
        expect = hmac.new(secret, digest, hashlib.sha512).digest()
        if hmac.compare_digest(expect, given):
            return
    raise RestError("authenticationError")
