"""`python -m helicase.sink`: stores the events of "helicase.events" through the api."""

from __future__ import annotations

import asyncio
import logging
import sys

from helicase.common import kafka, observability, tls, topics
from helicase.common.grpc_server import build_server, run_until_stopped, set_serving
from helicase.sink.config import SinkConfig
from helicase.sink.pipeline import Sink
from helicase.sink.recorder import ApiRecorder

log = logging.getLogger("helicase.sink")


async def serve(config: SinkConfig) -> int:
    server, _, health = build_server(config.listen, lambda s: None, [])
    await set_serving(health, [], False)
    await asyncio.to_thread(kafka.ensure_topics, config.common)
    consumer = kafka.consumer(config.common, "sink", [topics.EVENTS])
    producer = kafka.AsyncProducer(config.common)
    # RecordEvents is served on the api's internal listener only, to the sink's certificate.
    api = tls.channel(config.common.api_internal_addr, tls.TlsFiles.from_env(), "api")
    sink = Sink(
        consumer=consumer,
        producer=producer,
        record=ApiRecorder(api, timeout=config.rpc_timeout),
        batch_size=config.batch,
        batch_bytes=config.batch_bytes,
        linger=config.linger.total_seconds(),
    )
    loop_task = asyncio.create_task(sink.run())
    await set_serving(health, [], True)
    log.info(
        "sink serving",
        extra={
            "batch": config.batch,
            "batch_bytes": config.batch_bytes,
            "api": config.common.api_internal_addr,
        },
    )

    async def on_stop() -> None:
        await set_serving(health, [], False)
        sink.stop()
        try:
            # The batch in hand finishes (stored and committed) unless it takes too long.
            await asyncio.wait_for(loop_task, timeout=10)
        except TimeoutError:
            log.warning("batch still in flight at shutdown; it will be re-read")
        await sink.close()
        producer.close()
        await api.close()

    await run_until_stopped(server, on_stop=on_stop)
    return 0


def main() -> None:
    observability.setup("sink")
    sys.exit(asyncio.run(serve(SinkConfig.from_env())))


if __name__ == "__main__":
    main()
