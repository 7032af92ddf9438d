"""Every query the service runs uses an index.

Rather than restating the queries here, the test records the commands the service actually sends
(PyMongo command monitoring) while it runs every use case, then explains each recorded filter and
sort. Writes (update, delete, findAndModify) are explained as the equivalent find: the server
picks the index for a write's filter the same way. The main queries must use the index built for
them, by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from workcity_common.events import UserData, UserRegistered, utcnow
from workcity_common.outbox import Outbox
from workcity_common.tokens import TokenClaims
from workcity_common.user_directory import user_events_handler
from workcity_conversations.adapters.attachments import (
    IDX_CHUNKS,
    IDX_FILES_CONVERSATION,
    IDX_FILES_UNATTACHED,
    IDX_FILES_UPLOADER,
    AttachmentStore,
)
from workcity_conversations.adapters.conversation_docs import (
    IDX_HISTORY,
    IDX_IDEMPOTENCY,
    IDX_INBOX,
    IDX_PAIR,
)
from workcity_conversations.adapters.directory import (
    IDX_VERSION,
    MongoProcessedEvents,
    UserDirectory,
)
from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.service_layer.service import ConversationService

pytestmark = pytest.mark.integration

QUERY_COMMANDS = {"find", "findAndModify", "update", "delete", "count"}


@dataclass(frozen=True)
class Query:
    collection: str
    filter: dict[str, Any]
    sort: dict[str, Any] | None
    command: str


class Recorder(monitoring.CommandListener):
    def __init__(self, db_name: str) -> None:
        self.db_name = db_name
        self.queries: list[Query] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.db_name or event.command_name not in QUERY_COMMANDS:
            return
        cmd = event.command
        name = event.command_name
        collection = cmd[name]
        if name == "find":
            self.queries.append(
                Query(collection, dict(cmd.get("filter", {})), cmd.get("sort"), name)
            )
        elif name == "findAndModify":
            self.queries.append(Query(collection, dict(cmd["query"]), cmd.get("sort"), name))
        elif name == "count":
            self.queries.append(Query(collection, dict(cmd.get("query", {})), None, name))
        else:
            key = "updates" if name == "update" else "deletes"
            for statement in cmd[key]:
                self.queries.append(Query(collection, dict(statement["q"]), None, name))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def stages(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = [(plan.get("stage", "?"), plan.get("indexName"))]
    for child in [plan.get("inputStage"), *plan.get("inputStages", [])]:
        if child:
            found.extend(stages(child))
    return found


async def test_every_query_uses_an_index(
    mongo_uri: str, unique_name: str, make_user: Callable[..., Any]
) -> None:
    recorder = Recorder(unique_name)
    client: AsyncMongoClient = AsyncMongoClient(
        mongo_uri, tz_aware=True, event_listeners=[recorder]
    )
    db = client[unique_name]
    try:
        outbox = Outbox(db["outbox"])
        store = ConversationStore(db, outbox)
        directory = UserDirectory(db)
        processed = MongoProcessedEvents(db["processed_events"], ttl=timedelta(days=1))
        files = AttachmentStore(db)
        for target in (store, directory, outbox, processed, files):
            await target.create_indexes()
        service = ConversationService(store, directory, files)

        # Users arrive by event, by token, and the consumer's dedup store is used.
        handler = user_events_handler(directory)
        agent_data = UserData(id="6566f1d2c3b4a59687a1b2c3", email="agent@x.test", role="agent")
        event = UserRegistered(producer="auth", data=agent_data)
        assert not await processed.seen(event.id)
        await handler(event)
        await processed.remember(event.id)
        customer = await service.caller(
            TokenClaims(
                user_id="6566f1d2c3b4a59687a1b2c4",
                email="c@x.test",
                role="customer",
                expires_at=0,
            )
        )
        agent = await directory.get(agent_data.id)
        assert agent is not None
        admin = await make_user("admin")
        await directory.apply(agent_data, utcnow(), source="test")

        # Every use case, every branch that queries.
        conv = (await service.open_conversation(customer, agent.id)).conversation["_id"]
        await service.open_conversation(agent, customer.id)
        first = (await service.send(customer, conv, "one", "cm-1")).message["_id"]
        await service.send(customer, conv, "one again", "cm-1")
        last = (await service.send(agent, conv, "two")).message["_id"]
        await service.list_conversations(customer, "1", None)
        await service.list_conversations(agent, None, conv)
        await service.get_conversation(admin, conv)
        await service.history(customer, conv, None, None, None)
        await service.history(customer, conv, "10", "1", None)
        await service.history(customer, conv, "10", None, "2")
        await service.history(customer, conv, "10", "0", "5")
        await service.mark_read(customer, conv, None)
        await service.edit_message(customer, first, "edited")
        await service.delete_message(agent, last)

        async def png() -> AsyncIterator[bytes]:
            yield b"\x89PNG\r\n\x1a\n" + bytes(300_000)

        target = await service.files.conversation_for_upload(customer, conv)
        attachment = await service.files.upload(customer, target, "a.png", "image/png", png())
        carrier = (await service.send(customer, conv, "", None, [attachment["_id"]])).message
        download = await service.files.download(agent, attachment["_id"])
        assert len(b"".join([chunk async for chunk in download.chunks])) == attachment["size"]
        await service.files.expire_unattached_files()
        await service.delete_message(customer, carrier["_id"])  # its file goes with it
        await service.delete_conversation(customer, conv)
        await outbox.pending(10)
        await outbox.mark_published([d["_id"] for d in await outbox.pending(100)])

        assert {q.collection for q in recorder.queries} >= {
            "conversations",
            "messages",
            "users",
            "outbox",
            "processed_events",
        }
        used: dict[str, set[str]] = {}
        for query in recorder.queries:
            explain: dict[str, Any] = {"find": query.collection, "filter": query.filter}
            if query.sort:
                explain["sort"] = query.sort
            result = await db.command("explain", explain, verbosity="queryPlanner")
            plan = stages(result["queryPlanner"]["winningPlan"])
            names = {name for stage, name in plan if stage == "IXSCAN" and name}
            assert names and all(stage != "COLLSCAN" for stage, _ in plan), (
                f"{query.command} on {query.collection} {query.filter} sort {query.sort}: {plan}"
            )
            used.setdefault(query.collection, set()).update(names)

        # The queries the issue names use the indexes built for them.
        assert {IDX_PAIR, IDX_INBOX, "_id_"} <= used["conversations"]
        assert {IDX_HISTORY, IDX_IDEMPOTENCY, "_id_"} <= used["messages"]
        assert used["users"] <= {"_id_", IDX_VERSION}
        assert "published_1__id_1" in used["outbox"]
        assert {
            IDX_FILES_CONVERSATION,
            IDX_FILES_UPLOADER,
            IDX_FILES_UNATTACHED,
        } <= used["attachments.files"]
        assert IDX_CHUNKS in used["attachments.chunks"]
    finally:
        await client.drop_database(unique_name)
        await client.close()
