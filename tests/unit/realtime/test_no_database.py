"""Realtime has no database: its settings read no MongoDB variable, its package does not depend
on a MongoDB driver, and every one of its modules imports with the driver made unimportable."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from workcity_realtime.settings import RealtimeSettings

ROOT = Path(__file__).resolve().parents[3]

BLOCKED_IMPORT = """
import importlib.abc, pkgutil, sys

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pymongo", "bson", "motor"):
            raise ImportError(f"{name}: realtime has no database")
        return None

sys.meta_path.insert(0, Blocker())
import workcity_realtime
for module in pkgutil.walk_packages(workcity_realtime.__path__, "workcity_realtime."):
    __import__(module.name)
"""


def test_settings_read_no_database_variable() -> None:
    fields = RealtimeSettings.model_fields
    assert not {"mongo_uri", "mongo_db", "outbox_poll_interval_s"} & set(fields)
    aliases = {f.validation_alias for f in fields.values()}
    assert not {"MONGO_URI", "MONGO_DB"} & aliases


def test_the_package_does_not_depend_on_a_mongodb_driver() -> None:
    project = tomllib.loads((ROOT / "services/realtime/pyproject.toml").read_text())["project"]
    deps = project["dependencies"]
    assert "workcity-common" in deps  # without the `mongo` extra
    assert not [d for d in deps if "mongo" in d], deps
    lock = (ROOT / "uv.lock").read_text()
    realtime = lock[lock.index('name = "workcity-realtime"') :]
    realtime = realtime[: realtime.index("[[package]]")]
    assert "pymongo" not in realtime and "mongo" not in realtime.split("[package.metadata]")[0]


def test_every_module_imports_without_a_mongodb_driver() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_IMPORT], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
