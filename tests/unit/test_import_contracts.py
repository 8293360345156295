"""The import contracts of `.importlinter` hold, and the checker really sees our imports: a
contract the code breaks on purpose is reported broken (so a passing run is not a blind one)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_import_contract_is_kept() -> None:
    run = lint_imports()
    assert run.returncode == 0, run.stdout + run.stderr
    for name in (
        "Services never import each other",
        "common imports no service, client, CLI or devstack",
        "Services import neither the CLI nor the devstack",
        "The controller's machine imports no I/O library",
    ):
        assert f"{name} KEPT" in run.stdout, run.stdout


def test_an_import_the_code_makes_breaks_a_contract_that_forbids_it(tmp_path: Path) -> None:
    # The machine does import the workflow state: a contract forbidding it must fail, naming the
    # import, or the checker would not be looking at our code.
    config = tmp_path / "importlinter.ini"
    config.write_text(
        "[importlinter]\n"
        "root_packages =\n    helicase.controller\n"
        "[importlinter:contract:probe]\n"
        "name = probe\n"
        "type = forbidden\n"
        "source_modules =\n    helicase.controller._machine\n"
        "forbidden_modules =\n    helicase.controller._workflow\n"
    )
    run = lint_imports(str(config))
    assert run.returncode != 0, run.stdout
    assert "probe BROKEN" in run.stdout, run.stdout
    assert "helicase.controller._machine -> helicase.controller._workflow" in run.stdout
