"""The web app (web/): installed from its lock file and built into web/dist, the directory the
local gateway serves, by `scripts/dev up` and by scripts/test's prepare step.

Rebuilt only when a source is newer than the last build, so a second `up` costs nothing. Without
Node.js and npm it is skipped with a note: the API works, `/` answers a JSON 404.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

from scripts.devstack.errors import StackError
from scripts.devstack.gateway import REPO_ROOT

WEB_DIR = REPO_ROOT / "web"
Say = Callable[[str], None]
# What a build reads besides node_modules: a change to any of them needs a new build.
_SOURCES = (
    "src",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
)


def _newest(paths: Iterable[Path]) -> float:
    newest = 0.0
    for path in paths:
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def _run(argv: list[str], web_dir: Path, what: str, timeout_s: float) -> None:
    try:
        result = subprocess.run(
            argv, cwd=web_dir, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} in {web_dir} took longer than {timeout_s:.0f}s") from None
    if result.returncode != 0:
        raise StackError(
            f"{what} failed in {web_dir}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )


def needs_install(web_dir: Path) -> bool:
    marker = web_dir / "node_modules" / ".package-lock.json"
    lock = web_dir / "package-lock.json"
    return not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime


def needs_build(web_dir: Path) -> bool:
    built = web_dir / "dist" / "index.html"
    if not built.exists():
        return True
    return _newest(web_dir / name for name in _SOURCES if (web_dir / name).exists()) > (
        built.stat().st_mtime
    )


def build_web(say: Say, web_dir: Path = WEB_DIR, *, timeout_s: float = 600) -> Path | None:
    """web/dist, built if it is older than its sources; None when Node.js or npm is missing."""
    if not (web_dir / "package.json").exists():
        return None
    if shutil.which("node") is None or shutil.which("npm") is None:
        say(
            "Node.js and npm are not installed: the web app is not built (apt-get install nodejs npm)"
        )
        return None
    if needs_install(web_dir):
        say("installing the web app's packages (npm ci)")
        _run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            web_dir,
            "npm ci",
            timeout_s,
        )
    if needs_build(web_dir):
        say("building the web app into web/dist (npm run build)")
        _run(["npm", "run", "build", "--silent"], web_dir, "npm run build", timeout_s)
    return web_dir / "dist"
