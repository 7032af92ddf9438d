"""presence.changed domain events: published once per cluster-wide change, best effort."""

from __future__ import annotations

from workcity_common.broker import BrokerUnavailable
from workcity_common.events import Event, PresenceChanged, parse_event
from workcity_realtime.adapters.cluster import Bye, Heartbeat, PresenceDelta
from workcity_realtime.service_layer.hub import Hub, HubLimits

from tests.unit.realtime.test_hub import (
    T0,
    Clock,
    FakeCluster,
    FakeConversations,
    FakeEmitter,
    claims,
)


class Events:
    def __init__(self) -> None:
        self.published: list[Event] = []
        self.down = False

    async def publish(self, event: Event) -> None:
        if self.down:
            raise BrokerUnavailable("down")
        self.published.append(event)

    def changes(self) -> list[tuple[str, bool]]:
        return [
            (e.data.user_id, e.data.online)
            for e in self.published
            if isinstance(e, PresenceChanged)
        ]


def hub_with_events() -> tuple[Hub, Events, Clock]:
    events, clock = Events(), Clock()
    hub = Hub(
        FakeEmitter(),
        FakeConversations(),
        FakeCluster(),
        HubLimits(presence_ttl_s=15),
        monotonic=clock.monotonic,
        now=clock.now,
        publish_event=events.publish,
    )
    return hub, events, clock


async def test_first_and_last_socket_publish_online_then_offline() -> None:
    hub, events, _ = hub_with_events()
    await hub.connect("s1", claims("a"), "tok")
    await hub.connect("s2", claims("a"), "tok")  # a second socket changes nothing
    await hub.disconnect("s1")
    assert events.changes() == [("a", True)]
    await hub.disconnect("s2")
    assert events.changes() == [("a", True), ("a", False)]
    offline = events.published[-1]
    assert isinstance(offline, PresenceChanged)
    assert offline.data.last_seen == T0 and offline.occurred_at == T0
    assert offline.producer == "realtime"
    # The wire form parses back to the typed event.
    assert parse_event(offline.to_bytes()) == offline


async def test_a_user_online_on_another_replica_is_not_published_again_here() -> None:
    hub, events, _ = hub_with_events()
    remote = PresenceDelta(replica="B", user_id="b", online=True, at=T0)
    await hub.handle_cluster(remote)
    await hub.connect("s1", claims("b"), "tok")  # online already, cluster-wide
    assert events.changes() == []


async def test_users_of_a_replica_that_left_or_went_silent_go_offline() -> None:
    hub, events, clock = hub_with_events()
    await hub.handle_cluster(Heartbeat(replica="B", users=["b"]))
    await hub.handle_cluster(Heartbeat(replica="C", users=["c"]))
    await hub.handle_cluster(Bye(replica="B"))
    assert events.changes() == [("b", False)]
    clock.t = 16.0
    await hub.expire()
    assert events.changes() == [("b", False), ("c", False)]


async def test_a_broker_outage_does_not_break_connect() -> None:
    hub, events, _ = hub_with_events()
    events.down = True
    await hub.connect("s1", claims("a"), "tok")
    assert hub.presence.is_online("a")
    assert events.published == []
