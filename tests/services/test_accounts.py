"""Accounts, tokens and the audit log through the services, on SQLite and PostgreSQL:
tenants and users of every role, tokens that expire, are revoked (within the cache's TTL
on another API process) and die with their user; idempotent submission; rate limits."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.audit import AuditAction
from suanli.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from suanli.domain.ids import ClusterId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import JobSpec
from suanli.domain.pool import Provider, Region
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform, parse_rate_limit
from suanli.services.auth import Authenticator
from suanli.services.ratelimit import RateLimit, RateLimiter
from tests.builders import World, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def _consumer(w: World, tenant: str, user: str) -> tuple[Principal, str]:
    acc = w.plat.accounts
    with contextlib.suppress(Conflict):
        acc.add_tenant(w.operator, TenantId(tenant), sector="industry")
    acc.add_user(w.operator, UserId(user), role=Role.CONSUMER, tenant_id=TenantId(tenant))
    secret = acc.create_token(w.operator, user_id=UserId(user), name="main").secret
    return w.plat.auth.authenticate(secret), secret


def _spec(name: str = "j") -> JobSpec:
    return JobSpec.create(
        command=["true"], resources=Resources.request(cpus=1, memory_mb=64), name=name
    )


def test_operator_adds_tenants_users_of_every_role_and_their_tokens(w: World) -> None:
    acc = w.plat.accounts
    tenant = acc.add_tenant(
        w.operator, TenantId("acme"), name="Acme AI", sector="金融", contact="ops@acme.cn"
    )
    assert (tenant.sector, tenant.contact) == ("finance", "ops@acme.cn")
    w.plat.pool.add_provider(w.operator, Provider(ProviderId("gpuco"), "GPU Co"))
    acc.add_user(w.operator, UserId("ann"), role=Role.CONSUMER, tenant_id=TenantId("acme"))
    acc.add_user(w.operator, UserId("pat"), role=Role.PROVIDER, provider_id=ProviderId("gpuco"))
    acc.add_user(w.operator, UserId("aud"), role=Role.AUDITOR)
    for uid, role, tenant_id, provider_id in (
        ("ann", Role.CONSUMER, "acme", None),
        ("pat", Role.PROVIDER, None, "gpuco"),
        ("aud", Role.AUDITOR, None, None),
    ):
        issued = acc.create_token(w.operator, user_id=UserId(uid), name="laptop")
        me = w.plat.auth.authenticate(issued.secret)
        assert (me.user_id, me.role, me.tenant_id, me.provider_id) == (
            uid,
            role,
            tenant_id,
            provider_id,
        )
        assert issued.info.expires_at == w.clock.now() + timedelta(days=90)
    _, users = acc.tenant(w.operator, TenantId("acme"))
    assert [u.id for u in users] == ["ann"]
    # bindings that do not fit the role are refused, and nothing is stored
    with pytest.raises(InvalidInput):
        acc.add_user(w.operator, UserId("x"), role=Role.CONSUMER)
    with pytest.raises(InvalidInput):
        acc.add_user(w.operator, UserId("x"), role=Role.PROVIDER, tenant_id=TenantId("acme"))
    with pytest.raises(NotFound):
        acc.add_user(w.operator, UserId("x"), role=Role.CONSUMER, tenant_id=TenantId("nope"))
    with pytest.raises(Conflict):
        acc.add_user(w.operator, UserId("ann"), role=Role.AUDITOR)
    with pytest.raises(InvalidInput):
        acc.add_tenant(w.operator, TenantId("Bad Id"))
    with pytest.raises(InvalidInput):
        acc.add_tenant(w.operator, TenantId("t2"), contact="a\nb")
    assert all(u.id != "x" for u in acc.users(w.operator))
    # a consumer cannot add tenants or users, sees only its own tenant
    ann = w.plat.auth.authenticate(acc.create_token(w.operator, user_id=UserId("ann")).secret)
    with pytest.raises(Forbidden):
        acc.add_tenant(ann, TenantId("mine"))
    with pytest.raises(NotFound):
        acc.tenant(ann, TenantId("default"))
    assert [u.id for u in acc.users(ann)] == ["ann"]


def test_tokens_expire_are_revoked_and_die_with_their_user(w: World) -> None:
    acc = w.plat.accounts
    ann, _ = _consumer(w, "acme", "ann")
    short = acc.create_token(ann, name="short", lifetime=timedelta(hours=1))
    assert w.plat.auth.authenticate(short.secret).user_id == "ann"
    # expiry: a new process (no cache) refuses it after the hour
    w.clock.advance(3601)
    fresh = Authenticator(w.plat.store, w.clock)
    with pytest.raises(Unauthenticated):
        fresh.authenticate(short.secret)
    # a consumer may not make an everlasting token, nor manage another user's
    with pytest.raises(Forbidden):
        acc.create_token(ann, lifetime=None)
    with pytest.raises(NotFound):
        acc.create_token(ann, user_id=UserId("operator"))
    with pytest.raises(NotFound):
        acc.tokens(ann, user_id=UserId("operator"))
    # listing shows ids, names, expiry and last use, never a secret
    listed = acc.tokens(ann)
    assert {t.name for t in listed} == {"main", "short"}
    assert all(not hasattr(t, "secret") for t in listed)


def test_a_revoked_token_stops_working_within_the_cache_ttl_on_every_process(
    w: World,
) -> None:
    acc = w.plat.accounts
    ann, secret = _consumer(w, "acme", "ann")
    other_process = Authenticator(w.plat.store, w.clock)
    assert other_process.authenticate(secret).user_id == "ann"  # now cached there
    assert ann.token_id is not None
    acc.revoke_token(w.operator, ann.token_id)
    # this process forgot it at once
    with pytest.raises(Unauthenticated):
        w.plat.auth.authenticate(secret)
    # the other process may answer from its cache for at most TTL_S, never longer
    w.clock.advance(Authenticator.TTL_S)
    with pytest.raises(Unauthenticated):
        other_process.authenticate(secret)
    assert Authenticator.TTL_S <= 1.0
    # revoking again changes nothing; another user's token is 'not found' to a consumer
    acc.revoke_token(w.operator, ann.token_id)
    bob, _ = _consumer(w, "beta", "bob")
    assert bob.token_id is not None
    with pytest.raises(NotFound):
        acc.revoke_token(
            w.plat.auth.authenticate(acc.create_token(w.operator, user_id=UserId("ann")).secret),
            bob.token_id,
        )
    # disabling a user kills all its tokens
    _, bob_secret = bob, acc.create_token(w.operator, user_id=UserId("bob")).secret
    acc.disable_user(w.operator, UserId("bob"))
    w.clock.advance(Authenticator.TTL_S)
    with pytest.raises(Unauthenticated):
        Authenticator(w.plat.store, w.clock).authenticate(bob_secret)
    with pytest.raises(NotFound):
        acc.create_token(w.operator, user_id=UserId("bob"))


def test_security_relevant_actions_are_in_the_audit_log(w: World) -> None:
    acc = w.plat.accounts
    ann, _ = _consumer(w, "acme", "ann")
    job = w.plat.jobs.submit(ann, _spec())
    w.plat.jobs.cancel(w.operator, job.id)  # another tenant's job, by the operator
    w.plat.tenancy.set_quota(w.operator, TenantId("acme"), "cpu", nominal=4)
    w.plat.pool.set_cluster_price(w.operator, ClusterId("local"), 9.5)
    assert ann.token_id is not None
    acc.revoke_token(ann, ann.token_id)
    events = w.plat.audit.events(w.operator)
    actions = [e.action for e in reversed(events)]
    assert actions == [
        AuditAction.TENANT_ADD,
        AuditAction.USER_ADD,
        AuditAction.TOKEN_CREATE,
        AuditAction.JOB_CANCEL_OTHER,
        AuditAction.QUOTA_SET,
        AuditAction.PRICE_SET,
        AuditAction.TOKEN_REVOKE,
    ]
    cancel = next(e for e in events if e.action is AuditAction.JOB_CANCEL_OTHER)
    assert (cancel.actor, cancel.target, cancel.tenant_id) == ("operator", job.id, "acme")
    assert all("sl_" not in str(e.detail) for e in events)  # no secret in the log
    assert [e.action for e in w.plat.audit.events(w.operator, tenant_id=TenantId("acme"))][
        -1
    ] is AuditAction.TENANT_ADD
    with pytest.raises(Forbidden):
        w.plat.audit.events(ann)
    page = w.plat.audit.events(w.operator, limit=3)
    older = w.plat.audit.events(w.operator, before_id=page[-1].id, limit=100)
    assert [e.id for e in page + older] == [e.id for e in events]


def test_a_provider_admin_acts_only_on_its_own_provider(w: World) -> None:
    acc = w.plat.accounts
    for pid in ("p1", "p2"):
        w.plat.pool.add_provider(w.operator, Provider(ProviderId(pid), pid))
    w.plat.pool.add_region(w.operator, Region(RegionId("r"), "R"))
    acc.add_user(w.operator, UserId("pa"), role=Role.PROVIDER, provider_id=ProviderId("p1"))
    pa = w.plat.auth.authenticate(acc.create_token(w.operator, user_id=UserId("pa")).secret)
    cluster, agent_token = w.plat.pool.add_cluster(
        pa, ClusterId("c1"), provider_id=ProviderId("p1"), region_id=RegionId("r"), engine="local"
    )
    agent = w.plat.auth.authenticate(agent_token)
    assert (agent.cluster_id, agent.provider_id, agent.tenant_id) == ("c1", "p1", None)
    w.plat.pool.set_cluster_price(pa, cluster.id, 3.0)
    w.plat.pool.request_calibration(pa, cluster.id)
    w.plat.pool.add_cluster(
        w.operator,
        ClusterId("c2"),
        provider_id=ProviderId("p2"),
        region_id=RegionId("r"),
        engine="local",
    )
    with pytest.raises(Forbidden):
        w.plat.pool.add_cluster(
            pa,
            ClusterId("c3"),
            provider_id=ProviderId("p2"),
            region_id=RegionId("r"),
            engine="local",
        )
    with pytest.raises(Forbidden):
        w.plat.pool.set_cluster_price(pa, ClusterId("c2"), 1.0)
    with pytest.raises(Forbidden):
        w.plat.pool.request_calibration(pa, ClusterId("c2"))
    with pytest.raises(Forbidden):
        w.plat.pool.add_region(pa, Region(RegionId("r2"), "R2"))
    with pytest.raises(Forbidden):
        w.plat.jobs.submit(pa, _spec())
    assert w.plat.pool.cluster(w.operator, ClusterId("c2")).cluster.gpu_hour_price is None
    assert [c.cluster.id for c in w.plat.pool.clusters(pa) if c.cluster.id == "c3"] == []


def test_a_retried_submission_with_an_idempotency_key_makes_one_job(w: World) -> None:
    ann, _ = _consumer(w, "acme", "ann")
    bob, _ = _consumer(w, "beta", "bob")
    first, created = w.plat.jobs.submit_idempotent(ann, _spec(), key="k-1", request_hash="h1")
    again, created_again = w.plat.jobs.submit_idempotent(ann, _spec(), key="k-1", request_hash="h1")
    assert (created, created_again, again.id) == (True, False, first.id)
    with pytest.raises(Conflict):
        w.plat.jobs.submit_idempotent(ann, _spec(), key="k-1", request_hash="h2")
    # keys are per tenant: another tenant's same key is its own
    theirs, created = w.plat.jobs.submit_idempotent(bob, _spec(), key="k-1", request_hash="h1")
    assert created and theirs.id != first.id
    with pytest.raises(InvalidInput):
        w.plat.jobs.submit_idempotent(ann, _spec(), key="bad key\n", request_hash="h")
    # after the window the key may be used again
    w.clock.advance(86_401)
    later, created = w.plat.jobs.submit_idempotent(ann, _spec(), key="k-1", request_hash="h3")
    assert created and later.id != first.id


def test_rate_limits_refill_over_time() -> None:
    clock = ManualClock()
    limiter = RateLimiter(clock)
    limit = RateLimit(rate_per_s=2.0, burst=3.0)
    assert [limiter.take("t", limit) for _ in range(3)] == [None, None, None]
    wait = limiter.take("t", limit)
    assert wait == pytest.approx(0.5)
    assert limiter.take("other", limit) is None  # buckets are per token
    clock.advance(0.5)
    assert limiter.take("t", limit) is None
    assert limiter.take("t", RateLimit(0, 0)) is None  # 0: no limit


def test_the_rate_limit_setting_is_parsed_or_refused_clearly() -> None:
    assert parse_rate_limit("100/500") == RateLimit(100.0, 500.0)
    assert parse_rate_limit("20") == RateLimit(20.0, 100.0)
    assert not parse_rate_limit("0").enabled
    for bad in ("fast", "-1/5", "10/0", "nan/3", "1e400"):
        with pytest.raises(InvalidInput, match="SUANLI_RATE_LIMIT"):
            parse_rate_limit(bad)
