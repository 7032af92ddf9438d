"""Prometheus metrics of the event pipes: every broker consumer's queue, and the outbox.

Each is a collector a service adds to its /metrics beside the HTTP and database ones
(`create_service_app(metrics_collectors=[broker.metrics, relay.metrics, ...])`); the README's
"Metrics" section says which matter and what an alert on each means.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

SECONDS_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Collected(Collector):
    """Metrics kept in a registry of their own, collected into the service's registry."""

    def __init__(self) -> None:
        self._registry = CollectorRegistry(auto_describe=True)

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class QueueMetrics:
    """One consumer queue's series (labels bound once)."""

    def __init__(self, metrics: BrokerMetrics, queue: str) -> None:
        self.handled = metrics.handled.labels(queue)
        self.failed = metrics.failed.labels(queue)
        self.dead_lettered_failing = metrics.dead_lettered.labels(queue, "failed")
        self.dead_lettered_unreadable = metrics.dead_lettered.labels(queue, "unreadable")
        self.duplicates = metrics.duplicates.labels(queue)
        self.handling = metrics.handling.labels(queue)
        self.lag = metrics.lag.labels(queue)
        self.depth = metrics.depth.labels(queue)


class BrokerMetrics(_Collected):
    """What the consumers on one broker connection did, by queue."""

    def __init__(self) -> None:
        super().__init__()
        r = self._registry
        self.handled = Counter(
            "broker_events_handled", "Events handled successfully", ["queue"], registry=r
        )
        self.failed = Counter(
            "broker_events_failed",
            "Handler failures (each attempt; the first is retried, the second parked)",
            ["queue"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "broker_events_dead_lettered",
            "Events given up on: parked in the dead-letter queue (dropped where the queue has "
            "none); reason failed (twice) or unreadable",
            ["queue", "reason"],
            registry=r,
        )
        self.duplicates = Counter(
            "broker_events_duplicate",
            "Redelivered copies skipped by event id",
            ["queue"],
            registry=r,
        )
        self.handling = Histogram(
            "broker_event_handling_seconds",
            "Time in the handler, per call (a batch consumer's call takes a batch)",
            ["queue"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.lag = Histogram(
            "broker_event_lag_seconds",
            "From the event's occurred_at (its write) to its delivery here",
            ["queue"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.depth = Gauge(
            "broker_queue_messages",
            "Messages ready in the queue at the last look (not yet delivered to a consumer)",
            ["queue"],
            registry=r,
        )

    def queue(self, name: str) -> QueueMetrics:
        return QueueMetrics(self, name)


class OutboxMetrics(_Collected):
    """What the outbox relay of one service published, and what waits."""

    def __init__(self) -> None:
        super().__init__()
        r = self._registry
        self.published = Counter(
            "outbox_events_published", "Events the relay published (confirmed)", registry=r
        )
        self.publish_failures = Counter(
            "outbox_publish_failures",
            "Relay publishes that stopped short (RabbitMQ unreachable or refusing)",
            registry=r,
        )
        self.backlog = Gauge(
            "outbox_backlog_entries",
            "Unpublished outbox entries (one per transaction) at the last look",
            registry=r,
        )
        self.oldest_age = Gauge(
            "outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished entry at the last look (0: none)",
            registry=r,
        )
