"""The params models of the Airavata task types: where the cluster and the storage are, what to
move, what to run and with which resources. Every model is also a JSON schema (the one
the task-type catalog publishes).

Resources travel in the params, resolved when the experiment is created (a snapshot: later edits
of a resource do not change a running experiment); the private key never does — a task fetches it
by `credential_id` when it connects.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from helicase.participant.sdk import Params

RelativePath = Annotated[
    str,
    StringConstraints(
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.+=-]*(/[A-Za-z0-9_][A-Za-z0-9_.+=-]*)*$",
        max_length=1024,
    ),
]
"""A path below a root: no leading "/", no segment starting with "." (so no ".." either)."""

AbsolutePath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9_./+=-]*$", max_length=1024)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
BatchSystem = Literal["SLURM", "FORK"]


class SshEndpoint(Params):
    """An SSH server, the host key it must present and the credential that logs in."""

    host: str = Field(min_length=1, max_length=255, description="Host name or address.")
    port: int = Field(default=22, ge=1, le=65535, description="SSH port.")
    user: str = Field(min_length=1, max_length=64, description="Login user.")
    host_key: str = Field(
        min_length=1,
        description='Expected public host key, OpenSSH format ("ssh-ed25519 AAAA..."); any '
        "other key fails the task for good.",
    )
    credential_id: str = Field(min_length=1, description="SSH credential id (ResourceService).")


class ComputeTarget(SshEndpoint):
    """A cluster's login node."""

    batch_system: BatchSystem = Field(default="SLURM", description="SLURM, or FORK (no queue).")
    scratch_root: AbsolutePath = Field(description="Where working directories are made.")
    default_queue: str = Field(default="", max_length=64, description="Partition if none asked.")


class StorageTarget(SshEndpoint):
    """An SFTP storage resource; paths of files on it are relative to `root`."""

    root: AbsolutePath = Field(description="Root directory of the storage.")


class FileTransfer(Params):
    """One file to copy. Stage-in: storage `source` → working dir `target`; stage-out: working
    dir `source` → storage `target`."""

    source: RelativePath
    target: RelativePath
    sha256: str = Field(
        default="",
        pattern=r"^([0-9a-f]{64})?$",
        description="Expected SHA-256 of the file (hex); checked when given.",
    )


class ResourceRequest(Params):
    """What the batch job asks the scheduler for."""

    nodes: int = Field(default=1, ge=1, le=10000)
    cores: int = Field(default=1, ge=1, le=1_000_000, description="Tasks (cores) in total.")
    memory_mb: int = Field(default=0, ge=0, description="Memory per node in MB (0: default).")
    walltime_minutes: int = Field(default=10, ge=1, le=525_600)
    queue: str = Field(
        default="", pattern=r"^[A-Za-z0-9_.-]*$", max_length=64, description="Partition."
    )


class Application(Params):
    """The program the job runs in the working directory."""

    executable: str = Field(min_length=1, max_length=4096, description="Program to run.")
    arguments: list[str] = Field(default_factory=list)
    environment: dict[EnvName, str] = Field(default_factory=dict)


class EnvSetupParams(Params):
    """Make the working directory `scratch_root/<dir_name>` (dir_name defaults to the workflow
    id)."""

    compute: ComputeTarget
    dir_name: RelativePath | Literal[""] = ""


class StageInParams(Params):
    """Copy `files` from storage into the working directory."""

    compute: ComputeTarget
    storage: StorageTarget
    remote_dir: AbsolutePath
    files: list[FileTransfer] = Field(min_length=1)


class StageOutParams(Params):
    """Copy `files` from the working directory to storage."""

    compute: ComputeTarget
    storage: StorageTarget
    remote_dir: AbsolutePath
    files: list[FileTransfer] = Field(min_length=1)


class SubmitJobParams(Params):
    """Submit `application` with `resources` from the working directory (once per task)."""

    compute: ComputeTarget
    remote_dir: AbsolutePath
    application: Application
    resources: ResourceRequest = Field(default_factory=ResourceRequest)
    job_name: str = Field(default="", pattern=r"^[A-Za-z0-9_.-]*$", max_length=64)


class MonitorJobParams(Params):
    """Follow a submitted job until it ends."""

    compute: ComputeTarget
    remote_dir: AbsolutePath
    job_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    poll_seconds: float = Field(default=5.0, ge=0.1, le=3600)


class ArchiveParams(Params):
    """Tar the working directory (gzip) to `target` on storage."""

    compute: ComputeTarget
    storage: StorageTarget
    remote_dir: AbsolutePath
    target: RelativePath


class CancelJobParams(Params):
    """Cancel the job a submit task made (found by its job name), wherever it is."""

    compute: ComputeTarget
    remote_dir: AbsolutePath
    job_name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
