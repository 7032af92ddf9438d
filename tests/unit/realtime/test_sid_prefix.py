"""Engine.IO session ids carry the replica's SOCKET_SID_PREFIX, which the gateway maps to the
replica's upstream (gateway/templates/gateway.conf.template)."""

import re

from workcity_realtime.adapters.engine import ChatServer

# What python-engineio makes itself: 15 random-ish bytes in base64url, no padding.
ENGINEIO_ID = r"[A-Za-z0-9_-]{20}"


def test_session_ids_start_with_the_prefix_and_a_dot_and_stay_unique() -> None:
    server = ChatServer(async_mode="asgi", sid_prefix="r2")
    ids = [server.eio.generate_id() for _ in range(1000)]
    assert all(re.fullmatch(rf"r2\.{ENGINEIO_ID}", sid) for sid in ids), ids[:3]
    assert len(set(ids)) == len(ids)


def test_without_a_prefix_the_ids_are_python_engineio_own() -> None:
    server = ChatServer(async_mode="asgi")
    assert re.fullmatch(ENGINEIO_ID, server.eio.generate_id())
