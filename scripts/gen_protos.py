"""Generate the Python code of protos/helicase/v1 into libs/protos/src (with type stubs).

Only our files are generated: the vendored protos/google/api/field_behavior.proto that they
import is googleapis-common-protos' `google.api.field_behavior_pb2` at run time.

`--check` generates into a temporary directory and exits 1 if the committed code differs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "libs" / "protos" / "src"
PACKAGE_DIR = Path("helicase") / "v1"


def generate(out_root: Path) -> None:
    bin_dir = Path(sys.executable).parent
    sources = (PROTO_ROOT / PACKAGE_DIR).glob("*.proto")
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in sources)
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *protos,
    ]
    done = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"protoc failed:\n{done.stdout}{done.stderr}")
    (out_root / PACKAGE_DIR / "__init__.py").write_text(
        '"""Generated from protos/helicase/v1 by scripts/gen_protos.py; do not edit."""\n'
    )
    (out_root / PACKAGE_DIR / "py.typed").write_text("")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    target = OUT_ROOT / PACKAGE_DIR
    if not args.check:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        generate(OUT_ROOT)
        print(f"generated {len(list(target.iterdir()))} files in {target.relative_to(ROOT)}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / PACKAGE_DIR
        fresh.mkdir(parents=True)
        generate(Path(tmp))
        cmp = filecmp.dircmp(fresh, target)
        stale = cmp.left_only + cmp.right_only + cmp.diff_files
        if stale:
            print("generated code is stale (run `make proto`): " + ", ".join(sorted(stale)))
            return 1
    print("generated code is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
