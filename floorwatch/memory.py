"""The C allocator's part of the process's memory (glibc only; elsewhere these do nothing).

A worker that recovers millions of table records frees as many temporaries around what it
keeps; glibc keeps freed memory for reuse, so the resident size stays at the recovery's peak.
``release_free_memory`` gives the free pages back to the system (``malloc_trim``).
``fix_mmap_threshold`` makes every allocation of at least that size a separate mapping,
returned to the system when freed (glibc otherwise raises the threshold up to 32 MiB after
freeing a large block, and later large buffers, such as packed runs, land in the heap).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)


@functools.cache
def _libc() -> Any:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim  # noqa: B018 - glibc only
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def release_free_memory() -> bool:
    """Return the allocator's free pages to the system; whether anything could be done."""
    libc = _libc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


def fix_mmap_threshold(size_bytes: int) -> bool:
    """Allocations of ``size_bytes`` or more get their own mapping from now on."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, size_bytes))
