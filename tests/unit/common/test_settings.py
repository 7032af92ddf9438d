"""Settings every service shares: production refuses RabbitMQ's default credentials."""

import pytest
from pydantic import ValidationError
from workcity_common.settings import ServiceSettings


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@127.0.0.1:5672/",
        "amqp://127.0.0.1:5672/",  # no credentials: the client sends guest/guest
        "amqp://workcity:changeme@rabbitmq:5672/",
        "amqp://workcity@rabbitmq:5672/",
        "amqps://guest:s3cret-long-password@rabbitmq:5671/",
    ],
)
def test_production_refuses_default_or_placeholder_broker_credentials(url: str) -> None:
    with pytest.raises(ValidationError, match="AMQP_URL"):
        ServiceSettings.model_validate({"ENVIRONMENT": "production", "AMQP_URL": url})


def test_production_takes_a_real_broker_user_and_development_takes_guest() -> None:
    real = "amqp://workcity:Xq2-a-real-password@rabbitmq:5672/"
    assert ServiceSettings.model_validate({"ENVIRONMENT": "production", "AMQP_URL": real})
    guest = "amqp://guest:guest@127.0.0.1:5672/"
    assert ServiceSettings.model_validate({"ENVIRONMENT": "development", "AMQP_URL": guest})
