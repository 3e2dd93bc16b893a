"""What every benchmark shares: peers that may be missing, interleaved timing, result tables.

Timing: every contestant is warmed up (JIT compilation happens there), then
calibrated to an inner loop long enough to time, then the contestants take
turns, one repeat each per round (the order rotates each round), so a noisy
stretch on a shared machine hits all of them rather than one. A time is the
median over the repeats of (repeat time / inner loops).

Each repeat starts after a short pause (Settings.settle_s): thread pools keep
spinning after their work is done (OpenBLAS's idle workers poll for about
0.1 s, PyTorch's OpenMP and XLA's pools likewise), and on two cores a
spinning pool left behind by one contestant slows the next one down. Measured
here: PyTorch's MLP gradient took 18 ms right after a NumPy one, 11 ms alone.

Garbage collection stays on, as in a user's program, but everything alive
before timing starts (the peers' modules: JAX and PyTorch alone bring some
200,000 GC-tracked objects) is frozen out of the collector with gc.freeze(),
so a full collection costs what the measured code itself leaves behind, not
what this process happened to import. No collection is forced between
repeats: the collector runs when it would in a loop calling the same code.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable

try:
    import resource
except ImportError:  # not on Windows
    resource = None  # type: ignore[assignment]

from . import NUMPY_WAS_LOADED, THREADS

import numpy as np  # noqa: E402  (after the thread settings in benchmarks/__init__)

# --- settings ----------------------------------------------------------------------------


@dataclasses.dataclass
class Settings:
    quick: bool = False

    @property
    def repeats(self) -> int:
        """Timed repeats per contestant (fewer when a single call is slow)."""
        return 3 if self.quick else 7

    @property
    def min_repeat_s(self) -> float:
        """Each repeat loops the call until it lasts at least this long."""
        return 0.02 if self.quick else 0.1

    @property
    def settle_s(self) -> float:
        """Pause before each repeat, so the previous contestant's idle threads stop spinning."""
        return 0.1 if self.quick else 0.25

    @property
    def budget_s(self) -> float:
        """Rough cap on the timed seconds of one contestant in one measurement."""
        return 1.0 if self.quick else 4.0


# --- peers -------------------------------------------------------------------------------

_PEERS: dict[str, Any] = {}
_MISSING: dict[str, str] = {}


def peer(name: str) -> Any:
    """The peer's module ("autograd", "torch" or "jax"), configured, or None if absent."""
    if name in _PEERS:
        return _PEERS[name]
    mod = None
    try:
        if name == "autograd":
            import autograd
            import autograd.numpy  # noqa: F401
            mod = autograd
        elif name == "torch":
            import torch
            torch.set_num_threads(THREADS)
            mod = torch
        elif name == "jax":
            import jax
            jax.config.update("jax_enable_x64", True)  # float64 comparisons need it
            import jax.numpy  # noqa: F401
            mod = jax
        else:
            raise ValueError(f"unknown peer {name!r}")
    except ImportError as e:
        _MISSING[name] = f"{type(e).__name__}: {e}"
    _PEERS[name] = mod
    return mod


def missing_peers() -> dict[str, str]:
    return dict(_MISSING)


# --- timing ------------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    """Seconds per call: the median and every repeat's value."""

    median: float
    samples: list[float]
    loops: int
    faults: float = 0.0  # minor page faults per call while timed (fresh pages from the OS)

    def scaled(self, divisor: float) -> "Timing":
        return Timing(self.median / divisor, [s / divisor for s in self.samples], self.loops,
                      self.faults)

    @property
    def spread(self) -> float:
        """Half the interquartile range of the repeats over their median: how noisy it is."""
        q25, q75 = np.percentile(self.samples, [25, 75])
        return float((q75 - q25) / 2 / self.median) if self.median else 0.0


def _run(fn: Callable[[], Any], loops: int) -> float:
    t0 = time.perf_counter()
    for _ in range(loops):
        fn()
    return time.perf_counter() - t0


def _minflt() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource else 0


def measure(contestants: dict[str, Callable[[], Any]], settings: Settings,
            warmup: int = 2, collect: bool = True) -> dict[str, Timing]:
    """Seconds per call of each zero-argument callable, measured in interleaved rounds.

    collect=False turns the cyclic garbage collector off while timing (a diagnostic:
    how much of a time is collection).
    """
    gc.collect()
    gc.freeze()
    enabled = gc.isenabled()
    if not collect:
        gc.disable()
    try:
        return _measure(contestants, settings, warmup)
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


def _measure(contestants: dict[str, Callable[[], Any]], settings: Settings,
             warmup: int) -> dict[str, Timing]:
    loops: dict[str, int] = {}
    repeats: dict[str, int] = {}
    for name, fn in contestants.items():
        time.sleep(settings.settle_s)
        for _ in range(warmup - 1):
            fn()
        once = _run(fn, 1)  # the last warm-up call, timed for the calibration
        if once < settings.min_repeat_s:  # a better estimate, over several calls
            n = max(1, int(settings.min_repeat_s / max(once, 1e-9) / 4))
            once = _run(fn, n) / n
        loops[name] = min(1_000_000, max(1, math.ceil(settings.min_repeat_s / max(once, 1e-9))))
        affordable = int(settings.budget_s / max(loops[name] * once, 1e-9))
        repeats[name] = max(3, min(settings.repeats, affordable))
    samples: dict[str, list[float]] = {name: [] for name in contestants}
    faults = dict.fromkeys(contestants, 0)
    names = list(contestants)
    for r in range(max(repeats.values(), default=0)):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if len(samples[name]) < repeats[name]:
                time.sleep(settings.settle_s)
                before = _minflt()
                samples[name].append(_run(contestants[name], loops[name]) / loops[name])
                faults[name] += _minflt() - before
    return {name: Timing(float(np.median(s)), s, loops[name],
                         faults[name] / (loops[name] * len(s)))
            for name, s in samples.items()}


# --- results -----------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One measured quantity: adkit's time and each peer's (a Timing, or why there is none)."""

    size: str
    measure: str
    adkit: Timing | str
    peers: dict[str, Timing | str]
    target: str = ""
    met: str = ""
    unit: str = ""  # e.g. "/prim": times are per primitive
    wrong: set = dataclasses.field(default_factory=set)  # contestants that failed a check


@dataclasses.dataclass
class Section:
    name: str
    title: str
    columns: list[str]  # peer column names, in order
    rows: list[Row] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)


def fmt_time(t: float) -> str:
    if t >= 1.0:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    if t >= 1e-6:
        return f"{t * 1e6:.3g} us"
    return f"{t * 1e9:.3g} ns"


def ratio(a: Timing | str, b: Timing | str | None) -> float | None:
    """adkit / peer, or None when either is missing."""
    if isinstance(a, Timing) and isinstance(b, Timing) and b.median > 0:
        return a.median / b.median
    return None


def cell(t: Timing | str, unit: str = "", adkit: Timing | str | None = None) -> str:
    if not isinstance(t, Timing):
        return t
    text = fmt_time(t.median) + unit
    if t.spread > 0.1:
        text += f" ±{t.spread * 100:.0f}%"
    if adkit is not None:
        r = ratio(adkit, t)
        if r is not None:
            text += f" ({r:.2f}x)"
    return text


def render_section(sec: Section) -> str:
    head = ["Size", "Measure", "adkit"] + sec.columns + ["Target", "Met"]
    lines = [f"### {sec.title}", "",
             "| " + " | ".join(head) + " |",
             "|" + "|".join("---" for _ in head) + "|"]
    for row in sec.rows:
        cells = [row.size, row.measure, cell(row.adkit, row.unit)
                 + (" WRONG" if "adkit" in row.wrong else "")]
        cells += [cell(row.peers.get(c, "-"), row.unit, row.adkit)
                  + (" WRONG" if c in row.wrong else "") for c in sec.columns]
        cells += [row.target or "-", row.met or "-"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Peer cells: median time (adkit/peer; below 1 means adkit is faster). "
                 "±N%: half the interquartile range of the repeats, shown when over 10% of the "
                 "median. "
                 "WRONG: failed its correctness check (see below).")
    for note in sec.notes:
        lines.append(f"- {note}")
    return "\n".join(lines) + "\n"


def render_summary(sections: list[Section]) -> str:
    lines = ["| Benchmark | Size | Measure | Target | Met |", "|---|---|---|---|---|"]
    for sec in sections:
        for row in sec.rows:
            if row.target:
                lines.append(f"| {sec.name} | {row.size} | {row.measure} | {row.target} | "
                             f"{row.met} |")
    return "\n".join(lines) + "\n"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def all_of(parts: list[bool | None]) -> bool | None:
    """yes if every known part holds, no if one fails, n/a if none is known."""
    known = [p for p in parts if p is not None]
    if not known:
        return None
    return all(known)


def max_abs_err(a: Any, b: Any) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


def checked(name: str, err: float, tol: float, notes: list[str],
            what: str = "max abs error") -> bool:
    """Record a correctness check; a failing contestant is still timed, and flagged."""
    ok = bool(err <= tol)
    notes.append(f"check {name}: {what} {err:.2e} (tolerance {tol:.0e}) "
                 f"{'ok' if ok else 'FAILED'}")
    return ok


class CpuMeter:
    """How busy the rest of the machine was: CPU time of other processes, in cores.

    The machine-wide busy time from /proc/stat minus this process's own CPU time
    (all its threads, and its child processes once joined: Hogwild's workers,
    the MPI ranks of nn_distributed), over the wall time since start. On a shared machine this
    says whether a run was disturbed: with a two-thread BLAS on two cores, one
    busy core elsewhere can slow a matrix product tenfold.
    """

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                fields = [float(v) for v in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        tick = os.sysconf("SC_CLK_TCK")
        busy = (sum(fields[:8]) - fields[3] - fields[4]) / tick  # all but idle and iowait
        own = os.times()
        return (time.perf_counter(), busy,
                own.user + own.system + own.children_user + own.children_system)

    def other_cores(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None:
            return None
        wall = end[0] - self.start[0]
        return max(0.0, (end[1] - self.start[1]) - (end[2] - self.start[2])) / wall \
            if wall > 0 else None


def disturbance(meter: CpuMeter) -> str:
    other = meter.other_cores()
    if other is None:
        return "other processes' CPU use: unknown"
    text = f"other processes used {other:.2f} cores on average meanwhile"
    if other > 0.2:
        text += " (a DISTURBED run: compare ratios, not times, and rerun when idle)"
    return text


# --- configuration -----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001  (an older NumPy: no dicts mode)
        return "unknown"


def _openblas_threads() -> str:
    """What OpenBLAS itself says (through ctypes), where it can be found."""
    import ctypes
    import glob
    libdirs = []
    try:
        cfg = np.show_config(mode="dicts")
        libdirs.append(cfg["Build Dependencies"]["blas"].get("lib directory", ""))
    except Exception:  # noqa: BLE001
        pass
    libdirs.append(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs"))
    for d in libdirs:
        for path in glob.glob(os.path.join(d, "*openblas*.so*")):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for sym in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                        "openblas_get_num_threads"):
                fn = getattr(lib, sym, None)
                if fn is not None:
                    return str(fn())
    return "?"


def _git() -> str:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here,
                             capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "adkit"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev + (" (adkit/ modified)" if dirty else "") if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def _dist_version(name: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


def configuration(settings: Settings) -> list[str]:
    import adkit
    lines = [
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- machine: {_cpu_model()}, {os.cpu_count()} logical cores "
        f"({len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else '?'} usable), "
        f"{platform.system()} {platform.release()}, "
        f"load average at start {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- python {platform.python_version()} ({sys.executable})",
        f"- numpy {np.__version__}, BLAS: {_blas()}",
        f"- adkit {getattr(adkit, '__version__', '?')} at git {_git()}",
    ]
    peers = []
    for name in ("autograd", "torch", "jax"):
        mod = peer(name)
        if mod is None:
            peers.append(f"{name}: not available ({_MISSING.get(name, '?')})")
        else:
            version = getattr(mod, "__version__", None) or _dist_version(name)
            if name == "jax":
                import jaxlib
                version += f" (jaxlib {jaxlib.__version__}, x64 enabled, eager and jit)"
            peers.append(f"{name} {version}")
    lines.append("- peers: " + "; ".join(peers))
    torch = peer("torch")
    threads = [f"ADKIT_BENCH_THREADS/target {THREADS}",
               f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
               f" (OpenBLAS reports {_openblas_threads()})",
               f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}"]
    if torch is not None:
        threads.append(f"torch.get_num_threads()={torch.get_num_threads()}")
    if peer("jax") is not None:
        threads.append("XLA: its default CPU pool (one thread per core, "
                       f"{os.cpu_count()} here); XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    lines.append("- threads: " + "; ".join(threads))
    if NUMPY_WAS_LOADED:
        lines.append("- WARNING: NumPy was imported before benchmarks/__init__ set the "
                     "thread counts; the BLAS may use its own default")
    lines.append(f"- timing: {'--quick, ' if settings.quick else ''}warm-up 2 calls, then up "
                 f"to {settings.repeats} interleaved repeats of >= {settings.min_repeat_s} s "
                 f"each, {settings.settle_s} s apart; medians reported; gc on, with what "
                 "was alive before timing frozen out of it (gc.freeze)")
    return lines


def closed_form_rows(sec: Section, measure_label: str, sizes: tuple, make_problem: Callable,
                     closed_form: Callable, contestants: Callable, tol: float,
                     must_beat: tuple, jit: str, jit_factor: float, settings: Settings) -> None:
    """Rows for benchmarks whose answer has a closed form (the Jacobian and Hessian ones):
    check every contestant against it, time them, and judge adkit against the peers it
    must beat and within jit_factor of the jitted one."""
    for n in sizes:
        A, x = make_problem(n)
        want = closed_form(A, x)
        fns = contestants(A, x)
        wrong = set()
        for name, fn in fns.items():
            got = np.asarray(fn())
            if got.shape != want.shape or not checked(f"n={n} {name}", max_abs_err(got, want),
                                                      tol, sec.notes):
                wrong.add(name)
        times = measure(fns, settings)
        adk = times.pop("adkit")
        peers: dict[str, Any] = {c: times.get(c, "not installed") for c in sec.columns}
        faster = [None if ratio(adk, peers[c]) is None else ratio(adk, peers[c]) < 1
                  for c in must_beat]
        r_jit = ratio(adk, peers[jit])
        ok = all_of(faster + [None if r_jit is None else r_jit <= jit_factor])
        beat = "every eager peer" if len(must_beat) == len(sec.columns) - 1 else \
            " and ".join(sorted({c.split(".")[0].split(" ")[0] for c in must_beat}))
        sec.rows.append(Row(f"n={n}", measure_label, adk, peers,
                            f"adkit < {beat}, <= {jit_factor:g}x jit JAX", verdict(ok),
                            wrong=wrong))
