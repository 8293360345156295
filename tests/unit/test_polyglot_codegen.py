"""The Go and TypeScript clients are made from the protos by `buf generate` with local plugins
(clients/buf.gen.yaml), the committed code is what the protos make today, the TypeScript
type-checks, and the contracts have no breaking change against the main branch (`buf breaking`,
rules FILE)."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
TSC = ROOT / "node_modules" / ".bin" / "tsc"
TEMPLATE = ROOT / "clients" / "buf.gen.yaml"
GENERATED = ("clients/go/gen", "clients/ts/src/gen")


def run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def git(*args: str) -> str:
    done = run("git", *args)
    return done.stdout.strip() if done.returncode == 0 else ""


def differences(left: Path, right: Path) -> list[str]:
    found: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        found.extend(f"{prefix}{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    walk(filecmp.dircmp(left, right), "")
    return found


def test_the_committed_go_and_typescript_clients_are_what_the_protos_make(tmp_path: Path) -> None:
    done = run(BUF, "generate", "--template", TEMPLATE, "-o", tmp_path)
    assert done.returncode == 0, done.stderr
    for generated in GENERATED:
        fresh, committed = tmp_path / generated, ROOT / generated
        made = [*fresh.rglob("*.pb.go"), *fresh.rglob("*_pb.ts")]
        assert made, f"buf generated nothing into {generated}"
        stale = differences(fresh, committed)
        assert not stale, (
            f"{generated} is stale ({stale}): run "
            "`node_modules/.bin/buf generate --template clients/buf.gen.yaml`"
        )


def test_the_template_uses_local_plugins_only() -> None:
    text = TEMPLATE.read_text()
    assert "remote:" not in text
    assert text.count("local:") == 3


def test_the_typescript_client_type_checks() -> None:
    done = run(TSC, "-p", ROOT / "clients" / "ts")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_go_example_is_gofmt_clean() -> None:
    done = run("gofmt", "-l", ROOT / "clients" / "go" / "cmd")
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def against_ref() -> str:
    """The commit the contracts are compared with: where this branch left main (its merge base),
    so that only this branch's own changes count. On main itself (a fresh CI clone, where main
    may be the only branch) that is the commit before HEAD, or HEAD in a shallow clone with no
    parent: then only uncommitted changes are checked."""
    head = git("rev-parse", "HEAD")
    for main in ("main", "origin/main"):
        if git("rev-parse", "--verify", "--quiet", f"{main}^{{commit}}"):
            base = git("merge-base", "HEAD", main)
            if base and base != head:
                return base
            break
    return git("rev-parse", "--verify", "--quiet", "HEAD~1^{commit}") or head


def buf_breaking(module_root: Path) -> subprocess.CompletedProcess[str]:
    # A worktree's .git is a file; buf reads the repository itself (the common directory).
    repository = git("rev-parse", "--path-format=absolute", "--git-common-dir")
    assert repository, "not in a git checkout"
    return run(BUF, "breaking", module_root, "--against", f"{repository}#ref={against_ref()}")


def test_the_contracts_have_no_breaking_change_against_main() -> None:
    done = buf_breaking(ROOT)
    assert done.returncode == 0, (
        f"buf breaking against {against_ref()}:\n{done.stdout}{done.stderr}"
    )


def test_buf_breaking_catches_a_removed_field(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    proto = tmp_path / "protos" / "helicase" / "v1" / "workflow.proto"
    text = proto.read_text()
    field = "  string display_name = 2;\n"
    if field not in text:
        pytest.fail("workflow.proto changed: pick another field to remove in this test")
    proto.write_text(text.replace(field, "  reserved 2;\n"))
    done = buf_breaking(tmp_path)
    assert done.returncode != 0
    assert "display_name" in done.stdout
