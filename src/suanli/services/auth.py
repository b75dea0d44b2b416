"""Authentication: bearer token -> Principal. Tokens are stored as SHA-256 hashes only.

A valid token is cached for `TTL_S` (monotonic clock) so that most requests skip the
database. The cache never outlives a revocation by more than `TTL_S`: a revocation made
through this process drops the entry at once (`forget_token`, `forget_user`), one made
through another API process is seen at the next database read, at most `TTL_S` later.
Expired, revoked and disabled users' tokens are refused by the store's query itself.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

from suanli.domain.errors import Unauthenticated
from suanli.domain.ids import TOKEN_PREFIX, TokenId, UserId
from suanli.domain.tenancy import Principal
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.store import Store, UnitOfWork

LAST_USE_RESOLUTION = timedelta(minutes=1)
"""A token's `last_used_at` is written at most this often (a write per request would make
every read a write)."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue_token(uow: UnitOfWork, ids: IdGenerator, clock: Clock, principal: Principal) -> str:
    """Create a token for `principal` inside the caller's transaction; return the secret
    (shown once, never stored in clear)."""
    secret = ids.secret()
    uow.tenancy.add_token(ids.new(TOKEN_PREFIX), hash_token(secret), principal, clock.now())
    return secret


class Authenticator:
    """Resolves bearer tokens; see the module docstring for the cache's contract."""

    MAX_CACHED = 10_000
    TTL_S = 0.5
    MAX_TOKEN_CHARS = 512
    """Longer credentials are refused without a lookup (ours are 46 characters)."""

    def __init__(self, store: Store, clock: Clock, *, ttl_s: float = TTL_S) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str | None) -> Principal | None:
        """The principal of a recently seen valid token, without touching the store."""
        if not token or len(token) > self.MAX_TOKEN_CHARS:
            return None
        hit = self._cache.get(hash_token(token))
        if hit is None or hit[1] <= self._clock.monotonic():
            return None
        return hit[0]

    def forget_token(self, token_id: TokenId) -> None:
        """Drop a revoked token from the cache."""
        with self._lock:
            for digest, (principal, _) in list(self._cache.items()):
                if principal.token_id == token_id:
                    self._cache.pop(digest, None)

    def forget_user(self, user_id: UserId) -> None:
        """Drop every cached token of a disabled user."""
        with self._lock:
            for digest, (principal, _) in list(self._cache.items()):
                if principal.user_id == user_id:
                    self._cache.pop(digest, None)

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated(
                "No credentials: send 'Authorization: Bearer <token>'.",
                hint="run `suanli up` (it writes your token to the config) or ask the "
                "operator for a token (`suanli token create`).",
            )
        hit = self.cached(token)
        if hit is not None:
            return hit
        invalid = Unauthenticated(
            "The token is not valid (unknown, expired or revoked).",
            hint="check SUANLI_TOKEN or the token in your suanli config; ask the operator "
            "for a new one (`suanli token create`).",
        )
        if len(token) > self.MAX_TOKEN_CHARS:
            raise invalid
        digest = hash_token(token)
        now = self._clock.now()
        with self._store.unit_of_work(readonly=True) as uow:
            principal = uow.tenancy.principal_for(digest, now)
            last_used = (
                uow.tenancy.token_last_used(principal.token_id)
                if principal is not None and principal.token_id is not None
                else None
            )
        if principal is None:
            raise invalid
        if principal.token_id is not None and (
            last_used is None or now - last_used >= LAST_USE_RESOLUTION
        ):
            with self._store.unit_of_work() as uow:
                uow.tenancy.touch_token(principal.token_id, now)
                uow.commit()
        with self._lock:
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            self._cache[digest] = (principal, self._clock.monotonic() + self._ttl_s)
        return principal
