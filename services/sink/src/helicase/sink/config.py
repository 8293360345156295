"""The sink's configuration (environment variables, documented defaults)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from helicase.common.config import CommonConfig, env_duration, env_int, env_str


@dataclass(frozen=True, kw_only=True)
class SinkConfig:
    """HELICASE_SINK_ADDR: health/reflection address (127.0.0.1:50054).
    HELICASE_SINK_BATCH: most events per RecordEvents call (500).
    HELICASE_SINK_LINGER: longest wait for a batch to fill (0ms: take what is already fetched;
    under load the batch fills while the previous one is being stored).
    HELICASE_SINK_RPC_TIMEOUT: deadline of one RecordEvents call (30s)."""

    common: CommonConfig
    listen: str
    batch: int
    linger: timedelta
    rpc_timeout: timedelta

    @classmethod
    def from_env(cls) -> SinkConfig:
        return cls(
            common=CommonConfig.from_env(),
            listen=env_str("HELICASE_SINK_ADDR", "127.0.0.1:50054"),
            batch=env_int("HELICASE_SINK_BATCH", 500, minimum=1),
            linger=env_duration("HELICASE_SINK_LINGER", timedelta(0)),
            rpc_timeout=env_duration("HELICASE_SINK_RPC_TIMEOUT", timedelta(seconds=30)),
        )
