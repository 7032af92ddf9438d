"""A real SMTP server for tests (aiosmtpd), keeping every email it receives."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


@dataclass(frozen=True)
class Received:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        return str(part.get_content())  # type: ignore[attr-defined]


class _Handler:
    def __init__(self, catcher: MailCatcher) -> None:
        self._catcher = catcher

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self._catcher.refuse:
            return "451 Requested action aborted: try again later"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._catcher.lock:
            self._catcher.received.append(Received(list(envelope.rcpt_tos), parsed))
        return "250 OK"


class MailCatcher:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        # While True, every email is refused with a temporary failure (the sender must retry).
        self.refuse = False
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> MailCatcher:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.to]

    async def wait_for(
        self, address: str, count: int = 1, timeout_s: float = 20.0
    ) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        # Polled: the SMTP server runs in its own thread and event loop.
        while time.monotonic() < deadline:
            if len(self.to(address)) >= count:
                break
            await asyncio.sleep(0.1)
        return self.to(address)
