"""Presence across replicas and the contact book, as pure bookkeeping."""

from datetime import UTC, datetime, timedelta

from workcity_realtime.domain.presence import (
    Contact,
    ContactBook,
    PresenceChange,
    PresenceRegistry,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_local_sockets_make_a_user_online_until_the_last_leaves() -> None:
    registry = PresenceRegistry(ttl_s=15)
    assert registry.connect("u1", "s1") == (True, PresenceChange("u1", True, None))
    assert registry.connect("u1", "s2") == (False, None)
    assert registry.disconnect("u1", "s1", T0) == (False, None)
    assert registry.is_online("u1")
    assert registry.disconnect("u1", "s2", T0) == (True, PresenceChange("u1", False, T0))
    assert not registry.is_online("u1")
    assert registry.last_seen("u1") == T0
    assert registry.disconnect("u1", "s2", T0) == (False, None)  # unknown socket: no change


def test_a_user_on_two_replicas_stays_online_while_either_has_them() -> None:
    registry = PresenceRegistry(ttl_s=15)
    assert registry.remote_change("B", "u1", True, 0.0, T0) == [PresenceChange("u1", True, None)]
    # Connecting here too changes nothing globally.
    assert registry.connect("u1", "s1") == (True, None)
    assert registry.disconnect("u1", "s1", T0) == (True, None)
    assert registry.is_online("u1")
    later = T0 + timedelta(seconds=3)
    assert registry.remote_change("B", "u1", False, 1.0, later) == [
        PresenceChange("u1", False, later)
    ]


def test_heartbeat_replaces_a_replicas_set() -> None:
    registry = PresenceRegistry(ttl_s=15)
    assert [c.user_id for c in registry.heartbeat("B", ["u1", "u2"], 0.0, T0)] == ["u1", "u2"]
    changes = registry.heartbeat("B", ["u2", "u3"], 5.0, T0)
    assert changes == [PresenceChange("u1", False, T0), PresenceChange("u3", True, None)]
    assert registry.heartbeat("B", ["u2", "u3"], 10.0, T0) == []


def test_a_silent_replica_expires_and_its_users_go_offline() -> None:
    registry = PresenceRegistry(ttl_s=15)
    registry.heartbeat("B", ["u1", "u2"], 0.0, T0)
    registry.heartbeat("C", ["u2"], 10.0, T0)
    registry.connect("u3", "s1")
    assert registry.expire(14.0, T0) == []
    dead_at = T0 + timedelta(seconds=16)
    # B is gone: u1 goes offline, u2 is still on C.
    assert registry.expire(16.0, dead_at) == [PresenceChange("u1", False, dead_at)]
    assert registry.is_online("u2") and registry.is_online("u3")
    assert registry.replicas() == {"C"}
    assert registry.expire(30.0, dead_at) == [PresenceChange("u2", False, dead_at)]
    assert registry.is_online("u3")  # local sockets never expire


def test_bye_takes_a_replica_out_at_once() -> None:
    registry = PresenceRegistry(ttl_s=15)
    registry.heartbeat("B", ["u1"], 0.0, T0)
    assert registry.replica_gone("B", T0) == [PresenceChange("u1", False, T0)]
    assert registry.replica_gone("B", T0) == []


def contacts(*ids: str) -> list[Contact]:
    return [Contact(i, f"{i}@x.io") for i in ids]


def test_contact_book_tracks_only_local_users() -> None:
    book = ContactBook()
    book.track("a")
    assert book.add_conversation("c1", contacts("a", "b")) == [("a", "b")]
    assert book.add_conversation("c2", contacts("b", "z")) == []  # nobody tracked
    assert book.watchers_of("b") == {"a"}
    assert [c.id for c in book.contacts_of("a")] == ["b"]
    assert book.contacts_of("z") == []


def test_a_pair_stays_contacts_while_they_share_any_conversation() -> None:
    book = ContactBook()
    book.track("a")
    book.track("b")
    assert sorted(book.add_conversation("c1", contacts("a", "b"))) == [("a", "b"), ("b", "a")]
    assert book.add_conversation("c2", contacts("a", "b")) == []
    assert book.remove_conversation("c1", ["a", "b"]) == []
    assert sorted(book.remove_conversation("c2", ["a", "b"])) == [("a", "b"), ("b", "a")]
    assert book.watchers_of("a") == set() and book.contacts_of("a") == []


def test_forget_drops_a_users_book_and_watch() -> None:
    book = ContactBook()
    book.track("a")
    book.add_conversation("c1", contacts("a", "b"))
    book.forget("a")
    assert not book.is_tracked("a")
    assert book.watchers_of("b") == set()
