"""Big buffers go back to the system when freed, once glibc's mmap threshold is fixed: its
default threshold rises with each big buffer freed, after which the heap keeps them."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
from pathlib import Path
from helicase.common.memory import return_big_buffers

def rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

if sys.argv[1] == "fixed":
    assert return_big_buffers()
big = bytearray(16 << 20)
del big  # glibc's own threshold is now 16 MiB
before = rss_mib()
blocks = [bytearray(8 << 20) for _ in range(8)]
above = [bytes(100) for _ in range(1000)]  # allocated above them: the heap's top cannot shrink
del blocks
print(rss_mib() - before)
"""


def kept_mib(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_big_buffers_are_given_back_with_the_threshold_fixed() -> None:
    assert kept_mib("glibc") >= 32, "the default kept them (else this test shows nothing)"
    assert kept_mib("fixed") < 8
