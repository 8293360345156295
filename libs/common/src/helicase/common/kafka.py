"""Kafka helpers on confluent-kafka: topic creation, an asyncio-friendly producer, consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from helicase.common import metrics, topics
from helicase.common.config import CommonConfig

log = logging.getLogger(__name__)


def ensure_topics(config: CommonConfig, names: Iterable[str] | None = None) -> None:
    """Creates the suite's topics if missing, with topics.TOPIC_CONFIG; topics made before that
    config existed get it set (idempotent)."""
    admin = AdminClient({"bootstrap.servers": config.kafka})
    wanted = list(names) if names is not None else list(topics.PARTITIONS)
    existing = set(admin.list_topics(timeout=30).topics)
    names_wanted = [topics.topic(config.topic_prefix, n) for n in wanted]
    _configure([n for n in names_wanted if n in existing], admin)
    new = [
        NewTopic(
            topics.topic(config.topic_prefix, n),
            num_partitions=topics.PARTITIONS.get(n, 1),
            config=topics.TOPIC_CONFIG,
        )
        for n in wanted
        if topics.topic(config.topic_prefix, n) not in existing
    ]
    if not new:
        return
    for name, future in admin.create_topics(new, operation_timeout=30).items():
        try:
            future.result()
            log.info("topic created", extra={"topic": name})
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise


def _configure(names: list[str], admin: AdminClient) -> None:
    """Sets topics.TOPIC_CONFIG on existing topics (a no-op where it is set already)."""
    if not names:
        return
    resources = [
        ConfigResource(
            ResourceType.TOPIC,
            name,
            incremental_configs=[
                ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                for key, value in topics.TOPIC_CONFIG.items()
            ],
        )
        for name in names
    ]
    for resource, future in admin.incremental_alter_configs(resources).items():
        try:
            future.result()
        except KafkaException as exc:
            log.warning("topic config not set", extra={"topic": str(resource), "error": str(exc)})


# (the loop awaiting it, the future to settle, the delivery error or None)
_Report = tuple[asyncio.AbstractEventLoop, asyncio.Future[None], KafkaError | None]


class AsyncProducer:
    """A durable (acks=all, idempotent) producer whose sends are awaitable.

    A background thread serves delivery reports; `send` resolves once the broker has the message.
    """

    def __init__(self, config: CommonConfig, *, linger_ms: float = 2.0, **overrides: Any) -> None:
        # `linger_ms` is the service's default: 0 where messages come in bursts anyway (the
        # controller publishes a group commit's events at once) or rarely (a launch command),
        # a little where they come one by one (a participant's events). HELICASE_KAFKA_LINGER
        # overrides it.
        if config.kafka_linger is not None:
            linger_ms = config.kafka_linger.total_seconds() * 1000
        settings: dict[str, Any] = {
            "bootstrap.servers": config.kafka,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": linger_ms,
            "compression.type": "lz4",
            "message.max.bytes": topics.MAX_MESSAGE_BYTES,
        }
        settings.update(overrides)
        self._producer = Producer(settings)
        self._prefix = config.topic_prefix
        # Delivery reports, gathered in the poll thread and handed to each event loop in one
        # call per poll: one loop wake-up per batch of acknowledgements, not one per message.
        self._reports: deque[_Report] = deque()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kafka-producer", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)
            self._hand_over()

    def _hand_over(self) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[_Report]] = {}
        while self._reports:  # a deque: appended to from any thread, emptied here
            report = self._reports.popleft()
            by_loop.setdefault(report[0], []).append(report)
        for loop, reports in by_loop.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits these
                loop.call_soon_threadsafe(_settle, reports)

    def send_nowait(
        self,
        topic: str,
        key: str | bytes,
        value: bytes,
        *,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> asyncio.Future[None]:
        """Queues a message; the returned future resolves when the broker acknowledged it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def delivered(err: KafkaError | None, _msg: object) -> None:
            self._reports.append((loop, future, err))

        name = topics.topic(self._prefix, topic)
        while True:
            try:
                self._producer.produce(
                    name, value=value, key=key, headers=headers, on_delivery=delivered
                )
                break
            except BufferError:
                self._producer.poll(0.01)
        return future

    async def send(self, topic: str, key: str, value: bytes) -> None:
        await self.send_nowait(topic, key, value)

    async def send_many(self, topic: str, items: Iterable[tuple[str, bytes]]) -> None:
        futures = [self.send_nowait(topic, key, value) for key, value in items]
        if futures:
            await asyncio.gather(*futures)

    def close(self, timeout: float = 10.0) -> None:
        self._producer.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=2)
        self._hand_over()


def _settle(reports: list[_Report]) -> None:
    for _, future, err in reports:
        if future.done():
            continue
        if err is None:
            future.set_result(None)
        else:
            future.set_exception(KafkaException(err))


PREFETCH = {
    "queued.max.messages.kbytes": (topics.MAX_MESSAGE_BYTES + 4 * 2**20) // 1024,
    "fetch.max.bytes": topics.MAX_MESSAGE_BYTES + 2**20,
}
"""What a consumer fetches ahead of its polls, at most: one largest message and a little more
(librdkafka's defaults, 64 MiB queued and 50 MiB a fetch, made a sink's memory step from 72 to
162 MiB under the fuzzer's large garbage messages and stay there). Events are small, so a
batch of thousands still waits in the queue."""


def consumer(
    config: CommonConfig,
    group_name: str,
    topic_names: Iterable[str],
    **rebalance_callbacks: Any,
) -> Consumer:
    """A consumer in the suite's group `group_name` with manual offset commits, subscribed to
    `topic_names`; `on_assign`/`on_revoke` callbacks go to the subscription."""
    c = Consumer(
        {
            "bootstrap.servers": config.kafka,
            "group.id": topics.group(config.topic_prefix, group_name),
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 300000,
            "client.id": topics.group(config.topic_prefix, group_name),
            "statistics.interval.ms": 5000,
            "stats_cb": metrics.on_kafka_stats,
            "on_commit": _log_commit_failure,
            **PREFETCH,
        }
    )
    c.subscribe([topics.topic(config.topic_prefix, t) for t in topic_names], **rebalance_callbacks)
    return c


def _log_commit_failure(err: KafkaError | None, partitions: list[TopicPartition]) -> None:
    """Answers of asynchronous offset commits (served by the consumer's poll)."""
    if err is not None:
        log.warning("offset commit failed", extra={"error": str(err)})


def poll_batch(c: Consumer, max_messages: int, timeout: float) -> list[Any]:
    """Waits up to `timeout` for the first message, then takes what else is already fetched
    (up to `max_messages`) without waiting: low latency when idle, batches under load.
    (`Consumer.consume(n, timeout)` waits for n messages or the whole timeout.)"""
    first = c.poll(timeout)
    if first is None:
        return []
    return [first, *c.consume(max_messages - 1, 0)] if max_messages > 1 else [first]
