"""The Go and TypeScript clients are made from the protos by `buf generate` with local plugins
(clients/buf.gen.yaml), the committed code is what the protos make today, the TypeScript
type-checks, and the contracts have no breaking change against the main branch (`buf breaking`,
rules FILE)."""

from __future__ import annotations

import filecmp
import re
import shutil
import subprocess
import sys
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


def buf_breaking(module_root: Path) -> subprocess.CompletedProcess[str]:
    """`make lint`'s check: against where this branch left main (see scripts/buf_breaking.py)."""
    return run(sys.executable, ROOT / "scripts" / "buf_breaking.py", module_root)


def test_the_contracts_have_no_breaking_change_against_main() -> None:
    done = buf_breaking(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_buf_breaking_catches_a_removed_field(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    proto = tmp_path / "protos" / "helicase" / "v1" / "workflow.proto"
    text = proto.read_text()
    field = re.compile(r"^  string display_name = 2\b.*;$", re.MULTILINE)
    if not field.search(text):
        pytest.fail("workflow.proto changed: pick another field to remove in this test")
    proto.write_text(field.sub("  reserved 2;", text))
    done = buf_breaking(tmp_path)
    assert done.returncode != 0
    assert "display_name" in done.stdout
