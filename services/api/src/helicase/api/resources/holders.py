"""Who may have a credential resolved: the participant that holds, right now, the task placement
it names, when that task's params (as submitted) name the credential. The controller leader is
the owner of placements; the api asks it (ControllerService.GetTaskHolder, over mutual TLS with
the api's certificate)."""

from __future__ import annotations

import grpc
from google.protobuf import struct_pb2

from helicase.common import tls
from helicase.common.errors import PermissionDenied
from helicase.common.leader import LeaderWatch
from helicase.internal.v1 import controller_pb2, controller_pb2_grpc, participant_pb2
from helicase.v1 import workflow_pb2

CALL_TIMEOUT = 5.0
DEFAULT_GROUP = "default"  # a task without instance_group runs there


def names_credential(task: workflow_pb2.Task, credential_id: str) -> bool:
    """Whether a string value anywhere in the task's params is the credential's id."""
    pending: list[struct_pb2.Value] = list(task.params.fields.values())
    while pending:
        value = pending.pop()
        kind = value.WhichOneof("kind")
        if kind == "string_value" and value.string_value == credential_id:
            return True
        if kind == "struct_value":
            pending.extend(value.struct_value.fields.values())
        elif kind == "list_value":
            pending.extend(value.list_value.values)
    return False


def check_holder(
    identity: tls.Identity,
    credential_id: str,
    placement: participant_pb2.TaskRef,
    holder: controller_pb2.GetTaskHolderResponse | None,
) -> None:
    """PermissionDenied unless `identity` holds `placement` now and its task names the
    credential (`holder`: what the controller says of the task; None when it runs no such
    workflow)."""
    refused = PermissionDenied(
        f"participant {identity.group}/{identity.name} holds no task naming credential"
        f" {credential_id!r} as {placement.workflow_id}/{placement.task_id}"
    )
    if holder is None or identity.kind != "participant":
        raise refused
    if holder.participant != identity.name or holder.placement != placement:
        raise refused
    if (holder.task.instance_group or DEFAULT_GROUP) != identity.group:
        raise refused
    if not names_credential(holder.task, credential_id):
        raise refused


class TaskHolders:
    """Asks the current controller leader who holds a task; one channel per leader address."""

    def __init__(self, leader: LeaderWatch, files: tls.TlsFiles) -> None:
        self._leader = leader
        self._files = files
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def holder(
        self, workflow_id: str, task_id: str
    ) -> controller_pb2.GetTaskHolderResponse | None:
        """The controller's answer; None when it runs no such workflow or task. Without a
        leader, or while it changes, ConnectionError (the participant retries)."""
        addr = self._leader.addr
        if not addr:
            raise ConnectionError("no controller leader to ask who holds the task")
        if addr not in self._channels:
            self._channels[addr] = tls.channel(addr, self._files, "controller")
        stub = controller_pb2_grpc.ControllerServiceStub(self._channels[addr])
        request = controller_pb2.GetTaskHolderRequest(workflow_id=workflow_id, task_id=task_id)
        try:
            answer: controller_pb2.GetTaskHolderResponse = await stub.GetTaskHolder(
                request, timeout=CALL_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise ConnectionError(f"controller {addr}: {exc.code().name}") from None
        return answer

    async def close(self) -> None:
        for chan in self._channels.values():
            await chan.close()
