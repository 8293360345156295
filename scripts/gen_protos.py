"""Generate the Python code of the contracts (with type stubs): the public protos/helicase/v1
into libs/protos/src (package helicase-protos, what the client needs), the internal
protos/helicase/internal/v1 into libs/common/src (the services').

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
PACKAGES = {  # proto package directory -> where its Python package goes
    Path("helicase") / "v1": ROOT / "libs" / "protos" / "src",
    Path("helicase") / "internal" / "v1": ROOT / "libs" / "common" / "src",
}


def generate(package_dir: Path, out_root: Path) -> None:
    bin_dir = Path(sys.executable).parent
    sources = (PROTO_ROOT / package_dir).glob("*.proto")
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
    source = f"protos/{package_dir.as_posix()}"
    (out_root / package_dir / "__init__.py").write_text(
        f'"""Generated from {source} by scripts/gen_protos.py; do not edit."""\n'
    )
    (out_root / package_dir / "py.typed").write_text("")


def stale_files(package_dir: Path, out_root: Path) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / package_dir
        fresh.mkdir(parents=True)
        generate(package_dir, Path(tmp))
        cmp = filecmp.dircmp(fresh, out_root / package_dir)
        return sorted(f"{package_dir}/{n}" for n in cmp.left_only + cmp.right_only + cmp.diff_files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    if not args.check:
        for package_dir, out_root in PACKAGES.items():
            target = out_root / package_dir
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir(parents=True)
            generate(package_dir, out_root)
            print(f"generated {len(list(target.iterdir()))} files in {target.relative_to(ROOT)}")
        return 0
    stale = [name for package, out in PACKAGES.items() for name in stale_files(package, out)]
    if stale:
        print("generated code is stale (run `make proto`): " + ", ".join(stale))
        return 1
    print("generated code is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
