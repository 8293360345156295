"""Starting a kazoo client the same way in every service."""

from __future__ import annotations

import logging

from kazoo.client import KazooClient, KazooState
from kazoo.retry import KazooRetry

from helicase.common import metrics
from helicase.common.config import CommonConfig

log = logging.getLogger(__name__)


def connect(config: CommonConfig, *, timeout: float = 30.0) -> KazooClient:
    """Connects (waiting up to `timeout` seconds) with retries on connection loss."""
    retry = KazooRetry(max_tries=-1, delay=0.1, max_delay=2.0)
    client = KazooClient(
        hosts=config.zk,
        timeout=config.zk_session_timeout.total_seconds(),
        connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=2.0),
        command_retry=retry,
    )
    client.add_listener(_record_state)
    client.start(timeout=timeout)
    metrics.ZK_CONNECTED.set(1)
    log.info("zookeeper connected", extra={"zk": config.zk})
    return client


def _record_state(state: str) -> None:
    metrics.ZK_CONNECTED.set(1 if state == KazooState.CONNECTED else 0)
