"""SSH and SFTP connections to clusters and storage, with the host key pinned, and the
classification of what goes wrong: what no retry can fix (a wrong key, a changed host key) is a
NonRetryableError (FATAL_FAILED); what may pass (refused connection, timeout, dropped link) is an
ordinary exception (FAILED, retried)."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncssh

from helicase.common.errors import NonRetryableError
from helicase.participant.airavata._credentials import credential_store
from helicase.participant.airavata._models import SshEndpoint

CONNECT_TIMEOUT = 20.0
COMMAND_TIMEOUT = 120.0


class TransientError(Exception):
    """A failure worth retrying (the network, a busy server)."""


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


def where(endpoint: SshEndpoint) -> str:
    return f"{endpoint.user}@{endpoint.host}:{endpoint.port}"


def _pinned_key(endpoint: SshEndpoint) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_public_key(endpoint.host_key)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise NonRetryableError(
            f"expected host key of {endpoint.host} is not valid: {exc}"
        ) from None


def _client_key(pem: str, credential_id: str) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_private_key(pem)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise NonRetryableError(f"credential {credential_id} is not a usable key: {exc}") from None


def classify_connect_error(endpoint: SshEndpoint, exc: BaseException) -> Exception:
    """What a failure to connect means: fatal (auth, host key) or worth a retry (pure)."""
    at = where(endpoint)
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return NonRetryableError(f"host key of {at} does not match the expected key")
    if isinstance(exc, asyncssh.PermissionDenied):
        return NonRetryableError(f"authentication to {at} failed: {exc.reason}")
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return TransientError(f"connecting to {at} timed out")
    if isinstance(exc, ConnectionRefusedError):
        return TransientError(f"connection to {at} refused")
    if isinstance(exc, asyncssh.Error):
        return TransientError(f"ssh to {at}: {exc.reason}")
    return TransientError(f"ssh to {at}: {exc}")


@asynccontextmanager
async def connect(endpoint: SshEndpoint) -> AsyncIterator[asyncssh.SSHClientConnection]:
    """An SSH connection that trusts only `endpoint.host_key` and logs in with the credential."""
    pinned = _pinned_key(endpoint)
    pem = await credential_store().private_key(endpoint.credential_id)
    key = _client_key(pem, endpoint.credential_id)
    try:
        conn = await asyncssh.connect(
            endpoint.host,
            port=endpoint.port,
            username=endpoint.user,
            client_keys=[key],
            known_hosts=([pinned], [], []),
            agent_path=None,
            password=None,
            kbdint_auth=False,
            preferred_auth="publickey",
            config=[],
            connect_timeout=CONNECT_TIMEOUT,
            login_timeout=CONNECT_TIMEOUT,
            keepalive_interval=15,
        )
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise classify_connect_error(endpoint, exc) from None
    try:
        yield conn
    finally:
        conn.close()
        await conn.wait_closed()


async def run(
    conn: asyncssh.SSHClientConnection, command: str, *, limit: float = COMMAND_TIMEOUT
) -> CommandResult:
    """Runs `command` (a shell line) on the server; a lost connection or a timeout is transient."""
    try:
        done = await conn.run(command, check=False, timeout=limit)
    except asyncssh.TimeoutError as exc:
        raise TransientError(f"remote command timed out after {limit:g}s") from exc
    except (asyncssh.Error, OSError) as exc:
        raise TransientError(f"remote command failed: {exc}") from exc
    status = done.exit_status if done.exit_status is not None else 255
    return CommandResult(status, _text(done.stdout), _text(done.stderr))


async def run_checked(conn: asyncssh.SSHClientConnection, command: str, what: str) -> str:
    """Runs `command`; a non-zero exit is transient (retried) with its stderr in the message."""
    done = await run(conn, command)
    if done.exit_status != 0:
        raise TransientError(f"{what} failed (exit {done.exit_status}): {tail(done.stderr)}")
    return done.stdout


def _text(data: object) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return str(data)


def tail(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text[-limit:] if text else "(no output)"


def q(path: str) -> str:
    """A shell-quoted word."""
    return shlex.quote(path)
