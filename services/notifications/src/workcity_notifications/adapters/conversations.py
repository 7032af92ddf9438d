"""The conversations service's internal answer to "what has this participant not read?", asked
when an email is due (`GET /internal/conversations/:id/unread`, INTERNAL_API_TOKEN)."""

from __future__ import annotations

from datetime import datetime

import httpx
from pydantic import BaseModel, Field

from workcity_notifications.domain.model import Unread
from workcity_notifications.domain.rules import PendingMessage


class _Message(BaseModel):
    id: str
    seq: int
    sender_email: str = Field(alias="senderEmail")
    text: str
    created_at: datetime = Field(alias="createdAt")


class _Unread(BaseModel):
    last_seq: int = Field(alias="lastSeq")
    unread_count: int = Field(alias="unreadCount")
    messages: list[_Message]


CONVERSATION_GONE = "conversation_not_found"


def _code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("code") if isinstance(body, dict) else None


class ConversationsSource:
    def __init__(
        self, client: httpx.AsyncClient, base_url: str, token: str, timeout_s: float
    ) -> None:
        self._client = client
        self._base = base_url.rstrip("/") + "/internal/conversations"
        self._token = token
        self._timeout = timeout_s

    async def unread(
        self, conversation_id: str, user_id: str, after_seq: int, limit: int
    ) -> Unread | None:
        response = await self._client.get(
            f"{self._base}/{conversation_id}/unread",
            params={"userId": user_id, "afterSeq": after_seq, "limit": limit},
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=self._timeout,
        )
        if response.status_code == 404 and _code(response) == CONVERSATION_GONE:
            return None
        response.raise_for_status()
        body = _Unread.model_validate_json(response.content)
        return Unread(
            last_seq=body.last_seq,
            count=body.unread_count,
            messages=[
                PendingMessage(
                    id=m.id,
                    seq=m.seq,
                    sender_email=m.sender_email,
                    text=m.text,
                    created_at=m.created_at,
                )
                for m in body.messages
            ],
        )
