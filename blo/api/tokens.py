"""API tokens: created, listed and revoked with ``blo tokens``; checked by the API.

The secret (``blo_`` + 43 URL-safe characters, 256 random bits) is shown once, at creation;
``api_tokens`` keeps only its SHA-256, so a leaked table grants nothing. Every change is a
new version of the token's row (``ReplacingMergeTree(version)``): the current state is
``api_tokens FINAL``. A token may carry an expiry (``expires_at``; ``blo tokens create``
gives 90 days unless told otherwise, see docs/api.md). The API re-reads the table at most
every ``refresh_s`` seconds, so a revocation takes effect within that time on every API
process, open ``/live`` streams included.

Last use is written by the API into ``api_token_use`` (at most once a minute per token
and process), never as a version of the token's row: a use written just after a
revocation could otherwise replace the revoked version and bring the token back.
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
from datetime import UTC, datetime, timedelta
from typing import Any

from blo.api.scope import Scope
from schemas.countries import is_country
from sinks.base import Database, Row
from sinks.tables import API_TOKENS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST = datetime(2105, 12, 31, tzinfo=UTC)  # DateTime (UInt32 seconds) ends in 2106
DEFAULT_EXPIRY = "90d"
"""What ``blo tokens create`` gives without ``--expires`` (docs/api.md says why)."""
_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
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
    expires_at: datetime | None = None  # None: never

    def row(self, updated_at: datetime) -> Row:
        return (self.token_id, self.version, self.name, self.token_hash,
                1 if self.scope.all else 0, sorted(self.scope.countries),
                sorted(self.scope.agencies), self.created_at, 1 if self.revoked else 0,
                self.revoked_at or _EPOCH, updated_at, self.expires_at or _EPOCH)

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> Token:
        (tid, version, name, h, scope_all, countries, agencies, created, revoked,
         revoked_at, _updated, expires_at) = r
        scope = Scope(all=True) if scope_all else Scope(
            countries=frozenset(countries), agencies=frozenset(agencies))
        rv, ex = _aware(revoked_at), _aware(expires_at)
        return cls(str(tid), int(version), str(name), str(h), scope, _aware(created),
                   bool(revoked), rv if rv != _EPOCH else None, ex if ex != _EPOCH else None)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def refusal(self, now: datetime) -> str:
        """Why the API refuses this token now ('' when it does not)."""
        if self.revoked:
            return (f"token {self.token_id} was revoked on {iso(self.revoked_at or _EPOCH)}; "
                    "ask for a new one (`blo tokens create`)")
        if self.expired(now):
            return (f"token expired on {iso(self.expires_at or _EPOCH)}; ask for a new one "
                    "(`blo tokens create`)")
        return ""


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def parse_expiry(text: str, now: datetime | None = None) -> datetime | None:
    """``--expires``: a duration (``90d``, ``12h``, ``30m``, ``3600s``), an ISO date
    (``2027-01-31``: the token stops at 00:00 UTC that day) or date-time (naive = UTC), or
    ``never``. Returns the instant, None for never; :class:`TokenError` names what is wrong."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    t = text.strip()
    if t.lower() == "never":
        return None
    m = _DURATION.match(t.lower())
    if m:
        at = now + timedelta(seconds=int(m.group(1)) * _UNIT_S[m.group(2)])
    else:
        try:
            at = datetime.fromisoformat(t)
        except ValueError:
            raise TokenError(f"--expires {text!r}: give a duration (90d, 12h, 30m, 3600s), a "
                             "date (2027-01-31), a date-time (2027-01-31T18:00:00Z) or "
                             "'never'") from None
        at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    at = at.replace(microsecond=0)
    if at <= now:
        raise TokenError(f"--expires {text!r} is not in the future ({iso(at)})")
    if at > _LAST:
        raise TokenError(f"--expires {text!r}: at most {iso(_LAST)} (or 'never')")
    return at


def _columns() -> tuple[str, ...]:
    return API_TOKENS.column_names


def create_token(db: Database, name: str, scope: Scope, now: datetime | None = None,
                 expires_at: datetime | None = None) -> tuple[Token, str]:
    """Store a new token; returns it and its secret (shown once). ``expires_at``: None =
    never (the CLI's default comes from :data:`DEFAULT_EXPIRY`)."""
    if not _NAME.match(name):
        raise TokenError("a token name is 1-64 letters, digits, spaces or _ . @ - (e.g. "
                         "'KZ national centre')")
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    secret = "blo_" + secrets.token_urlsafe(32)
    token = Token("tok_" + secrets.token_hex(6), 1, name, hash_secret(secret), scope, now,
                  False, None, expires_at.replace(microsecond=0) if expires_at else None)
    db.insert("api_tokens", _columns(), [token.row(now)])
    return token, secret


def list_tokens(db: Database) -> list[Token]:
    cols = ", ".join(_columns())
    rows = db.query(f"SELECT {cols} FROM {db.database}.api_tokens FINAL "
                    "ORDER BY created_at, token_id")
    return [Token.from_row(r) for r in rows]


def last_uses(db: Database) -> dict[str, datetime]:
    """token_id → when the API last accepted it (to the minute; absent: never used)."""
    rows = db.query(f"SELECT token_id, max(used_at) AS last_use FROM {db.database}"
                    ".api_token_use GROUP BY token_id")
    return {str(tid): _aware(at) for tid, at in rows}


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
                old.created_at, True, now, old.expires_at)
    db.insert("api_tokens", _columns(), [new.row(now)])
    return new


Query = Callable[[str], Awaitable[list[Row]]]
NO_TOKEN = ("a valid API token is required (Authorization: Bearer <token>; tokens come from "
            "`blo tokens create`)")


@dataclass(frozen=True)
class Verdict:
    """The outcome of a token check: the token, or why there is none."""

    token: Token | None
    error: str = ""


class TokenStore:
    """The API's view of the tokens: ``check(secret)`` → the live token or why not.

    The table is re-read at most every ``refresh_s`` (the API passes at most its live
    interval, so an open stream sees a revocation within two intervals). Each accepted use
    is noted, at most once per ``use_every_s`` per token, in :attr:`uses` (rows of
    ``api_token_use``, written by the API's audit flush).
    """

    def __init__(self, query: Query, database: str, refresh_s: float = 2.0,
                 clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 use_every_s: float = 60.0) -> None:
        self.query = query
        self.database = database
        self.refresh_s = refresh_s
        self.clock = clock
        self.now = now
        self.use_every_s = use_every_s
        self.uses: list[Row] = []
        self._noted: dict[str, float] = {}
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

    async def check(self, secret: str) -> Verdict:
        if not secret.startswith("blo_") or len(secret) > 200:
            return Verdict(None, NO_TOKEN)
        await self._refresh()
        h = hash_secret(secret)
        token = self._by_hash.get(h)
        stale = self._loaded_at is None or self.clock() - self._loaded_at >= 1.0
        if token is None and stale:  # created a moment ago? read again, at most 1/s
            await self._refresh(force=True)
            token = self._by_hash.get(h)
        # constant-time compare of the stored hash (the dict lookup already matched it)
        if token is None or not hmac.compare_digest(token.token_hash, h):
            return Verdict(None, NO_TOKEN)
        return self._judge(token)

    async def recheck(self, token: Token) -> Verdict:
        """``token`` as the table says now (revoked or expired since it was accepted?)."""
        await self._refresh()
        current = self._by_hash.get(token.token_hash)
        if current is None:
            return Verdict(None, NO_TOKEN)
        return self._judge(current)

    async def authenticate(self, secret: str) -> Token | None:
        return (await self.check(secret)).token

    def _judge(self, token: Token) -> Verdict:
        now = self.now()
        why = token.refusal(now)
        if why:
            return Verdict(None, why)
        last = self._noted.get(token.token_id)
        if last is None or self.clock() - last >= self.use_every_s:
            self._noted[token.token_id] = self.clock()
            self.uses.append((token.token_id, now.replace(microsecond=0)))
        return Verdict(token)

    def take_uses(self) -> list[Row]:
        rows, self.uses = self.uses, []
        return rows
