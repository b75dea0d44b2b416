"""Authentication: bearer token -> Principal. Tokens are stored as SHA-256 hashes only."""

from __future__ import annotations

import hashlib

from suanli.domain.errors import Unauthenticated
from suanli.domain.ids import TOKEN_PREFIX
from suanli.domain.tenancy import Principal
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.store import Store, UnitOfWork


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(uow: UnitOfWork, ids: IdGenerator, clock: Clock, principal: Principal) -> str:
    """Create a token for `principal` inside the caller's transaction; return the secret
    (shown once, never stored in clear)."""
    secret = ids.secret()
    uow.tenancy.add_token(ids.new(TOKEN_PREFIX), hash_token(secret), principal, clock.now())
    return secret


class Authenticator:
    """Resolves bearer tokens. Valid tokens are cached for `ttl_s` seconds (monotonic
    clock) so that most requests skip the database; revoking a token therefore takes
    effect within `ttl_s`, or at once through `forget`."""

    MAX_CACHED = 10_000

    def __init__(self, store: Store, clock: Clock, *, ttl_s: float = 30.0) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[Principal, float]] = {}

    def cached(self, token: str | None) -> Principal | None:
        """The principal of a recently seen valid token, without touching the store."""
        if not token:
            return None
        hit = self._cache.get(hash_token(token))
        if hit is None or hit[1] < self._clock.monotonic():
            return None
        return hit[0]

    def forget(self, token_hash: str) -> None:
        self._cache.pop(token_hash, None)

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated(
                "No credentials: send 'Authorization: Bearer <token>'.",
                hint="run `suanli up` (it writes your token to the config) or ask the "
                "operator for a token.",
            )
        hit = self.cached(token)
        if hit is not None:
            return hit
        digest = hash_token(token)
        with self._store.unit_of_work(readonly=True) as uow:
            principal = uow.tenancy.principal_for(digest)
        if principal is None:
            raise Unauthenticated(
                "The token is not valid (unknown or revoked).",
                hint="check SUANLI_TOKEN or the token in your suanli config.",
            )
        if len(self._cache) >= self.MAX_CACHED:
            self._cache.clear()
        self._cache[digest] = (principal, self._clock.monotonic() + self._ttl_s)
        return principal
