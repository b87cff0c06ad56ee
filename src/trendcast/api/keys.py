"""API keys: created once, stored hashed, checked on every request.

A key reads ``tc_<key_id>_<secret>``. The ``key_id`` is public (it names the key in
listings and in ``trendcast keys revoke``); only the sha256 of the secret is stored, so
the database never holds a usable key. Secrets carry 256 bits from :mod:`secrets`, which
is why a plain hash (not a slow password hash) is the right tool here.

Roles are ordered: a ``viewer`` reads, an ``analyst`` also uploads data and starts runs,
an ``admin`` also manages keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from trendcast.api.state import ServiceState
from trendcast.exceptions import ConfigError

__all__ = ["ROLES", "ApiKey", "KeyRing", "create_key"]

ROLES = ("viewer", "analyst", "admin")
_PREFIX = "tc"


@dataclass(frozen=True)
class ApiKey:
    """The holder of a checked key."""

    key_id: str
    role: str
    label: str

    def can(self, role: str) -> bool:
        """Whether this key's role includes ``role``'s rights."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _split(token: str) -> tuple[str, str] | None:
    """``(key_id, secret)`` of a well-formed key, else None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ConfigError(f"Unknown role {role!r}; use one of {list(ROLES)}.")
    return role


def create_key(state: ServiceState, role: str, label: str = "") -> tuple[str, str]:
    """Store a new key of ``role``; return ``(key_id, full_key)``. The key is shown only now."""
    check_role(role)
    key_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    state.add_key(key_id, _hash(secret), role, label or f"{role} key")
    return key_id, f"{_PREFIX}_{key_id}_{secret}"


class KeyRing:
    """Checks bearer keys against the state and remembers the good ones.

    A request with a key checked in the last ``ttl`` seconds is answered from memory. After
    that, if the state file has not changed since the check, the check still holds; if it
    has, the key is still accepted while one background check asks the state again (opening
    the database costs tens of milliseconds, and 50 clients must not all wait for it). So a
    key revoked from the CLI of another process stops working about ``ttl`` seconds later,
    and one revoked through the API at once.
    """

    def __init__(self, state: ServiceState, ttl: float = 2.0) -> None:
        self.state = state
        self.ttl = ttl
        # digest -> (when checked, state file stamp then, key)
        self._cache: dict[str, tuple[float, tuple[int, ...] | None, ApiKey]] = {}
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    def lookup(self, token: str) -> tuple[ApiKey | None, bool]:
        """The remembered key behind ``token`` (or None) and whether its check is due."""
        parts = _split(token)
        if parts is None:
            return None, False
        digest = _hash(parts[1])
        with self._lock:
            found = self._cache.get(digest)
        if found is None or found[2].key_id != parts[0]:
            return None, True
        checked, stamp, key = found
        now = time.monotonic()
        if now - checked < self.ttl:
            return key, False
        if stamp is not None and self.state.stamp() == stamp:
            with self._lock:
                self._cache[digest] = (now, stamp, key)
            return key, False
        return key, True

    def refresh_soon(self, token: str) -> None:
        """Check a remembered key against the state in the background, once at a time."""
        parts = _split(token)
        if parts is None:
            return
        digest = _hash(parts[1])
        with self._lock:
            if digest in self._refreshing:
                return
            self._refreshing.add(digest)

        def refresh() -> None:
            try:
                self.check(token)
            finally:
                with self._lock:
                    self._refreshing.discard(digest)

        threading.Thread(target=refresh, name="trendcast-key-check", daemon=True).start()

    def check(self, token: str) -> ApiKey | None:
        """The key behind ``token`` according to the state, or None for a malformed, unknown
        or revoked key (which is then forgotten)."""
        parts = _split(token)
        if parts is None:
            return None
        key_id, secret = parts
        digest = _hash(secret)
        now = time.monotonic()
        stamp = self.state.stamp()
        row = self.state.key(key_id)
        if (
            row is None
            or row["revoked_at"] is not None
            or not hmac.compare_digest(row["secret_hash"], digest)
        ):
            with self._lock:
                self._cache.pop(digest, None)
            return None
        key = ApiKey(key_id=key_id, role=row["role"], label=row["label"])
        with self._lock:
            self._cache[digest] = (now, stamp, key)
        return key

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (after it was revoked)."""
        with self._lock:
            for digest, (_, _, key) in list(self._cache.items()):
                if key.key_id == key_id:
                    del self._cache[digest]


def revoke_key(state: ServiceState, key_id: str) -> None:
    """Revoke ``key_id``; refuses unknown or already revoked keys."""
    if state.key(key_id) is None:
        raise ConfigError(f"No API key {key_id!r}; `trendcast keys list` shows the key ids.")
    if not state.revoke_key(key_id):
        raise ConfigError(f"The API key {key_id!r} is already revoked.")
