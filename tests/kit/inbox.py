"""What an SDK's message callback received, and a wait on it.

python-kraken-sdk's WS clients call back from their own tasks; a test hands
them `inbox.on_message` and waits for the message it expects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]


class Inbox:
    """Every message the callback got, in order."""

    def __init__(self) -> None:
        self.got: list[Message] = []

    async def on_message(self, msg: Message) -> None:
        self.got.append(msg)

    async def wait_for(self, pred: Callable[[Message], bool], timeout: float = 5.0) -> Message:
        """The first message (received so far or within `timeout`) that `pred` accepts."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.got:
                if pred(m):
                    return m
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching message in {self.got[-5:]}")
