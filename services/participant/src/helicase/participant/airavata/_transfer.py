"""Copying files between SFTP servers (storage ↔ cluster) with SHA-256 verification.

A file is streamed from one SFTP session to the other through the participant, hashed on the way,
written under a temporary name and renamed into place (a re-run overwrites, never half-writes).
The copy is then checked where it landed: on the cluster with `sha256sum` over SSH, on an
SFTP-only storage by reading it back. A mismatch is transient (retried); an expected checksum the
source does not have, or a missing source file, is fatal.
"""

from __future__ import annotations

import contextlib
import hashlib
import posixpath
import uuid

import asyncssh

from helicase.common.errors import NonRetryableError
from helicase.participant.airavata._ssh import TransientError, q, run_checked

CHUNK = 256 * 1024


def _sftp_error(exc: asyncssh.SFTPError, path: str, what: str) -> Exception:
    if isinstance(exc, asyncssh.SFTPNoSuchFile):
        return NonRetryableError(f"{what} {path} does not exist")
    if isinstance(exc, asyncssh.SFTPPermissionDenied):
        return NonRetryableError(f"{what} {path}: permission denied")
    return TransientError(f"{what} {path}: {exc.reason}")


async def _makedirs(sftp: asyncssh.SFTPClient, directory: str) -> None:
    try:
        await sftp.makedirs(directory, exist_ok=True)
    except asyncssh.SFTPError as exc:
        raise _sftp_error(exc, directory, "directory") from None


async def copy(
    src: asyncssh.SFTPClient, src_path: str, dst: asyncssh.SFTPClient, dst_path: str
) -> tuple[str, int]:
    """Streams `src_path` to `dst_path` (parent directories made); returns (sha256 hex, bytes)."""
    digest = hashlib.sha256()
    size = 0
    await _makedirs(dst, posixpath.dirname(dst_path))
    partial = f"{dst_path}.part-{uuid.uuid4().hex[:8]}"
    try:
        async with src.open(src_path, "rb") as reader, dst.open(partial, "wb") as writer:
            while chunk := await reader.read(CHUNK):
                data = chunk if isinstance(chunk, bytes) else chunk.encode()
                digest.update(data)
                size += len(data)
                await writer.write(data)
        await dst.posix_rename(partial, dst_path)
    except asyncssh.SFTPError as exc:
        await _remove_quietly(dst, partial)
        if isinstance(exc, asyncssh.SFTPNoSuchFile):
            raise NonRetryableError(f"source file {src_path} does not exist") from None
        raise _sftp_error(exc, dst_path, "copy to") from None
    return digest.hexdigest(), size


async def _remove_quietly(sftp: asyncssh.SFTPClient, path: str) -> None:
    with contextlib.suppress(asyncssh.SFTPError, OSError):
        await sftp.remove(path)


async def require(sftp: asyncssh.SFTPClient, path: str, what: str) -> None:
    """Fatal when `path` does not exist (a missing output is not fixed by a retry)."""
    try:
        await sftp.stat(path)
    except asyncssh.SFTPError as exc:
        raise _sftp_error(exc, path, what) from None


async def sha256_via_sftp(sftp: asyncssh.SFTPClient, path: str) -> str:
    """Reads `path` back and hashes it (storage may offer SFTP only)."""
    digest = hashlib.sha256()
    try:
        async with sftp.open(path, "rb") as reader:
            while chunk := await reader.read(CHUNK):
                digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
    except asyncssh.SFTPError as exc:
        raise _sftp_error(exc, path, "file") from None
    return digest.hexdigest()


async def sha256_via_shell(conn: asyncssh.SSHClientConnection, path: str) -> str:
    """`sha256sum` of `path` on the server (a cluster login node has a shell)."""
    out = await run_checked(conn, f"sha256sum {q(path)}", f"sha256sum {path}")
    return out.split()[0] if out.split() else ""


def check_expected(path: str, expected: str, actual: str) -> None:
    """Fatal when a file's content is not the one the request named (no retry fixes that)."""
    if expected and expected != actual:
        raise NonRetryableError(f"{path}: sha256 {actual} is not the expected {expected}")


def check_copy(path: str, sent: str, landed: str) -> None:
    """Transient when the bytes that landed differ from those sent (a retry copies again)."""
    if sent != landed:
        raise TransientError(f"{path}: checksum mismatch after copy ({sent} sent, {landed} landed)")
