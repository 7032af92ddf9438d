"""The local stack's development mail catcher: an SMTP server (aiosmtpd) that delivers nothing.
Every email the notifications service sends is stored as an .eml file and logged with its
recipients and subject.

    uv run python -m scripts.devstack.mailcatcher --port 1025 --dir .dev/mail
"""

from __future__ import annotations

import argparse
import email
import email.policy
import logging
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("mailcatcher")


class StoreToFiles:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._count += 1
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{self._count:05d}.eml"
        path = self._directory / name
        path.write_bytes(envelope.content)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        log.info("mail to %s: %s (%s)", ", ".join(envelope.rcpt_tos), message["Subject"], path)
        return "250 OK"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, default=Path(".dev/mail"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(StoreToFiles(args.dir), hostname=args.host, port=args.port)
    controller.start()
    log.info("catching mail on %s:%d into %s", args.host, args.port, args.dir)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
