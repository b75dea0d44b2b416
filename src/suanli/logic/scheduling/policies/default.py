"""suanli's default policy ("suanli"): fair, quota-aware, gang, backfill, preemption,
placement by speed, price, latency, reliability and energy.

For each job, in fair-share order (fairshare.py):
1. filter the clusters that may run it (placement.py); none: wait, naming the closest miss;
2. keep the candidates whose GPU model its tenant's quota allows (quota.py); none: wait
   with the quota reason, or reclaim lent quota by preemption;
3. if the same shape already failed this cycle, wait with the same reason (capacity only
   shrinks within a cycle; this keeps a cycle over 100,000 unfit jobs fast);
4. try the candidates best first (score, user's region order); the first that holds the
   whole gang admits it;
5. otherwise preempt lower-priority jobs if its class allows, else reserve the earliest
   start for it if no job holds the reservation yet (EASY backfill), else wait.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from suanli.domain.ids import ClusterId, JobId
from suanli.domain.jobs import Job, JobSpec, Placement, PriorityClass
from suanli.domain.quota import flavors_of, member_flavors
from suanli.domain.resources import Resources
from suanli.logic.scheduling import goodput_plan
from suanli.logic.scheduling.backfill import Reservation, earliest_start, limits_for
from suanli.logic.scheduling.decisions import Admit, Decision, Preempt, Wait
from suanli.logic.scheduling.elastic import (
    RESTART_ESTIMATE_S,
    Resize,
    Target,
    members_for,
    rebalance,
    sizes_to_try,
)
from suanli.logic.scheduling.fairshare import CLASS_RANK, FairQueue
from suanli.logic.scheduling.placement import Candidate, PlacementMemo, filter_key
from suanli.logic.scheduling.preemption import (
    VictimPlan,
    plan_victims,
    uses_model,
    victim_ids,
    victim_pool,
)
from suanli.logic.scheduling.snapshot import Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings

MAX_KEYS = 100_000
RESERVATION_CANDIDATES = 4
"""How many of a head job's best candidates a reservation is sought on."""


def _pool(
    state: CycleState, may_preempt: Callable[[Job], bool], cid: ClusterId, model: str
) -> list[Job]:
    held = state.holding.get(cid, {}).values()
    return victim_pool(held, lambda j: may_preempt(j) and uses_model(j, model))


def _request_text(job: Job, member: Resources) -> str:
    gpus = ", ".join(f"{n} x {m}" for m, n in member.gpus.items()) or f"{member.cpus:g} CPUs"
    return f"{job.spec.gang_size} x ({gpus})" if job.spec.gang_size > 1 else gpus


@dataclass(frozen=True, slots=True)
class _Allowed:
    """The candidates a job's quota allows, the key its shape is memoised under this
    cycle, and which candidates borrow from the cohort (by `id` of the candidate)."""

    candidates: list[Candidate]
    memo_key: tuple[object, ...]
    borrowing: dict[int, bool]


class SuanliPolicy:
    name = "suanli"
    append_only = False
    round_s: float | None = None

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings
        self.memo = PlacementMemo()
        self._keys: dict[JobId, tuple[JobSpec, int]] = {}
        self._shapes: dict[tuple[object, ...], int] = {}
        self._targets: dict[JobId, Target] = {}
        """Resized elastic jobs: where to admit them again (elastic.grow)."""
        self._plan: dict[JobId, goodput_plan.Slot | None] = {}
        """This cycle's joint plan of elastic jobs whose speed is known (goodput_plan)."""

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        self._plan = self._joint_plan(snapshot, state)
        return FairQueue(snapshot, state.fair)

    def _joint_plan(
        self, snapshot: Snapshot, state: CycleState
    ) -> dict[JobId, goodput_plan.Slot | None]:
        """The joint plan when some elastic job's speed is known (goodput_plan), over
        the running elastic jobs that may be resized now; empty otherwise."""
        if not goodput_plan.active(snapshot):
            return {}
        cooldown = min(self.settings.resize_cooldown_s, goodput_plan.RESIZE_GAP_S)
        pacing = Resize(self.settings.preemption_grace_s, cooldown, self._targets)
        resizable: set[JobId] = set()
        if self.settings.preemption:
            for job in snapshot.running:
                if (
                    job.spec.elastic
                    and not job.preempt_requested
                    and not pacing.cooling(job.id, snapshot.now)
                ):
                    resizable.add(job.id)
        resuming = {
            j.id: goodput_plan.Slot(t.cluster_id, t.model, t.members)
            for j in snapshot.queue
            if (t := self._targets.get(j.id)) is not None
            and t.at >= snapshot.now - timedelta(seconds=cooldown)
        }
        restart = self.settings.preemption_grace_s + RESTART_ESTIMATE_S
        return goodput_plan.plan(snapshot, state, resizable, resuming, restart)

    def _shape(self, job: Job) -> int:
        """A small number for the job's `filter_key`, kept per job across cycles (a job's
        spec never changes): memo keys of ints hash fast, which matters 100,000 times a
        cycle."""
        found = self._keys.get(job.id)
        if found is None or found[0] is not job.spec:
            if len(self._keys) > 4 * MAX_KEYS:
                self._keys.clear()  # forget jobs long gone; cheap to rebuild
            key = filter_key(job)
            shape = self._shapes.get(key)
            if shape is None:
                shape = self._shapes[key] = len(self._shapes)
            found = self._keys[job.id] = (job.spec, shape)
        return found[1]

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        """Filter, quota (or reclaim), place; when it does not fit now: preempt, reserve
        for backfill, or wait with the reason."""
        fkey = self._shape(job)
        candidates, why_not = state.placer.candidates_for(fkey, job)
        if not candidates:
            return Wait(job.id, why_not)
        long = state.is_long(job)
        allowed = self._within_quota(job, candidates, fkey, long, state)
        if not isinstance(allowed, _Allowed):
            return allowed
        if job.id in self._plan:
            return self._planned(job, allowed, snapshot, state, long)
        failed = state.failed.get(allowed.memo_key)
        if failed is None:
            admit = self._admit(job, allowed, snapshot, state, long)
            if admit is not None:
                return admit
        return self._does_not_fit(job, allowed, failed, state, long)

    def _within_quota(
        self,
        job: Job,
        candidates: list[Candidate],
        fkey: Hashable,
        long: bool,
        state: CycleState,
    ) -> _Allowed | Decision:
        """The candidates the tenant's quota allows (with whether each borrows), or the
        decision when none does: reclaim lent quota by preemption, or wait."""
        if not state.quota.limited(job.tenant_id):
            # the fast path of a long queue: no per-candidate work before the memo
            return _Allowed(candidates, (fkey, long), {})
        gang = job.spec.gang_size
        allowed: list[Candidate] = []
        borrowing: dict[int, bool] = {}
        quota_reason = ""
        reclaim: list[Candidate] = []
        for cand in candidates:
            check = state.quota.check(job.tenant_id, member_flavors(cand.member, gang))
            if check.ok:
                borrowing[id(cand)] = check.borrowing
                allowed.append(cand)
            else:
                quota_reason = quota_reason or check.reason
                if check.reclaimable:
                    reclaim.append(cand)
        if allowed:
            memo_key = (fkey, tuple((c.cluster.id, c.model) for c in allowed), long)
            return _Allowed(allowed, memo_key, borrowing)
        if reclaim and self._may_preempt(state):
            plan = self._reclaim(job, reclaim, state)
            if plan is not None:
                return plan
            quota_reason += (
                " No borrowed job can be preempted where this job may run (its "
                "placement constraints exclude the clusters they use); it starts when "
                "they end."
            )
        return Wait(job.id, quota_reason)

    def _may_preempt(self, state: CycleState) -> bool:
        return (
            self.settings.preemption and state.preemptions < self.settings.max_preemptions_per_cycle
        )

    def _admit(
        self, job: Job, allowed: _Allowed, snapshot: Snapshot, state: CycleState, long: bool
    ) -> Admit | None:
        """The best-ranked candidate that holds the job now, if any."""
        # rank only what could hold the gang now (a full pool rejects most at once)
        least = job.spec.gang_range[0]
        viable = [
            c
            for c in allowed.candidates
            if state.capacity.could_hold_now(c.cluster.id, c.member, least)
        ]
        ranked = state.placer.rank(job, viable) if viable else []
        target = self._targets.get(job.id)
        if target is not None:
            # a resized job goes where its resize counted on, if it still can
            ranked.sort(key=lambda c: (c.cluster.id, c.model) != (target.cluster_id, target.model))
        for cand in ranked:
            placed = self._place(job, cand, snapshot, state, long)
            if placed is not None:
                borrows = allowed.borrowing.get(id(cand), False)
                return Admit(job.id, cand.cluster.id, placed, borrows)
        return None

    def _planned(
        self, job: Job, allowed: _Allowed, snapshot: Snapshot, state: CycleState, long: bool
    ) -> Decision:
        """Admit the job at its slot in the joint plan, or say why it waits."""
        slot = self._plan[job.id]
        if slot is None:
            # an elastic job the plan sizes waits for its turn in the plan: a backfill
            # reservation would hold GPUs the plan gave another job (one being resized)
            progress = snapshot.progress.get(job.id)
            sized = job.spec.elastic and progress is not None and bool(progress.scaling)
            return self._does_not_fit(job, allowed, None, state, long, reserve=not sized)
        for cand in allowed.candidates:
            if (cand.cluster.id, cand.model) != (slot.cluster_id, slot.model):
                continue
            placed = state.capacity.place(
                cand.cluster.id, cand.member, slot.members, spread=self.settings.spread, long=long
            )
            if placed is not None:
                borrows = allowed.borrowing.get(id(cand), False)
                return Admit(job.id, cand.cluster.id, placed, borrows)
        return Wait(
            job.id,
            f"Planned to start on {slot.cluster_id} as {slot.members} x {slot.model} when "
            "the GPUs that jobs being resized give back are free.",
        )

    def _does_not_fit(
        self,
        job: Job,
        allowed: _Allowed,
        failed: str | None,
        state: CycleState,
        long: bool,
        *,
        reserve: bool = True,
    ) -> Decision:
        """It does not fit now: preempt lower classes, else reserve the head's start for
        backfill (unless not `reserve`), else wait (held back by the reservation, or
        busy)."""
        memo_key, candidates = allowed.memo_key, allowed.candidates
        no_plan_key = (memo_key, job.spec.priority_class)
        if (
            self._may_preempt(state)
            and job.spec.priority_class is not PriorityClass.PREEMPTIBLE
            and no_plan_key not in state.no_plan
        ):
            plan = self._preempt_lower(job, candidates, state)
            if plan is not None:
                return plan
            state.no_plan.add(no_plan_key)
        if failed is None:
            failed = self._busy_reason(job, candidates, state)
            state.failed[memo_key] = failed
        if (
            reserve
            and self.settings.backfill
            and state.reservation is None
            and memo_key not in state.unreservable
        ):
            reserved = self._reserve(job, candidates, state)
            if reserved is not None:
                return reserved
            state.unreservable.add(memo_key)
        if long and state.reservation is not None:
            held = state.held.get(memo_key, "")
            if held == "":
                # only the reason depends on it; capacity only shrinks within a cycle
                held = state.held[memo_key] = self._held_back(job, candidates, state)
            if held is not None:
                return Wait(job.id, held)
        return Wait(job.id, f"{failed} {self._ahead(state)}")

    def _place(
        self, job: Job, cand: Candidate, snapshot: Snapshot, state: CycleState, long: bool
    ) -> tuple[Placement, ...] | None:
        """The gang's placements on `cand`; an elastic job at the size `elastic.py`
        chooses, or smaller down to its minimum."""
        first = members_for(job, cand, snapshot, state, self._targets.get(job.id))
        for members in sizes_to_try(job, first):
            placed = state.capacity.place(
                cand.cluster.id, cand.member, members, spread=self.settings.spread, long=long
            )
            if placed is not None:
                return placed
        return None

    def rebalance(
        self, snapshot: Snapshot, state: CycleState, waiting: Sequence[JobId]
    ) -> list[Preempt]:
        """Resize running elastic jobs (elastic.rebalance)."""
        if not self.settings.preemption:
            return []
        if len(self._targets) > MAX_KEYS:
            horizon = snapshot.now - timedelta(seconds=self.settings.resize_cooldown_s)
            self._targets = {k: t for k, t in self._targets.items() if t.at >= horizon}
        if self._plan:
            return self._resize_to_plan(snapshot)
        return rebalance(snapshot, state, waiting, self._targets)

    def _resize_to_plan(self, snapshot: Snapshot) -> list[Preempt]:
        """Stop the running jobs whose slot in the joint plan differs from what they
        hold, to be admitted again at it."""
        out: list[Preempt] = []
        grace = self.settings.preemption_grace_s
        for job in snapshot.running:
            slot = self._plan.get(job.id)
            held = goodput_plan.held(job)
            if slot is None or held is None or slot == held or job.cluster_id is None:
                continue
            self._targets[job.id] = Target(slot.cluster_id, slot.model, slot.members, snapshot.now)
            verb = "Growing" if slot.members > held.members else "Resizing"
            out.append(
                Preempt(
                    job.id,
                    job.cluster_id,
                    (job.id,),
                    f"{verb} elastic job from {held.members} x {held.model} on "
                    f"{held.cluster_id} to {slot.members} x {slot.model} on {slot.cluster_id} "
                    "(the joint plan of elastic jobs: it finishes sooner, or other jobs "
                    "wait for the GPUs); it restarts from its checkpoint.",
                    grace,
                )
            )
        return out

    @staticmethod
    def _held_back(job: Job, allowed: Sequence[Candidate], state: CycleState) -> str | None:
        """If only the reservation keeps the job from starting, say so and how to
        backfill."""
        reservation = state.reservation
        assert reservation is not None
        for cand in allowed:
            if state.capacity.place(cand.cluster.id, cand.member, job.spec.gang_size, long=False):
                minutes = int((reservation.start - state.now).total_seconds() // 60)
                return (
                    f"Held back by backfill: it fits on {cand.cluster.id} now, but would "
                    f"delay job {reservation.job_id}, reserved to start there at "
                    f"{reservation.start:%H:%M} UTC. With a time limit under {minutes} min "
                    "it could start now."
                )
        return None

    # -- waiting -------------------------------------------------------------------------

    @staticmethod
    def _ahead(state: CycleState) -> str:
        if state.position == 0:
            return "It is first in line."
        return (
            f"{state.position} jobs were considered before it this cycle (priority class, "
            "then fair share across tenants, then age)."
        )

    @staticmethod
    def _busy_reason(job: Job, allowed: Sequence[Candidate], state: CycleState) -> str:
        gang = job.spec.gang_size
        request = _request_text(job, allowed[0].member)
        if gang > 1:
            fit, best = max(
                ((state.capacity.members_now(c.cluster.id, c.member), c) for c in allowed),
                key=lambda t: t[0],
            )
            return (
                f"Waiting for its gang: {request} must start together in one cluster; at "
                f"most {min(fit, gang - 1)} of {gang} members fit now (best: "
                f"{best.cluster.id})."
            )
        return (
            f"Waiting for resources: every node that can run {request} is busy "
            f"({len(allowed)} candidate cluster/model pairs)."
        )

    # -- backfill ------------------------------------------------------------------------

    def _reserve(self, job: Job, allowed: Sequence[Candidate], state: CycleState) -> Wait | None:
        best: tuple[Reservation, str] | None = None
        # the best-ranked candidates only: each costs a search over its holders' ends
        for cand in state.placer.rank(job, list(allowed))[:RESERVATION_CANDIDATES]:
            found = earliest_start(
                cand.cluster.id,
                state.keys_of(cand.cluster.id),
                state.capacity.free,
                state.releases(cand.cluster.id),
                cand.member,
                job.spec.gang_size,
                state.now,
            )
            if found is None:
                continue
            start, placements, free_at = found
            if best is None or start < best[0].start:
                limits = limits_for(cand.cluster.id, placements, free_at)
                best = (Reservation(job.id, cand.cluster.id, start, placements, limits), cand.model)
        if best is None:
            return None
        reservation, _ = best
        state.reserve(reservation)
        wait_s = max(0, int((reservation.start - state.now).total_seconds()))
        return Wait(
            job.id,
            f"Next to start: reserved on {reservation.cluster_id} at "
            f"{reservation.start:%Y-%m-%d %H:%M} UTC (in {timedelta(seconds=wait_s)}) at the "
            "latest, when running jobs reach their time limits; shorter jobs backfill "
            "around it without delaying it.",
        )

    # -- preemption ----------------------------------------------------------------------

    def _preempt_lower(
        self, job: Job, allowed: Sequence[Candidate], state: CycleState
    ) -> Preempt | Wait | None:
        rank = CLASS_RANK[job.spec.priority_class]
        plan = plan_victims(
            allowed,
            job.spec.gang_size,
            state.capacity,
            state.stopping,
            lambda cid, model: state.lower_than(cid, rank, model),
            claimed=state.claimed,
        )
        return self._carry_out(job, plan, "lower-priority", state)

    def _reclaim(
        self, job: Job, reclaim: Sequence[Candidate], state: CycleState
    ) -> Preempt | Wait | None:
        cohort = state.quota.cohort_of(job.tenant_id)
        tally = state.quota
        gang = job.spec.gang_size

        for cand in reclaim:
            flavors = member_flavors(cand.member, gang)

            def borrower(victim: Job, flavors: dict[str, int] = flavors) -> bool:
                return (
                    victim.tenant_id != job.tenant_id
                    and tally.cohort_of(victim.tenant_id) == cohort
                    and any(tally.borrowed(victim.tenant_id, f) > 0 for f in flavors)
                    and any(f in flavors for p in victim.placed() for f in flavors_of(p.allocation))
                )

            def frees_quota(victims: Sequence[Job], flavors: dict[str, int] = flavors) -> bool:
                given = [(v.tenant_id, flavors_of(v.allocation or Resources())) for v in victims]
                for tenant, amount in given:
                    tally.give(tenant, amount)
                try:
                    return tally.check(job.tenant_id, flavors).ok
                finally:
                    for tenant, amount in given:
                        tally.take(tenant, amount)

            plan = plan_victims(
                [cand],
                gang,
                state.capacity,
                state.stopping,
                partial(_pool, state, borrower),
                frees_quota,
                state.claimed,
            )
            done = self._carry_out(job, plan, f"borrowing (cohort {cohort!r})", state)
            if done is not None:
                return done
        return None

    def _carry_out(
        self, job: Job, plan: VictimPlan | None, kind: str, state: CycleState
    ) -> Preempt | Wait | None:
        if plan is None:
            return None
        grace = self.settings.preemption_grace_s
        state.claimed.update(j.id for j in plan.stopping)
        # what is free on those nodes now is counted on too: keep it from the jobs after
        # this one (each cycle, until the victims have stopped)
        state.capacity.hold(plan.nodes)
        if not plan.victims:
            return Wait(
                job.id,
                f"Waiting for {len(plan.stopping)} preempted job(s) on {plan.cluster_id} to "
                f"stop (grace {grace:g} s); it starts when they do.",
            )
        # what the victims hold is spoken for: keep it from others in later cycles by
        # marking them; within this cycle it is not free anyway
        state.drop_holders(plan.cluster_id, {v.id for v in plan.victims})
        state.preemptions += 1
        return Preempt(
            job.id,
            plan.cluster_id,
            victim_ids(plan),
            f"Preempting {len(plan.victims)} {kind} job(s) on {plan.cluster_id} (grace "
            f"{grace:g} s, then kill); it starts when they stop.",
            grace,
        )
