"""The sink's configuration: its settings, declared once (README.md, "Configuration")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import (
    ServiceConfig,
    duration,
    from_setting,
    integer,
    string,
)

LISTEN = string("HELICASE_SINK_ADDR", "127.0.0.1:50054", "health/reflection address")
BATCH = integer("HELICASE_SINK_BATCH", 500, "most events per RecordEvents call", minimum=1)
BATCH_BYTES = integer(
    "HELICASE_SINK_BATCH_BYTES",
    4 * 2**20,
    "most bytes of events per RecordEvents call (well under the 16 MiB gRPC message limit; a"
    " bigger event goes alone, and one the api can never take goes to helicase.events.dlq)",
    minimum=1024,
)
LINGER = duration(
    "HELICASE_SINK_LINGER",
    "0ms",
    "longest wait for a batch to fill (0: take what is already fetched; under load the batch"
    " fills while the previous one is being stored)",
)
RPC_TIMEOUT = duration("HELICASE_SINK_RPC_TIMEOUT", "30s", "deadline of one RecordEvents call")


@dataclass(frozen=True, kw_only=True)
class SinkConfig(ServiceConfig):
    listen: str = from_setting(LISTEN)
    batch: int = from_setting(BATCH)
    batch_bytes: int = from_setting(BATCH_BYTES)
    linger: timedelta = from_setting(LINGER)
    rpc_timeout: timedelta = from_setting(RPC_TIMEOUT)
