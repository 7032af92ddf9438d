"""scripts/test's prepare step installs Node.js and npm (Debian's nodejs and npm) with apt-get
when they are missing and it runs as root, as it does for Chromium and nginx."""

from __future__ import annotations

import pytest

from scripts.devstack import prereqs


class FakeMachine:
    def __init__(self, present: set[str], *, root: bool) -> None:
        self.present = set(present)
        self.root = root
        self.installed: list[list[str]] = []

    def which(self, binary: str, path: str | None = None) -> str | None:
        return f"/usr/bin/{binary}" if binary in self.present else None

    def apt_install(self, packages: list[str], say: prereqs.Say) -> None:
        self.installed.append(packages)
        provides = {"nodejs": "node", "npm": "npm"}
        self.present.update(provides[p] for p in packages)


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch) -> FakeMachine:
    fake = FakeMachine({"apt-get"}, root=True)
    monkeypatch.setattr(prereqs.shutil, "which", fake.which)
    monkeypatch.setattr(prereqs, "_is_root", lambda: fake.root)
    monkeypatch.setattr(prereqs, "apt_install", fake.apt_install)
    return fake


def test_root_installs_both_when_missing(machine: FakeMachine) -> None:
    assert prereqs.ensure_node(lambda _: None) is True
    assert machine.installed == [["nodejs", "npm"]]


def test_only_the_missing_package_is_installed(machine: FakeMachine) -> None:
    machine.present.add("node")
    assert prereqs.ensure_node(lambda _: None) is True
    assert machine.installed == [["npm"]]


def test_nothing_is_installed_when_both_are_there(machine: FakeMachine) -> None:
    machine.present.update({"node", "npm"})
    assert prereqs.ensure_node(lambda _: None) is True
    assert machine.installed == []


@pytest.mark.parametrize(("root", "install"), [(False, True), (True, False)])
def test_without_root_or_with_no_install_it_says_how(
    machine: FakeMachine, root: bool, install: bool
) -> None:
    machine.root = root
    said: list[str] = []
    assert prereqs.ensure_node(said.append, install=install) is False
    assert machine.installed == []
    assert said and "apt-get install nodejs npm" in said[0]
