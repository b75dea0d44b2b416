"""Gavel's allocation LPs (Narayanan et al., OSDI'20), solved with HiGHS.

An allocation X is a jobs x GPU-models matrix of time fractions: X[i, j] is the share of
wall time job i should spend on model j. Every LP here shares Gavel's base constraints:

    0 <= X[i, j] <= 1,          X[i, j] = 0 where job i cannot run on model j (T = 0)
    sum_j X[i, j] <= 1          (a job runs on at most one model at a time)
    sum_i s_i X[i, j] <= N_j    (model j has N_j GPUs; job i holds s_i of them)

with T[i, j] the throughput of job i on model j at its size s_i (the scale factor).

- max-min fairness: maximise min_i s_i sum_j T[i, j] X[i, j] / (w_i P_i), where w_i is
  the job's priority weight and P_i = sum_j T[i, j] N_j / N its throughput on an equal
  share of every model (Gavel's "proportional" normalisation: an even split of the
  cluster over the jobs, each row scaled so that no job gets more than all its time;
  whatever the job count, that is N_j / N of each model). The heterogeneity-agnostic
  variant sets every T[i, j] it may run on to 1.
- max-sum throughput: maximise sum_i sum_j T[i, j] X[i, j] / R_i, with R_i = sum_j
  T[i, j] (see `max_sum_allocation` for why the rows are normalised).

Both optima are usually degenerate (many X reach the same objective). Gavel solves
with an interior-point solver (ECOS), whose answer lies inside the optimal face; HiGHS
returns a vertex of it, which would pick among equal jobs arbitrarily. A second stage
fixes the first stage's objective and spends what is left on throughput, and the
agnostic variant splits each job's time over the models in proportion to their sizes
(the symmetric point, which is also where the interior-point answer lies).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linprog
from scipy.sparse import coo_matrix

Matrix = NDArray[np.float64]
Vector = NDArray[np.float64]

_SLACK = 1e-7
"""Relative slack on the first stage's optimum when the second stage holds it."""


def proportional_throughputs(throughputs: Matrix, capacity: Vector) -> Vector:
    """Each job's throughput on an equal share of every model: sum_j T[i, j] N_j / N."""
    total = float(capacity.sum())
    if total <= 0:
        return np.zeros(throughputs.shape[0])
    return np.asarray(throughputs @ (capacity / total), dtype=np.float64)


def _base(
    throughputs: Matrix, scale: Vector, capacity: Vector, extra: int
) -> tuple[list[int], list[int], list[float], list[float], list[tuple[float, float | None]]]:
    """Rows of the base constraints (capacity per model, one model at a time per job)
    over variables X flattened row-major, followed by `extra` more variables; and the
    variables' bounds (X fixed at 0 where the throughput is 0)."""
    m, n = throughputs.shape
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    rhs: list[float] = []
    for j in range(n):
        for i in range(m):
            rows.append(j)
            cols.append(i * n + j)
            vals.append(float(scale[i]))
        rhs.append(float(capacity[j]))
    for i in range(m):
        for j in range(n):
            rows.append(n + i)
            cols.append(i * n + j)
            vals.append(1.0)
        rhs.append(1.0)
    bounds: list[tuple[float, float | None]] = [
        (0.0, 1.0 if throughputs[i, j] > 0 else 0.0) for i in range(m) for j in range(n)
    ]
    bounds += [(0.0, None)] * extra
    return rows, cols, vals, rhs, bounds


def _solve(
    cost: Vector,
    rows: list[int],
    cols: list[int],
    vals: list[float],
    rhs: list[float],
    bounds: list[tuple[float, float | None]],
) -> Vector:
    """Minimise cost . x subject to A x <= rhs and the bounds (HiGHS). The LPs here are
    always feasible (X = 0 is), so a failure is a solver fault."""
    a = coo_matrix((vals, (rows, cols)), shape=(len(rhs), len(cost))).tocsr()
    result = linprog(cost, A_ub=a, b_ub=np.array(rhs), bounds=bounds, method="highs")
    if result.x is None:
        raise RuntimeError(f"HiGHS found no allocation: {result.message}")
    return np.asarray(result.x, dtype=np.float64)


def _fill(
    coefficients: Matrix,
    scale: Vector,
    capacity: Vector,
    floors: Vector,
    throughputs: Matrix,
) -> Matrix:
    """Second stage: maximise sum coefficients . X while job i keeps at least
    floors[i] of its first-stage objective (coefficients . X row i)."""
    m, n = coefficients.shape
    rows, cols, vals, rhs, bounds = _base(throughputs, scale, capacity, 0)
    base = n + m
    for i in range(m):
        for j in range(n):
            if coefficients[i, j]:
                rows.append(base + i)
                cols.append(i * n + j)
                vals.append(-float(coefficients[i, j]))
        rhs.append(-float(floors[i]))
    x = _solve(-coefficients.reshape(-1), rows, cols, vals, rhs, bounds)
    return np.clip(x.reshape(m, n), 0.0, 1.0)


def max_min_allocation(
    throughputs: Matrix,
    scale: Vector,
    weights: Vector,
    capacity: Vector,
    *,
    agnostic: bool = False,
) -> Matrix:
    """Gavel's max-min fairness allocation (module doc): X maximising the least
    normalised, weighted effective throughput. `throughputs` is jobs x models (0: the
    job cannot run there), `scale` each job's GPU count, `weights` its priority weight,
    `capacity` each model's GPU count. `agnostic`: every usable model counts as equally
    fast (Gavel's `max_min_fairness`), and each job's time is split over the models in
    proportion to their sizes."""
    m, n = throughputs.shape
    if m == 0 or n == 0:
        return np.zeros((m, n))
    usable = throughputs > 0
    t = usable.astype(np.float64) if agnostic else throughputs
    prop = proportional_throughputs(t, capacity)
    runnable = prop > 0
    if not runnable.any():
        # no job can run on these models: nothing to share, and z would be unbounded
        return np.zeros((m, n))
    safe = np.where(runnable, prop, 1.0)
    coefficients = t * (scale / (weights * safe))[:, None]
    coefficients[~runnable] = 0.0
    # Stage 1: maximise z subject to z <= coefficients[i] . X[i] for every runnable job.
    rows, cols, vals, rhs, bounds = _base(t, scale, capacity, 1)
    z = m * n
    base = n + m
    k = 0
    for i in range(m):
        if not runnable[i]:
            continue
        rows.append(base + k)
        cols.append(z)
        vals.append(1.0)
        for j in range(n):
            if coefficients[i, j]:
                rows.append(base + k)
                cols.append(i * n + j)
                vals.append(-float(coefficients[i, j]))
        rhs.append(0.0)
        k += 1
    cost = np.zeros(m * n + 1)
    cost[z] = -1.0
    first = _solve(cost, rows, cols, vals, rhs, bounds)
    level = first[z] * (1.0 - _SLACK)
    floors = np.where(runnable, level, 0.0)
    x = _fill(coefficients, scale, capacity, floors, t)
    if agnostic:
        # Equal speeds: only each job's total share matters; spread it over the models
        # in proportion to their sizes (feasible: the per-model loads scale the total).
        share = x.sum(axis=1)
        split = np.where(usable, capacity[None, :], 0.0)
        sums = split.sum(axis=1, keepdims=True)
        x = np.where(sums > 0, share[:, None] * split / np.where(sums > 0, sums, 1.0), 0.0)
    return x


def max_sum_allocation(
    throughputs: Matrix, scale: Vector, capacity: Vector, *, normalize: bool = True
) -> Matrix:
    """Gavel's max-sum-throughput allocation: X maximising sum_i sum_j T[i, j] X[i, j] /
    R_i with R_i = sum_j T[i, j]. Gavel's own `max_sum_throughput_perf` computes this
    normalisation but then sums raw steps/s (`normalize=False` does the same); raw rates
    of different job types are in different units (steps of different models, samples
    of different batch sizes), so their sum favours whichever type counts smaller
    steps."""
    m, n = throughputs.shape
    if m == 0 or n == 0:
        return np.zeros((m, n))
    coefficients = throughputs
    if normalize:
        totals = throughputs.sum(axis=1)
        coefficients = throughputs / np.where(totals > 0, totals, 1.0)[:, None]
    rows, cols, vals, rhs, bounds = _base(throughputs, scale, capacity, 0)
    x = _solve(-coefficients.reshape(-1), rows, cols, vals, rhs, bounds)
    return np.clip(x.reshape(m, n), 0.0, 1.0)
