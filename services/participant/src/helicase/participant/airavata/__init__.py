"""Airavata's task library on Helicase: set up a working directory on a cluster, stage inputs
over SFTP, submit a batch job (SLURM, or FORK) over SSH, follow it, stage outputs back and
archive the working directory. Importing this package registers the `airavata.*` task types."""

from helicase.participant.airavata import tasks
from helicase.participant.airavata._credentials import (
    CredentialStore,
    StaticCredentials,
    use_credential_store,
)
from helicase.participant.airavata._models import (
    Application,
    ComputeTarget,
    FileTransfer,
    ResourceRequest,
    StorageTarget,
)
from helicase.participant.airavata.tasks import TYPES

__all__ = [
    "TYPES",
    "Application",
    "ComputeTarget",
    "CredentialStore",
    "FileTransfer",
    "ResourceRequest",
    "StaticCredentials",
    "StorageTarget",
    "tasks",
    "use_credential_store",
]
