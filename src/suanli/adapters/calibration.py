"""Calibration adapter: measure what a node's CPU and CUDA devices actually deliver.

suanli rates hardware as published peak x measured efficiency; this module supplies the
"measured" half. An agent runs `calibrate()` once per node when its cluster registers.

Contract
--------
* Figures are *sustained best-of-N* rates: every kernel is warmed up, then timed several
  times, and the highest rate is kept. On a shared machine the best trial is the one
  least disturbed by neighbours, so it is the figure that repeats from run to run; the
  mean would mostly measure the neighbours.
* Kernel sizes depend only on the machine (core count, last-level cache size) and on the
  budget passed in, never on a timing taken during the run, so two runs with the same
  budget on the same node time the very same work and can be compared.
* Budgets are targets, not hard limits: each kernel always gets a warm-up and at least
  `_MIN_TRIALS` timed trials, and a trial already started is finished. Array set-up
  (allocation, page faults) is not counted against the budget, but is in
  `Calibration.seconds`.
* Units are decimal: GFLOP/s = 1e9 FLOP/s, TFLOP/s = 1e12 FLOP/s, GB/s = 1e9 B/s,
  GB = 1e9 bytes. A dense n x n x n matmul counts 2 * n**3 FLOPs.
* `measure_gpus` never raises: without torch, without CUDA, or when a device fails, it
  says so in its note.
* Clocks: this module is an adapter, so it reads `time.perf_counter` directly.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import math
import os
import time
import warnings
from collections.abc import Callable
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
    fp32_gflops / fp64_gflops: dense matmul (numpy -> BLAS GEMM) in float32 / float64,
        with all cores used by the BLAS's own threads; 2 * n**3 FLOPs per product.
    triad_gbs: STREAM-like triad `a = b + s * c` over float64 arrays well beyond the
        last-level cache, run on `cores` threads. Bytes follow the STREAM convention:
        24 bytes per element (read b, read c, write a; the write-allocate read of `a` is
        not counted), i.e. bytes = 3 * 8 * n.
    blas: which BLAS and kernel ran, e.g. "openblas 0.3.27 (SkylakeX, 2 threads)", or
        "unknown".
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
# Matmul size on up to 8 cores, and above. 1536 is already at the large-n plateau of a
# 2-core AVX-512 box (n=1024 loses ~10%), and keeps one FP64 trial near 0.1 s there.
_CPU_N_SMALL = 1536
_CPU_N_LARGE = 4096
_CPU_SMALL_CORES = 8

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
    on how it is honoured); array set-up and warm-ups come on top (about 0.5 s on a
    2-core box). Sizes depend on the machine, not on the budget: matmul n = 1536 on up
    to 8 cores, 4096 above (halved only if a single warm-up product takes longer than
    a third of the budget, i.e. on a far slower machine than intended); triad arrays
    hold max(8 Mi, enough for a working set of 4 x the last-level cache) doubles, at
    most 64 Mi (1.5 GiB for the three arrays).
    """
    if budget_s <= 0:
        raise ValueError(f"budget_s must be positive, got {budget_s}")
    cores = _cores()
    epochs = max(1, min(_CPU_MAX_EPOCHS, round(budget_s / _CPU_EPOCH_S)))
    epoch_s = budget_s / epochs
    n = _CPU_N_SMALL if cores <= _CPU_SMALL_CORES else _CPU_N_LARGE
    gemm_share = budget_s * (1 - _CPU_SHARE_TRIAD) / 2  # nominal share of each matmul

    with _Triad(cores) as triad:
        # Triad is warmed up before any matmul: after a GEMM, OpenBLAS's worker threads
        # spin for ~0.1 s before they sleep and slow the triad threads down. The same
        # happens at the start of each later triad block; its trials run long enough
        # (>= 0.3 s of the epoch) for the best-of to skip that.
        triad_k = _Kernel(triad.run, 3 * 8 * triad.elements)
        triad_k.warm_up()
        fp32_k = _matmul_kernel(np.float32, n, gemm_share)
        fp64_k = _matmul_kernel(np.float64, n, gemm_share)
        for epoch in range(epochs):
            last = epoch == epochs - 1
            _run_block([triad_k], epoch_s * _CPU_SHARE_TRIAD, finish=last)
            _run_block([fp32_k, fp64_k], epoch_s * (1 - _CPU_SHARE_TRIAD), finish=last)

    return CpuMeasurement(
        cores=cores,
        fp32_gflops=fp32_k.rate() / 1e9,
        fp64_gflops=fp64_k.rate() / 1e9,
        triad_gbs=triad_k.rate() / 1e9,
        blas=_blas_description(),
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


def _timed(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class _Kernel:
    """One CPU kernel under best-of-N timing: `work` units (FLOPs, bytes) per trial."""

    def __init__(self, trial: Callable[[], None], work: float) -> None:
        self.trial = trial
        self.work = work
        self.best = math.inf
        self.trials = 0

    def warm_up(self) -> float:
        return _timed(self.trial)

    def run(self) -> None:
        self.best = min(self.best, _timed(self.trial))
        self.trials += 1

    def rate(self) -> float:
        # perf_counter cannot return 0 for real work, but guard the division anyway.
        return self.work / max(self.best, 1e-9)


def _run_block(kernels: list[_Kernel], budget_s: float, *, finish: bool) -> None:
    """Run rounds of one trial per kernel for about `budget_s`: at least one round, and
    no round expected (from the best times so far) to overrun. With `finish`, go on
    until every kernel has _MIN_TRIALS trials. No kernel gets more than _MAX_TRIALS."""
    start = time.perf_counter()
    while True:
        for k in kernels:
            if k.trials < _MAX_TRIALS:
                k.run()
        if all(k.trials >= _MAX_TRIALS for k in kernels):
            return
        elapsed = time.perf_counter() - start
        next_round = sum(k.best for k in kernels)
        short = finish and any(k.trials < _MIN_TRIALS for k in kernels)
        if elapsed + next_round > budget_s and not short:
            return


# --- CPU ------------------------------------------------------------------------------


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # no sched_getaffinity outside Linux
        return max(1, os.cpu_count() or 1)


def _matmul_kernel(dtype: type[np.floating[Any]], n: int, share_s: float) -> _Kernel:
    """A warmed-up matmul kernel; halves n while one product takes more than a third of
    its share (so that _MIN_TRIALS trials still fit)."""
    while True:
        kernel = _Kernel(_cpu_matmul_trial(dtype, n), 2.0 * n**3)
        warm = kernel.warm_up()  # starts the BLAS threads, faults in the result
        if warm <= share_s / _MIN_TRIALS or n <= 256:
            return kernel
        n //= 2


def _cpu_matmul_trial(dtype: type[np.floating[Any]], n: int) -> Callable[[], None]:
    # Constant operands: GEMM speed does not depend on the values, and filling is far
    # cheaper than random generation. 1/n keeps every result at 1.0 (no overflow).
    a = np.full((n, n), 1.0 / n, dtype=dtype)
    b = np.full((n, n), 1.0, dtype=dtype)
    out = np.empty((n, n), dtype=dtype)

    def trial() -> None:
        np.matmul(a, b, out=out)

    return trial


class _Triad:
    """STREAM triad `a = b + s * c` on one thread per core, as a context manager that
    owns the arrays and the thread pool."""

    def __init__(self, cores: int) -> None:
        self.elements = n = _triad_elements()
        # np.full touches every page now, so page faults stay out of the timed trials.
        self._a = np.full(n, 0.0)
        self._b = np.full(n, 1.0)
        self._c = np.full(n, 2.0)
        threads = max(1, cores)
        self._spans = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]
        # numpy ufuncs release the GIL, so one thread per core streams in parallel, as
        # STREAM's OpenMP threads would.
        self._pool = ThreadPoolExecutor(max_workers=threads)

    def __enter__(self) -> _Triad:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True)

    def run(self) -> None:
        for _ in self._pool.map(self._part, self._spans):
            pass

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
    """Total last-level cache of the machine (all sockets), 0 if unknown."""
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


# --- BLAS identification --------------------------------------------------------------


def _blas_description() -> str:
    """Which BLAS and kernel numpy runs. threadpoolctl (if installed) asks the loaded
    library itself; otherwise ask OpenBLAS through ctypes, then fall back to numpy's
    build configuration (which names the build target, not the kernel picked at run
    time: DYNAMIC_ARCH builds choose per CPU, or per OPENBLAS_CORETYPE)."""
    text = _blas_from_threadpoolctl() or _blas_from_numpy()
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    if coretype and "openblas" in text.lower():
        text += f"; OPENBLAS_CORETYPE={coretype}"
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
    details: list[str] = []
    if label == "openblas":
        details = _openblas_runtime()
    suffix = f" ({', '.join(details)})" if details else ""
    return f"{label} {version}".strip() + suffix


def _openblas_runtime() -> list[str]:
    """Core name and thread count from the OpenBLAS this process has loaded."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    for path in sorted(p for p in paths if p.startswith("/")):
        try:
            lib = ctypes.CDLL(path)  # already loaded: this only returns its handle
        except OSError:
            continue
        details: list[str] = []
        core = _call_first(lib, _CORENAME_SYMBOLS, ctypes.c_char_p)
        if isinstance(core, bytes) and core:
            details.append(core.decode(errors="replace"))
        threads = _call_first(lib, _THREADS_SYMBOLS, ctypes.c_int)
        if isinstance(threads, int) and threads > 0:
            details.append(f"{threads} threads")
        if details:
            return details
    return []


# The symbol names differ between plain OpenBLAS and the 64-bit-integer builds bundled
# in numpy/scipy wheels.
_CORENAME_SYMBOLS = (
    "scipy_openblas_get_corename64_",
    "scipy_openblas_get_corename",
    "openblas_get_corename64_",
    "openblas_get_corename",
)
_THREADS_SYMBOLS = (
    "scipy_openblas_get_num_threads64_",
    "scipy_openblas_get_num_threads",
    "openblas_get_num_threads64_",
    "openblas_get_num_threads",
)


def _call_first(lib: ctypes.CDLL, names: tuple[str, ...], restype: Any) -> object:
    for name in names:
        fn = getattr(lib, name, None)
        if fn is None:
            continue
        fn.restype = restype
        fn.argtypes = []
        result: object = fn()
        return result
    return None


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
    while True:
        try:
            return _gpu_matmul_tflops_at(torch, device, dtype, n, budget_s)
        except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
            if "out of memory" not in str(exc).lower() or n <= _GPU_MIN_N:
                raise
            _free_cache(torch)
            n //= 2  # a small card: measure at a size that fits


def _gpu_matmul_tflops_at(
    torch: ModuleType, device: Any, dtype: Any, n: int, budget_s: float
) -> float:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    # The tensors are freed when this returns (the closures go with them).

    def once() -> None:
        torch.matmul(a, b, out=out)
        torch.cuda.synchronize(device)

    once()  # warm-up: cuBLAS handle, kernel selection, clocks up
    one = max(_timed(once), 1e-6)
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
