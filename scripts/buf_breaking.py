"""`buf breaking` (rules FILE, buf.yaml) of the contracts against where this branch left main.

The baseline is the merge base of HEAD and `main` (or `origin/main` in a clone without a local
main), so that only this branch's own changes count and a main that moved on since does not
look like a break. On main itself that is the commit before HEAD; in a clone with no main at all,
or a shallow one with no parent, HEAD itself (then only uncommitted changes are checked), and
the script says so.

Usage: python scripts/buf_breaking.py [MODULE_ROOT]  (default: the repository root)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUF = ROOT / "node_modules" / ".bin" / "buf"


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else ""


def against_ref() -> tuple[str, str]:
    """(commit, why that commit) to compare the working tree with."""
    head = git("rev-parse", "HEAD")
    for main in ("main", "origin/main"):
        if git("rev-parse", "--verify", "--quiet", f"{main}^{{commit}}"):
            base = git("merge-base", "HEAD", main)
            if base and base != head:
                return base, f"where this branch left {main}"
            parent = git("rev-parse", "--verify", "--quiet", "HEAD~1^{commit}")
            if parent:
                return parent, f"the commit before HEAD (HEAD is on {main})"
            return head, "HEAD (no parent commit: only uncommitted changes are checked)"
    return head, "HEAD: no `main` or `origin/main` here (only uncommitted changes are checked)"


def main() -> int:
    module_root = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT
    # A worktree's .git is a file; buf reads the repository itself (the common directory).
    repository = git("rev-parse", "--path-format=absolute", "--git-common-dir")
    if not repository:
        print("buf breaking: not in a git checkout", file=sys.stderr)
        return 1
    ref, why = against_ref()
    done = subprocess.run(
        [str(BUF), "breaking", str(module_root), "--against", f"{repository}#ref={ref}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    verdict = "no breaking change" if done.returncode == 0 else "BREAKING CHANGES above"
    print(f"buf breaking against {ref[:12]}, {why}: {verdict}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
