"""The exchange end to end on the real local engine: two providers offer blocks, two
buyers bid, the auction clears, a buyer's jobs run inside its reservation, usage is
metered to the millisecond, the bill is settled with a 20% voucher, the providers are
paid, and a block whose provider failed it is refunded. Every figure is computed here by
hand from the rules in docs/exchange.md.

The platform runs in process on an `OffsetClock`: time runs at real speed (the engine's
timestamps are real) while the platform is placed before, inside and after a block that
began at the current whole hour, so the test need not wait an hour."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest
from tests.engines.contract import python_every_user_can_run
from tests.inprocess import InProcessClient

from suanli.adapters.clock import OffsetClock, SystemClock
from suanli.adapters.engines.local import LocalEngine
from suanli.adapters.ids import RandomIds
from suanli.agent.runner import Agent, AgentSettings
from suanli.api.app import create_app
from suanli.domain.ids import ClusterId, JobId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import JobSpec, JobStatus
from suanli.domain.ledger import PLATFORM_REVENUE, provider_payable
from suanli.domain.market import parse_product
from suanli.domain.money import round_fen
from suanli.domain.pool import Provider, Region
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform, PlatformConfig
from suanli.ports.engine import DetectedNode
from suanli.services.auth import issue_token
from suanli.services.bootstrap import bootstrap_local
from suanli.services.vouchers import VoucherTerms

PY = python_every_user_can_run()
D = Decimal
FEE = D("0.05")


def fen(x: Decimal) -> Decimal:
    # half up, as the platform rounds (domain/money.py): the default context rounds half
    # to even, and a refund that leaves an amount whose fee ends in a half fen (3.70 x 5%)
    # came out a fen apart, depending on when the job was lost
    return round_fen(x)


def fen_up(x: Decimal) -> Decimal:
    return x.quantize(D("0.01"), rounding=ROUND_CEILING)


def wait_for(probe: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def clock() -> OffsetClock:
    return OffsetClock()


@pytest.fixture
def plat(tmp_path: Path, clock: OffsetClock) -> Iterator[Platform]:
    platform = Platform(
        # one seller per product here, so that each price is set by one side alone and
        # can be checked by hand; trade reduction has its own tests
        PlatformConfig(database_url=f"sqlite:///{tmp_path / 'suanli.db'}", thin_market_sellers=1),
        clock=clock,
        ids=RandomIds(random.Random(5)),
    )
    yield platform
    platform.close()


def test_two_providers_two_buyers_one_voucher(
    plat: Platform, clock: OffsetClock, tmp_path: Path, jobs_root: Path
) -> None:
    real = datetime.now(UTC)
    block = real.replace(minute=0, second=0, microsecond=0)  # began at this hour
    end = block + timedelta(hours=2)
    clock.set_offset(block - timedelta(minutes=10) - real)  # ten minutes before it

    tokens = bootstrap_local(plat.store, plat.clock, plat.ids, user="alice", previous=None)
    op = plat.auth.authenticate(tokens.operator)
    app = create_app(plat)

    # --- the pool: two providers, a cluster each, in two regions ------------------
    agents: dict[str, tuple[Agent, LocalEngine]] = {}
    for provider, region, cluster, model in (
        ("p1", "r1", "c1", "H100"),
        ("p2", "r2", "c2", "A100"),
    ):
        plat.pool.add_region(op, Region(RegionId(region), region))
        plat.pool.add_provider(op, Provider(ProviderId(provider), provider))
        _, token = plat.pool.add_cluster(
            op,
            ClusterId(cluster),
            provider_id=ProviderId(provider),
            region_id=RegionId(region),
            engine="local",
        )
        engine = LocalEngine(
            tmp_path / cluster,
            SystemClock(),
            jobs_root=jobs_root,
            declared=DetectedNode(cluster, Resources(8000, 16384, {model: 4})),
        )
        agent = Agent(
            InProcessClient(app, token),
            engine,
            SystemClock(),
            AgentSettings(calibrate_on_register=False),
        )
        agent.register()
        agents[cluster] = (agent, engine)
    plat.pool.set_cluster_price(op, ClusterId("c2"), 36.0)  # the on-demand floor of c2

    # --- two buyers with money, one with a voucher for p1 -------------------------
    users: dict[str, Principal] = {}
    for tenant, sector, size in (("acme", "industry", "small"), ("lab", "research", "large")):
        plat.accounts.add_tenant(op, TenantId(tenant), sector=sector, size=size)
        with plat.store.unit_of_work() as uow:
            token = issue_token(
                uow,
                plat.ids,
                plat.clock,
                Principal(TenantId(tenant), UserId(f"u-{tenant}"), Role.CONSUMER),
            )
            uow.commit()
        users[tenant] = plat.auth.authenticate(token)
        plat.billing.deposit(op, TenantId(tenant), "100.00", reference=f"bank-{tenant}")
    voucher = plat.vouchers.issue(
        op,
        VoucherTerms(
            TenantId("acme"),
            "0.2",
            "1000",
            "10000",
            real + timedelta(days=365),
            providers=(ProviderId("p1"),),
            sectors=("industry",),
            sizes=("micro", "small"),
        ),
    )
    acme, lab = users["acme"], users["lab"]

    # --- blocks offered, bids cleared ------------------------------------------------
    start = block.strftime("%Y-%m-%dT%H:00Z")
    for cluster, model, reserve in (("c1", "H100", "10.00"), ("c2", "A100", "6.00")):
        plat.exchange.post_offer(
            op,
            cluster_id=ClusterId(cluster),
            model=model,
            start=block,
            hours=2,
            lane="reserved",
            devices=2,
            reserve=reserve,
        )  # 2 devices x 2 h = 4 device-hours each
    # acme wants 6 H100-hours (only 4 on offer): its limit sets the price, 12.00
    plat.exchange.post_bid(
        acme,
        unit="gpu:H100",
        quantity="6",
        limit="12.00",
        products=[parse_product(f"gpu:H100@r1/{start}+2h/reserved")],
    )
    # lab wants 2 A100-hours (4 on offer): the reserve sets the price, 6.00
    plat.exchange.post_bid(
        lab,
        unit="gpu:A100",
        quantity="2",
        limit="9.00",
        products=[parse_product(f"gpu:A100@any/{start}+2h/reserved")],
    )
    assert plat.billing.balance(acme).escrow == D("72.00")  # 6 x 12.00 held
    clearing = plat.exchange.clear(op)
    assert clearing.prices == {
        f"gpu:H100@r1/{start}+2h/reserved": D(12),
        f"gpu:A100-80GB@r2/{start}+2h/reserved": D(6),
    }
    (t_acme,) = plat.exchange.trades(acme)
    (t_lab,) = plat.exchange.trades(lab)
    assert (t_acme.device_hours, t_acme.amount) == (D(4), D("48.00"))
    assert (t_lab.device_hours, t_lab.amount) == (D(2), D("12.00"))
    # acme's bid is open for 2 more hours at 12.00: 24.00 still held
    assert plat.billing.balance(acme).cash == D("100.00") - D("72.00")
    assert plat.billing.balance(lab).cash == D("100.00") - D("12.00")

    # --- the block begins: acme's jobs run inside its reservation ----------------------
    clock.set_offset(timedelta(0))
    plat.exchange.run_once()  # acme's bid lapses: its 24.00 come back; prices posted
    assert plat.billing.balance(acme).cash == D("52.00")

    def run(user: Principal, spec: JobSpec, cluster: str) -> JobId:
        job = plat.jobs.submit(user, spec)
        plat.scheduler.run_once()
        placed = plat.jobs.get(user, job.id).job
        assert placed.cluster_id == cluster, placed.reason
        agent, _ = agents[cluster]

        def done() -> bool:
            agent.run_once()
            return plat.jobs.get(user, job.id).job.status.is_terminal()

        wait_for(done, 30, f"job {job.id} on {cluster}")
        assert plat.jobs.get(user, job.id).job.status is JobStatus.SUCCEEDED
        return job.id

    inside = run(
        acme,
        JobSpec.create(
            command=[PY, "-c", "print('in my block')"],
            resources=Resources.request(cpus=1, memory_mb=64, gpus={"H100": 2}),
            time_limit_s=600,
        ),
        "c1",
    )
    # on c2 acme holds no block: on-demand at c2's posted price (its floor: c2 is idle)
    ondemand = run(
        acme,
        JobSpec.create(
            command=[PY, "-c", "import time; time.sleep(1.2)"],
            resources=Resources.request(cpus=1, memory_mb=64, gpus={"A100": 1}),
            time_limit_s=600,
        ),
        "c2",
    )
    usage = {r.dimension: r for r in plat.jobs.get(acme, ondemand).usage}
    ms = usage["gpu:A100-80GB"].milliseconds
    assert 1200 <= ms < 30_000
    charge = fen_up(D(ms) * D(36) / D(3_600_000))  # 1 device x ms x 36.00 per hour
    assert {r.dimension for r in plat.jobs.get(acme, inside).usage} >= {"gpu:H100"}

    # --- lab's job in its block is lost when c2's provider fails -------------------------
    lab_job = plat.jobs.submit(
        lab,
        JobSpec.create(
            command=[PY, "-c", "import time; time.sleep(60)"],
            resources=Resources.request(cpus=1, memory_mb=64, gpus={"A100": 1}),
            time_limit_s=600,
        ),
    )
    plat.scheduler.run_once()
    agent_c2, engine_c2 = agents["c2"]

    def lab_running() -> bool:
        agent_c2.run_once()
        return plat.jobs.get(lab, lab_job.id).job.status is JobStatus.RUNNING

    wait_for(lab_running, 30, "lab's job to start")
    clock.set_offset(timedelta(seconds=plat.config.heartbeat_deadline_s + 5))  # c2 goes silent
    plat.dispatcher.run_once()
    lost = plat.jobs.get(lab, lab_job.id)
    assert lost.attempts[0].status is JobStatus.LOST
    for task in engine_c2.known():
        engine_c2.cancel(task.engine_job_id, 0.5)
    (t_lab,) = plat.exchange.trades(lab)
    assert t_lab.failed_at is not None

    # --- the blocks end and settle ------------------------------------------------------------
    clock.set_offset(end + timedelta(minutes=1) - datetime.now(UTC))
    plat.exchange.run_once()
    plat.exchange.run_once()  # again: settling twice changes nothing

    subsidy = fen(D("48.00") * D("0.2"))  # acme's block, from p1: 9.60
    assert plat.billing.balance(acme).cash == D("100.00") - D("48.00") + subsidy - charge
    assert plat.billing.balance(acme).escrow == 0
    delivered = D(str((t_lab.failed_at - block).total_seconds())) / D(7200)
    refund = fen(D("12.00") * (1 - delivered))
    penalty = fen(D("12.00") * D("0.10"))
    assert plat.billing.balance(lab).cash == D("100.00") - D("12.00") + refund + penalty
    kept = D("12.00") - refund
    with plat.store.unit_of_work(readonly=True) as uow:
        assert uow.ledger.balance(provider_payable("p1")) == D("48.00") - fen(D("48.00") * FEE)
        assert uow.ledger.balance(provider_payable("p2")) == (
            kept - fen(kept * FEE) - penalty + charge - fen(charge * FEE)
        )
        assert uow.ledger.balance(PLATFORM_REVENUE) == fen(D("48.00") * FEE) + fen(
            kept * FEE
        ) + fen(charge * FEE)
    (used,) = [u for v, u in plat.vouchers.list(op, TenantId("acme")) if v.id == voucher.id]
    assert used == subsidy
    check = plat.billing.check(op)
    assert check.ok, check
    assert math.isclose(float(check.total), 0.0)
