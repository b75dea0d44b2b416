"""Calibration adapter: measure what a node's CPU and CUDA devices actually deliver.

suanli rates hardware as published peak x measured efficiency; this module supplies the
"measured" half. An agent runs `calibrate()` once per node when its cluster registers.

Contract
--------
* Figures are *best-of-N* rates: every kernel is warmed up, then timed several times,
  and the highest rate is kept. On a shared machine the best trial is the one least
  disturbed by neighbours, so it is the figure that repeats from run to run; a mean
  would mostly measure the neighbours.
* CPU matmul rates measure what the cores deliver while they run, not how much of them
  the operating system happens to give this process: when the BLAS's thread count can be
  set (threadpoolctl, or OpenBLAS itself through ctypes), every core runs its own
  single-threaded product at the same moment, and each is timed with its thread's CPU
  clock (`time.thread_time`). Time slices taken by other processes therefore do not
  count, and no core waits for another (a multi-threaded GEMM on a shared box runs at
  the pace of its most-interrupted thread). The sum over cores is the figure. Where the
  thread count cannot be set, the BLAS runs one all-core product timed by the wall clock
  (`time.perf_counter`), which on a busy machine reads low. `CpuMeasurement.blas` says
  which method ran.
* The triad is always wall-clock timed: memory bandwidth is shared by the cores, so only
  trials in which all threads stream together measure it.
* Kernel sizes depend only on the machine (core count, last-level cache size), never on
  the budget or on a timing taken during the run (except to shrink a product that could
  not run even _MIN_TRIALS times in its budget), so two runs on the same node time the
  same work and can be compared.
* Budgets are targets, not hard limits: each kernel always gets a warm-up and at least
  `_MIN_TRIALS` timed trials, and a trial already started is finished. Array set-up
  (allocation, page faults) and warm-ups are not counted against the budget, but are in
  `Calibration.seconds`.
* Units are decimal: GFLOP/s = 1e9 FLOP/s, TFLOP/s = 1e12 FLOP/s, GB/s = 1e9 B/s,
  GB = 1e9 bytes. A dense n x n x n matmul counts 2 * n**3 FLOPs.
* `measure_gpus` never raises: without torch, without CUDA, or when a device fails, it
  says so in its note.
* Process state: while `measure_cpu` runs, the BLAS is limited to one thread per call
  (restored afterwards, also on error); other threads of the process that use numpy at
  the same time run single-threaded meanwhile. `measure_gpus` restores torch's TF32 and
  float32 matmul precision settings.
* Clocks: this module is an adapter, so it reads `time.perf_counter` and
  `time.thread_time` directly.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = [
    "Calibration",
    "CpuMeasurement",
    "GpuMeasurement",
    "calibrate",
    "measure_cpu",
    "measure_gpus",
    "to_json",
]


@dataclass(frozen=True, slots=True)
class CpuMeasurement:
    """What the CPU side of a node sustains.

    cores: CPUs this process may run on (`os.sched_getaffinity`), which is what a job
        placed on the node gets, not the host's total.
    fp32_gflops / fp64_gflops: dense matmul (numpy -> BLAS GEMM) in float32 / float64
        with all `cores` busy, 2 * n**3 FLOPs per product (method: see the module doc).
    triad_gbs: STREAM-like triad `a = b + s * c` over float64 arrays well beyond the
        last-level cache, one thread per core. Bytes follow the STREAM convention:
        24 bytes per element (read b, read c, write a; the write-allocate read of `a` is
        not counted), i.e. bytes = 3 * 8 * n.
    blas: which BLAS and kernel ran and how the matmuls were timed, e.g.
        "openblas 0.3.27 (SkylakeX, 2 threads); matmul: 1 thread per core, CPU time".
        The library part is "unknown" when it cannot be found out.
    """

    cores: int
    fp32_gflops: float
    fp64_gflops: float
    triad_gbs: float
    blas: str


@dataclass(frozen=True, slots=True)
class GpuMeasurement:
    """What one CUDA device sustains on dense matmuls (torch.matmul -> cuBLAS).

    fp16_tflops / bf16_tflops: float16 / bfloat16 inputs (tensor cores where present);
        bf16 is None on devices below compute capability 8.0, where it is only emulated.
    fp32_tflops: float32 with TF32 disabled (true IEEE fp32 FMA).
    tf32_tflops: float32 with TF32 allowed; None below compute capability 8.0.
    fp64_tflops: float64.
    memory_gb: total device memory in GB (1e9 bytes).
    """

    index: int
    name: str
    fp16_tflops: float
    bf16_tflops: float | None
    fp32_tflops: float
    tf32_tflops: float | None
    fp64_tflops: float
    memory_gb: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """One node's calibration.

    gpus: one entry per CUDA device that was measured; empty when none was.
    gpu_note: why `gpus` is what it is, e.g. "no CUDA device (torch not installed)" or
        "2 CUDA devices measured".
    seconds: wall time the whole calibration took, set-up included.
    """

    cpu: CpuMeasurement
    gpus: tuple[GpuMeasurement, ...]
    gpu_note: str
    seconds: float


# Each kernel: one untimed warm-up, then at least this many timed trials, whatever the
# budget, so that "best of" always has a choice.
_MIN_TRIALS = 3
# More trials than this add nothing to a best-of and only spend the budget.
_MAX_TRIALS = 200

# CPU: the budget is cut into epochs of about a second (at most _CPU_MAX_EPOCHS), and
# every epoch runs a block of triad trials, then a block of FP32/FP64 matmul trials taken
# in turn. Spreading each kernel's trials over the whole run, rather than timing one
# kernel after the other, is what makes the best-of repeat on a shared machine: a
# neighbour busy for a second spoils some trials of every kernel instead of all the
# trials of one.
_CPU_EPOCH_S = 1.0
_CPU_MAX_EPOCHS = 5
_CPU_SHARE_TRIAD = 0.3

# Matmul n. Per core (one single-threaded product per core): 1024 is within ~10% of
# the large-n plateau of one AVX-512 core and keeps a trial short (~20-70 ms there), so
# a run gets many trials and more chances of a quiet moment on a shared host, which
# matters more for a repeatable figure than the last 10%. Smaller on very many cores,
# where every core holds its own result matrix (the operands are shared).
_PER_CORE_N = ((96, 1024),)
_PER_CORE_N_MANY = 768
# All-core fallback (one multi-threaded product): big enough to keep every BLAS thread
# busy with several blocks.
_ALL_CORE_N_SMALL = 2048  # up to 8 cores
_ALL_CORE_N_LARGE = 4096
_MIN_MATMUL_N = 256
# A barrier that does not trip in this long means a worker is stuck; give up.
_BARRIER_TIMEOUT_S = 120.0

# Triad: chunks small enough that one chunk of a, b and c (3 x 256 KiB) stays in L2
# between the multiply and the add, so DRAM sees STREAM's traffic (read b, c; write a)
# rather than numpy's two full passes (which would move twice the bytes counted).
_TRIAD_CHUNK = 32_768
_TRIAD_MIN_ELEMENTS = 8 * 1024 * 1024  # 64 MiB per array
_TRIAD_MAX_ELEMENTS = 64 * 1024 * 1024  # 512 MiB per array, 1.5 GiB in all
_TRIAD_SCALAR = 3.0

# GPU matmul sizes (n of an n x n x n product) per kernel, and the time one timed trial
# should last: several matmuls are queued per trial so the launch and synchronise
# overhead is amortised.
_GPU_N_HALF = 8192  # fp16 / bf16
_GPU_N_TF32 = 8192
_GPU_N_FP32 = 4096  # no tensor cores: 8192 would be slow on small parts
_GPU_N_FP64 = 4096  # consumer GPUs run fp64 at 1/64 rate
_GPU_TRIAL_S = 0.02
_GPU_MAX_REPS = 64
_GPU_MIN_N = 1024


# --- public API -----------------------------------------------------------------------


def measure_cpu(*, budget_s: float = 3.0) -> CpuMeasurement:
    """Measure this process's CPUs: FP32 and FP64 matmul rate, triad bandwidth, BLAS.

    `budget_s` is the timed budget shared by the three kernels (see the module contract
    on how it is honoured); set-up and warm-ups come on top (about 0.5 s on a 2-core
    box). Matmul n: per core 1024 on up to 96 cores, 768 above; all-core
    fallback 2048 on up to 8 cores, 4096 above; either halved only while one warm-up
    product takes over a third of its budget share (a far slower machine than intended).
    Triad arrays hold max(8 Mi, enough for a working set of 4 x the last-level cache)
    doubles, at most 64 Mi (1.5 GiB for the three arrays).

    Raises ValueError for a budget that is not positive.
    """
    if not budget_s > 0:
        raise ValueError(f"budget_s must be positive, got {budget_s}")
    cores = _cores()
    library = _blas_description()  # before the thread limit, to report the default
    epochs = max(1, min(_CPU_MAX_EPOCHS, round(budget_s / _CPU_EPOCH_S)))
    epoch_s = budget_s / epochs
    gemm_share = budget_s * (1 - _CPU_SHARE_TRIAD) / 2  # nominal share of each matmul

    with (
        ThreadPoolExecutor(max_workers=cores, thread_name_prefix="calibrate") as pool,
        _blas_single_thread() as per_core,
    ):
        triad = _Triad(cores, pool)
        # The triad is warmed up before any matmul: after a multi-threaded GEMM, the
        # BLAS's worker threads spin for ~0.1 s before they sleep and slow the triad
        # threads down. Later triad blocks take 30% of their epoch (0.3 s of a 1 s
        # epoch), long enough for the best-of to skip such a start.
        triad.warm_up()
        matmuls: list[_Kernel]
        if per_core:
            matmuls = [
                _PerCoreMatmul.sized(dtype, _per_core_n(cores), cores, pool, gemm_share)
                for dtype in (np.float32, np.float64)
            ]
            method = "matmul: 1 thread per core, CPU time"
        else:
            n = _ALL_CORE_N_SMALL if cores <= 8 else _ALL_CORE_N_LARGE
            matmuls = [
                _AllCoreMatmul.sized(dtype, n, gemm_share) for dtype in (np.float32, np.float64)
            ]
            method = "matmul: all-core BLAS, wall time"
        for epoch in range(epochs):
            last = epoch == epochs - 1
            _run_block([triad], epoch_s * _CPU_SHARE_TRIAD, finish=last)
            _run_block(matmuls, epoch_s * (1 - _CPU_SHARE_TRIAD), finish=last)

    fp32, fp64 = matmuls
    return CpuMeasurement(
        cores=cores,
        fp32_gflops=fp32.best_rate / 1e9,
        fp64_gflops=fp64.best_rate / 1e9,
        triad_gbs=triad.best_rate / 1e9,
        blas=f"{library}; {method}",
    )


def measure_gpus(*, budget_s: float = 5.0) -> tuple[tuple[GpuMeasurement, ...], str]:
    """Measure every visible CUDA device; return the measurements and a note.

    torch is imported here, lazily, and only if installed. Never raises: when torch is
    missing or broken, when `torch.cuda.is_available()` is False, or when a device fails
    part-way, the failure is described in the note and the device is left out.

    `budget_s` is shared evenly by the devices, and within a device by its kernels
    (fp16, bf16, fp32 with TF32 off, tf32, fp64). TF32 and float32 matmul precision
    settings are restored afterwards, whatever happens.
    """
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return (), "no CUDA device (torch not installed)"
    except Exception as exc:  # a broken install (missing CUDA libraries, ...)
        return (), f"no CUDA device (torch failed to import: {_describe(exc)})"
    try:
        if not torch.cuda.is_available():
            return (), "no CUDA device (torch.cuda.is_available() is False)"
        count = int(torch.cuda.device_count())
    except Exception as exc:
        return (), f"no CUDA device (CUDA query failed: {_describe(exc)})"
    if count <= 0:
        return (), "no CUDA device (torch reports 0 devices)"

    per_device = budget_s / count
    measured: list[GpuMeasurement] = []
    failures: list[str] = []
    saved = _save_matmul_flags(torch)
    try:
        for index in range(count):
            try:
                measured.append(_measure_device(torch, index, per_device))
            except Exception as exc:
                failures.append(f"device {index} failed: {_describe(exc)}")
            finally:
                _restore_matmul_flags(torch, saved)
                _free_cache(torch)
    finally:
        _restore_matmul_flags(torch, saved)

    plural = "" if len(measured) == 1 else "s"
    note = f"{len(measured)} CUDA device{plural} measured"
    if failures:
        note += f" of {count}; " + "; ".join(failures)
    return tuple(measured), note


def calibrate(*, cpu_budget_s: float = 3.0, gpu_budget_s: float = 5.0) -> Calibration:
    """Measure the CPU, then the CUDA devices; `seconds` is the wall time of both."""
    start = time.perf_counter()
    cpu = measure_cpu(budget_s=cpu_budget_s)
    gpus, note = measure_gpus(budget_s=gpu_budget_s)
    return Calibration(cpu=cpu, gpus=gpus, gpu_note=note, seconds=time.perf_counter() - start)


def to_json(c: Calibration) -> dict[str, object]:
    """`c` as plain JSON types (dict, list, str, int, float, None), snake_case keys.

    Keys: cpu{cores, fp32_gflops, fp64_gflops, triad_gbs, blas}, gpus[{index, name,
    fp16_tflops, bf16_tflops, fp32_tflops, tf32_tflops, fp64_tflops, memory_gb}],
    gpu_note, seconds.
    """
    return {
        "cpu": {
            "cores": c.cpu.cores,
            "fp32_gflops": c.cpu.fp32_gflops,
            "fp64_gflops": c.cpu.fp64_gflops,
            "triad_gbs": c.cpu.triad_gbs,
            "blas": c.cpu.blas,
        },
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "fp16_tflops": g.fp16_tflops,
                "bf16_tflops": g.bf16_tflops,
                "fp32_tflops": g.fp32_tflops,
                "tf32_tflops": g.tf32_tflops,
                "fp64_tflops": g.fp64_tflops,
                "memory_gb": g.memory_gb,
            }
            for g in c.gpus
        ],
        "gpu_note": c.gpu_note,
        "seconds": c.seconds,
    }


# --- timing ---------------------------------------------------------------------------


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _best_seconds(trial: Callable[[], None], budget_s: float) -> float:
    """Shortest wall time of `trial` over best-of-N timed runs (after the caller's
    warm-up). Runs at least _MIN_TRIALS, then more while the next one is expected to fit
    in `budget_s`, up to _MAX_TRIALS."""
    start = time.perf_counter()
    best = math.inf
    trials = 0
    while trials < _MAX_TRIALS:
        t0 = time.perf_counter()
        trial()
        t1 = time.perf_counter()
        best = min(best, t1 - t0)
        trials += 1
        # The next trial should last about as long as the best one; stop if it would
        # overrun the budget.
        if trials >= _MIN_TRIALS and (t1 - start) + best > budget_s:
            break
    # perf_counter cannot return 0 for real work, but guard the division anyway.
    return max(best, 1e-9)


class _Kernel:
    """A CPU kernel under best-of-N timing. Subclasses implement `_trial`, which runs
    the work once and returns its rate (work units per second)."""

    def __init__(self) -> None:
        self.best_rate = 0.0
        self.trials = 0
        self.fastest_s = math.inf  # wall time of the quickest trial, to plan the budget

    def _trial(self) -> float:
        raise NotImplementedError

    def warm_up(self) -> float:
        """Run once, untimed for the result; return the wall time it took."""
        return _timed(self._untimed)

    def _untimed(self) -> None:
        self._trial()

    def run(self) -> None:
        t0 = time.perf_counter()
        rate = self._trial()
        self.fastest_s = min(self.fastest_s, time.perf_counter() - t0)
        self.best_rate = max(self.best_rate, rate)
        self.trials += 1


def _run_block(kernels: list[_Kernel], budget_s: float, *, finish: bool) -> None:
    """Run rounds of one trial per kernel for about `budget_s`: at least one round, and
    no round expected (from the fastest trials so far) to overrun. With `finish`, go on
    until every kernel has _MIN_TRIALS trials. No kernel gets more than _MAX_TRIALS."""
    start = time.perf_counter()
    while True:
        for k in kernels:
            if k.trials < _MAX_TRIALS:
                k.run()
        if all(k.trials >= _MAX_TRIALS for k in kernels):
            return
        elapsed = time.perf_counter() - start
        next_round = sum(k.fastest_s for k in kernels)
        short = finish and any(k.trials < _MIN_TRIALS for k in kernels)
        if elapsed + next_round > budget_s and not short:
            return


# --- CPU kernels ----------------------------------------------------------------------


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity outside Linux
        return max(1, os.cpu_count() or 1)


def _per_core_n(cores: int) -> int:
    for most, n in _PER_CORE_N:
        if cores <= most:
            return n
    return _PER_CORE_N_MANY


def _operands(dtype: type[np.floating[Any]], n: int) -> tuple[np.ndarray[Any, Any], ...]:
    # Constant operands: GEMM speed does not depend on the values, and filling is far
    # cheaper than random generation. 1/n keeps every result at 1.0 (no overflow).
    return np.full((n, n), 1.0 / n, dtype=dtype), np.full((n, n), 1.0, dtype=dtype)


class _AllCoreMatmul(_Kernel):
    """One n x n x n product with the BLAS's own threads; wall-clock rate."""

    def __init__(self, dtype: type[np.floating[Any]], n: int) -> None:
        super().__init__()
        self.flops = 2.0 * n**3
        self._a, self._b = _operands(dtype, n)
        self._out = np.empty((n, n), dtype=dtype)

    @classmethod
    def sized(cls, dtype: type[np.floating[Any]], n: int, share_s: float) -> _AllCoreMatmul:
        """Warmed up; n halved while one product takes over a third of `share_s`."""
        while True:
            kernel = cls(dtype, n)
            if kernel.warm_up() <= share_s / _MIN_TRIALS or n <= _MIN_MATMUL_N:
                return kernel
            n //= 2

    def _trial(self) -> float:
        t0 = time.perf_counter()
        np.matmul(self._a, self._b, out=self._out)
        return self.flops / max(time.perf_counter() - t0, 1e-9)


class _PerCoreMatmul(_Kernel):
    """One single-threaded n x n x n product per core, all started together (barrier);
    the rate is the sum over threads of FLOPs / that thread's CPU time. Needs the BLAS
    limited to one thread per call (`_blas_single_thread`)."""

    def __init__(
        self, dtype: type[np.floating[Any]], n: int, threads: int, pool: ThreadPoolExecutor
    ) -> None:
        super().__init__()
        self.flops = 2.0 * n**3
        self._a, self._b = _operands(dtype, n)  # read-only, shared by the threads
        self._outs = [np.empty((n, n), dtype=dtype) for _ in range(threads)]
        self._pool = pool
        self._barrier = threading.Barrier(threads)

    @classmethod
    def sized(
        cls,
        dtype: type[np.floating[Any]],
        n: int,
        threads: int,
        pool: ThreadPoolExecutor,
        share_s: float,
    ) -> _PerCoreMatmul:
        """Warmed up; n halved while one round takes over a third of `share_s`."""
        while True:
            kernel = cls(dtype, n, threads, pool)
            if kernel.warm_up() <= share_s / _MIN_TRIALS or n <= _MIN_MATMUL_N:
                return kernel
            n //= 2

    def _trial(self) -> float:
        return sum(self._pool.map(self._one, self._outs))

    def _one(self, out: np.ndarray[Any, Any]) -> float:
        # Start together, so every core is busy for the whole trial (all-core clocks,
        # shared caches) as in a multi-threaded GEMM.
        self._barrier.wait(timeout=_BARRIER_TIMEOUT_S)
        c0 = time.thread_time()
        np.matmul(self._a, self._b, out=out)
        return self.flops / max(time.thread_time() - c0, 1e-9)


class _Triad(_Kernel):
    """STREAM triad `a = b + s * c`, the arrays split across one thread per core;
    wall-clock rate in bytes (24 per element) per second."""

    def __init__(self, cores: int, pool: ThreadPoolExecutor) -> None:
        super().__init__()
        self.elements = n = _triad_elements()
        # np.full touches every page now, so page faults stay out of the timed trials.
        self._a = np.full(n, 0.0)
        self._b = np.full(n, 1.0)
        self._c = np.full(n, 2.0)
        self._spans = [(i * n // cores, (i + 1) * n // cores) for i in range(cores)]
        # numpy ufuncs release the GIL, so the pool's threads stream in parallel, as
        # STREAM's OpenMP threads would.
        self._pool = pool

    def _trial(self) -> float:
        t0 = time.perf_counter()
        for _ in self._pool.map(self._part, self._spans):
            pass
        return 3 * 8 * self.elements / max(time.perf_counter() - t0, 1e-9)

    def _part(self, span: tuple[int, int]) -> None:
        a, b, c = self._a, self._b, self._c
        lo, hi = span
        for i in range(lo, hi, _TRIAD_CHUNK):
            j = min(i + _TRIAD_CHUNK, hi)
            chunk = a[i:j]
            np.multiply(c[i:j], _TRIAD_SCALAR, out=chunk)
            np.add(chunk, b[i:j], out=chunk)


def _triad_elements() -> int:
    # STREAM's rule: the working set should be several times the last-level cache, or
    # part of it is served from cache and the figure is not memory bandwidth.
    want = 4 * _llc_bytes() // 24
    mi = 1024 * 1024
    want = -(-want // mi) * mi  # round up to whole Mi elements
    return min(_TRIAD_MAX_ELEMENTS, max(_TRIAD_MIN_ELEMENTS, want))


def _llc_bytes() -> int:
    """Total level-3 cache of the machine (all sockets), 0 if unknown."""
    caches: dict[str, int] = {}
    try:
        for index in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cache/index[0-9]*"):
            if (index / "level").read_text().strip() != "3":
                continue
            shared = (index / "shared_cpu_list").read_text().strip()
            caches[shared] = _parse_size((index / "size").read_text().strip())
    except (OSError, ValueError):
        return 0
    return sum(caches.values())


def _parse_size(text: str) -> int:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3}
    if text and text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


# --- BLAS: identification and thread control ------------------------------------------


def _blas_description() -> str:
    """Which BLAS and kernel numpy runs. threadpoolctl (if installed) asks the loaded
    library itself; otherwise ask OpenBLAS through ctypes, then fall back to numpy's
    build configuration (which names the build target, not the kernel picked at run
    time: DYNAMIC_ARCH builds choose per CPU, or per OPENBLAS_CORETYPE)."""
    text = _blas_from_threadpoolctl() or _blas_from_numpy()
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype and "openblas" in text.lower():
        text += f", OPENBLAS_CORETYPE={coretype}"
    return text


def _blas_from_threadpoolctl() -> str | None:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
        infos = threadpoolctl.threadpool_info()
    except Exception:  # absent, or an old/broken version
        return None
    for info in infos:
        if info.get("user_api") != "blas":
            continue
        api = info.get("internal_api", "blas")
        version = info.get("version") or ""
        details = [str(d) for d in (info.get("architecture"),) if d]
        if info.get("num_threads"):
            details.append(f"{info['num_threads']} threads")
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{api} {version}".strip() + suffix
    return None


def _blas_from_numpy() -> str:
    name, version = "unknown", ""
    try:
        config: Any = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        name = str(blas.get("name", "unknown"))
        version = str(blas.get("version", ""))
    except Exception:  # numpy < 1.26 has no dict mode; the layout is not a contract
        pass
    if name == "unknown":
        return "unknown"
    # "scipy-openblas" is OpenBLAS as bundled in numpy's wheels.
    label = "openblas" if "openblas" in name.lower() else name
    details = _openblas_runtime() if label == "openblas" else []
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{label} {version}".strip() + suffix


# The symbol names differ between plain OpenBLAS and the 64-bit-integer builds bundled
# in numpy/scipy wheels.
_OPENBLAS_PREFIXES = ("scipy_openblas_", "openblas_")
_OPENBLAS_SUFFIXES = ("64_", "")


def _openblas_fn(lib: ctypes.CDLL, name: str) -> Any:
    for prefix in _OPENBLAS_PREFIXES:
        for suffix in _OPENBLAS_SUFFIXES:
            fn = getattr(lib, f"{prefix}{name}{suffix}", None)
            if fn is not None:
                return fn
    return None


def _openblas_libs() -> list[ctypes.CDLL]:
    """The OpenBLAS libraries this process has loaded (numpy's among them)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    libs: list[ctypes.CDLL] = []
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            libs.append(ctypes.CDLL(path))  # already loaded: this only returns its handle
        except OSError:
            continue
    return libs


def _openblas_runtime() -> list[str]:
    """Core name and thread count from the OpenBLAS this process has loaded."""
    for lib in _openblas_libs():
        details: list[str] = []
        corename = _openblas_fn(lib, "get_corename")
        if corename is not None:
            corename.restype, corename.argtypes = ctypes.c_char_p, []
            core = corename()
            if isinstance(core, bytes) and core:
                details.append(core.decode(errors="replace"))
        get_threads = _openblas_fn(lib, "get_num_threads")
        if get_threads is not None:
            get_threads.restype, get_threads.argtypes = ctypes.c_int, []
            threads = get_threads()
            if isinstance(threads, int) and threads > 0:
                details.append(f"{threads} threads")
        if details:
            return details
    return []


@contextlib.contextmanager
def _blas_single_thread() -> Iterator[bool]:
    """Limit the BLAS to one thread per call for the duration; yield whether that was
    possible (threadpoolctl if installed, else OpenBLAS through ctypes). The previous
    limits are restored on exit, also on error.

    OpenMP builds of OpenBLAS are left alone (yield False): their thread count is an
    OpenMP setting of the calling thread, so a limit set here would not hold in the
    worker threads that run the products."""
    limiter = None
    with contextlib.suppress(Exception):  # threadpoolctl absent, old or broken
        threadpoolctl = importlib.import_module("threadpoolctl")
        blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if blas and not any(i.get("threading_layer") == "openmp" for i in blas):
            limiter = threadpoolctl.threadpool_limits(limits=1, user_api="blas")
    if limiter is not None:
        try:
            yield True
        finally:
            limiter.restore_original_limits()
        return

    restore: list[tuple[Any, int]] = []  # (set_num_threads, the count it had)
    try:
        for lib in _openblas_libs():
            get_threads = _openblas_fn(lib, "get_num_threads")
            set_threads = _openblas_fn(lib, "set_num_threads")
            get_parallel = _openblas_fn(lib, "get_parallel")
            if get_threads is None or set_threads is None or get_parallel is None:
                continue
            get_parallel.restype, get_parallel.argtypes = ctypes.c_int, []
            if int(get_parallel()) == _OPENBLAS_OPENMP:
                continue
            get_threads.restype, get_threads.argtypes = ctypes.c_int, []
            set_threads.restype, set_threads.argtypes = None, [ctypes.c_int]
            before = int(get_threads())
            set_threads(1)
            restore.append((set_threads, before))
        yield bool(restore)
    finally:
        for set_threads, before in reversed(restore):
            set_threads(before)


# openblas_get_parallel(): 0 sequential build, 1 pthreads, 2 OpenMP.
_OPENBLAS_OPENMP = 2


# --- GPU ------------------------------------------------------------------------------


def _measure_device(torch: ModuleType, index: int, budget_s: float) -> GpuMeasurement:
    props = torch.cuda.get_device_properties(index)
    name = str(torch.cuda.get_device_name(index))
    memory_gb = float(props.total_memory) / 1e9
    # bf16 and TF32 are native from Ampere (8.0) on. Below, torch may still accept bf16
    # (emulated) and TF32 silently runs as fp32, so a figure would mislead.
    native = int(props.major) >= 8
    device = torch.device("cuda", index)
    kernels = 5 if native else 3
    share = budget_s / kernels

    def rate(dtype: Any, n: int, *, tf32: bool) -> float:
        _set_tf32(torch, tf32)
        return _gpu_matmul_tflops(torch, device, dtype, n, share)

    fp16 = rate(torch.float16, _GPU_N_HALF, tf32=False)
    bf16 = rate(torch.bfloat16, _GPU_N_HALF, tf32=False) if native else None
    fp32 = rate(torch.float32, _GPU_N_FP32, tf32=False)
    tf32 = rate(torch.float32, _GPU_N_TF32, tf32=True) if native else None
    fp64 = rate(torch.float64, _GPU_N_FP64, tf32=False)
    return GpuMeasurement(
        index=index,
        name=name,
        fp16_tflops=fp16,
        bf16_tflops=bf16,
        fp32_tflops=fp32,
        tf32_tflops=tf32,
        fp64_tflops=fp64,
        memory_gb=memory_gb,
    )


def _gpu_matmul_tflops(
    torch: ModuleType, device: Any, dtype: Any, n: int, budget_s: float
) -> float:
    """Best-of-N rate of n x n x n products; n halved (not below _GPU_MIN_N) when the
    device runs out of memory, or when one product is too slow for _MIN_TRIALS trials
    in `budget_s` (fp64 on consumer parts)."""
    while True:
        try:
            rate = _gpu_matmul_tflops_at(torch, device, dtype, n, budget_s)
        except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if "out of memory" not in str(exc).lower() or n <= _GPU_MIN_N:
                raise
            _free_cache(torch)
            n //= 2  # a small card: measure at a size that fits
            continue
        if rate is not None:
            return rate
        n //= 2


def _gpu_matmul_tflops_at(
    torch: ModuleType, device: Any, dtype: Any, n: int, budget_s: float
) -> float | None:
    """TFLOP/s at size n, or None if n is too slow for the budget and may be halved."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    # The tensors are freed when this returns (the closures go with them).

    def once() -> None:
        torch.matmul(a, b, out=out)
        torch.cuda.synchronize(device)

    once()  # warm-up: cuBLAS handle, kernel selection, clocks up
    one = max(_timed(once), 1e-6)
    if one * (_MIN_TRIALS + 1) > budget_s and n > _GPU_MIN_N:
        return None
    # Queue several matmuls per trial so launch and synchronise overhead is noise.
    reps = max(1, min(_GPU_MAX_REPS, round(_GPU_TRIAL_S / one)))

    def trial() -> None:
        for _ in range(reps):
            torch.matmul(a, b, out=out)
        torch.cuda.synchronize(device)

    seconds = _best_seconds(trial, budget_s)
    return 2.0 * n**3 * reps / seconds / 1e12


def _save_matmul_flags(torch: ModuleType) -> tuple[object, object]:
    try:
        precision: object = torch.get_float32_matmul_precision()
    except Exception:
        precision = None
    try:
        allow: object = bool(torch.backends.cuda.matmul.allow_tf32)
    except Exception:
        allow = None
    return precision, allow


def _restore_matmul_flags(torch: ModuleType, saved: tuple[object, object]) -> None:
    precision, allow = saved
    with warnings.catch_warnings():
        # Recent torch versions deprecate these setters in favour of fp32_precision.
        warnings.simplefilter("ignore")
        # Both settings drive one flag in torch; precision first, then the exact
        # allow_tf32 value, so the caller gets back both as they were.
        if precision is not None:
            with contextlib.suppress(Exception):
                torch.set_float32_matmul_precision(precision)
        if allow is not None:
            try:
                if bool(torch.backends.cuda.matmul.allow_tf32) != allow:
                    torch.backends.cuda.matmul.allow_tf32 = allow
            except Exception:
                pass


def _set_tf32(torch: ModuleType, allow: bool) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.cuda.matmul.allow_tf32 = allow


def _free_cache(torch: ModuleType) -> None:
    with contextlib.suppress(Exception):
        torch.cuda.empty_cache()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
