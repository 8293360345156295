"""Participants register under /helicase/participants/<group>/<name>; a second live participant
with a name already in use is refused; task types are served live by TaskTypeService."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from google.protobuf import json_format
from kazoo.client import KazooClient

from helicase.client import HelicaseClient
from helicase.devstack import free_port


def test_each_participant_registers_its_group_name_and_task_types(suite: Any) -> None:
    zk = KazooClient(hosts=suite.zk)
    zk.start(timeout=10)
    try:
        names = set(zk.get_children("/helicase/participants/default"))
        assert set(suite.participant_names) <= names
        data, _ = zk.get(f"/helicase/participants/default/{suite.participant_names[0]}")
        info = json.loads(data)
        assert info["capacity"] == 8
        assert {t["name"] for t in info["task_types"]} == {"noop", "sleep", "shell"}
    finally:
        zk.stop()
        zk.close()


async def test_task_types_are_listed_with_their_groups_and_schemas(suite: Any) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        types = {t.name: t for t in await client.task_types()}
    assert {"noop", "sleep", "shell"} <= set(types)
    assert list(types["shell"].instance_groups) == ["default"]
    assert types["shell"].participant_count >= 2
    schema = json_format.MessageToDict(types["shell"].params_schema)
    assert "command" in schema["properties"]


def test_a_second_live_participant_with_the_same_name_is_refused(suite: Any) -> None:
    env = {
        **suite.env,
        "HELICASE_PARTICIPANT_NAME": suite.participant_names[0],
        "HELICASE_PARTICIPANT_ADDR": f"127.0.0.1:{free_port()}",
    }
    started = time.monotonic()
    twin = subprocess.run(
        [sys.executable, "-m", "helicase.participant"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert twin.returncode == 2, twin.stderr[-2000:]
    assert "already live" in twin.stderr
    # It waited for a crashed predecessor's session to expire before giving up.
    assert time.monotonic() - started >= 4
