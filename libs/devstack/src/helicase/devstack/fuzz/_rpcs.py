"""The public RPCs, found at run time in the generated descriptors of a proto package (so an RPC
added to protos/helicase/v1 is fuzzed without touching the fuzzer). Each is a
helicase.api.connect.Method, as the api's HTTP port lists its own."""

from __future__ import annotations

import importlib
import pkgutil

from helicase.api.connect import Method, methods_of

Rpc = Method


def short(rpc: Rpc) -> str:
    """ "WorkflowService/GetWorkflow": how reports name a method."""
    return rpc.path.rsplit(".", 1)[-1]


def verb(rpc: Rpc) -> str:
    """ "GetWorkflow"."""
    return rpc.path.rsplit("/", 1)[-1]


def public_rpcs(package: str = "helicase.v1") -> list[Rpc]:
    """Every unary and server-streaming method of every service of `package`'s generated
    `*_pb2` modules, sorted by path (client-streaming ones, none today, are left out)."""
    root = importlib.import_module(package)
    services = []
    for info in pkgutil.iter_modules(root.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"{package}.{info.name}")
            services += module.DESCRIPTOR.services_by_name.values()
    methods = methods_of(services)
    return [methods[path] for path in sorted(methods)]
