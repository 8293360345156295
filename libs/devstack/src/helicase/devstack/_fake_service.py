"""A stand-in service for testing the supervisor: a gRPC server with only the health service,
SERVING on $HELICASE_DEVSTACK_HEALTH_ADDR, that stops gracefully on SIGTERM.

`python -m helicase.devstack._fake_service`. Not a Helicase service; tests only.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from helicase.devstack._supervisor import HEALTH_ADDR_VARIABLE


def main() -> None:
    addr = os.environ[HEALTH_ADDR_VARIABLE]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if server.add_insecure_port(addr) == 0:
        raise SystemExit(f"cannot bind {addr}")
    server.start()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    print(f"fake service serving health on {addr} (pid {os.getpid()})", flush=True)
    stopping = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    stopping.wait()
    servicer.enter_graceful_shutdown()
    server.stop(grace=1).wait()
    print("fake service stopped", flush=True)


if __name__ == "__main__":
    main()
