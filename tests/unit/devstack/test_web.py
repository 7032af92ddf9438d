"""The web app's build step (scripts/devstack/web.py): rebuilt only when a source is newer than
the last build, skipped with a note when Node.js or npm is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scripts.devstack import web


def touch(path: Path, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    os.utime(path, (mtime, mtime))


def test_a_build_is_needed_until_dist_is_newer_than_every_source(tmp_path: Path) -> None:
    touch(tmp_path / "package.json", 1000)
    touch(tmp_path / "package-lock.json", 1000)
    touch(tmp_path / "src" / "main.tsx", 1000)
    assert web.needs_build(tmp_path)
    touch(tmp_path / "dist" / "index.html", 2000)
    assert not web.needs_build(tmp_path)
    touch(tmp_path / "src" / "agent" / "Inbox.tsx", 3000)
    assert web.needs_build(tmp_path)


def test_install_follows_the_lock_file(tmp_path: Path) -> None:
    touch(tmp_path / "package-lock.json", 1000)
    assert web.needs_install(tmp_path)
    touch(tmp_path / "node_modules" / ".package-lock.json", 2000)
    assert not web.needs_install(tmp_path)
    touch(tmp_path / "package-lock.json", 3000)
    assert web.needs_install(tmp_path)


def test_without_node_the_build_is_skipped_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    touch(tmp_path / "package.json", 1000)
    monkeypatch.setattr(web.shutil, "which", lambda _binary: None)
    said: list[str] = []
    assert web.build_web(said.append, tmp_path) is None
    assert said and "apt-get install nodejs npm" in said[0]
