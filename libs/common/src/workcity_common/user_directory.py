"""Copying the user directory from the auth service, for services that keep their own copy
(conversations, notifications), plus the MongoDB store of handled event ids their consumers use.

Events only reach a queue once it exists, so users who signed up before a service's users queue
was first declared (an existing deployment, or auth starting first) never arrive as events. Once,
after the queue is declared (so nothing falls between the copy and the events), `UserDirectorySync`
pages through the auth service's internal user listing and hands every user, with its `updatedAt`
as version, to the service's directory (`UserSink.apply`: newest version wins, so events newer than
the copy win and older ones are ignored). Progress is saved after every page, so a restart resumes
where it stopped; when done it is marked complete and never runs again (delete the `sync_state`
entry `users` to force another run).

The auth endpoint (internal, not routed by the gateway; a shared bearer token):
    GET {AUTH_INTERNAL_URL}/internal/users?after=<last id or empty>&limit=<n>
    Authorization: Bearer <INTERNAL_API_TOKEN>
    200 {"users": [{"id", "email", "role", "name", "disabled", "updatedAt"}, ...],
         "next": "<id to pass as after>" | null}      (users in ascending id order)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

import httpx
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from workcity_common.auth_users import (
    AuthUserSource,
    UserLookup,
    UserPage,
    UserSource,
    auth_user_source,
)
from workcity_common.broker import Broker, EventConsumer, EventHandler, ProcessedEvents
from workcity_common.database import Document
from workcity_common.events import (
    Event,
    UserData,
    UserDisabled,
    UserRegistered,
    UserUpdated,
    utcnow,
)
from workcity_common.settings import UserDirectorySettings

log = logging.getLogger(__name__)

# Re-exported: the services import the auth side from here too.
__all__ = [
    "AuthUserSource",
    "MongoProcessedEvents",
    "UserDirectoryCopy",
    "UserDirectorySync",
    "UserLookup",
    "UserPage",
    "UserSink",
    "UserSource",
    "auth_user_source",
    "user_events_handler",
]

SYNC_ID = "users"


class UserSink(Protocol):
    """A service's own user directory: records `user` as of `version` unless a newer record is
    stored (True if applied)."""

    async def apply(self, user: UserData, version: datetime, source: str) -> bool: ...


class UserDirectorySync:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        directory: UserSink,
        source: UserSource,
        *,
        page_size: int,
        retry_s: float,
        reconcile_interval_s: float = 3600.0,
    ) -> None:
        self._state = db["sync_state"]
        self._directory = directory
        self._source = source
        self._page_size = page_size
        self._retry_s = retry_s
        self._reconcile_interval_s = reconcile_interval_s
        self._task: asyncio.Task[None] | None = None

    async def is_complete(self) -> bool:
        state = await self._state.find_one({"_id": SYNC_ID})
        return bool(state and state.get("completed_at"))

    async def run_once(self) -> int:
        """Copy what is left to copy; returns how many users were recorded. Raises on failure
        (progress so far is kept)."""
        state = await self._state.find_one({"_id": SYNC_ID}) or {}
        if state.get("completed_at"):
            return 0
        after: str | None = state.get("after")
        copied = 0
        while True:
            page = await self._source.page(after, self._page_size)
            for user, version in page.users:
                await self._directory.apply(user, version, source="sync")
            copied += len(page.users)
            if page.next is None or not page.users:
                break
            after = page.next
            await self._state.update_one(
                {"_id": SYNC_ID}, {"$set": {"after": after, "updated_at": utcnow()}}, upsert=True
            )
        await self._state.update_one(
            {"_id": SYNC_ID},
            {"$set": {"after": after, "completed_at": utcnow(), "updated_at": utcnow()}},
            upsert=True,
        )
        log.info("user directory bootstrap complete", extra={"users": copied})
        return copied

    async def reconcile(self) -> int:
        """Apply every user auth lists, as of its `updatedAt`: what the copy holds older (an
        event lost to the dead-letter queue) is corrected; what it holds as new is left alone
        (the directory ignores older facts). Returns how many users were compared."""
        after: str | None = None
        compared = 0
        while True:
            page = await self._source.page(after, self._page_size)
            for user, version in page.users:
                await self._directory.apply(user, version, source="reconcile")
            compared += len(page.users)
            if page.next is None or not page.users:
                return compared
            after = page.next

    def start(self) -> None:
        """Run in the background: the bootstrap until done (retrying while the auth service
        cannot answer), then a reconciliation every `reconcile_interval_s`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="user-directory-sync")

    async def _run(self) -> None:
        await self._retrying("bootstrap", self.run_once)
        while True:
            await asyncio.sleep(self._reconcile_interval_s)
            compared = await self._retrying("reconciliation", self.reconcile)
            log.info("user directory reconciled", extra={"users": compared})

    async def _retrying(self, what: str, step: Callable[[], Awaitable[int]]) -> int:
        while True:
            try:
                return await step()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(f"user directory {what} failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(self._retry_s)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class MongoProcessedEvents:
    """Ids of handled events (for `EventConsumer`), forgotten by a TTL index after `ttl`."""

    def __init__(self, collection: AsyncCollection[Document], ttl: timedelta) -> None:
        self._collection = collection
        self._ttl = ttl

    async def create_indexes(self) -> None:
        await self._collection.create_index(
            [("at", ASCENDING)], expireAfterSeconds=int(self._ttl.total_seconds())
        )

    async def seen(self, event_id: str) -> bool:
        return await self._collection.find_one({"_id": event_id}, projection={"_id": 1}) is not None

    async def remember(self, event_id: str) -> None:
        await self._collection.update_one(
            {"_id": event_id}, {"$setOnInsert": {"at": utcnow()}}, upsert=True
        )


USER_EVENT_TYPES = ("user.registered", "user.updated", "user.disabled")


def user_events_handler(directory: UserSink) -> EventHandler:
    async def handle(event: Event) -> None:
        if not isinstance(event, UserRegistered | UserUpdated | UserDisabled):
            log.warning("unexpected event on the users queue", extra={"type": event.type})
            return
        # The event's time orders facts about one user: a late, older event never overwrites a
        # newer one, and a redelivered event changes nothing.
        await directory.apply(event.data, event.occurred_at, source=event.type)

    return handle


class UserDirectoryCopy:
    """A service's copy of the user directory kept current: `user.*` events from its own durable
    queue, plus the one-off copy from auth, started once that queue exists (so no user falls
    between the two). `check` is a readiness check: not ready until the queue is consumed,
    because before that the exchange drops user events."""

    def __init__(
        self,
        broker: Broker,
        db: AsyncDatabase[Document],
        directory: UserSink,
        processed: ProcessedEvents,
        settings: UserDirectorySettings,
        *,
        queue_name: str,
        http_client: httpx.AsyncClient,
        source: UserSource | None = None,
    ) -> None:
        self._broker = broker
        self.consumer = EventConsumer(
            broker,
            queue_name=queue_name,
            event_types=USER_EVENT_TYPES,
            handler=user_events_handler(directory),
            processed=processed,
            prefetch=settings.broker_prefetch,
            handler_timeout_s=settings.event_handler_timeout_s,
        )
        source = source or auth_user_source(settings, http_client)
        self._sync = (
            UserDirectorySync(
                db,
                directory,
                source,
                page_size=settings.user_sync_page_size,
                retry_s=settings.user_sync_retry_s,
                reconcile_interval_s=settings.user_reconcile_interval_s,
            )
            if source is not None
            else None
        )
        self._subscribed = asyncio.Event()

    def start(self) -> None:
        """Call before `broker.start()`, after the service's other consumers (the readiness
        check then also covers theirs: broker start-up callbacks run in registration order)."""
        self.consumer.start()
        self._broker.on_ready(self._after_subscribe)

    async def _after_subscribe(self) -> None:
        self._subscribed.set()
        if self._sync is not None:
            self._sync.start()

    async def check(self) -> None:
        if not self._subscribed.is_set():
            raise RuntimeError("not consuming user events yet")

    async def close(self) -> None:
        if self._sync is not None:
            await self._sync.close()
