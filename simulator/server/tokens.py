"""WebSocket auth tokens (REST GetWebSocketsToken) with Kraken's 15-minute
rule: a token must be used within 15 minutes of its creation; once a
connection made a private subscription with it, it stays valid *for that
connection* (and only while it lives).  A new connection never gets an old
token back.  A token carries the permissions of the API key that minted it.

Memory is bounded by use, not by time: expired tokens that no live connection
holds are dropped as new ones are minted (tokens are kept in minting order, on
the venue clock, so the oldest are always at the front)."""

from __future__ import annotations

import base64
import weakref
from dataclasses import dataclass, field
from typing import Any

from simulator.core.clock import NS_PER_S, VenueClock
from simulator.core.ids import IdGenerator

TOKEN_TTL_S = 900


@dataclass(eq=False)
class WsToken:
    token: str
    account_id: str
    created_ns: int
    permissions: frozenset[str] | None = None  # the minting key's; None: every permission
    # connections that made a private subscription with it: the token lives on for them
    holders: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)

    @property
    def used(self) -> bool:
        return len(self.holders) > 0


class WsTokenStore:
    def __init__(self, clock: VenueClock, ids: IdGenerator) -> None:
        self.clock = clock
        self.ids = ids
        self.tokens: dict[str, WsToken] = {}

    def _fresh(self, tok: WsToken) -> bool:
        return self.clock.now_ns() - tok.created_ns <= TOKEN_TTL_S * NS_PER_S

    def mint(self, account_id: str, permissions: frozenset[str] | None = None) -> WsToken:
        self._prune()
        text = base64.b64encode(self.ids.token(30)).decode()
        tok = WsToken(text, account_id, self.clock.now_ns(), permissions=permissions)
        self.tokens[text] = tok
        return tok

    def _prune(self, most: int = 64) -> None:
        """Drop up to `most` expired tokens from the front (amortised O(1) per mint);
        one still held by a live connection goes to the back instead."""
        for _ in range(min(most, len(self.tokens))):
            text = next(iter(self.tokens))
            tok = self.tokens[text]
            if self._fresh(tok):
                break  # minted in clock order: what follows is fresher (or held)
            del self.tokens[text]
            if tok.used:
                self.tokens[text] = tok

    def account_for(self, token: str, conn: Any = None) -> str | None:
        """The token's account if `conn` may use it now: within 15 minutes of its
        minting, or on a connection that already subscribed with it."""
        tok = self.tokens.get(token)
        if tok is None:
            return None
        if conn is not None and conn in tok.holders:
            return tok.account_id
        if not self._fresh(tok):
            return None
        return tok.account_id

    def hold(self, token: str, conn: Any) -> None:
        """`conn` made a private subscription with `token`: it stays valid there."""
        tok = self.tokens.get(token)
        if tok is not None:
            tok.holders.add(conn)

    def permissions_for(self, token: str) -> frozenset[str] | None:
        """The permissions a token carries (None: all, or an unknown token)."""
        tok = self.tokens.get(token)
        return tok.permissions if tok is not None else None
