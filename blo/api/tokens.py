"""API tokens: created, listed and revoked with ``blo tokens``; checked by the API.

The secret (``blo_`` + 43 URL-safe characters, 256 random bits) is shown once, at creation;
``api_tokens`` keeps only its SHA-256, so a leaked table grants nothing. Every change is a
new version of the token's row (``ReplacingMergeTree(version)``): the current state is
``api_tokens FINAL``. The API re-reads the table at most every ``refresh_s`` seconds, so a
revocation takes effect within that time on every API process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from blo.api.scope import Scope
from schemas.countries import is_country
from sinks.base import Database, Row
from sinks.tables import API_TOKENS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.@-]{0,63}$")
_TOKEN_ID = re.compile(r"^tok_[0-9a-f]{12}$")


class TokenError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    token_id: str
    version: int
    name: str
    token_hash: str
    scope: Scope
    created_at: datetime
    revoked: bool
    revoked_at: datetime | None

    def row(self, updated_at: datetime) -> Row:
        return (self.token_id, self.version, self.name, self.token_hash,
                1 if self.scope.all else 0, sorted(self.scope.countries),
                sorted(self.scope.agencies), self.created_at, 1 if self.revoked else 0,
                self.revoked_at or _EPOCH, updated_at)

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> Token:
        (tid, version, name, h, scope_all, countries, agencies, created, revoked,
         revoked_at, _updated) = r
        scope = Scope(all=True) if scope_all else Scope(
            countries=frozenset(countries), agencies=frozenset(agencies))
        rv = _aware(revoked_at)
        return cls(str(tid), int(version), str(name), str(h), scope, _aware(created),
                   bool(revoked), rv if rv != _EPOCH else None)


def _aware(v: Any) -> datetime:
    if isinstance(v, datetime):
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(v), UTC)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scope(countries: Sequence[str], agencies: Sequence[str], all_: bool) -> Scope:
    """A scope from CLI input; :class:`TokenError` names what is wrong."""
    if all_:
        if countries or agencies:
            raise TokenError("--all gives every country: do not also give --country/--agency")
        return Scope(all=True)
    cs = {c.strip().upper() for part in countries for c in part.split(",") if c.strip()}
    ag = {a.strip() for part in agencies for a in part.split(",") if a.strip()}
    if not cs:
        raise TokenError("a token needs --country CODE (repeatable) or --all")
    unknown = sorted(c for c in cs if not is_country(c))
    if unknown:
        raise TokenError(f"unknown country codes: {', '.join(unknown)} (ISO 3166-1 alpha-2, "
                         "e.g. KZ, KG, TJ, TM, UZ)")
    return Scope(countries=frozenset(cs), agencies=frozenset(ag))


def _columns() -> tuple[str, ...]:
    return API_TOKENS.column_names


def create_token(db: Database, name: str, scope: Scope, now: datetime | None = None
                 ) -> tuple[Token, str]:
    """Store a new token; returns it and its secret (shown once)."""
    if not _NAME.match(name):
        raise TokenError("a token name is 1-64 letters, digits, spaces or _ . @ - (e.g. "
                         "'KZ national centre')")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    secret = "blo_" + secrets.token_urlsafe(32)
    token = Token("tok_" + secrets.token_hex(6), 1, name, hash_secret(secret), scope, now,
                  False, None)
    db.insert("api_tokens", _columns(), [token.row(now)])
    return token, secret


def list_tokens(db: Database) -> list[Token]:
    cols = ", ".join(_columns())
    rows = db.query(f"SELECT {cols} FROM {db.database}.api_tokens FINAL "
                    "ORDER BY created_at, token_id")
    return [Token.from_row(r) for r in rows]


def revoke_token(db: Database, token_id: str, now: datetime | None = None) -> Token:
    if not _TOKEN_ID.match(token_id):
        raise TokenError(f"not a token id: {token_id!r} (they look like tok_3f9a1c2e0b7d)")
    found = [t for t in list_tokens(db) if t.token_id == token_id]
    if not found:
        raise TokenError(f"no token {token_id}")
    old = found[0]
    if old.revoked:
        return old
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    new = Token(old.token_id, old.version + 1, old.name, old.token_hash, old.scope,
                old.created_at, True, now)
    db.insert("api_tokens", _columns(), [new.row(now)])
    return new


Query = Callable[[str], Awaitable[list[Row]]]


class TokenStore:
    """The API's view of the tokens: ``authenticate(secret)`` → the live token or None."""

    def __init__(self, query: Query, database: str, refresh_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.query = query
        self.database = database
        self.refresh_s = refresh_s
        self.clock = clock
        self._by_hash: dict[str, Token] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def _refresh(self, force: bool = False) -> None:
        async with self._lock:
            now = self.clock()
            if not force and self._loaded_at is not None and now - self._loaded_at < self.refresh_s:
                return
            cols = ", ".join(_columns())
            rows = await self.query(f"SELECT {cols} FROM {self.database}.api_tokens FINAL")
            self._by_hash = {t.token_hash: t for t in map(Token.from_row, rows)}
            self._loaded_at = now

    async def authenticate(self, secret: str) -> Token | None:
        if not secret.startswith("blo_") or len(secret) > 200:
            return None
        await self._refresh()
        h = hash_secret(secret)
        token = self._by_hash.get(h)
        stale = self._loaded_at is None or self.clock() - self._loaded_at >= 1.0
        if token is None and stale:  # created a moment ago? read again, at most 1/s
            await self._refresh(force=True)
            token = self._by_hash.get(h)
        if token is None or token.revoked:
            return None
        # constant-time compare of the stored hash (the dict lookup already matched it)
        return token if hmac.compare_digest(token.token_hash, h) else None
