"""helicase-client is lean: it depends on the generated stubs (helicase-protos), grpcio and
protobuf only, and importing it loads none of the services' libraries."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "libs/client": {"helicase-protos", "grpcio", "protobuf"},
    # the generated modules import google.api.field_behavior_pb2
    "libs/protos": {"grpcio", "protobuf", "googleapis-common-protos"},
}


def declared(package: str) -> set[str]:
    project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
    return {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0] for d in project["dependencies"]}


def test_the_client_and_its_stubs_declare_only_grpcio_and_protobuf() -> None:
    for package, allowed in ALLOWED.items():
        assert declared(package) <= allowed, f"{package}: {declared(package) - allowed}"


def test_importing_the_client_loads_no_service_library() -> None:
    probe = (
        "import sys, helicase.client, helicase.v1.workflow_service_pb2_grpc\n"
        "heavy = ('kazoo', 'confluent_kafka', 'sqlalchemy', 'jsonschema', 'helicase.common',\n"
        "         'helicase.internal')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m.startswith(heavy)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]", done.stdout
