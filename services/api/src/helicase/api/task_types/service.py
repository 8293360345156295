"""TaskTypeService's handlers: the task types the live participants serve."""

from __future__ import annotations

from google.protobuf import struct_pb2

from helicase.api.errors import Context
from helicase.api.task_types.catalog import TaskTypeCatalog
from helicase.common.errors import NotFound
from helicase.v1 import task_type_pb2, task_type_pb2_grpc


class TaskTypeService(task_type_pb2_grpc.TaskTypeServiceServicer):
    def __init__(self, task_types: TaskTypeCatalog) -> None:
        self._task_types = task_types

    def _all(self, group: str) -> list[task_type_pb2.TaskType]:
        out = []
        for info, groups, count in self._task_types.task_types(group):
            schema = struct_pb2.Struct()
            schema.update(info.params_schema)
            out.append(
                task_type_pb2.TaskType(
                    name=info.name, description=info.description, params_schema=schema,
                    instance_groups=groups, participant_count=count,
                )
            )  # fmt: skip
        return out

    async def ListTaskTypes(
        self, request: task_type_pb2.ListTaskTypesRequest, context: Context
    ) -> task_type_pb2.ListTaskTypesResponse:
        return task_type_pb2.ListTaskTypesResponse(task_types=self._all(request.instance_group))

    async def GetTaskType(
        self, request: task_type_pb2.GetTaskTypeRequest, context: Context
    ) -> task_type_pb2.GetTaskTypeResponse:
        for task_type in self._all(""):
            if task_type.name == request.name:
                return task_type_pb2.GetTaskTypeResponse(task_type=task_type)
        raise NotFound(f"task type {request.name!r} not found")
