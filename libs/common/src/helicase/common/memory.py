"""How the services' C allocator hands memory back (glibc; elsewhere nothing is changed).

glibc serves a big allocation with mmap and unmaps it when it is freed, but each such free
raises the size it serves that way, up to 32 MiB. After one 16 MiB message was freed, every
later buffer of up to 16 MiB came from the heap of the thread's arena, and freed it stayed
there: under the fuzzer's 16 MiB garbage Kafka messages the sink stepped from 77 to 152 MiB at
one batch and never came back down (docs/reliability.md, "Fuzzing"). A fixed threshold keeps
every buffer of MMAP_THRESHOLD or more unmapped when it is freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

MMAP_THRESHOLD = 1 << 20
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number in glibc's malloc.h


def return_big_buffers(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fixes glibc's mmap threshold at `threshold` bytes; False where there is no mallopt."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, threshold))
