"""API keys for integrations: created with scopes, shown once, stored as a salted hash, revocable.

A key reads ``<prefix>.<secret>``. The prefix is stored as is and finds the row (it is also how
people name a key, in ``campaign apikeys revoke PREFIX``); the secret is stored only as a salted
PBKDF2-SHA256 hash and compared in constant time. The secret is 256 random bits, so no amount of
stretching is needed against guessing; the iterations only make a stolen table dearer to use, and
they stay low enough (about 2 ms) to pay on every request. No Flask here.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaign.errors import CampaignError, NotFound, did_you_mean
from campaign.models import ApiKey


class Scope(enum.StrEnum):
    """What a key may do; each API operation names the one scope it needs."""

    LEARNERS_READ = "learners:read"  # list and read learners
    LEARNERS_WRITE = "learners:write"  # upsert learners, tag them, record their consent
    EVENTS_WRITE = "events:write"  # post learning events
    COHORTS_READ = "cohorts:read"  # read a cohort's leaderboard
    COHORTS_WRITE = "cohorts:write"  # enroll learners into cohorts
    OFFERS_READ = "offers:read"  # list offers and conversions
    REPORTS_READ = "reports:read"  # read the funnel
    PRIVACY_READ = "privacy:read"  # export everything held on a learner
    PRIVACY_WRITE = "privacy:write"  # delete a learner


ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 10_000
PREFIX_BYTES = 6  # 12 hex digits: unique enough to name a key, short enough to type
SECRET_BYTES = 32
# A key used again within this time is not written back; a busy integration would otherwise
# turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=5)
# Compared against when the prefix is unknown, so that a miss costs what a hit costs.
_DUMMY_HASH = f"{ALGORITHM}${ITERATIONS}${'00' * 16}${'00' * 32}"


class InvalidApiKey(CampaignError):
    """A key cannot be created as asked (empty name, unknown scope)."""


class KeyRejected(CampaignError):
    """The presented key does not authenticate; the message says why without leaking secrets."""


@dataclass(frozen=True)
class CreatedKey:
    """A new key: the row, and the token to hand over once (it cannot be shown again)."""

    key: ApiKey
    token: str


def parse_scopes(names: Iterable[str]) -> list[Scope]:
    """Return the scopes named, in a stable order, without repeats.

    :raises InvalidApiKey: for an unknown name, with the closest known one.
    """
    known = {scope.value: scope for scope in Scope}
    chosen: set[Scope] = set()
    for name in names:
        scope = known.get(name.strip())
        if scope is None:
            hint = did_you_mean(name, known) or f"; known scopes: {', '.join(known)}"
            raise InvalidApiKey(f"unknown scope '{name}'{hint}")
        chosen.add(scope)
    return [scope for scope in Scope if scope in chosen]


def hash_secret(secret: str, *, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """Return ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>`` for ``secret``."""
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    return f"{ALGORITHM}${iterations}${salt.hex()}${digest.hex()}"


def secret_matches(secret: str, stored: str) -> bool:
    """Tell whether ``secret`` hashes to ``stored``, comparing in constant time."""
    try:
        algorithm, iterations, salt, expected = stored.split("$")
        if algorithm != ALGORITHM:
            return False
        actual = hash_secret(secret, salt=bytes.fromhex(salt), iterations=int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(actual.rsplit("$", 1)[1], expected)


def create_key(session: Session, name: str, scopes: Iterable[str], *, now: datetime) -> CreatedKey:
    """Create a key called ``name`` allowed ``scopes``; the caller commits.

    :raises InvalidApiKey: for an empty or over-long name, no scope or an unknown scope.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidApiKey("give the key a name of 1 to 100 characters, such as 'school-crm'")
    chosen = parse_scopes(scopes)
    if not chosen:
        raise InvalidApiKey(
            f"give the key at least one scope: {', '.join(scope.value for scope in Scope)}"
        )
    prefix = secrets.token_hex(PREFIX_BYTES)
    while session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is not None:
        prefix = secrets.token_hex(PREFIX_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    key = ApiKey(
        name=name,
        prefix=prefix,
        secret_hash=hash_secret(secret),
        scopes=" ".join(scope.value for scope in chosen),
        created_at=now,
    )
    session.add(key)
    session.flush()
    return CreatedKey(key=key, token=f"{prefix}.{secret}")


def list_keys(session: Session, *, include_revoked: bool = True) -> list[ApiKey]:
    """Return keys, oldest first."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_key(session: Session, prefix: str, *, now: datetime) -> ApiKey:
    """Revoke the key with ``prefix`` (at once, for every request after the commit).

    Revoking a revoked key keeps its first revocation time.

    :raises NotFound: when no key has that prefix.
    """
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix.strip()))
    if key is None:
        raise NotFound(f"no API key has the prefix '{prefix}'; 'campaign apikeys list' shows them")
    if key.revoked_at is None:
        key.revoked_at = now
    return key


def authenticate(session: Session, token: str, *, now: datetime) -> ApiKey:
    """Return the live key that ``token`` is, noting when it was used; the caller commits.

    :raises KeyRejected: for a malformed, unknown, wrong or revoked key.
    """
    prefix, dot, secret = token.strip().partition(".")
    if not dot or not prefix or not secret or len(prefix) > 16 or len(secret) > 200:
        raise KeyRejected("the API key is malformed; it reads '<prefix>.<secret>'")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    matches = secret_matches(secret, key.secret_hash if key is not None else _DUMMY_HASH)
    if key is None or not matches:
        raise KeyRejected("the API key is not valid; check it or ask for a new one")
    if key.revoked_at is not None:
        raise KeyRejected(f"the API key '{key.prefix}' was revoked; ask for a new one")
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = now
    return key
