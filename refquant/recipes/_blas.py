"""Set the number of BLAS threads for a block, restore it afterwards: what ``refquant demo`` runs under.

The demo's matrices are small (64 x 128): BLAS threads gain nothing on them,
and on a loaded machine they oversubscribe the cores (with two other
processes keeping 2 cores busy, the demo took 70 to 90 s with OpenBLAS's
default of one thread per core, 16 s with one thread).
``OPENBLAS_NUM_THREADS`` is read once, when the library loads, that is at
``import numpy``; after that only the library's own call changes the count.

:func:`blas_threads` uses ``threadpoolctl`` when it is installed and finds a
BLAS (it knows OpenBLAS, MKL and BLIS); otherwise it calls OpenBLAS directly
through :mod:`ctypes`, on every OpenBLAS already loaded in the process
(NumPy's and, if imported, SciPy's), under the symbol names of the classic builds
(``openblas_set_num_threads``) and of the ``scipy-openblas`` wheels that
NumPy >= 2 ships (``scipy_openblas_set_num_threads64_``). With neither, it
changes nothing and says so (an empty list).
"""

from __future__ import annotations

import ctypes
import glob
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["blas_threads"]

_SYMBOLS = tuple(
    (f"{prefix}_get_num_threads{suffix}", f"{prefix}_set_num_threads{suffix}")
    for prefix in ("scipy_openblas", "openblas")
    for suffix in ("64_", "")
)


@dataclass(frozen=True)
class _Pool:
    """One loaded OpenBLAS: its file name and its get/set calls."""

    name: str
    get: Callable[[], int]
    set: Callable[[int], Any]


@contextmanager
def blas_threads(n: int) -> Iterator[list[str]]:
    """Run the block with ``n`` BLAS threads; restore each library's previous count on exit.

    Parameters
    ----------
    n : int
        Threads, at least 1.

    Yields
    ------
    list of str
        The libraries whose count was set (empty when none was found: the
        block then runs with the BLAS as it was).

    Raises
    ------
    ValueError
        If ``n`` is not an integer >= 1.

    Examples
    --------
    >>> with blas_threads(1) as limited:
    ...     isinstance(limited, list)
    True
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        blas = [lib for lib in threadpoolctl.threadpool_info() if lib.get("user_api") == "blas"]
        if blas:  # else a BLAS this threadpoolctl does not know: try OpenBLAS's own call
            with threadpoolctl.threadpool_limits(limits=n, user_api="blas"):
                yield [f"{lib['internal_api']} ({os.path.basename(lib['filepath'])})" for lib in blas]
            return
    pools = _loaded_openblas()
    previous = [pool.get() for pool in pools]
    for pool in pools:
        pool.set(n)
    try:
        yield [f"openblas ({pool.name})" for pool in pools]
    finally:
        for pool, count in zip(pools, previous, strict=True):
            pool.set(count)


def _loaded_openblas() -> list[_Pool]:
    """The OpenBLAS libraries loaded in this process that expose a get/set thread call."""
    pools = []
    seen: set[str] = set()
    for path in _candidate_paths():
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        try:
            # RTLD_NOLOAD: only a library that is already loaded (never load a second copy).
            lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0))
        except OSError:
            continue
        for get_name, set_name in _SYMBOLS:
            get, set_ = getattr(lib, get_name, None), getattr(lib, set_name, None)
            if get is not None and set_ is not None:
                get.restype, get.argtypes = ctypes.c_int, []
                set_.restype, set_.argtypes = None, [ctypes.c_int]
                pools.append(_Pool(os.path.basename(path), get, set_))
                break
    return pools


def _candidate_paths() -> list[str]:
    """Paths of loaded OpenBLAS files: from ``/proc/self/maps`` on Linux, else beside NumPy and SciPy."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                path = line.rstrip("\n").split(maxsplit=5)[-1]
                if path.startswith("/") and "openblas" in os.path.basename(path).lower():
                    paths.append(path)
    except OSError:
        pass
    if paths or sys.platform == "win32":  # no RTLD_NOLOAD on Windows: threadpoolctl's job there
        return paths
    for package in ("numpy", "scipy"):
        module = sys.modules.get(package)
        if module is None or module.__file__ is None:
            continue
        root = os.path.dirname(module.__file__)
        for libdir in (root + ".libs", os.path.join(root, ".dylibs")):
            paths.extend(sorted(glob.glob(os.path.join(libdir, "*openblas*"))))
    return paths
