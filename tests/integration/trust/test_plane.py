"""The internal plane against a real suite: the internal services are not on the public port,
every internal connection is mutual TLS with a certificate of the suite's CA, a participant is
the name and group in its certificate, the controller takes a result only from the participant
holding its placement, and a credential is resolved only for the participant holding a task that
names it."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import grpc
import pytest
from kazoo.client import KazooClient

from helicase import wire
from helicase.api.resources.credentials import new_master_key
from helicase.client import HelicaseClient
from helicase.common import tls, zkpaths
from helicase.devstack.testing import RunningSuite
from helicase.internal.v1 import (
    credential_secret_pb2,
    credential_secret_pb2_grpc,
    event_pb2,
    event_pb2_grpc,
    participant_pb2,
    participant_pb2_grpc,
)
from helicase.v1 import resource_pb2, resource_pb2_grpc, workflow_pb2
from tests.integration.helpers import request, running_task, state

REFUSED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


@pytest.fixture(scope="module")
def suite(make_module_suite: Any) -> RunningSuite:
    suite: RunningSuite = make_module_suite(extra_env={"HELICASE_CREDENTIAL_KEY": new_master_key()})
    return suite


def leader_addr(suite: RunningSuite) -> str:
    zk = KazooClient(hosts=suite.zk)
    zk.start(timeout=30)
    try:
        data, _ = zk.get(zkpaths.LEADER)
    finally:
        zk.stop()
        zk.close()
    return str(json.loads(data)["addr"])


def hello(name: str, group: str = "default") -> participant_pb2.ConnectRequest:
    return participant_pb2.ConnectRequest(
        hello=participant_pb2.Hello(name=name, instance_group=group, capacity=1)
    )


class Stream:
    """A participant's Connect stream driven by the test: `send` a message, `receive` one."""

    def __init__(self, channel: grpc.aio.Channel, first: participant_pb2.ConnectRequest) -> None:
        self.outbox: asyncio.Queue[participant_pb2.ConnectRequest] = asyncio.Queue()
        self.outbox.put_nowait(first)
        self.call = participant_pb2_grpc.ParticipantServiceStub(channel).Connect(self._requests())

    async def _requests(self) -> AsyncIterator[participant_pb2.ConnectRequest]:
        while True:
            yield await self.outbox.get()

    def send(self, message: participant_pb2.ConnectRequest) -> None:
        self.outbox.put_nowait(message)

    async def receive(self) -> participant_pb2.ConnectResponse:
        response: participant_pb2.ConnectResponse = await asyncio.wait_for(self.call.read(), 20)
        return response


async def connect_refused(channel: grpc.aio.Channel, name: str, group: str = "default") -> Any:
    """The status code the controller answers a hello with (None: it welcomed it)."""
    stream = Stream(channel, hello(name, group))
    try:
        response = await stream.receive()
    except grpc.aio.AioRpcError as err:
        return err.code()
    finally:
        stream.call.cancel()
    assert response.WhichOneof("message") == "welcome"
    return None


# --- the public port serves none of the internal services


async def test_the_public_port_serves_no_internal_service(suite: RunningSuite) -> None:
    async with wire.channel(suite.api_addr, token=suite.token) as channel:
        events = event_pb2_grpc.EventServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as recorded:
            await events.RecordEvents(event_pb2.RecordEventsRequest(), timeout=10)
        assert recorded.value.code() == grpc.StatusCode.UNIMPLEMENTED
        secrets = credential_secret_pb2_grpc.CredentialSecretServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as resolved:
            await secrets.ResolveCredential(
                credential_secret_pb2.ResolveCredentialRequest(id="x"), timeout=10
            )
        assert resolved.value.code() == grpc.StatusCode.UNIMPLEMENTED


# --- the api's internal listener


async def test_the_internal_listener_refuses_callers_without_a_certificate(
    suite: RunningSuite,
) -> None:
    ca = suite.certificate("sink", "sink").ca.read_bytes()
    anonymous = grpc.aio.secure_channel(
        suite.api_internal_addr,
        grpc.ssl_channel_credentials(root_certificates=ca),
        options=[("grpc.ssl_target_name_override", tls.server_name("api"))],
    )
    for channel in (grpc.aio.insecure_channel(suite.api_internal_addr), anonymous):
        async with channel:
            stub = event_pb2_grpc.EventServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.RecordEvents(event_pb2.RecordEventsRequest(), timeout=10)
            assert refused.value.code() in REFUSED
    # The same call with the sink's certificate is served: the refusals above were the plane's.
    sink = suite.certificate("sink", "sink")
    async with tls.channel(suite.api_internal_addr, sink, "api") as channel:
        await event_pb2_grpc.EventServiceStub(channel).RecordEvents(
            event_pb2.RecordEventsRequest(), timeout=10
        )


async def test_each_component_kind_calls_only_its_own_internal_methods(
    suite: RunningSuite,
) -> None:
    name = suite.participant_names[0]
    participant = suite.certificate("participant", name, "default")
    async with tls.channel(suite.api_internal_addr, participant, "api") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await event_pb2_grpc.EventServiceStub(channel).RecordEvents(
                event_pb2.RecordEventsRequest(), timeout=10
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    async with tls.channel(suite.api_internal_addr, suite.certificate("sink", "s"), "api") as chan:
        stub = credential_secret_pb2_grpc.CredentialSecretServiceStub(chan)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ResolveCredential(credential_secret_pb2.ResolveCredentialRequest(id="x"))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        stored = await event_pb2_grpc.EventServiceStub(chan).RecordEvents(
            event_pb2.RecordEventsRequest(), timeout=10
        )
        assert stored.stored_count == 0  # the sink's own method: served


# --- the controller: who a participant is, and whose results it takes


async def test_the_controller_refuses_a_participant_without_a_certificate(
    suite: RunningSuite,
) -> None:
    addr = leader_addr(suite)
    name = suite.participant_names[0]
    ca = suite.certificate("participant", name, "default").ca.read_bytes()
    anonymous = grpc.aio.secure_channel(
        addr,
        grpc.ssl_channel_credentials(root_certificates=ca),
        options=[("grpc.ssl_target_name_override", tls.server_name("controller"))],
    )
    for channel in (grpc.aio.insecure_channel(addr), anonymous):
        async with channel:
            assert await connect_refused(channel, f"{name}-anonymous") in REFUSED


async def test_the_controller_refuses_a_participant_claiming_another_name_or_group(
    suite: RunningSuite,
) -> None:
    addr = leader_addr(suite)
    real = suite.participant_names[0]
    cases = [
        (suite.certificate("participant", "mallory", "default"), real, "default"),
        (suite.certificate("participant", real, "gpu"), real, "default"),
        (suite.certificate("participant", real, "default"), real, "gpu"),
    ]
    for files, name, group in cases:
        async with tls.channel(addr, files, "controller") as channel:
            code = await connect_refused(channel, name, group)
            assert code == grpc.StatusCode.PERMISSION_DENIED, (files.cert.name, name, group)


async def test_a_stream_refused_by_kind_is_permission_denied_every_time(
    suite: RunningSuite,
) -> None:
    """Refused before its hello was read, one such stream in ten came back INTERNAL ("Internal
    error from Core"); the refusal now reads the first message before it ends the stream."""
    files = suite.certificate("scheduler", suite.participant_names[0])
    codes = []
    for _ in range(40):
        async with tls.channel(leader_addr(suite), files, "controller") as channel:
            codes.append(await connect_refused(channel, suite.participant_names[0]))
    assert set(codes) == {grpc.StatusCode.PERMISSION_DENIED}, codes


async def test_the_controller_takes_no_result_from_a_participant_not_holding_the_placement(
    suite: RunningSuite,
) -> None:
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        created = await client.create(
            request([{"id": "a", "type": "sleep", "params": {"seconds": 3}}])
        )
        task = await running_task(client, created.id, "a")
        intruder = suite.certificate("participant", "intruder", "default")
        async with tls.channel(leader_addr(suite), intruder, "controller") as channel:
            stream = Stream(channel, hello("intruder"))
            assert (await stream.receive()).WhichOneof("message") == "welcome"
            ref = participant_pb2.TaskRef(
                workflow_id=created.id, task_id="a", attempt=task.attempt, placement=1
            )
            forged = participant_pb2.TaskResult(
                task=ref, outcome=participant_pb2.TASK_OUTCOME_COMPLETED, message="forged"
            )
            forged.outputs.update({"slept": 0})
            stream.send(participant_pb2.ConnectRequest(result=forged))
            answer = await stream.receive()
            while answer.WhichOneof("message") != "ack":
                answer = await stream.receive()
            stream.call.cancel()
        assert list(answer.ack.superseded) == [ref] and not answer.ack.tasks
        done = await client.wait(created.id, within=60)
    assert state(done) == "COMPLETED"
    (finished,) = done.tasks
    assert finished.participant == task.participant != "intruder"
    assert dict(finished.outputs) == {"slept": 3}


# --- credential resolution


async def create_credential(suite: RunningSuite) -> tuple[str, str]:
    pem = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    async with wire.channel(suite.api_addr, token=suite.token) as channel:
        made = await resource_pb2_grpc.ResourceServiceStub(channel).CreateCredential(
            resource_pb2.CreateCredentialRequest(
                credential=resource_pb2.Credential(display_name="plane", private_key=pem)
            )
        )
    return made.credential.id, pem


async def resolve(
    suite: RunningSuite, holder: str, credential_id: str, ref: participant_pb2.TaskRef
) -> Any:
    """The private key resolved as participant `holder` for `ref`, or the refusal's code."""
    files = suite.certificate("participant", holder, "default")
    async with tls.channel(suite.api_internal_addr, files, "api") as channel:
        stub = credential_secret_pb2_grpc.CredentialSecretServiceStub(channel)
        ask = credential_secret_pb2.ResolveCredentialRequest(id=credential_id, task=ref)
        try:
            return (await stub.ResolveCredential(ask, timeout=10)).private_key
        except grpc.aio.AioRpcError as err:
            return err.code()


async def test_a_credential_is_resolved_only_for_the_participant_holding_a_task_naming_it(
    suite: RunningSuite,
) -> None:
    credential_id, pem = await create_credential(suite)
    denied = grpc.StatusCode.PERMISSION_DENIED
    tasks = [
        {"id": "a", "type": "shell", "params": {"command": "sleep 4", "env": {"C": credential_id}}},
        {"id": "b", "type": "shell", "params": {"command": "sleep 4"}},
    ]
    async with HelicaseClient(suite.api_addr, token=suite.token, timeout=30) as client:
        created = await client.create(request(tasks))
        a = await running_task(client, created.id, "a")
        b = await running_task(client, created.id, "b")

        def ref(task: workflow_pb2.Task) -> participant_pb2.TaskRef:
            return participant_pb2.TaskRef(
                workflow_id=created.id, task_id=task.id, attempt=task.attempt, placement=1
            )

        other = next(n for n in suite.participant_names if n != a.participant)
        assert await resolve(suite, a.participant, credential_id, ref(a)) == pem
        assert await resolve(suite, other, credential_id, ref(a)) == denied
        assert await resolve(suite, b.participant, credential_id, ref(b)) == denied  # not named
        stale = participant_pb2.TaskRef()
        stale.CopyFrom(ref(a))
        stale.attempt += 1
        assert await resolve(suite, a.participant, credential_id, stale) == denied
        done = await client.wait(created.id, within=60)
        assert state(done) == "COMPLETED"
    # It held the task; it holds it no more.
    assert await resolve(suite, a.participant, credential_id, ref(a)) == denied


def test_grpcurl_calls_the_internal_listener_with_a_components_files(suite: RunningSuite) -> None:
    """docs/security.md's grpcurl line: the CA, a component's certificate and key, and the
    server name of the kind it calls."""
    grpcurl = Path(__file__).resolve().parents[3] / ".helicase" / "bin" / "grpcurl"
    assert grpcurl.exists(), "grpcurl is missing: run `make install`"
    sink = suite.certificate("sink", "sink")
    method = "helicase.internal.v1.EventService/RecordEvents"
    tls_args = ["-cacert", str(sink.ca), "-servername", tls.server_name("api")]
    ok = subprocess.run(
        [str(grpcurl), *tls_args, "-cert", str(sink.cert), "-key", str(sink.key),
         "-d", "{}", suite.api_internal_addr, method],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    anonymous = subprocess.run(
        [str(grpcurl), *tls_args, "-d", "{}", suite.api_internal_addr, method],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert anonymous.returncode != 0
