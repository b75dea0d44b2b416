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
    def __init__(self, store: Store) -> None:
        self._store = store

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated(
                "No credentials: send 'Authorization: Bearer <token>'.",
                hint="run `suanli up` (it writes your token to the config) or ask the "
                "operator for a token.",
            )
        with self._store.unit_of_work(readonly=True) as uow:
            principal = uow.tenancy.principal_for(hash_token(token))
        if principal is None:
            raise Unauthenticated(
                "The token is not valid (unknown or revoked).",
                hint="check SUANLI_TOKEN or the token in your suanli config.",
            )
        return principal
