"""Task processes: an allow-listed environment, never the participant's secrets; as root, an
unprivileged user in a working directory of its own."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from typing import Any

import pytest

from helicase.internal.v1 import participant_pb2
from helicase.participant.processes import TaskUser, TaskUserError, as_user, task_env, task_user
from tests.unit.test_participant_shell import run_shell

Outcome = participant_pb2.TaskOutcome
ROOT = os.geteuid() == 0
SECRETS = {
    "HELICASE_INTERNAL_TOKEN": "internal-token-value",
    "HELICASE_DATABASE_URL": "postgresql://helicase:pw@127.0.0.1:5432/helicase",
    "HELICASE_TOKEN": "tenant-token-value",
    "HELICASE_ADMIN_TOKEN": "admin-token-value",
    "HELICASE_CREDENTIAL_KEY": "credential-key-value",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
}


def environment(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def test_only_the_allow_list_and_the_declared_variables_are_passed() -> None:
    inherited = {
        **SECRETS,
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_TIME": "de_DE.UTF-8",
        "TZ": "UTC",
        "HOME": "/root",
        "PYTHONPATH": "/opt/x",
        "HELICASE_PARTICIPANT_NAME": "p-1",
    }
    env = task_env({"GREETING": "hi"}, inherited=inherited)
    assert env == {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_TIME": "de_DE.UTF-8",
        "TZ": "UTC",
        "HOME": "/root",
        "GREETING": "hi",
    }


def test_a_task_user_gets_its_own_name_home_and_tmpdir_and_a_path_when_none_is_set() -> None:
    user = TaskUser(name="nobody", uid=65534, gid=65534, groups=(65534,), setpriv="setpriv")
    env = task_env({}, inherited={"HOME": "/root", "USER": "root"}, user=user, workdir="/tmp/w")
    assert env == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp/w",
        "TMPDIR": "/tmp/w",
        "USER": "nobody",
        "LOGNAME": "nobody",
    }


def test_no_task_user_unless_root_and_never_root_itself() -> None:
    assert task_user("nobody", euid=1000) is None
    user = task_user("nobody", euid=0)
    assert user is not None and user.uid == pwd.getpwnam("nobody").pw_uid and 0 not in user.groups
    with pytest.raises(TaskUserError, match="is root"):
        task_user("root", euid=0)
    with pytest.raises(TaskUserError, match="does not exist"):
        task_user("no-such-user-here", euid=0)


def test_a_task_user_is_taken_on_by_setpriv_without_a_way_back() -> None:
    user = TaskUser(name="nobody", uid=65534, gid=65533, groups=(), setpriv="/usr/bin/setpriv")
    assert as_user(["id"], None) == ["id"]
    assert as_user(["id"], user) == [
        "/usr/bin/setpriv", "--reuid=65534", "--regid=65533", "--clear-groups", "--no-new-privs",
        "--", "id",
    ]  # fmt: skip


async def test_a_shell_task_sees_none_of_the_participants_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    result = await run_shell({"command": "env", "env": {"MINE": "declared"}})
    assert result.outcome == Outcome.TASK_OUTCOME_COMPLETED, result.message
    assert result.outputs is not None
    seen = environment(result.outputs["stdout"])
    assert seen["MINE"] == "declared" and seen["HELICASE_TASK_ID"] == "t"
    assert not set(SECRETS) & set(seen)
    assert not [v for v in SECRETS.values() if v in result.outputs["stdout"]]


@pytest.mark.skipif(not ROOT, reason="drops privileges only when the participant is root")
async def test_as_root_a_shell_task_runs_as_the_task_user_in_a_directory_it_owns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HELICASE_PARTICIPANT_TASK_USER", "nobody")
    command = 'id -u; id -G; touch here && echo wrote; test "$HOME" = "$PWD" && echo home'
    result = await run_shell({"command": command})
    assert result.outcome == Outcome.TASK_OUTCOME_COMPLETED, result.message
    assert result.outputs is not None
    nobody = pwd.getpwnam("nobody")
    uid, groups, *rest = result.outputs["stdout"].splitlines()
    assert int(uid) == nobody.pw_uid
    assert "0" not in groups.split()
    assert rest == ["wrote", "home"]


@pytest.mark.skipif(not ROOT, reason="drops privileges only when the participant is root")
async def test_as_root_a_task_cannot_read_what_only_root_may(tmp_path: Any) -> None:
    secret = tmp_path / "key"
    secret.write_text("private")
    secret.chmod(0o600)
    result = await run_shell({"command": f"cat {secret}"})
    assert result.outcome == Outcome.TASK_OUTCOME_FAILED
    assert "Permission denied" in result.message


READ_OWN_ENVIRON = """
import os, subprocess, sys
from helicase.participant.processes import keep_environment_private
if sys.argv[1] == "private":
    keep_environment_private()
read = subprocess.run(["cat", f"/proc/{os.getpid()}/environ"], capture_output=True)
print(read.returncode)
"""


@pytest.mark.skipif(not ROOT, reason="needs root to run the check as another user")
@pytest.mark.parametrize(("mode", "readable"), [("private", False), ("default", True)])
def test_a_task_of_a_non_root_participant_cannot_read_the_participants_environ(
    mode: str, readable: bool
) -> None:
    nobody = pwd.getpwnam("nobody")
    ran = subprocess.run(
        ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
         sys.executable, "-c", READ_OWN_ENVIRON, mode],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    assert (ran.stdout.strip() == "0") is readable, ran.stderr
