"""A real browser for the end-to-end tests: Debian's Chromium driven by Playwright (launched by
its path: Playwright cannot download browsers here), and the page the tests load in it.

The page (tests/e2e/browser/) is built the way a Vite app is: an index.html, module scripts under
/assets/ (the npm `socket.io-client` bundle among them) and the API and socket addresses baked
into /assets/config.js. It is served either by a small HTTP server of the test's own, on another
origin than the gateway, or by the gateway itself from its FRONTEND_DIR.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from scripts.devstack.prereqs import chromium_path
from tests.support.servers import free_port

PAGE_DIR = Path(__file__).resolve().parents[1] / "e2e" / "browser"
JS_DIR = Path(__file__).resolve().parents[1] / "e2e" / "js"
SOCKET_IO_BUNDLE = JS_DIR / "node_modules" / "socket.io-client" / "dist" / "socket.io.esm.min.js"


def chromium() -> str:
    """Chromium's path; skips (saying how to install it) where scripts/test could not."""
    path = chromium_path()
    if not os.access(path, os.X_OK):
        pytest.skip(f"Chromium is needed at {path} (apt-get install chromium; scripts/test does)")
    return path


def launch_args() -> list[str]:
    # Chromium refuses to sandbox itself as root (CI runs as root).
    return ["--no-sandbox"] if os.geteuid() == 0 else []


@contextlib.asynccontextmanager
async def launched_chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium under Playwright, closed at the end of the block (skips without it)."""
    path = chromium()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=launch_args())
        try:
            yield browser
        finally:
            await browser.close()


def build_page(dest: Path, *, api_base_url: str, socket_url: str, admin: dict[str, str]) -> Path:
    """The page's files in `dest`, with its settings baked in as a Vite build bakes its env."""
    assets = dest / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    shutil.copy(PAGE_DIR / "index.html", dest / "index.html")
    shutil.copy(PAGE_DIR / "app.js", assets / "app.js")
    shutil.copy(SOCKET_IO_BUNDLE, assets / SOCKET_IO_BUNDLE.name)
    settings = {"API_BASE_URL": api_base_url, "SOCKET_URL": socket_url, "ADMIN": admin}
    (assets / "config.js").write_text(
        "".join(f"export const {k} = {json.dumps(v)};\n" for k, v in settings.items())
    )
    return dest


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
    }

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on a port of its own (another origin than the gateway's)."""
    port = free_port()
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


# The npm project of the tests that run Node.js clients (socket.io-client).
NODE_TEST_DIR = Path(__file__).parents[1] / "e2e" / "js"


def node_modules_ready() -> None:
    """`npm ci` from the lock file, once (a fresh clone has no node_modules)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js and npm are needed for the socket.io-client test")
    marker = NODE_TEST_DIR / "node_modules" / ".package-lock.json"
    lock = NODE_TEST_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    result = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_TEST_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
