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


@pytest.mark.parametrize("prefix", ["r1.", "r/1", "r-1", "x" * 17, "é"])
def test_a_sid_prefix_the_gateway_could_not_match_is_refused(prefix: str) -> None:
    with pytest.raises(ValidationError, match="SOCKET_SID_PREFIX"):
        RealtimeSettings.model_validate({"SOCKET_SID_PREFIX": prefix})
    assert RealtimeSettings.model_validate({"SOCKET_SID_PREFIX": "r2"}).sid_prefix == "r2"
    assert RealtimeSettings.model_validate({}).sid_prefix == ""
