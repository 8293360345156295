"""Typed calls of ScheduleService, ResourceService and ExperimentService, mixed into
HelicaseClient: each unary call carries the client's deadline and is retried on UNAVAILABLE by
its RetryPolicy (every create here is idempotent on request_id, so a retry is safe)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc

from helicase.v1 import (
    experiment_pb2,
    experiment_pb2_grpc,
    resource_pb2,
    resource_pb2_grpc,
    schedule_pb2,
    schedule_pb2_grpc,
)

T = TypeVar("T")

EXPERIMENT_TERMINAL = frozenset(
    {
        experiment_pb2.EXPERIMENT_STATE_COMPLETED,
        experiment_pb2.EXPERIMENT_STATE_FAILED,
        experiment_pb2.EXPERIMENT_STATE_CANCELED,
    }
)


def _request_id(given: str) -> str:
    return given or str(uuid.uuid4())


class ScheduleResourceExperimentCalls:
    """Schedules, compute/storage resources, credentials and experiments. Needs the host class
    to provide `_call` (retries) and `_timeout` (deadline, seconds)."""

    _timeout: float

    def _open_schedule_resource_experiment_stubs(self, ch: grpc.aio.Channel) -> None:
        self._schedules = schedule_pb2_grpc.ScheduleServiceStub(ch)
        self._resources = resource_pb2_grpc.ResourceServiceStub(ch)
        self._experiments = experiment_pb2_grpc.ExperimentServiceStub(ch)

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        raise NotImplementedError

    # --- schedules

    async def create_schedule(
        self, schedule: schedule_pb2.Schedule, request_id: str = ""
    ) -> schedule_pb2.Schedule:
        request = schedule_pb2.CreateScheduleRequest(
            request_id=_request_id(request_id), schedule=schedule
        )
        response: schedule_pb2.CreateScheduleResponse = await self._call(
            lambda: self._schedules.CreateSchedule(request, timeout=self._timeout)
        )
        return response.schedule

    async def get_schedule(self, schedule_id: str) -> schedule_pb2.Schedule:
        request = schedule_pb2.GetScheduleRequest(id=schedule_id)
        response: schedule_pb2.GetScheduleResponse = await self._call(
            lambda: self._schedules.GetSchedule(request, timeout=self._timeout)
        )
        return response.schedule

    async def list_schedules(
        self, page_size: int = 0, page_token: str = ""
    ) -> schedule_pb2.ListSchedulesResponse:
        request = schedule_pb2.ListSchedulesRequest(page_size=page_size, page_token=page_token)
        return await self._call(
            lambda: self._schedules.ListSchedules(request, timeout=self._timeout)
        )

    async def set_schedule_paused(self, schedule_id: str, paused: bool) -> schedule_pb2.Schedule:
        request = schedule_pb2.SetSchedulePausedRequest(id=schedule_id, paused=paused)
        response: schedule_pb2.SetSchedulePausedResponse = await self._call(
            lambda: self._schedules.SetSchedulePaused(request, timeout=self._timeout)
        )
        return response.schedule

    async def delete_schedule(self, schedule_id: str) -> None:
        request = schedule_pb2.DeleteScheduleRequest(id=schedule_id)
        await self._call(lambda: self._schedules.DeleteSchedule(request, timeout=self._timeout))

    # --- compute and storage resources, credentials

    async def create_compute_resource(
        self, resource: resource_pb2.ComputeResource, request_id: str = ""
    ) -> resource_pb2.ComputeResource:
        request = resource_pb2.CreateComputeResourceRequest(
            request_id=_request_id(request_id), compute_resource=resource
        )
        response: resource_pb2.CreateComputeResourceResponse = await self._call(
            lambda: self._resources.CreateComputeResource(request, timeout=self._timeout)
        )
        return response.compute_resource

    async def get_compute_resource(self, resource_id: str) -> resource_pb2.ComputeResource:
        request = resource_pb2.GetComputeResourceRequest(id=resource_id)
        response: resource_pb2.GetComputeResourceResponse = await self._call(
            lambda: self._resources.GetComputeResource(request, timeout=self._timeout)
        )
        return response.compute_resource

    async def list_compute_resources(
        self, page_size: int = 0, page_token: str = ""
    ) -> resource_pb2.ListComputeResourcesResponse:
        request = resource_pb2.ListComputeResourcesRequest(
            page_size=page_size, page_token=page_token
        )
        return await self._call(
            lambda: self._resources.ListComputeResources(request, timeout=self._timeout)
        )

    async def create_storage_resource(
        self, resource: resource_pb2.StorageResource, request_id: str = ""
    ) -> resource_pb2.StorageResource:
        request = resource_pb2.CreateStorageResourceRequest(
            request_id=_request_id(request_id), storage_resource=resource
        )
        response: resource_pb2.CreateStorageResourceResponse = await self._call(
            lambda: self._resources.CreateStorageResource(request, timeout=self._timeout)
        )
        return response.storage_resource

    async def get_storage_resource(self, resource_id: str) -> resource_pb2.StorageResource:
        request = resource_pb2.GetStorageResourceRequest(id=resource_id)
        response: resource_pb2.GetStorageResourceResponse = await self._call(
            lambda: self._resources.GetStorageResource(request, timeout=self._timeout)
        )
        return response.storage_resource

    async def list_storage_resources(
        self, page_size: int = 0, page_token: str = ""
    ) -> resource_pb2.ListStorageResourcesResponse:
        request = resource_pb2.ListStorageResourcesRequest(
            page_size=page_size, page_token=page_token
        )
        return await self._call(
            lambda: self._resources.ListStorageResources(request, timeout=self._timeout)
        )

    async def create_credential(
        self, private_key: str, display_name: str = "", request_id: str = ""
    ) -> resource_pb2.Credential:
        """Stores an SSH key; the answer carries its public key and fingerprint, never the
        private key."""
        request = resource_pb2.CreateCredentialRequest(
            request_id=_request_id(request_id),
            credential=resource_pb2.Credential(display_name=display_name, private_key=private_key),
        )
        response: resource_pb2.CreateCredentialResponse = await self._call(
            lambda: self._resources.CreateCredential(request, timeout=self._timeout)
        )
        return response.credential

    async def get_credential(self, credential_id: str) -> resource_pb2.Credential:
        request = resource_pb2.GetCredentialRequest(id=credential_id)
        response: resource_pb2.GetCredentialResponse = await self._call(
            lambda: self._resources.GetCredential(request, timeout=self._timeout)
        )
        return response.credential

    async def list_credentials(
        self, page_size: int = 0, page_token: str = ""
    ) -> resource_pb2.ListCredentialsResponse:
        request = resource_pb2.ListCredentialsRequest(page_size=page_size, page_token=page_token)
        return await self._call(
            lambda: self._resources.ListCredentials(request, timeout=self._timeout)
        )

    async def rotate_credential_key(
        self, *, within: float | None = None
    ) -> resource_pb2.RotateCredentialKeyResponse:
        """Re-seals every stored credential under the api's newest credential key (platform
        admin; it goes in pages, so give it a longer deadline, `within` seconds). Idempotent:
        a retry re-seals what is left."""
        request = resource_pb2.RotateCredentialKeyRequest()
        return await self._call(
            lambda: self._resources.RotateCredentialKey(request, timeout=within or self._timeout)
        )

    # --- experiments

    async def create_experiment(
        self, experiment: experiment_pb2.Experiment, request_id: str = ""
    ) -> experiment_pb2.Experiment:
        request = experiment_pb2.CreateExperimentRequest(
            request_id=_request_id(request_id), experiment=experiment
        )
        response: experiment_pb2.CreateExperimentResponse = await self._call(
            lambda: self._experiments.CreateExperiment(request, timeout=self._timeout)
        )
        return response.experiment

    async def get_experiment(self, experiment_id: str) -> experiment_pb2.Experiment:
        request = experiment_pb2.GetExperimentRequest(id=experiment_id)
        response: experiment_pb2.GetExperimentResponse = await self._call(
            lambda: self._experiments.GetExperiment(request, timeout=self._timeout)
        )
        return response.experiment

    async def list_experiments(
        self, page_size: int = 0, page_token: str = ""
    ) -> experiment_pb2.ListExperimentsResponse:
        request = experiment_pb2.ListExperimentsRequest(page_size=page_size, page_token=page_token)
        return await self._call(
            lambda: self._experiments.ListExperiments(request, timeout=self._timeout)
        )

    async def cancel_experiment(
        self, experiment_id: str, reason: str = ""
    ) -> experiment_pb2.CancelExperimentResponse:
        request = experiment_pb2.CancelExperimentRequest(id=experiment_id, reason=reason)
        return await self._call(
            lambda: self._experiments.CancelExperiment(request, timeout=self._timeout)
        )

    async def watch_experiment(
        self, experiment_id: str, *, poll: float = 1.0, within: float | None = None
    ) -> AsyncIterator[experiment_pb2.Experiment]:
        """Yields the experiment first and then whenever it changed, until it is terminal
        (ExperimentService has no stream: GetExperiment is polled every `poll` seconds, each
        call with the client's deadline and retries). `within`: overall limit in seconds
        (TimeoutError past it)."""
        loop = asyncio.get_running_loop()
        end = None if within is None else loop.time() + within
        last: experiment_pb2.Experiment | None = None
        while True:
            current = await self.get_experiment(experiment_id)
            if current != last:
                last = current
                yield current
            if current.state in EXPERIMENT_TERMINAL:
                return
            if end is not None and loop.time() > end:
                raise TimeoutError(
                    f"experiment {experiment_id} still "
                    f"{experiment_pb2.ExperimentState.Name(current.state)} after {within}s"
                )
            await asyncio.sleep(poll)
