"""Every use case of `CannedService` (service_layer/canned_service.py) against in-memory fakes of
its ports (desk_fakes.py): who lists and writes which scope, a short code unique in its scope, the
cap of a scope, and who may change or delete one. The real store (its unique index, its search)
against the database: tests/e2e/test_desk_canned.py."""

from __future__ import annotations

from typing import Any

import pytest
from workcity_common.domain_errors import DomainError
from workcity_conversations.service_layer.canned_service import CannedLimits, CannedService

from tests.unit.conversations.desk_fakes import FakeCannedResponses, FakeTeamStore
from tests.unit.conversations.fakes import oid
from tests.unit.conversations.test_service import person

ADMIN, ANN, BOB, CUSTOMER = person("admin"), person("agent"), person("agent"), person()
CAROL = person("agent")  # in ANN's team


async def canned_world(max_per_scope: int = 500) -> tuple[CannedService, str]:
    teams = FakeTeamStore(ADMIN, ANN, BOB, CAROL)
    team = await teams.create_team("Support", False, 5)
    await teams.update_team(team.id, {"members": [ANN.id, CAROL.id]})
    limits = CannedLimits(max_per_scope=max_per_scope, short_code_max_chars=8)
    return CannedService(FakeCannedResponses(), teams, limits), team.id


async def fails(code: str, work: Any) -> None:
    with pytest.raises(DomainError) as error:
        await work
    assert error.value.code == code


def body(scope: str, code: str, text: str = "Hello there", **more: Any) -> dict[str, Any]:
    return {"scope": scope, "shortCode": code, "text": text, **more}


async def test_staff_see_their_own_their_teams_and_the_global_ones() -> None:
    service, team = await canned_world()
    await service.create(ANN, body("personal", "mine"))
    await service.create(ANN, body("team", "ours", teamId=team))
    await service.create(ADMIN, body("global", "all", text="Refund policy"))
    await service.create(BOB, body("personal", "bobs"))
    codes = [c["shortCode"] for c in await service.search(ANN, None)]
    assert codes == ["all", "mine", "ours"]
    assert [c["shortCode"] for c in await service.search(BOB, None)] == ["all", "bobs"]
    assert [c["shortCode"] for c in await service.search(ANN, "REFUND")] == ["all"]
    await fails("staff_only", service.search(CUSTOMER, None))


async def test_who_writes_which_scope() -> None:
    service, team = await canned_world()
    await fails("admin_only", service.create(ANN, body("global", "g")))
    await fails("not_in_team", service.create(BOB, body("team", "t", teamId=team)))
    await fails("team_not_found", service.create(ADMIN, body("team", "t", teamId=oid())))
    await fails("invalid_body", service.create(ANN, body("team", "t")))
    await fails("invalid_scope", service.create(ANN, body("nope", "t")))
    await fails("staff_only", service.create(CUSTOMER, body("personal", "t")))


async def test_a_short_code_is_unique_in_its_scope_and_a_scope_is_capped() -> None:
    service, _ = await canned_world(max_per_scope=2)
    await service.create(ANN, body("personal", "hi"))
    await fails("short_code_taken", service.create(ANN, body("personal", "HI")))
    await service.create(BOB, body("personal", "hi"))  # another scope
    await service.create(ANN, body("personal", "bye"))
    await fails("canned_limit_reached", service.create(ANN, body("personal", "more")))


async def test_its_author_or_an_admin_changes_or_deletes_it() -> None:
    service, team = await canned_world()
    made = await service.create(ANN, body("team", "hi", teamId=team))
    other = await service.create(ANN, body("team", "bye", teamId=team))
    await fails("canned_not_found", service.update(BOB, made["_id"], {"text": "x"}))  # unseen
    await fails("not_author", service.update(CAROL, made["_id"], {"text": "x"}))
    await fails("invalid_body", service.update(ANN, made["_id"], {}))
    await fails("invalid_body", service.update(ANN, made["_id"], {"scope": "global"}))
    await fails("short_code_taken", service.update(ANN, other["_id"], {"shortCode": "Hi"}))
    changed = await service.update(ANN, made["_id"], {"shortCode": "hey", "text": "Hey!"})
    assert (changed["shortCode"], changed["text"]) == ("hey", "Hey!")
    await service.delete(ADMIN, made["_id"])
    await fails("canned_not_found", service.delete(ANN, made["_id"]))
    await fails("canned_not_found", service.update(ANN, oid(), {"text": "x"}))
