"""Gavel's round mechanism (Narayanan et al., OSDI'20, section 5): from an allocation X
(time fractions per job and GPU model) to the jobs that run in the next round.

Time received is counted from the last time X was recomputed (a "reset"): then every
job starts with half a round of credit on every model, and each model's total is the
sum of its jobs' credits. A job's priority on a model is X[job, model] divided by the
fraction of that model's time it has received since; a job starved of its share has a
high priority. Ties go to the larger deficit (time owed by X over past resets, minus
time received), then the larger X, then the earlier submission.

Each round, the models are walked in a fixed order (heterogeneity-aware policies: the
fastest first) or a seeded shuffle of it (agnostic ones); for each model its jobs are
taken by priority and a job is assigned if it is not yet assigned, can run there, and
its GPUs fit in what the model has left. FIFO policies skip priority 0 (jobs outside
the allocation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from suanli.domain.ids import JobId

HALF_ROUND = 0.5
"""The credit, in rounds, each job starts with on every model at a reset."""
UNSERVED = 1e9
"""Priority factor when a model has run nothing yet (large, but X still orders)."""

Allocation = Mapping[JobId, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class Entry:
    """One job as the mechanism sees it."""

    job_id: JobId
    seq: int
    gpus: int
    rates: Mapping[str, float]
    """Throughput per model; 0 (or missing): cannot run there."""
    run_s: Mapping[str, float]
    """Wall seconds run so far on each model (cumulative)."""


@dataclass(slots=True)
class TimeShares:
    """Time received since the last reset, and deficits carried across resets."""

    round_s: float
    reset_at: datetime | None = None
    allocation: dict[JobId, dict[str, float]] = field(default_factory=dict)
    base: dict[JobId, dict[str, float]] = field(default_factory=dict)
    """Each allocated job's cumulative run time per model at the reset."""
    job_time: dict[JobId, dict[str, float]] = field(default_factory=dict)
    """Credit plus time received since the reset; jobs that left keep their last value,
    so a model's total still counts them until the next reset (as in Gavel)."""
    deficit: dict[tuple[JobId, str], float] = field(default_factory=dict)

    def reset(
        self,
        now: datetime,
        allocation: Allocation,
        entries: Sequence[Entry],
        models: Sequence[str],
    ) -> None:
        """Adopt a new allocation at `now`: settle deficits under the old one, then give
        every job of the new one its starting credit."""
        credit = HALF_ROUND * self.round_s
        if self.reset_at is not None:
            elapsed = (now - self.reset_at).total_seconds()
            present = {e.job_id for e in entries}
            self.deficit = {k: v for k, v in self.deficit.items() if k[0] in present}
            for jid, times in self.job_time.items():
                if jid not in present:
                    continue
                owed = self.allocation.get(jid, {})
                for model in models:
                    received = times.get(model, credit) - credit
                    key = (jid, model)
                    due = owed.get(model, 0.0) * elapsed
                    self.deficit[key] = self.deficit.get(key, 0.0) + due - received
        self.reset_at = now
        self.allocation = {jid: dict(row) for jid, row in allocation.items()}
        self.base = {e.job_id: dict(e.run_s) for e in entries if e.job_id in allocation}
        self.job_time = {jid: dict.fromkeys(models, credit) for jid in self.base}

    def observe(self, entries: Sequence[Entry], models: Sequence[str]) -> None:
        """Count the time the allocated jobs have run since the reset."""
        credit = HALF_ROUND * self.round_s
        for e in entries:
            base = self.base.get(e.job_id)
            if base is None:
                continue
            self.job_time[e.job_id] = {
                m: credit + e.run_s.get(m, 0.0) - base.get(m, 0.0) for m in models
            }

    def priorities(
        self, entries: Sequence[Entry], models: Sequence[str]
    ) -> dict[str, dict[JobId, float]]:
        """Priority of each job on each model (0 outside the allocation or where it
        cannot run)."""
        totals = {m: sum(t.get(m, 0.0) for t in self.job_time.values()) for m in models}
        out: dict[str, dict[JobId, float]] = {m: {} for m in models}
        for e in entries:
            share = self.allocation.get(e.job_id)
            for m in models:
                x = share.get(m, 0.0) if share is not None else 0.0
                if x <= 0 or e.rates.get(m, 0.0) <= 0:
                    out[m][e.job_id] = 0.0
                    continue
                received = self.job_time.get(e.job_id, {}).get(m, 0.0)
                fraction = received / totals[m] if totals[m] > 0 else 0.0
                out[m][e.job_id] = x / fraction if fraction > 0 else x * UNSERVED
        return out


def assign(
    entries: Sequence[Entry],
    models: Sequence[str],
    room: Mapping[str, int],
    shares: TimeShares,
    *,
    skip_zero: bool,
) -> dict[JobId, str]:
    """The jobs to run in the next round and the model each runs on (module doc).
    `models` in the order they are walked; `room` the GPUs each model has."""
    priorities = shares.priorities(entries, models)
    left = {m: room.get(m, 0) for m in models}
    chosen: dict[JobId, str] = {}
    for m in models:
        prio = priorities[m]

        def key(e: Entry, m: str = m, prio: dict[JobId, float] = prio) -> tuple[float, ...]:
            x = shares.allocation.get(e.job_id, {}).get(m, 0.0)
            return (-prio[e.job_id], -shares.deficit.get((e.job_id, m), 0.0), -x, e.seq)

        for e in sorted(entries, key=key):
            if left[m] <= 0:
                break
            if e.job_id in chosen or e.rates.get(m, 0.0) <= 0:
                continue
            if e.job_id not in shares.allocation:
                continue  # arrived since the last reset: waits for the next allocation
            if skip_zero and prio[e.job_id] <= 0:
                continue
            if e.gpus > left[m]:
                continue
            left[m] -= e.gpus
            chosen[e.job_id] = m
    return chosen
