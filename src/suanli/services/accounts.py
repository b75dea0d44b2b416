"""Accounts: tenants, users and their tokens.

Who may do what:
- the operator adds tenants and users of every role and manages anyone's tokens;
- every person manages their own tokens (create, list, revoke);
- a consumer reads its own tenant's account and users; an auditor reads all; a provider
  admin reads neither (it is bound to a provider, not a tenant).

Another tenant's objects answer "not found", exactly as objects that do not exist, so ids
do not leak. Tokens are random secrets shown once and stored as SHA-256 hashes; they expire
(`DEFAULT_TOKEN_LIFETIME` unless asked otherwise) and can be revoked; revoking works within
`Authenticator.TTL_S` on every API process. Every change is written to the audit log in
its own transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from suanli.domain.audit import AuditAction
from suanli.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from suanli.domain.ids import TOKEN_PREFIX, ProviderId, TenantId, TokenId, UserId, slug
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.standard import parse_sector
from suanli.domain.tenancy import USER_ROLES, Principal, Role, Tenant, TokenInfo, User
from suanli.domain.vouchers import TENANT_SIZES
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.store import Store
from suanli.services.audit import record
from suanli.services.auth import Authenticator, hash_token
from suanli.services.tenancy import require_tenant

OPERATOR_TENANT = TenantId("operator")
"""The tenant operators' own jobs are billed to (made at first start)."""
DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
MAX_TOKEN_LIFETIME = timedelta(days=3660)
MAX_TOKEN_NAME = 200
MAX_CONTACT = 200


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: its secret (shown once, never stored) and what may be shown later."""

    secret: str
    info: TokenInfo


def _text(value: str, *, field: str, limit: int) -> str:
    """Printable text of at most `limit` characters (no control characters, no lone
    surrogates: it is shown in terminals and browsers)."""
    if len(value) > limit or any(
        not ch.isprintable() or 0xD800 <= ord(ch) <= 0xDFFF for ch in value
    ):
        raise InvalidInput(
            f"{field} must be printable text of at most {limit} characters.",
            field=field,
            hint="drop control characters and line breaks.",
        )
    return value.strip()


def _size(text: str) -> str:
    if text not in TENANT_SIZES:
        raise InvalidInput(
            f"Unknown firm size {text!r}.",
            field="size",
            hint=f"use one of {', '.join(TENANT_SIZES)}.",
        )
    return text


class AccountsService:
    def __init__(self, store: Store, clock: Clock, ids: IdGenerator, auth: Authenticator) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._auth = auth

    # -- tenants ---------------------------------------------------------------------

    def add_tenant(
        self,
        principal: Principal,
        tenant_id: TenantId,
        *,
        name: str = "",
        sector: str = "other",
        contact: str = "",
        size: str = "unknown",
    ) -> Tenant:
        """Create a tenant (operator). Its fair-share weight starts at 1 with no cohort
        and no quota (`suanli share`, `suanli quota set`)."""
        require(principal, Permission.ACCOUNTS_WRITE)
        slug(tenant_id, field="id")
        tenant = Tenant(
            tenant_id,
            _text(name, field="name", limit=200) or tenant_id,
            parse_sector(sector).value,
            _text(contact, field="contact", limit=MAX_CONTACT),
            self._clock.now(),
            _size(size),
        )
        with self._store.unit_of_work() as uow:
            if uow.tenancy.get_tenant(tenant_id) is not None:
                raise Conflict(
                    f"Tenant {tenant_id!r} already exists.",
                    field="id",
                    hint="pick another id, or see it with `suanli tenant show`.",
                )
            uow.tenancy.add_tenant(tenant)
            record(
                uow,
                principal,
                AuditAction.TENANT_ADD,
                tenant_id,
                at=tenant.created_at or self._clock.now(),
                tenant_id=tenant_id,
                sector=tenant.sector,
            )
            uow.commit()
        return tenant

    def tenant(self, principal: Principal, tenant_id: TenantId) -> tuple[Tenant, list[User]]:
        """A tenant with its users (a consumer: only its own tenant)."""
        require(principal, Permission.ACCOUNTS_READ)
        self._check_tenant_visible(principal, tenant_id)
        with self._store.unit_of_work(readonly=True) as uow:
            tenant = require_tenant(uow, tenant_id)
            return tenant, uow.tenancy.list_users(tenant_id=tenant_id)

    def _check_tenant_visible(self, principal: Principal, tenant_id: TenantId | None) -> None:
        if (
            tenant_id is not None
            and not allows(principal.role, Permission.SEE_ALL_TENANTS)
            and tenant_id != principal.tenant_id
        ):
            raise NotFound(
                f"No tenant {tenant_id!r}.",
                field="tenant_id",
                hint=f"your tenant is {principal.tenant_id!r}.",
            )

    # -- users -----------------------------------------------------------------------

    def add_user(
        self,
        principal: Principal,
        user_id: UserId,
        *,
        role: Role,
        tenant_id: TenantId | None = None,
        provider_id: ProviderId | None = None,
    ) -> User:
        """Create a person's account (operator). A consumer names its tenant, a provider
        admin its provider; operators belong to the operator tenant, auditors to none."""
        require(principal, Permission.ACCOUNTS_WRITE)
        slug(user_id, field="id")
        if role not in USER_ROLES:
            raise InvalidInput(
                f"A user cannot have role {role.value!r}.",
                field="role",
                hint="use consumer, provider, auditor or operator (agents get their tokens "
                "when their cluster is registered).",
            )
        if role is Role.CONSUMER and (tenant_id is None or provider_id is not None):
            raise InvalidInput(
                "A consumer belongs to exactly one tenant and no provider.",
                field="tenant_id",
                hint="e.g. suanli user add alice --tenant acme --role consumer.",
            )
        if role is Role.PROVIDER and (provider_id is None or tenant_id is not None):
            raise InvalidInput(
                "A provider admin belongs to exactly one provider and no tenant.",
                field="provider_id",
                hint="e.g. suanli user add bob --provider gpu-cloud --role provider.",
            )
        if role in (Role.OPERATOR, Role.AUDITOR) and (
            tenant_id is not None or provider_id is not None
        ):
            raise InvalidInput(
                f"An {role.value} sees every tenant and belongs to none.",
                field="tenant_id",
                hint=f"drop --tenant and --provider for an {role.value}.",
            )
        if role is Role.OPERATOR:
            tenant_id = OPERATOR_TENANT
        now = self._clock.now()
        user = User(user_id, role, tenant_id, provider_id, now)
        with self._store.unit_of_work() as uow:
            if uow.tenancy.get_user(user_id) is not None:
                raise Conflict(f"User {user_id!r} already exists.", field="id")
            if tenant_id is not None:
                require_tenant(uow, tenant_id)
            if provider_id is not None and uow.pool.get_provider(provider_id) is None:
                raise NotFound(
                    f"No provider {provider_id!r}.",
                    field="provider_id",
                    hint="register it first: suanli provider add.",
                )
            uow.tenancy.add_user(user)
            record(
                uow,
                principal,
                AuditAction.USER_ADD,
                user_id,
                at=now,
                tenant_id=tenant_id,
                provider_id=provider_id,
                role=role.value,
            )
            uow.commit()
        return user

    def users(
        self,
        principal: Principal,
        *,
        tenant_id: TenantId | None = None,
        provider_id: ProviderId | None = None,
    ) -> list[User]:
        """Users, optionally of one tenant or provider (a consumer: its own tenant's)."""
        require(principal, Permission.ACCOUNTS_READ)
        if not allows(principal.role, Permission.SEE_ALL_TENANTS):
            self._check_tenant_visible(principal, tenant_id)
            if provider_id is not None:
                return []
            tenant_id = principal.own_tenant()
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.tenancy.list_users(tenant_id=tenant_id, provider_id=provider_id)

    def user(self, principal: Principal, user_id: UserId) -> User:
        """One user: oneself always; others with ACCOUNTS_READ in one's scope."""
        with self._store.unit_of_work(readonly=True) as uow:
            user = uow.tenancy.get_user(user_id)
        if user is None or not self._may_see_user(principal, user):
            raise NotFound(
                f"No user {user_id!r}.", field="user_id", hint="list users: suanli user list."
            )
        return user

    def _may_see_user(self, principal: Principal, user: User) -> bool:
        if user.id == principal.user_id:
            return True
        if not allows(principal.role, Permission.ACCOUNTS_READ):
            return False
        return (
            allows(principal.role, Permission.SEE_ALL_TENANTS)
            or user.tenant_id == principal.tenant_id
        )

    def disable_user(self, principal: Principal, user_id: UserId) -> User:
        """Disable an account and revoke all its tokens (operator). Cannot be undone:
        add a new user instead."""
        require(principal, Permission.ACCOUNTS_WRITE)
        if user_id == principal.user_id:
            raise Conflict(
                "You cannot disable your own account.",
                hint="ask another operator, or revoke your tokens instead.",
            )
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            user = uow.tenancy.get_user(user_id)
            if user is None:
                raise NotFound(f"No user {user_id!r}.", field="user_id")
            uow.tenancy.disable_user(user_id, now)
            revoked = uow.tenancy.revoke_user_tokens(user_id, now)
            record(
                uow,
                principal,
                AuditAction.USER_DISABLE,
                user_id,
                at=now,
                tenant_id=user.tenant_id,
                provider_id=user.provider_id,
                tokens_revoked=revoked,
            )
            uow.commit()
        self._auth.forget_user(user_id)
        return replace(user, disabled_at=user.disabled_at or now)

    # -- tokens ----------------------------------------------------------------------

    def _may_manage_tokens_of(self, principal: Principal, user_id: UserId) -> None:
        if user_id == principal.user_id:
            require(principal, Permission.TOKENS_OWN)
        elif not allows(principal.role, Permission.TOKENS_ALL):
            raise NotFound(
                f"No user {user_id!r}.",
                field="user_id",
                hint="you may manage only your own tokens.",
            )

    def create_token(
        self,
        principal: Principal,
        *,
        user_id: UserId | None = None,
        name: str = "",
        lifetime: timedelta | None = DEFAULT_TOKEN_LIFETIME,
    ) -> IssuedToken:
        """A new token for `user_id` (default: the caller). `lifetime` None: never
        expires (operators only). The secret is returned once and never again."""
        target = user_id or principal.user_id
        self._may_manage_tokens_of(principal, target)
        name = _text(name, field="name", limit=MAX_TOKEN_NAME)
        if lifetime is None and not allows(principal.role, Permission.TOKENS_ALL):
            raise Forbidden(
                "Only an operator may create a token that never expires.",
                hint="give a lifetime, e.g. --expires 90d.",
            )
        if lifetime is not None and not timedelta(minutes=1) <= lifetime <= MAX_TOKEN_LIFETIME:
            raise InvalidInput(
                f"A token's lifetime must be between 1 minute and {MAX_TOKEN_LIFETIME.days} days.",
                field="expires",
                hint="e.g. --expires 30d, 12h or never (operators).",
            )
        now = self._clock.now()
        expires_at = now + lifetime if lifetime is not None else None
        with self._store.unit_of_work() as uow:
            user = uow.tenancy.get_user(target)
            if user is None or not user.active:
                raise NotFound(
                    f"No active user {target!r}.",
                    field="user_id",
                    hint="add the user first: suanli user add.",
                )
            holder = Principal(user.tenant_id, user.id, user.role, None, user.provider_id)
            secret = self._ids.secret()
            token_id = TokenId(self._ids.new(TOKEN_PREFIX))
            uow.tenancy.add_token(
                token_id, hash_token(secret), holder, now, name=name, expires_at=expires_at
            )
            record(
                uow,
                principal,
                AuditAction.TOKEN_CREATE,
                token_id,
                at=now,
                tenant_id=user.tenant_id,
                provider_id=user.provider_id,
                user=user.id,
                name=name or None,
                expires_at=expires_at.isoformat() if expires_at else "never",
            )
            uow.commit()
        info = TokenInfo(token_id, user.id, name, user.role, now, expires_at, None, None)
        return IssuedToken(secret, info)

    def tokens(self, principal: Principal, *, user_id: UserId | None = None) -> list[TokenInfo]:
        """Tokens of `user_id` (default: the caller's own; another user's: operators)."""
        target = user_id or principal.user_id
        self._may_manage_tokens_of(principal, target)
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.tenancy.list_tokens(target)

    def all_tokens(self, principal: Principal) -> list[TokenInfo]:
        """Every token, agents' included (operator)."""
        require(principal, Permission.TOKENS_ALL)
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.tenancy.list_tokens()

    def revoke_token(self, principal: Principal, token_id: TokenId) -> TokenInfo:
        """Revoke a token (one's own, or any for an operator). It stops working on this
        process at once and on every other within `Authenticator.TTL_S`. Revoking a
        revoked token changes nothing."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            found = uow.tenancy.get_token(token_id)
            if found is None or (
                found[0].user_id != principal.user_id
                and not allows(principal.role, Permission.TOKENS_ALL)
            ):
                raise NotFound(
                    f"No token {token_id!r}.",
                    field="token_id",
                    hint="list your tokens with `suanli token list`.",
                )
            info, holder = found
            if info.user_id == principal.user_id:
                require(principal, Permission.TOKENS_OWN)
            if uow.tenancy.revoke_token(token_id, now):
                record(
                    uow,
                    principal,
                    AuditAction.TOKEN_REVOKE,
                    token_id,
                    at=now,
                    tenant_id=holder.tenant_id,
                    provider_id=holder.provider_id,
                    user=info.user_id,
                )
                info = replace(info, revoked_at=now)
            uow.commit()
        self._auth.forget_token(token_id)
        return info
