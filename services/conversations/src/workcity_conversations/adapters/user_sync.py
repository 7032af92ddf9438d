"""The one-off bootstrap of the user directory from the auth service.

The copy itself is shared with the notifications service and lives in
`workcity_common.user_directory` (how it works, the auth endpoint it reads); this service hands it
its `UserDirectory` as the sink.
"""

from __future__ import annotations

from workcity_common.user_directory import SYNC_ID, AuthUserSource, UserDirectorySync, UserPage

__all__ = ["SYNC_ID", "AuthUserSource", "UserDirectorySync", "UserPage"]
