"""Starting a kazoo client the same way in every service."""

from __future__ import annotations

import logging

from kazoo.client import KazooClient
from kazoo.retry import KazooRetry

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
    client.start(timeout=timeout)
    log.info("zookeeper connected", extra={"zk": config.zk})
    return client
