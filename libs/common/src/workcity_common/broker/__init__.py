"""RabbitMQ through aio-pika: the connection and publishing (`connection.py`), the one consumer
base with dead-lettering (`consumer.py`) and its ordered, batching variant (`batch_consumer.py`).
Import the names from here.
"""

from workcity_common.broker.batch_consumer import OrderedBatchConsumer
from workcity_common.broker.connection import Broker, BrokerUnavailable
from workcity_common.broker.consumer import (
    DEAD_LETTER_EXCHANGE_SUFFIX,
    BatchEventHandler,
    EventConsumer,
    EventHandler,
    InMemoryProcessedEvents,
    ProcessedEvents,
)

__all__ = [
    "DEAD_LETTER_EXCHANGE_SUFFIX",
    "BatchEventHandler",
    "Broker",
    "BrokerUnavailable",
    "EventConsumer",
    "EventHandler",
    "InMemoryProcessedEvents",
    "OrderedBatchConsumer",
    "ProcessedEvents",
]
