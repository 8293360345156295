"""The loopback HPC cluster of the harness: a real sshd and a real one-node SLURM."""

from __future__ import annotations

import re
import subprocess

from helicase.devstack.testing import LoopbackCluster


def test_ssh_login_with_the_generated_key_runs_a_real_sbatch_job(
    hpc_cluster: LoopbackCluster,
) -> None:
    out = hpc_cluster.home / "jobs" / "harness-check.out"
    done = hpc_cluster.ssh(
        f"sbatch --parsable --wait -o {out} --wrap 'echo job=$SLURM_JOB_ID; expr 6 \\* 7'"
        f" && cat {out}",
        timeout=90,
    )
    assert done.returncode == 0, done.stderr + hpc_cluster.logs()
    lines = done.stdout.split()
    job_id = lines[0]
    assert re.fullmatch(r"\d+", job_id)
    assert lines[1:] == [f"job={job_id}", "42"]


def test_a_wrong_client_key_is_refused(hpc_cluster: LoopbackCluster) -> None:
    other = hpc_cluster.home / "etc" / "stranger"
    argv = hpc_cluster.ssh_argv("true")
    argv[argv.index(str(hpc_cluster.client_key))] = str(other)

    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    assert refused.returncode == 255
    assert "Permission denied" in refused.stderr
