"""The wire between a realtime replica and the conversations service for sends in batches
(`POST /internal/messages/batch`, INTERNAL_API_TOKEN): what both sides must agree on.

A request is `{"items": [{"token", "conversationId", "body"}, ...]}`, each item what one
`POST /api/conversations/{conversationId}/messages` would carry (the user's bearer token and
its JSON body); the answer is `{"results": [...]}`, one per item in the same order: `{"message":
{...}}` (and `"replayed": true` for a retry answered with the first message), or the refusal the
single call would have answered, `{"status", "code", "msg"}`.
"""

from __future__ import annotations

from typing import Final

SEND_BATCH_PATH: Final = "/internal/messages/batch"

# An item whose token and JSON body together exceed this never goes in a batch: the replica sends
# it alone through the public path, which answers it as before (413 past MAX_REQUEST_BODY_BYTES).
# So one padded send cannot make a batch too large for the others in it.
ITEM_MAX_BYTES: Final = 64 * 1024
# JSON framing around one item's token and body (keys, quotes, commas).
_ITEM_FRAMING_BYTES: Final = 256


def batch_body_max_bytes(max_items: int) -> int:
    """The largest request body a batch of `max_items` items can be."""
    return max_items * (ITEM_MAX_BYTES + _ITEM_FRAMING_BYTES) + 1024
