"""The harness's infrastructure is real: ZooKeeper, Kafka and PostgreSQL answer on loopback."""

from __future__ import annotations

import psycopg
from confluent_kafka.admin import AdminClient
from kazoo.client import KazooClient

from helicase.devstack import Infra


def test_zookeeper_kafka_and_postgres_answer(infra: Infra) -> None:
    assert infra.zookeeper.ready()
    zk = KazooClient(hosts=infra.zookeeper.connect)
    zk.start(timeout=10)
    try:
        zk.ensure_path("/harness-check")
        assert zk.exists("/harness-check")
    finally:
        zk.stop()
        zk.close()
    admin = AdminClient({"bootstrap.servers": infra.kafka.bootstrap})
    assert admin.list_topics(timeout=10).brokers
    with psycopg.connect(infra.postgres.url()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
