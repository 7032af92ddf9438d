"""How the batch of sends answers an item that failed: as the single route would answer it."""

from __future__ import annotations

from pymongo.errors import ServerSelectionTimeoutError
from workcity_common.domain_errors import Forbidden
from workcity_conversations.entrypoints.internal import _answer


def test_an_item_that_met_an_unreachable_database_is_503_unavailable() -> None:
    answer = _answer(ServerSelectionTimeoutError("127.0.0.1:27017: connection refused"))
    assert answer == {
        "status": 503,
        "code": "unavailable",
        "msg": "The database is unavailable, try again",
    }


def test_a_refused_item_carries_its_status_code_and_message() -> None:
    answer = _answer(Forbidden("You are not a participant of this conversation", "forbidden"))
    assert answer == {
        "status": 403,
        "code": "forbidden",
        "msg": "You are not a participant of this conversation",
    }
