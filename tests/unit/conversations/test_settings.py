from __future__ import annotations

import pytest
from pydantic import ValidationError
from workcity_conversations.settings import ConversationsSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MONGO_DB", "MESSAGE_MAX_CHARS", "MESSAGES_PAGE_MAX", "AUTH_INTERNAL_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = ConversationsSettings()
    assert settings.mongo_db == "workcity_conversations"
    assert settings.message_max_chars == 4000
    assert (settings.messages_page_default, settings.messages_page_max) == (50, 200)
    assert settings.users_queue == "conversations.users"
    assert settings.auth_internal_url is None


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESSAGE_MAX_CHARS", "500")
    monkeypatch.setenv("MESSAGES_PAGE_DEFAULT", "20")
    monkeypatch.setenv("MESSAGES_PAGE_MAX", "40")
    settings = ConversationsSettings()
    assert (settings.message_max_chars, settings.messages_page_default) == (500, 20)
    assert settings.messages_page_max == 40


def test_default_page_above_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESSAGES_PAGE_DEFAULT", "300")
    monkeypatch.setenv("MESSAGES_PAGE_MAX", "200")
    with pytest.raises(ValidationError, match="MESSAGES_PAGE_DEFAULT"):
        ConversationsSettings()


def test_production_refuses_a_placeholder_internal_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("AMQP_URL", "amqp://workcity:a-real-broker-password@rabbitmq:5672/")
    monkeypatch.setenv("AUTH_INTERNAL_URL", "http://auth:8000")
    monkeypatch.setenv("INTERNAL_API_TOKEN", "changeme")
    with pytest.raises(ValidationError, match="INTERNAL_API_TOKEN"):
        ConversationsSettings()
    monkeypatch.setenv("INTERNAL_API_TOKEN", "a-long-random-token-value")
    assert ConversationsSettings().internal_api_token is not None
