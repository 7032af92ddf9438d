"""Start and stop the real servers tests need: SecantusDB (a MongoDB wire-protocol server) in
memory on a free port. RabbitMQ is the machine's own (started before the session, or by
scripts/test), reached at AMQP_URL."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def secantus_binary() -> str:
    beside_python = Path(sys.executable).parent / "secantusd-py"
    found = str(beside_python) if beside_python.exists() else shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: run `uv sync` (it is a dev dependency)")
    return found


class SecantusServer:
    """A throwaway in-memory SecantusDB. Connect with retryWrites=false (see README)."""

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/?retryWrites=false"
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL
        self._process = subprocess.Popen(
            [secantus_binary(), "--port", str(self.port), "--storage-path", ":memory:"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"secantusd-py exited with {self._process.returncode}")
            try:
                with MongoClient(self.uri, serverSelectionTimeoutMS=300) as client:
                    client.admin.command("ping")
                return
            except Exception:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("secantusd-py did not answer in time")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def mongo_uri_from_env() -> str | None:
    return os.environ.get("MONGO_URI") or None


def amqp_url() -> str:
    return os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL
