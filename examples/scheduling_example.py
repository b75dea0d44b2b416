"""The worked example of docs/scheduling.md, computed by the live scheduling cycle.

Two tenants (a university lab and a start-up) share a pool of H100, A100 and T4 clusters
in Beijing, Zhengzhou and Guiyang. Each step submits jobs, runs one cycle of the
"suanli" policy and applies its decisions the way the scheduler service does (admitted
jobs start at once; preempted jobs stop after their grace and are requeued with their
age). Run `python examples/scheduling_example.py` to print the narrative;
tests/unit/test_scheduling_example.py checks the numbers the document quotes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from suanli.domain.geo import LatencyMatrix
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus, PriorityClass
from suanli.domain.quota import Quota, TenantShare, gpu_flavor
from suanli.domain.resources import ZERO, Resources
from suanli.logic.scheduling.cycle import CycleResult, run_cycle
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, RegionView, Snapshot

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
LAB, FIRM = TenantId("lab"), TenantId("firm")

# cluster -> (region, provider, GPU model, nodes, GPUs per node, CNY per GPU-hour)
POOL = {
    "bj-h100": ("beijing", "p-north", "H100", 2, 8, 28.0),
    "zz-a100": ("zhengzhou", "p-central", "A100-80GB", 3, 8, 12.0),
    "zz-t4": ("zhengzhou", "p-central", "T4", 1, 4, 2.5),
    "gy-t4": ("guiyang", "p-west", "T4", 2, 4, 1.8),
}
ENERGY = {"beijing": 0.62, "zhengzhou": 0.55, "guiyang": 0.35}  # CNY per kWh


@dataclass
class Step:
    title: str
    at: datetime
    result: CycleResult
    placed: dict[JobId, str]


@dataclass
class World:
    now: datetime = START
    pending: list[Job] = field(default_factory=list)
    running: dict[JobId, Job] = field(default_factory=dict)
    seq: int = 0
    steps: list[Step] = field(default_factory=list)

    def submit(
        self,
        tenant: TenantId,
        name: str,
        *,
        model: str | None,
        gpus: int = 1,
        count: int = 1,
        gang: int = 1,
        hours: float | None = 2.0,
        priority: PriorityClass = PriorityClass.STANDARD,
        **spec: object,
    ) -> list[JobId]:
        ids = []
        for i in range(count):
            self.seq += 1
            job_id = JobId(f"{name}-{i}" if count > 1 else name)
            js = JobSpec.create(
                command=["python", "run.py"],
                resources=Resources.request(
                    cpus=4, memory_mb=32_768, gpus={model: gpus} if model else None
                ),
                gang_size=gang,
                time_limit_s=int(hours * 3600) if hours else None,
                priority_class=priority,
                **spec,  # type: ignore[arg-type]
            )
            self.pending.append(
                Job(
                    job_id,
                    tenant,
                    UserId(str(tenant)),
                    js,
                    JobStatus.PENDING,
                    self.now,
                    seq=self.seq,
                )
            )
            ids.append(job_id)
        return ids

    def snapshot(self) -> Snapshot:
        used: dict[tuple[str, str], Resources] = {}
        for job in self.running.values():
            for p in job.placed():
                key = (job.cluster_id or "", p.node_id)
                used[key] = used.get(key, ZERO) + p.allocation
        clusters = []
        for cid, (region, provider, model, nodes, per_node, price) in POOL.items():
            views = []
            for n in range(nodes):
                cap = Resources(64_000, 512_000, {model: per_node})
                views.append(
                    NodeView(
                        ClusterId(cid), NodeId(f"n{n}"), cap, cap - used.get((cid, f"n{n}"), ZERO)
                    )
                )
            clusters.append(
                ClusterView(
                    ClusterId(cid),
                    RegionId(region),
                    ProviderId(provider),
                    "slurm",
                    tuple(views),
                    gpu_hour_price=price,
                )
            )
        return Snapshot(
            self.now,
            tuple(clusters),
            tuple(sorted(self.pending, key=lambda j: j.seq)),
            tuple(self.running.values()),
            shares={
                LAB: TenantShare(LAB, 1.0, "city"),
                FIRM: TenantShare(FIRM, 1.0, "city"),
            },
            quotas=(
                Quota(LAB, gpu_flavor("H100"), 8),
                Quota(FIRM, gpu_flavor("H100"), 8),
                Quota(LAB, gpu_flavor("A100-80GB"), 24),
                Quota(FIRM, gpu_flavor("A100-80GB"), 24),
                Quota(LAB, gpu_flavor("T4"), 12),
                Quota(FIRM, gpu_flavor("T4"), 12),
            ),
            regions={
                RegionId(r): RegionView(RegionId(r), energy_price=e) for r, e in ENERGY.items()
            },
            latency=LatencyMatrix(region_places={r: r for r in ENERGY}),
        )

    def cycle(self, title: str) -> Step:
        result = run_cycle(self.snapshot(), get_policy("suanli"))
        placed: dict[JobId, str] = {}
        by_id = {j.id: j for j in self.pending}
        for a in result.admitted:
            job = by_id[a.job_id]
            self.pending.remove(job)
            self.running[job.id] = replace(
                job,
                status=JobStatus.RUNNING,
                cluster_id=a.cluster_id,
                node_id=a.node_id,
                allocation=a.allocation,
                placements=a.placements if len(a.placements) > 1 else (),
                started_at=self.now,
            )
            nodes = "+".join(p.node_id for p in a.placements)
            placed[job.id] = f"{a.cluster_id}/{nodes}" + (" (borrowed)" if a.borrowing else "")
        for p in result.preemptions:
            for v in p.victims:
                self.running[v] = replace(self.running[v], preempt_requested=True)
        for w in result.waiting:
            by_id[w.job_id] = replace(by_id[w.job_id], reason=w.reason)
        self.pending = [by_id[j.id] for j in self.pending]
        step = Step(title, self.now, result, placed)
        self.steps.append(step)
        return step

    def advance(self, minutes: float) -> None:
        """Time passes: jobs past their time limit end, preempted jobs stop and requeue."""
        self.now += timedelta(minutes=minutes)
        for job in list(self.running.values()):
            limit = job.spec.time_limit_s
            started = job.started_at or self.now
            if job.preempt_requested:
                del self.running[job.id]
                self.pending.append(
                    replace(
                        job,
                        status=JobStatus.PENDING,
                        cluster_id=None,
                        node_id=None,
                        allocation=None,
                        placements=(),
                        preempt_requested=False,
                        started_at=None,
                        reason="Preempted; requeued with its age.",
                    )
                )
            elif limit is not None and started + timedelta(seconds=limit) <= self.now:
                del self.running[job.id]

    def held(self, tenant: TenantId, model: str) -> int:
        return sum(
            (j.allocation or ZERO).gpus.get(model, 0)
            for j in self.running.values()
            if j.tenant_id == tenant
        )


def run() -> World:
    w = World()
    # 1. borrowing: the firm queues 16 one-H100 jobs; its quota is 8, the lab lends its 8.
    # Both also start A100 work: the firm a notebook without time limit, the lab a sweep.
    w.submit(FIRM, "firm-train", model="H100", count=16, hours=3)
    w.submit(FIRM, "firm-notebook", model="A100-80GB", gpus=8, hours=None)
    w.submit(LAB, "lab-sweep", model="A100-80GB", count=4, hours=1)
    w.cycle("1. The firm borrows the lab's idle H100 quota")
    # 2. reclaim: the lab comes back within its nominal quota and takes it back
    w.advance(10)
    w.submit(LAB, "lab-train", model="H100", gpus=2, count=4, hours=2)
    w.cycle("2. The lab reclaims its quota: borrowed jobs are preempted")
    w.advance(1)
    w.cycle("3. After the grace period the lab's jobs start")
    # 4. backfill: a 2 x 8 A100 gang cannot start; short work backfills around it
    w.advance(5)
    w.submit(LAB, "lab-gang", model="A100-80GB", gpus=8, gang=2, hours=4)
    w.submit(FIRM, "firm-long", model="A100-80GB", gpus=4, hours=None)
    w.submit(FIRM, "firm-short", model="A100-80GB", gpus=4, hours=0.5)
    w.cycle("4. EASY backfill around the gang's reservation")
    # 5. latency-bound inference services, clients in Zhengzhou
    w.advance(1)
    w.submit(
        FIRM,
        "chat",
        model="T4",
        count=2,
        hours=None,
        service="chat",
        client_region="zhengzhou",
        latency_slo_ms=15.0,
    )
    w.submit(
        LAB,
        "ocr",
        model="T4",
        count=2,
        hours=None,
        service="ocr",
        client_region="zhengzhou",
        latency_slo_ms=30.0,
    )
    w.cycle("5. Inference replicas go only where the SLO holds")
    # 6. fair share: both queue eight one-T4 jobs for the 8 T4s left
    w.advance(1)
    w.submit(FIRM, "firm-eval", model="T4", count=8, hours=1)
    w.submit(LAB, "lab-eval", model="T4", count=8, hours=1)
    w.cycle("6. Fair share (DRF in standard units) splits the contended T4s")
    return w


def main() -> None:
    w = run()
    for step in w.steps:
        print(f"\n## {step.title} ({step.at:%H:%M} UTC)")
        for job_id, where in step.placed.items():
            print(f"  admitted  {job_id:<14} -> {where}")
        for p in step.result.preemptions:
            print(f"  preempt   {', '.join(p.victims)} for {p.job_id}")
        by_reason: dict[str, list[str]] = {}
        for wait in step.result.waiting:
            by_reason.setdefault(wait.reason, []).append(wait.job_id)
        for reason, ids in by_reason.items():
            who = ids[0] if len(ids) == 1 else f"{ids[0]} (+{len(ids) - 1} alike)"
            print(f"  waiting   {who}: {reason}")
        if step.result.reservation:
            r = step.result.reservation
            print(f"  reserved  {r.job_id} on {r.cluster_id} at {r.start:%H:%M} UTC")
    print(f"\nH100 held: lab {w.held(LAB, 'H100')}, firm {w.held(FIRM, 'H100')}")
    print(f"A100 held: lab {w.held(LAB, 'A100-80GB')}, firm {w.held(FIRM, 'A100-80GB')}")
    print(f"T4 held: lab {w.held(LAB, 'T4')}, firm {w.held(FIRM, 'T4')}")


if __name__ == "__main__":
    main()
