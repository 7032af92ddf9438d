"""The support desk's teams and agents in MongoDB.

Documents:
- teams `{_id, name, name_key, is_default, auto_assign, capacity, members: [userId]}`;
- agents `{_id: userId, availability, capacity, online, last_seen, presence_at,
  last_assigned_at}` (absent: offline, no override).
Staff are read from this service's copy of the user directory (`users`); open counts are counted
from the conversations, never kept as counters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from workcity_common.database import Document, update_by_id_and_read

from workcity_conversations.domain.desk import DEFAULT_TEAM_NAME, Agent, Team
from workcity_conversations.domain.errors import Conflict, NotFound
from workcity_conversations.domain.model import SUPPORT_ROLES

IDX_TEAM_NAME = "team_name_unique"
IDX_TEAM_MEMBERS = "team_members"
IDX_USER_ROLE = "user_role"
DEFAULT_CAPACITY = 5


def team_from_doc(doc: Document) -> Team:
    return Team(
        id=str(doc["_id"]),
        name=doc["name"],
        is_default=bool(doc.get("is_default", False)),
        auto_assign=bool(doc.get("auto_assign", True)),
        capacity=int(doc.get("capacity", DEFAULT_CAPACITY)),
        members=tuple(doc.get("members") or ()),
    )


def agent_from_doc(user_id: str, doc: Document | None) -> Agent:
    if doc is None:
        return Agent(id=user_id)
    return Agent(
        id=user_id,
        availability=doc.get("availability", "offline"),
        capacity=doc.get("capacity"),
        online=bool(doc.get("online", False)),
        last_seen=doc.get("last_seen"),
        last_assigned_at=doc.get("last_assigned_at"),
    )


class TeamsStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.teams = db["teams"]
        self.agents = db["agents"]
        self.conversations = db["conversations"]
        self.users = db["users"]

    async def create_indexes(self) -> None:
        await self.teams.create_indexes(
            [
                IndexModel([("name_key", ASCENDING)], name=IDX_TEAM_NAME, unique=True),
                IndexModel([("members", ASCENDING)], name=IDX_TEAM_MEMBERS),
            ]
        )
        await self.users.create_index([("role", ASCENDING)], name=IDX_USER_ROLE)

    # --- teams ----------------------------------------------------------------------------------

    async def ensure_default_team(self) -> None:
        try:
            await self.teams.update_one(
                {"name_key": DEFAULT_TEAM_NAME.lower()},
                {
                    "$setOnInsert": {
                        "name": DEFAULT_TEAM_NAME,
                        "is_default": True,
                        "auto_assign": True,
                        "capacity": DEFAULT_CAPACITY,
                        "members": [],
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # another process seeded it at the same moment

    async def default_team(self) -> Team:
        doc = await self.teams.find_one({"name_key": DEFAULT_TEAM_NAME.lower()})
        if doc is None:
            await self.ensure_default_team()
            doc = await self.teams.find_one({"name_key": DEFAULT_TEAM_NAME.lower()})
        assert doc is not None
        return team_from_doc(doc)

    async def all_teams(self) -> list[Team]:
        return [team_from_doc(d) async for d in self.teams.find({}).sort("_id", ASCENDING)]

    async def team(self, team_id: str) -> Team | None:
        doc = await self.teams.find_one({"_id": ObjectId(team_id)})
        return team_from_doc(doc) if doc else None

    async def teams_by_id(self, team_ids: Iterable[str]) -> dict[str, Team]:
        ids = sorted({ObjectId(t) for t in team_ids})
        if not ids:
            return {}
        return {
            str(d["_id"]): team_from_doc(d) async for d in self.teams.find({"_id": {"$in": ids}})
        }

    async def team_ids_of(self, user_id: str) -> set[str]:
        return {str(d["_id"]) async for d in self.teams.find({"members": user_id}, {"_id": 1})}

    async def create_team(self, name: str, auto_assign: bool, capacity: int) -> Team:
        doc = {
            "_id": ObjectId(),
            "name": name,
            "name_key": name.lower(),
            "is_default": False,
            "auto_assign": auto_assign,
            "capacity": capacity,
            "members": [],
        }
        try:
            await self.teams.insert_one(doc)
        except DuplicateKeyError:
            raise Conflict("A team with this name exists", "team_exists") from None
        return team_from_doc(doc)

    async def update_team(self, team_id: str, fields: Document) -> Team:
        if "name" in fields:
            fields = {**fields, "name_key": fields["name"].lower()}
        try:
            doc = await update_by_id_and_read(
                self.teams, {"_id": ObjectId(team_id)}, {"$set": fields}
            )
        except DuplicateKeyError:
            raise Conflict("A team with this name exists", "team_exists") from None
        if doc is None:
            raise NotFound("Team not found", "team_not_found")
        return team_from_doc(doc)

    # --- agents ---------------------------------------------------------------------------------

    async def staff(self) -> list[Document]:
        cursor = self.users.find({"role": {"$in": sorted(SUPPORT_ROLES)}}).sort("_id", ASCENDING)
        return [d async for d in cursor]

    async def admin_ids(self) -> list[str]:
        return [d["_id"] async for d in self.users.find({"role": "admin"}, {"_id": 1})]

    async def agents_by_id(self, user_ids: Iterable[str]) -> dict[str, Agent]:
        ids = sorted(set(user_ids))
        docs = {d["_id"]: d async for d in self.agents.find({"_id": {"$in": ids}})}
        return {i: agent_from_doc(i, docs.get(i)) for i in ids}

    async def open_counts(self, user_ids: Iterable[str] | None = None) -> dict[str, int]:
        """Open conversations assigned to each agent, counted from the conversations."""
        match: Document = {"status": "open", "assignee": {"$ne": None}}
        if user_ids is not None:
            match["assignee"] = {"$in": sorted(set(user_ids))}
        pipeline = [{"$match": match}, {"$group": {"_id": "$assignee", "n": {"$sum": 1}}}]
        return {d["_id"]: int(d["n"]) async for d in await self.conversations.aggregate(pipeline)}

    async def set_agent(self, user_id: str, fields: Document) -> None:
        await self.agents.update_one({"_id": user_id}, {"$set": fields}, upsert=True)

    async def record_presence(self, user_id: str, online: bool, at: datetime) -> bool:
        """Record a presence fact unless a newer one is stored (events may arrive late or
        twice); True if it was applied."""
        fields = {"online": online, "last_seen": None if online else at, "presence_at": at}
        newer = {"_id": user_id, "$or": [{"presence_at": {"$lt": at}}, {"presence_at": None}]}
        try:
            result = await self.agents.update_one(newer, {"$set": fields}, upsert=True)
        except DuplicateKeyError:
            return False  # a newer fact is stored (the upsert tried to insert a second one)
        return result.matched_count + (1 if result.upserted_id is not None else 0) > 0
