"""Id generator adapters: random (seedable) ids and unguessable secrets."""

from __future__ import annotations

import random
import secrets

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford-like: no i, l, o, u


class RandomIds:
    """Ids from an injected `random.Random`; secrets always from the OS (`secrets`)."""

    def __init__(self, rng: random.Random | None = None, length: int = 10) -> None:
        self._rng = rng or random.Random(secrets.randbits(64))
        self._length = length

    def new(self, prefix: str) -> str:
        return prefix + "".join(self._rng.choice(_ALPHABET) for _ in range(self._length))

    def secret(self) -> str:
        return "sl_" + secrets.token_urlsafe(32)
