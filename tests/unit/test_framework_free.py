"""No `domain/` package imports a web framework, even indirectly, and neither does the shared
library's framework-free part: each is imported in a fresh interpreter where FastAPI, Starlette
and the Socket.IO/HTTP stacks cannot be imported at all."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCKED = ("fastapi", "starlette", "socketio", "engineio", "aiohttp", "uvicorn", "httpx")
SERVICES = ("auth", "conversations", "notifications", "realtime")
# The shared library's modules a domain may use; the rest (app, errors, http_auth, ...) is the
# FastAPI side.
COMMON_FRAMEWORK_FREE = ("workcity_common.domain_errors", "workcity_common.error_table")

BLOCKER = f"""
import importlib.abc, sys

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError(f"{{name}} is a web framework: blocked in this test")
        return None

sys.meta_path.insert(0, Blocker())
for name in sys.argv[1:]:
    __import__(name)
"""


def domain_modules(service: str) -> list[str]:
    package = f"workcity_{service}.domain"
    folder = ROOT / "services" / service / "src" / f"workcity_{service}" / "domain"
    return [package] + [f"{package}.{m.name}" for m in pkgutil.iter_modules([str(folder)])]


def import_blocked(*modules: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, *modules], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("service", SERVICES)
def test_each_domain_package_imports_without_a_web_framework(service: str) -> None:
    modules = domain_modules(service)
    assert len(modules) > 1, f"no modules found in {service}'s domain"
    result = import_blocked(*modules)
    assert result.returncode == 0, result.stderr


def test_the_framework_free_part_of_the_shared_library_imports_without_one() -> None:
    result = import_blocked(*COMMON_FRAMEWORK_FREE)
    assert result.returncode == 0, result.stderr


def test_the_blocker_blocks() -> None:
    # Proof that the test above would notice: the FastAPI side of the library fails here.
    result = import_blocked("workcity_common.errors")
    assert result.returncode != 0
    assert "is a web framework: blocked" in result.stderr
