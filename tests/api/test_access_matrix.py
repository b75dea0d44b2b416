"""The access matrix, generated: every /v1 route x every role x own object / another
tenant's / another provider's. Checked for each call: a role without the route's declared
permission gets 403; another tenant's object answers 404 (its existence is not revealed);
another provider's cluster 403; a refused call changes nothing in the database; nothing of
another tenant appears in any answer; no call fails with 5xx. A route without an access
declaration, or without an entry in the tables below, fails this suite: a new route must
say who may call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from suanli.adapters.clock import ManualClock
from suanli.api.access import Access, Scope, access_of
from suanli.api.app import V1, create_app, v1_routers
from suanli.domain.ids import ClusterId, JobId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import JobSpec
from suanli.domain.market import parse_product
from suanli.domain.permissions import Permission, allows
from suanli.domain.pool import Provider, Region
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform, PlatformConfig
from suanli.services.agents import NodeReport
from suanli.services.bootstrap import bootstrap_local
from suanli.services.vouchers import VoucherTerms
from tests.conftest import START

LAB_RUN = {"sample": "tiresias-60", "policies": ["fifo"], "jobs": 5}
"""A small policy-lab run (the lab keeps at most 3 queued or running per user)."""
SECRET = "beta-secret-7f3a"
"""In tenant beta's job (name and env): must never reach anyone but beta, operators and
auditors."""
ROLES = ("agent", "auditor", "provider", "consumer", "operator")
"""Destructive rights grow along this order, so earlier roles see the world intact."""


@dataclass
class World:
    plat: Platform
    api: TestClient
    tokens: dict[str, str]
    """role -> the token it calls with (consumer: of acme; provider: of prov-a; agent: of
    cluster ca)."""
    own: dict[str, dict[str, str]]
    """role -> path parameter -> its own object."""
    other: dict[str, str]
    """path parameter -> another tenant's / provider's / user's object."""


def _build(tmp: Path) -> Iterator[World]:
    tmp.mkdir(parents=True, exist_ok=True)
    clock = ManualClock(START)
    plat = Platform(PlatformConfig(f"sqlite:///{tmp / 'm.db'}"), clock=clock)
    local = bootstrap_local(plat.store, clock, plat.ids, user="alice", previous=None)
    op = plat.auth.authenticate(local.operator)
    acc = plat.accounts
    for tenant in ("acme", "beta"):
        acc.add_tenant(op, TenantId(tenant), sector="finance")
        plat.tenancy.set_quota(op, TenantId(tenant), "cpu", nominal=64)
    plat.pool.add_region(op, Region(RegionId("r1"), "R1"))
    agents: dict[str, str] = {}
    for provider, cluster in (("prov-a", "ca"), ("prov-b", "cb")):
        plat.pool.add_provider(op, Provider(ProviderId(provider), provider))
        _, agents[cluster] = plat.pool.add_cluster(
            op,
            ClusterId(cluster),
            provider_id=ProviderId(provider),
            region_id=RegionId("r1"),
            engine="local",
        )
    users: dict[str, tuple[Role, str | None, str | None]] = {
        "a1": (Role.CONSUMER, "acme", None),
        "b1": (Role.CONSUMER, "beta", None),
        "pa": (Role.PROVIDER, None, "prov-a"),
        "pb": (Role.PROVIDER, None, "prov-b"),
        "aud": (Role.AUDITOR, None, None),
    }
    for uid, (role, tenant_of, provider_of) in users.items():
        acc.add_user(
            op,
            UserId(uid),
            role=role,
            tenant_id=TenantId(tenant_of) if tenant_of else None,
            provider_id=ProviderId(provider_of) if provider_of else None,
        )
    secrets: dict[str, str] = {}
    spare: dict[str, str] = {}
    for uid in (*users, "operator"):
        secrets[uid] = acc.create_token(op, user_id=UserId(uid), name="main").secret
        spare[uid] = acc.create_token(op, user_id=UserId(uid), name="spare").info.id
    # one job per tenant, each confined to its provider's cluster, placed and handed over
    principals = {u: plat.auth.authenticate(secrets[u]) for u in ("a1", "b1")}
    jobs: dict[str, JobId] = {}
    for uid, provider, name in (("a1", "prov-a", "acme-job"), ("b1", "prov-b", SECRET)):
        spec = JobSpec.create(
            command=["sleep", "60"],
            resources=Resources.request(cpus=1, memory_mb=64),
            name=name,
            env={"PASSWORD": SECRET} if uid == "b1" else {},
            providers=[provider],
        )
        jobs[uid] = plat.jobs.submit(principals[uid], spec).id
    node = NodeReport("n1", Resources.request(cpus=8, memory_mb=8192))
    for secret in agents.values():
        plat.agents.register(plat.auth.authenticate(secret), [node], agent_version="t", known=[])
    plat.scheduler.run_once()
    for secret in agents.values():
        claimed = plat.agents.claim(plat.auth.authenticate(secret), 10)
        assert len(claimed.assignments) == 1
    clock.advance(1)
    market = _market(plat, op, {u: plat.auth.authenticate(secrets[u]) for u in ("a1", "b1")})
    tokens = {
        "operator": secrets["operator"],
        "auditor": secrets["aud"],
        "provider": secrets["pa"],
        "consumer": secrets["a1"],
        "agent": agents["ca"],
    }
    common = {"region_id": "r1", "flavor": "cpu", "attempt": "1", "stream": "stdout"}
    own = {
        role: {
            **common,
            "job_id": jobs["a1"],
            "tenant_id": "acme",
            "cluster_id": "ca",
            "user_id": {"operator": "operator", "auditor": "aud", "provider": "pa"}.get(role, "a1"),
            "token_id": spare[
                {"operator": "operator", "auditor": "aud", "provider": "pa"}.get(role, "a1")
            ],
            "provider_id": "prov-a",
            **market["own"],
        }
        for role in ROLES
    }
    other = {
        **common,
        "job_id": jobs["b1"],
        "tenant_id": "beta",
        "cluster_id": "cb",
        "user_id": "b1",
        "token_id": spare["b1"],
        "provider_id": "prov-b",
        **market["other"],
    }
    api = TestClient(create_app(plat), raise_server_exceptions=False)
    # a policy-lab run each of a1 and b1 (in the app's memory, not the database)
    for uid, side in (("a1", own.values()), ("b1", (other,))):
        started = api.post(
            "/v1/lab/runs", json=LAB_RUN, headers={"Authorization": f"Bearer {secrets[uid]}"}
        )
        assert started.status_code == 202, started.text
        for objects in side:
            objects["run_id"] = started.json()["id"]
    try:
        yield World(plat, api, tokens, own, other)
    finally:
        plat.close()


def _market(
    plat: Platform, op: Principal, users: dict[str, Principal]
) -> dict[str, dict[str, str]]:
    """Money and market objects of both sides: funded tenants, a trade each (one block,
    two sellers), an open offer per provider, an open bid and a voucher per tenant."""
    block = START + timedelta(hours=2)
    later = START + timedelta(hours=3)
    key = f"cpu@any/{block:%Y-%m-%dT%H:00Z}+1h/reserved"
    later_key = f"cpu@any/{START + timedelta(hours=5):%Y-%m-%dT%H:00Z}+1h/reserved"
    sides = (("own", "acme", "a1", "ca"), ("other", "beta", "b1", "cb"))
    out: dict[str, dict[str, str]] = {}
    for _, tenant, uid, cluster in sides:
        plat.billing.deposit(op, TenantId(tenant), "1000", reference="opening")
        plat.exchange.post_offer(
            op,
            cluster_id=ClusterId(cluster),
            model=None,
            start=block,
            hours=1,
            lane="reserved",
            devices=2,
            reserve="1.00",
        )
        plat.exchange.post_bid(
            users[uid], unit="cpu", quantity="2", limit="3.00", products=[parse_product(key)]
        )
    plat.exchange.clear(op)
    for side, tenant, uid, cluster in sides:
        offer = plat.exchange.post_offer(
            op,
            cluster_id=ClusterId(cluster),
            model=None,
            start=later,
            hours=1,
            lane="reserved",
            devices=2,
            reserve="1.00",
        )
        bid = plat.exchange.post_bid(
            users[uid], unit="cpu", quantity="1", limit="2.00", products=[parse_product(later_key)]
        )
        (trade,) = plat.exchange.trades(users[uid])
        terms = VoucherTerms(TenantId(tenant), "0.2", "100", "1000", START + timedelta(days=30))
        voucher = plat.vouchers.issue(op, terms)
        out[side] = {
            "offer_id": offer.id,
            "bid_id": bid.id,
            "trade_id": trade.id,
            "voucher_id": voucher.id,
        }
    return out


def _body(method: str, template: str, variant: str) -> tuple[dict[str, Any] | None, bytes | None]:
    """A valid request body per route; `variant` 'other' names another provider or user
    where the body names one."""
    other = variant == "other"
    bodies: dict[tuple[str, str], dict[str, Any]] = {
        ("POST", "/v1/jobs"): {"command": ["true"], "name": "m"},
        ("POST", "/v1/services"): {"command": ["true"], "service": "svc", "replicas": 1},
        ("POST", "/v1/jobs/arrays"): {"command": ["true"], "array": "0-1"},
        ("POST", "/v1/regions"): {"id": "r-new"},
        ("PATCH", "/v1/regions/{region_id}"): {"energy_price": 0.5},
        ("POST", "/v1/providers"): {"id": "p-new"},
        ("POST", "/v1/clusters"): {
            "id": f"c-new-{variant}",
            "provider_id": "prov-b" if other else "prov-a",
            "region_id": "r1",
            "engine": "local",
        },
        ("PUT", "/v1/clusters/{cluster_id}/price"): {"gpu_hour_price": 7.5},
        ("PUT", "/v1/tenants/{tenant_id}/share"): {"weight": 2},
        ("PUT", "/v1/tenants/{tenant_id}/quotas/{flavor}"): {"nominal": 4},
        ("POST", "/v1/tenants"): {"id": "t-new"},
        ("POST", "/v1/users"): {"id": "u-new", "role": "consumer", "tenant_id": "acme"},
        ("POST", "/v1/tokens"): {"user_id": "b1"} if other else {"name": "x"},
        ("POST", "/v1/agent/register"): {
            "nodes": [{"hostname": "n1", "cpus": 8, "memory_mb": 8192}],
            "agent_version": "t",
            "known": [],
        },
        ("POST", "/v1/agent/heartbeat"): {"known": []},
        ("POST", "/v1/agent/jobs/{job_id}/attempts/{attempt}/state"): {"status": "RUNNING"},
        ("POST", "/v1/agent/calibration"): {"nodes": []},
        ("POST", "/v1/market/offers"): {
            "cluster": "cb" if other else "ca",
            "start": (START + timedelta(hours=6)).isoformat(),
            "hours": 1,
            "devices": 1,
            "reserve": "2.00",
        },
        ("POST", "/v1/market/bids"): {
            "unit": "cpu",
            "quantity": "1",
            "limit": "2.00",
            "products": [f"cpu@any/{START + timedelta(hours=6):%Y-%m-%dT%H:00Z}+1h/reserved"],
        },
        ("POST", "/v1/market/trades/{trade_id}/resell"): {"reserve": "5.00"},
        ("POST", "/v1/billing/deposits"): {"tenant": "acme", "amount": "10", "reference": "x"},
        ("PUT", "/v1/billing/credit/{tenant_id}"): {"credit": "100"},
        ("POST", "/v1/billing/payouts"): {"provider": "prov-a", "amount": "0.01", "reference": "x"},
        ("POST", "/v1/lab/runs"): LAB_RUN,
        ("POST", "/v1/vouchers"): {
            "tenant": "acme",
            "share": "0.1",
            "cap_per_invoice": "10",
            "cap_per_year": "100",
            "expires": (START + timedelta(days=60)).isoformat(),
        },
    }
    raw: dict[tuple[str, str], bytes] = {
        ("POST", "/v1/agent/jobs/{job_id}/attempts/{attempt}/logs/{stream}"): b"hello\n",
    }
    if (method, template) in raw:
        return None, raw[(method, template)]
    if method in ("GET", "DELETE") or (method, template) in (
        ("POST", "/v1/jobs/{job_id}/cancel"),
        ("POST", "/v1/clusters/{cluster_id}/calibrate"),
        ("POST", "/v1/agent/claim"),
        ("POST", "/v1/users/{user_id}/disable"),
        ("POST", "/v1/tokens/{token_id}/revoke"),
        ("POST", "/v1/market/clear"),
    ):
        return None, None
    if (method, template) not in bodies:
        pytest.fail(f"no request body for {method} {template}: add one to _body")
    return bodies[(method, template)], None


QUERY_TENANT = {
    "/v1/jobs",
    "/v1/usage",
    "/v1/users",
    "/v1/audit",
    "/v1/market/trades",
    "/v1/billing/balance",
    "/v1/billing/statement",
    "/v1/vouchers",
}
"""GET routes whose `tenant` query narrows to one tenant: 'other' asks for beta's."""


def _snapshot(plat: Platform) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the audit log too: a refused call records nothing), but
    the one column a read may write (a token's last use)."""
    engine = plat.store.engine
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        meta = sa.MetaData()
        meta.reflect(conn)
        for name, table in meta.tables.items():
            cols = [c for c in table.columns if c.name != "last_used_at"]
            rows = conn.execute(sa.select(*cols).order_by(*cols)).all()
            out[name] = [tuple(r) for r in rows]
    return out


def _fill(template: str, objects: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: objects[m.group(1)], template)


def _routes() -> list[tuple[str, str, Access | None]]:
    """(method, path, declared rule) of every /v1 route."""
    return [
        (method, V1 + route.path, access_of(route.endpoint))
        for router in v1_routers()
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods or ())
    ]


def test_the_route_list_is_the_served_api() -> None:
    served = {
        (m.upper(), path)
        for path, ops in create_app(None).openapi()["paths"].items()
        if path.startswith(V1)
        for m in ops
    }
    assert {(m, p) for m, p, _ in _routes()} == served


def test_every_v1_route_declares_its_access() -> None:
    missing = [f"{m} {p}" for m, p, rule in _routes() if rule is None]
    assert not missing, f"routes without @access(...): {missing}"


def _expect_refusal(
    role: str, rule: Access, method: str, template: str, variant: str
) -> int | None:
    """The status a refused call must get, or None where the call is allowed."""
    r = Role(role)
    if rule.permission is not None and not allows(r, rule.permission):
        return 403
    if variant != "other":
        return None
    names = set(re.findall(r"\{(\w+)\}", template))
    by_query = method == "GET" and template in QUERY_TENANT
    if template in ("/v1/usage", "/v1/market/trades") and r is Role.PROVIDER:
        return None  # a provider reads usage of, and trades on, its own clusters
    if (
        rule.scope is Scope.TENANT
        and not allows(r, Permission.SEE_ALL_TENANTS)
        and (names & {"job_id", "tenant_id", "user_id", "bid_id", "trade_id", "run_id"} or by_query)
    ):
        return 404
    if rule.scope is Scope.PROVIDER and not allows(r, Permission.ALL_PROVIDERS):
        return 403
    if (
        rule.scope is Scope.SELF
        and not allows(r, Permission.TOKENS_ALL)
        and (names & {"user_id", "token_id"} or template == "/v1/tokens")
    ):
        return 404
    if rule.scope is Scope.CLUSTER and "job_id" in names:
        return 403
    return None


# A fresh world per route (a refused call must leave every table as it was): about 110 s
# alone for 100+ routes, beyond the suite's default 120 s when the machine is busy.
@pytest.mark.timeout(600)
def test_every_route_for_every_role_own_and_others_objects(tmp_path: Path) -> None:
    failures: list[str] = []
    calls = 0
    routes = _routes()
    assert len(routes) >= 35
    for index, (method, template, rule) in enumerate(routes):
        assert rule is not None, template
        for world in _build(tmp_path / f"w{index}"):
            for role in ROLES:
                for variant in ("other", "own"):
                    objects = world.other if variant == "other" else world.own[role]
                    path = _fill(template, objects)
                    params = {}
                    if method == "GET" and template in QUERY_TENANT and variant == "other":
                        params["tenant"] = "beta"
                    if template == "/v1/tokens" and method == "GET" and variant == "other":
                        params["user"] = "b1"
                    if template == "/v1/billing/statement":
                        params["month"] = f"{START:%Y-%m}"
                    body, raw = _body(method, template, variant)
                    refused = _expect_refusal(role, rule, method, template, variant)
                    before = _snapshot(world.plat) if refused else None
                    response = world.api.request(
                        method,
                        path,
                        params=params,
                        json=body,
                        content=raw,
                        headers={"Authorization": f"Bearer {world.tokens[role]}"},
                    )
                    calls += 1
                    where = f"{role:8} {variant:5} {method} {path} -> {response.status_code}"
                    text = response.text
                    if response.status_code >= 500:
                        failures.append(f"{where}: server error {text[:200]}")
                    elif refused is not None and response.status_code != refused:
                        failures.append(f"{where}: expected {refused}: {text[:200]}")
                    elif refused is None and response.status_code in (401, 403, 404):
                        failures.append(f"{where}: expected to be allowed: {text[:200]}")
                    if before is not None and _snapshot(world.plat) != before:
                        failures.append(f"{where}: a refused call changed the database")
                    if role in ("consumer", "provider", "agent") and SECRET in text:
                        failures.append(f"{where}: another tenant's data in the answer")
    assert not failures, f"{len(failures)} of {calls} calls wrong:\n" + "\n".join(failures)
    assert calls >= 350
