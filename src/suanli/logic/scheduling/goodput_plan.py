"""Joint sizing of elastic jobs whose speed is known: the default policy's plan.

When the snapshot knows how fast elastic jobs run by GPU model and count
(`JobProgress.scaling`: goodput jobs in the simulator, measured profiles live), the
default policy sizes them together at every cycle instead of one at a time. The plan
gives each job a slot (cluster, GPU model, members) or none:

1. Order: priority class, then highest response ratio (`fairshare.response_ratio`: short
   remaining work first, waiting lifts a long job until it goes).
2. Admit: running jobs (and jobs just stopped to be resized) keep what they hold; then
   each waiting job in order gets its least size where it would finish soonest, on free
   GPUs or on GPUs that jobs planned past their least size give back (the job losing
   least per GPU first). No job is suspended to start another: the plan only resizes.
   Rigid jobs (no scaling known) get their gang as asked, where it fits. When more jobs
   wait than GPUs are free, a newcomer may take instead the GPUs of a planned job of
   the same size on a slower model that speeds up far more (relatively) on the
   newcomer's model, which moves there (`_swap`).
3. Grow: the GPUs left go, one step at a time, to the elastic job whose finish improves
   most per GPU added (`_value`): a larger size where it is planned, or a move to another
   (cluster, model) with room. A size other than what a running job holds costs a
   restart (`restart_s`) in its estimate, so small gains restart nobody. Each GPU must do
   at least `MIN_EFFICIENCY` of the per-GPU work of the job's least size, and sizes are
   those a node packs (powers of two below a node, then whole nodes).

The policy carries the plan out: waiting jobs are admitted at their slots, running jobs
whose slot differs are stopped at a checkpoint and admitted again at it
(`SuanliPolicy.rebalance`). docs/results.md says what each part was worth on the Sia
workloads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from suanli.domain.ids import ClusterId, JobId
from suanli.domain.jobs import Job
from suanli.domain.pool import Capability
from suanli.logic.scheduling.fairshare import CLASS_RANK, response_ratio
from suanli.logic.scheduling.snapshot import JobProgress, Snapshot, rate_at
from suanli.logic.scheduling.state import CycleState

Key = tuple[ClusterId, str]

MIN_EFFICIENCY = 0.25
"""A size is planned only if each GPU does at least this share of the per-GPU work of
the job's least size (elastic.py's one-job path asks 0.5; the plan weighs every GPU's
worth against other jobs' anyway, so it needs the floor only against waste)."""
RESIZE_GAP_S = 60.0
"""Least time between two resizes of one job by the plan (or the settings'
`resize_cooldown_s`, if shorter): the restart cost in the plan's estimates keeps it from
thrashing, so it needs no longer pacing."""
MAX_PLANNED = 2_000
"""Jobs a plan considers, best first: more could not each get a GPU in any pool this
serves, and the plan's cost grows with them."""


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a job runs in the plan and how large."""

    cluster_id: ClusterId
    model: str
    members: int


@dataclass(slots=True)
class _Item:
    job: Job
    per: int
    """GPUs per member."""
    low: int
    high: int
    """Least and most members."""
    remaining: float | None
    """Work left (None: rigid, sized as asked)."""
    scaling: Mapping[str, Mapping[int, float]]
    keys: list[Key]
    """Where it may run, best first."""
    gangs: set[Key]
    """Of those, where it may start more than one member."""
    held: Slot | None
    """What it holds now (running jobs)."""
    restart_s: float
    """What a size other than `held` costs it."""
    age_s: float = 0.0
    """Time since it was submitted."""
    slot: Slot | None = None


def active(snapshot: Snapshot) -> bool:
    """True when some elastic job's speed is known: the plan has something to decide."""
    jobs = (*snapshot.queue, *snapshot.running)
    return any(
        j.spec.elastic and (p := snapshot.progress.get(j.id)) is not None and bool(p.scaling)
        for j in jobs
    )


def plan(
    snapshot: Snapshot,
    state: CycleState,
    resizable: set[JobId],
    resuming: Mapping[JobId, Slot],
    restart_s: float,
) -> dict[JobId, Slot | None]:
    """Slots for the waiting jobs and the `resizable` running ones (see the module doc);
    GPUs held by other running jobs are not planned over. `resuming`: waiting jobs just
    stopped to be resized, with the slot they were resized to; they are planned with the
    running ones, as if they held it."""
    room = _room(snapshot, state, resizable)
    items = _items(snapshot, state, resizable, resuming, restart_s)
    per_node = _per_node(snapshot)
    _admit(items, room, per_node)
    _grow(items, room, per_node)
    return {it.job.id: it.slot for it in items}


def _room(snapshot: Snapshot, state: CycleState, resizable: set[JobId]) -> dict[Key, int]:
    """GPUs to plan over on each (cluster, model): what is free, plus what the resizable
    running jobs hold."""
    room: dict[Key, int] = {}
    for cluster in snapshot.clusters:
        for model in {m for n in cluster.nodes for m in n.capacity.gpus}:
            room[(cluster.id, model)] = state.capacity.free_devices(cluster.id, model)
    for job in snapshot.running:
        if job.id in resizable and job.allocation is not None and job.cluster_id is not None:
            for model, n in job.allocation.gpus.items():
                key = (job.cluster_id, model)
                room[key] = room.get(key, 0) + n
    return room


def held(job: Job) -> Slot | None:
    """The slot a running job holds (None when it holds no GPUs)."""
    if job.allocation is None or job.cluster_id is None or not job.allocation.gpus:
        return None
    model, gpus = next(iter(job.allocation.gpus.items()))
    per = max(job.spec.resources.gpu_count, 1)
    return Slot(job.cluster_id, model, gpus // per)


def _items(
    snapshot: Snapshot,
    state: CycleState,
    resizable: set[JobId],
    resuming: Mapping[JobId, Slot],
    restart_s: float,
) -> list[_Item]:
    """The jobs to plan, in plan order: running (and resuming) ones first, then priority
    class and highest response ratio (oldest first among equals)."""
    now = snapshot.now
    running = [j for j in snapshot.running if j.id in resizable]
    running += [j for j in snapshot.queue if j.id in resuming]
    waiting = [j for j in snapshot.queue if j.spec.resources.gpu_count > 0 and j.id not in resuming]
    waiting.sort(
        key=lambda j: (
            CLASS_RANK[j.spec.priority_class],
            -response_ratio(j, snapshot, now),
            j.seq,
        )
    )
    out: list[_Item] = []
    for job in [*running, *waiting][:MAX_PLANNED]:
        candidates, _ = state.placer.candidates(job)
        if not candidates:
            continue
        progress = snapshot.progress.get(job.id) or JobProgress()
        elastic = job.spec.elastic and bool(progress.scaling)
        low, high = job.spec.gang_range if elastic else (job.spec.gang_size,) * 2
        out.append(
            _Item(
                job,
                max(job.spec.resources.gpu_count, 1),
                low,
                high,
                progress.remaining_work if elastic else None,
                progress.scaling,
                [(c.cluster.id, c.model) for c in state.placer.rank(job, candidates)],
                {(c.cluster.id, c.model) for c in candidates if c.cluster.can(Capability.GANG)},
                resuming.get(job.id) or held(job),
                restart_s,
                max(0.0, (now - job.submitted_at).total_seconds()),
            )
        )
    return out


def _rate(item: _Item, model: str, members: int) -> float:
    points = item.scaling.get(model)
    return rate_at(points, members * item.per) if points else 0.0


def _admit(items: Sequence[_Item], room: dict[Key, int], per_node: Mapping[Key, int]) -> None:
    """Running (and resuming) jobs keep what they hold; then each waiting job in order
    gets its least size where it would finish soonest, on free GPUs or on GPUs that jobs
    grown past their least size give back (the one that loses least per GPU first)."""
    for it in items:
        if it.held is None:
            continue
        key = (it.held.cluster_id, it.held.model)
        if room.get(key, 0) >= it.held.members * it.per:
            it.slot = it.held
            room[key] -= it.held.members * it.per
    # More jobs wait than GPUs are free: every GPU will be taken, and what is left to
    # decide is who runs on which model.
    deep = sum(1 for it in items if it.held is None) > sum(room.values())
    for it in items:
        if it.held is not None and it.slot is not None:
            continue
        need = it.low * it.per
        keys = [k for k in it.keys if it.low == 1 or k in it.gangs]
        if it.remaining is not None:
            keys.sort(key=lambda k: -_rate(it, k[1], it.low))
        fits = [k for k in keys if room.get(k, 0) >= need]
        found = fits[0] if fits else _free_up(it, keys, items, room, per_node)
        if found is None:
            continue
        if deep and it.remaining is not None:
            found = _swap(it, found, items, room) or found
        it.slot = Slot(found[0], found[1], it.low)
        room[found] -= need


SWAP_GAIN = 3.0
"""Under a deep queue, a planned job moves to the faster model a newcomer would take,
and the newcomer takes its GPUs, when the mover's relative speed-up there (restart
included) is more than this many times the newcomer's relative slow-down. Long jobs
stuck on slow GPUs while short ones cycle through the fast ones set the tail under
heavy load (Gavel's and Sia's point: give each model to the jobs it speeds up most).
3 and 4 measured alike; 1.5 cost the average on the heavy workloads."""


def _swap(it: _Item, fast: Key, items: Sequence[_Item], room: dict[Key, int]) -> Key | None:
    """Where `it` should start instead of `fast`, its fastest key with room: the key of
    the planned elastic job of the same GPU count that gains most, relative to its time,
    by moving to `fast` (which it then takes), if that gain is more than `SWAP_GAIN`
    times `it`'s relative loss there; None to keep `fast`."""
    need = it.low * it.per
    here = _finish_s(it, Slot(*fast, it.low))
    best: tuple[float, _Item, Key] | None = None
    for r in items:
        if r is it or r.slot is None or r.remaining is None or r.slot.members * r.per != need:
            continue
        key = (r.slot.cluster_id, r.slot.model)
        if key == fast or fast not in r.keys or key not in it.keys:
            continue
        if (r.slot.members > 1 and fast not in r.gangs) or (it.low > 1 and key not in it.gangs):
            continue
        moved = _finish_s(r, Slot(*fast, r.slot.members))
        gain = (_finish_s(r, r.slot) - moved) / max(moved, 1.0)
        loss = (_finish_s(it, Slot(*key, it.low)) - here) / max(here, 1.0)
        if gain > SWAP_GAIN * max(loss, 0.0) and gain > 0 and (best is None or gain > best[0]):
            best = (gain, r, key)
    if best is None:
        return None
    _, r, key = best
    assert r.slot is not None  # only planned jobs are candidates
    r.slot = Slot(*fast, r.slot.members)
    room[fast] -= need  # the mover takes the newcomer's place there, and it takes the mover's
    room[key] += need
    return key


def _free_up(
    it: _Item,
    keys: Sequence[Key],
    items: Sequence[_Item],
    room: dict[Key, int],
    per_node: Mapping[Key, int],
) -> Key | None:
    """Shrink elastic jobs planned past their least size on one of `keys` until `it`'s
    least size fits there (`_shrinks`); the key, or None when no key can be freed
    enough."""
    for key in keys:
        found = _shrinks(key, it.low * it.per, items, room, per_node, it)
        if found is not None:
            _apply(found[1], key, room)
            return key
    return None


def _shrinks(
    key: Key,
    need: int,
    items: Sequence[_Item],
    room: Mapping[Key, int],
    per_node: Mapping[Key, int],
    taker: _Item,
) -> tuple[float, dict[int, tuple[_Item, int]]] | None:
    """How to free `need` GPUs on `key` (counting what is free there) by shrinking the
    elastic jobs planned past their least size there, one size down at a time, the one
    losing least per GPU first: the total loss and each shrunk job's new size (by `id`),
    or None when they cannot free enough."""
    sizes: dict[int, tuple[_Item, int]] = {}
    donors = []
    for d in items:
        if d is taker or d.slot is None or d.remaining is None:
            continue
        if (d.slot.cluster_id, d.slot.model) == key and d.slot.members > d.low:
            donors.append(d)
            sizes[id(d)] = (d, d.slot.members)
    free = room.get(key, 0)
    if free + sum((d.slot.members - d.low) * d.per for d in donors if d.slot) < need:
        return None
    total = 0.0
    while free < need:
        best: tuple[float, _Item, int, float] | None = None
        for d in donors:
            now = sizes[id(d)][1]
            smaller = [m for m in _sizes(d, key, per_node.get(key, 1), now) if m < now]
            m = max(smaller, default=d.low)
            loss = _value(_finish_s(d, Slot(*key, m)), _finish_s(d, Slot(*key, now)), d.age_s)
            if best is None or loss / ((now - m) * d.per) < best[0]:
                best = (loss / ((now - m) * d.per), d, m, loss)
        assert best is not None
        _, d, m, loss = best
        free += (sizes[id(d)][1] - m) * d.per
        total += loss
        sizes[id(d)] = (d, m)
        if m == d.low:
            donors.remove(d)
    return total, {k: v for k, v in sizes.items() if v[0].slot and v[1] != v[0].slot.members}


def _apply(shrinks: Mapping[int, tuple[_Item, int]], key: Key, room: dict[Key, int]) -> None:
    for d, m in shrinks.values():
        assert d.slot is not None
        room[key] = room.get(key, 0) + (d.slot.members - m) * d.per
        d.slot = Slot(*key, m)


def _sizes(it: _Item, key: Key, per_node: int, limit: int) -> list[int]:
    """Members the job may have on `key`, above its least: sizes a node packs, within its
    range, its efficiency floor and `limit` members, and the size it holds there."""
    top = min(it.high, limit) if key in it.gangs else it.low
    base = _rate(it, key[1], it.low) / (it.low * it.per)
    out = []
    for m in range(it.low + 1, top + 1):
        g = m * it.per
        packs = (g < per_node and g & (g - 1) == 0) or g % per_node == 0
        if (packs or m == it.high) and _rate(it, key[1], m) / g >= MIN_EFFICIENCY * base:
            out.append(m)
    held = it.held
    if held is not None and (held.cluster_id, held.model) == key and it.low < held.members <= top:
        out.append(held.members)  # keeping its size needs no restart, efficient or not
    return out


def _finish_s(item: _Item, slot: Slot) -> float:
    """Estimated seconds to finish at `slot` (a restart included where it differs from
    what the job holds); infinite where it makes no progress."""
    assert item.remaining is not None
    rate = _rate(item, slot.model, slot.members)
    if rate <= 0:
        return float("inf")
    return item.remaining / rate + (0.0 if slot == item.held else item.restart_s)


ALPHA = 1.5
"""Seconds saved are divided by (time before x time after) ** (ALPHA / 2): 0 counts
seconds alone (long jobs save the most, which shortens the tail but starves short jobs:
1.16x Sia's average JCT), 2 counts the rise in completion rate (shortest remaining first,
which lowers the average but stretches the tail); 1.5 measured best on both."""
BETA = 0.25
"""... and multiplied by ((age + time before) / 1 h) ** BETA: a job long in the system,
or with long to go, weighs a little more (the tail under heavy load)."""


def _value(before_s: float, after_s: float, age_s: float) -> float:
    """What finishing in `after_s` s instead of `before_s` s is worth to a job submitted
    `age_s` s ago (positive when sooner)."""
    if not before_s < float("inf"):
        return float("inf") if after_s < before_s else 0.0  # from no progress to some
    before_s, after_s = max(before_s, 1.0), max(after_s, 1.0)  # a job about to end
    weight = ((age_s + before_s) / 3600.0) ** BETA
    return float(weight * (before_s - after_s) / (before_s * after_s) ** (ALPHA / 2))


def _per_node(snapshot: Snapshot) -> dict[Key, int]:
    """The most GPUs of each model one node of each cluster has (node packing)."""
    out: dict[Key, int] = {}
    for cluster in snapshot.clusters:
        for node in cluster.nodes:
            for model, n in node.capacity.gpus.items():
                out[(cluster.id, model)] = max(out.get((cluster.id, model), 0), n)
    return out


def _grow(items: Sequence[_Item], room: dict[Key, int], per_node: Mapping[Key, int]) -> None:
    """Spare GPUs to the jobs that finish sooner by the most seconds per GPU: a larger
    size where the job is planned, or a move to another (cluster, model) with room."""
    growing = [it for it in items if it.slot is not None and it.remaining is not None]
    while True:
        best: tuple[float, _Item, Slot] | None = None
        for it in growing:
            assert it.slot is not None
            here = (it.slot.cluster_id, it.slot.model)
            now_s = _finish_s(it, it.slot)
            for key in it.keys:
                same = key == here
                spare = room.get(key, 0) // it.per + (it.slot.members if same else 0)
                for m in _sizes(it, key, per_node.get(key, 1), spare) + (
                    [it.low] if not same and spare >= it.low else []
                ):
                    if same and m <= it.slot.members:
                        continue
                    gpus = (m - it.slot.members) * it.per if same else m * it.per
                    gain = _value(now_s, _finish_s(it, Slot(*key, m)), it.age_s) / gpus
                    if gain > 0 and (best is None or gain > best[0]):
                        best = (gain, it, Slot(*key, m))
        if best is None:
            return
        _, it, slot = best
        assert it.slot is not None
        room[(it.slot.cluster_id, it.slot.model)] += it.slot.members * it.per
        room[(slot.cluster_id, slot.model)] -= slot.members * it.per
        it.slot = slot
