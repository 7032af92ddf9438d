import pytest
from pydantic import ValidationError
from workcity_realtime.settings import RealtimeSettings


def test_an_access_token_outliving_the_disabled_memory_is_refused() -> None:
    with pytest.raises(ValidationError, match="DISABLED_USER_MEMORY_SECONDS"):
        RealtimeSettings.model_validate(
            {"ACCESS_TOKEN_TTL_SECONDS": 7200, "DISABLED_USER_MEMORY_SECONDS": 3600}
        )
    ok = RealtimeSettings.model_validate(
        {"ACCESS_TOKEN_TTL_SECONDS": 3600, "DISABLED_USER_MEMORY_SECONDS": 3600}
    )
    assert ok.access_token_ttl_s == 3600
