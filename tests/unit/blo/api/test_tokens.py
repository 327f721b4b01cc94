"""Token expiry, the token store's verdicts and last-use throttling, and the audit's
secret scrubbing (blo/api/tokens.py, blo/api/audit.py), as pure logic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from blo.api.audit import query_text, redact, refusal
from blo.api.scope import Scope
from blo.api.tokens import (
    NO_TOKEN,
    Token,
    TokenError,
    TokenStore,
    hash_secret,
    parse_expiry,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("90d", NOW + timedelta(days=90)), ("12h", NOW + timedelta(hours=12)),
    ("30m", NOW + timedelta(minutes=30)), ("3600s", NOW + timedelta(hours=1)),
    ("2027-01-31", datetime(2027, 1, 31, tzinfo=UTC)),
    ("2027-01-31T18:00:00Z", datetime(2027, 1, 31, 18, tzinfo=UTC)),
    ("2027-01-31T18:00:00+05:00", datetime(2027, 1, 31, 13, tzinfo=UTC)),
    ("2027-01-31T18:00", datetime(2027, 1, 31, 18, tzinfo=UTC)),  # naive = UTC
    ("never", None), ("NEVER", None),
])
def test_expiry_forms(text: str, expected: datetime | None) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("0d", "not in the future"), ("2026-03-01", "not in the future"),
    ("5y", "give a duration"), ("soon", "give a duration"), ("", "give a duration"),
    ("2200-01-01", "at most 2105-12-31"), ("9999999d", "give a duration"),
])
def test_bad_expiries_say_what_to_give(text: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        parse_expiry(text, NOW)


def token(secret: str, *, revoked: bool = False, expires_at: datetime | None = None) -> Token:
    return Token("tok_0123456789ab", 2 if revoked else 1, "screen", hash_secret(secret),
                 Scope(all=True), NOW - timedelta(days=1), revoked,
                 NOW if revoked else None, expires_at)


def test_a_token_row_keeps_its_expiry_through_a_round_trip() -> None:
    t = token("blo_x", expires_at=NOW + timedelta(days=3))
    assert Token.from_row(t.row(NOW)) == t
    forever = token("blo_y")
    assert Token.from_row(forever.row(NOW)).expires_at is None


class Table:
    """api_tokens as the store reads it: rows of Token.row, counted reads."""

    def __init__(self, *tokens: Token) -> None:
        self.tokens = list(tokens)
        self.reads = 0

    async def query(self, sql: str) -> list[Any]:
        assert "api_tokens FINAL" in sql
        self.reads += 1
        return [t.row(NOW) for t in self.tokens]


class Clocks:
    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = NOW

    def tick(self, s: float) -> None:
        self.mono += s
        self.wall += timedelta(seconds=s)


def store(table: Table, clocks: Clocks, refresh_s: float = 2.0) -> TokenStore:
    return TokenStore(table.query, "blo", refresh_s=refresh_s, clock=lambda: clocks.mono,
                      now=lambda: clocks.wall)


def test_verdicts_name_the_reason() -> None:
    clocks = Clocks()
    table = Table(token("blo_live"), token("blo_gone", revoked=True),
                  token("blo_old", expires_at=NOW - timedelta(hours=1)))
    s = store(table, clocks)

    async def run() -> list[tuple[bool, str]]:
        out = []
        for secret in ("blo_live", "blo_gone", "blo_old", "blo_unknown", "nope"):
            v = await s.check(secret)
            out.append((v.token is not None, v.error))
        return out

    (live, gone, old, unknown, nope) = asyncio.run(run())
    assert live == (True, "")
    assert gone == (False, ("token tok_0123456789ab was revoked on 2026-03-01T12:00:00Z; ask "
                           "for a new one (`blo tokens create`)"))
    assert old == (False, ("token expired on 2026-03-01T11:00:00Z; ask for a new one "
                          "(`blo tokens create`)"))
    assert unknown == nope == (False, NO_TOKEN)


def test_a_recheck_sees_a_revocation_after_one_refresh_and_an_expiry_at_once() -> None:
    clocks = Clocks()
    live = token("blo_live", expires_at=NOW + timedelta(seconds=10))
    table = Table(live)
    s = store(table, clocks, refresh_s=1.0)

    async def run() -> list[str]:
        out = []
        accepted = (await s.check("blo_live")).token
        assert accepted is not None
        table.tokens = [token("blo_live", revoked=True)]
        clocks.tick(0.5)
        out.append((await s.recheck(accepted)).error)  # within the refresh: not yet
        clocks.tick(0.5)
        out.append((await s.recheck(accepted)).error)  # one refresh later: revoked
        table.tokens = [live]
        clocks.tick(10)
        out.append((await s.recheck(accepted)).error)  # its expiry: no read needed
        return out

    not_yet, revoked, expired = asyncio.run(run())
    assert not_yet == ""
    assert revoked.startswith("token tok_0123456789ab was revoked")
    assert expired.startswith("token expired on 2026-03-01T12:00:10Z")


def test_uses_are_noted_at_most_once_a_minute_per_token() -> None:
    clocks = Clocks()
    a, b = token("blo_a"), Token("tok_bbbbbbbbbbbb", 1, "b", hash_secret("blo_b"),
                                 Scope(all=True), NOW, False, None)
    s = store(Table(a, b), clocks)

    async def run() -> None:
        for _ in range(30):  # 30 calls within 59 s: one use each
            assert (await s.check("blo_a")).token and (await s.check("blo_b")).token
            clocks.tick(59 / 30)
        clocks.tick(1.5)
        assert (await s.check("blo_a")).token  # a minute after the first: a second use

    asyncio.run(run())
    assert s.take_uses() == [(a.token_id, NOW), (b.token_id, NOW),
                             (a.token_id, NOW + timedelta(seconds=60))]
    assert s.take_uses() == []


def test_secrets_are_scrubbed_from_audit_text() -> None:
    secret = "blo_hKL4XjPU21kFNh-YCAB7KYTSNBiPKpzr8_abc"
    assert query_text([("access_token", secret), ("n", "3"), ("ACCESS_TOKEN", "x")]) == "n=3"
    assert secret not in query_text([("q", f"x {secret}")])
    text = redact(f"GET /x?access_token={secret}&a=1 Authorization: Bearer {secret} "
                  f"Basic dXNlcjpwYXNz {secret[:9]}")
    assert "hKL4" not in text and "dXNlcjpwYXNz" not in text
    assert "access_token=<removed>&a=1" in text


def test_parser_refusals_keep_a_request_lines_path_never_a_headers_text() -> None:
    secret = "blo_hKL4XjPU21kFNh-YCAB7KYTSNBiPKpzr8"
    line = ("Got more than 8190 bytes when reading: bytearray(b'/api/v1/stats?access_token="
            f"{secret}&group_by=xxxxxxxxxxxxxxxxxxxxxx...').")
    assert refusal(line) == ("/api/v1/stats", "group_by=xxxxxxxxxxxxxxxxxxxxxx",
                             "refused by the HTTP layer: request line longer than 8190 bytes")
    header = f"Got more than 8190 bytes when reading: b'Bearer {secret}zzzzzzzz...'."
    assert refusal(header) == ("", "", ("refused by the HTTP layer: a header longer than "
                                       "8190 bytes"))
    other = refusal(f"Bad status line 'GET /?access_token={secret} HTTP/9'")
    assert other[:2] == ("", "") and secret not in other[2] and "hKL4" not in other[2]
    assert other[2].startswith("refused by the HTTP layer: Bad status line")
