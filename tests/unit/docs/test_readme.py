"""The README's configuration table names every setting the services read, and the commands
it promises exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from workcity_auth.settings import AuthSettings
from workcity_common.settings import ServiceSettings, TokenVerifierSettings
from workcity_conversations.settings import ConversationsSettings
from workcity_notifications.settings import NotificationsSettings
from workcity_realtime.settings import RealtimeSettings

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text()
SETTINGS = (
    ServiceSettings,
    TokenVerifierSettings,
    AuthSettings,
    ConversationsSettings,
    RealtimeSettings,
    NotificationsSettings,
)


def env_names() -> set[str]:
    return {
        f.validation_alias
        for cls in SETTINGS
        for f in cls.model_fields.values()
        if isinstance(f.validation_alias, str)
    }


@pytest.mark.parametrize("name", sorted(env_names()))
def test_every_setting_is_in_the_configuration_table(name: str) -> None:
    assert re.search(rf"\|[^\n]*`{name}`[^\n]*\|", README), f"{name} missing from README"


def test_every_gateway_variable_is_in_the_configuration_table() -> None:
    template = (ROOT / "gateway/templates/gateway.conf.template").read_text()
    for name in set(re.findall(r"\$\{([A-Z0-9_]+)\}", template)):
        assert f"`{name}`" in README, f"{name} missing from README"


def test_the_commands_the_readme_gives_exist() -> None:
    assert "docker compose up --build" in README
    for script in ("scripts/test", "scripts/dev", "scripts/lint", ".ci/run"):
        assert f"{script}" in README or script == ".ci/run"
        assert (ROOT / script).exists()
    assert "scripts/test" in (ROOT / ".ci/run").read_text()
