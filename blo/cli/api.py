"""The monitoring centres' API: ``blo api`` and ``blo tokens``."""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Any

import click

from blo.cli import main, settings_of
from blo.settings import ClickHouseSettings, Settings

if TYPE_CHECKING:
    from blo.api.privileges import Findings
    from sinks.base import Database

DOC = 'docs/deployment.md, "ClickHouse users"'


@main.command("api")
@click.pass_context
def api_cmd(ctx: click.Context) -> None:
    """Serve the query API and the live dashboard on BLO_API_HOST:BLO_API_PORT
    (127.0.0.1:8080) against a ClickHouse server.

    Endpoints under /api/v1 (spec: /api/v1/openapi.json; docs/api.md) need a token from
    `blo tokens create`; the dashboard is at /. In embedded mode (chdb://) the worker
    serves the API itself: run `blo worker` or `blo demo` instead.

    \b
    ClickHouse users (docs/deployment.md, "ClickHouse users"):
      BLO_API_CLICKHOUSE_URL        reads; its profile must have readonly = 1
                                    (default: BLO_CLICKHOUSE_URL, the worker's user)
      BLO_API_AUDIT_CLICKHOUSE_URL  writes the audit rows and nothing else
                                    (clickhouse://blo_audit:…@host:9000/blo_audit)
    Before serving, the server is asked what each user may do; `blo api` refuses to
    start (exit 2) while a user can write or run DDL beyond that, unless
    BLO_API_ALLOW_UNSAFE_USERS=true (then a warning; development only).
    """
    from blo.api.serve import run_api

    s = settings_of(ctx)
    reader_ch, writer_ch = api_clickhouse(s)
    if reader_ch.target().kind == "chdb":
        click.echo("error: with embedded ClickHouse (chdb://) the worker serves the API on "
                   "BLO_API_PORT; `blo api` is for a ClickHouse server (BLO_CLICKHOUSE_URL "
                   "or BLO_API_CLICKHOUSE_URL)", err=True)
        sys.exit(2)
    from blo.db import open_database

    db = open_database(reader_ch)
    writer = open_database(writer_ch) if writer_ch is not None else None
    try:
        _check_users(s, db, reader_ch.target().user, writer,
                     writer_ch.target().user if writer_ch is not None else "")
        sys.exit(run_api(s, db, writer))
    finally:
        db.close()
        if writer is not None:
            writer.close()


def api_clickhouse(s: Settings) -> tuple[ClickHouseSettings, ClickHouseSettings | None]:
    """The ClickHouse settings `blo api` reads with, and those it writes audit rows with
    (None: the reader's connection writes them too, as when neither API URL is set).
    Exits 2 when the reader is set apart but the audit writer is not."""
    a = s.api
    reader = (s.clickhouse.model_copy(update={"url": a.clickhouse_url})
              if a.clickhouse_url is not None else s.clickhouse)
    if a.audit_clickhouse_url is not None:
        return reader, s.clickhouse.model_copy(update={"url": a.audit_clickhouse_url})
    if a.clickhouse_url is not None and a.audit:
        click.echo("error: BLO_API_CLICKHOUSE_URL is set (a read-only user, which cannot "
                   "write the audit log) but BLO_API_AUDIT_CLICKHOUSE_URL is not: set it to "
                   "the audit user (clickhouse://blo_audit:…@host:9000/blo_audit; "
                   'docs/deployment.md, "ClickHouse users"), or BLO_API_AUDIT=false', err=True)
        sys.exit(2)
    return reader, None


def _check_users(s: Settings, db: Database, user: str, writer: Database | None,
                 writer_user: str) -> None:
    """Ask the server what the API's users may do (blo.api.privileges); exit 2 on a user
    the API cannot work with, or on one with more rights than it needs unless
    BLO_API_ALLOW_UNSAFE_USERS. Waits (one line per state change) while ClickHouse does
    not answer."""
    import time

    from blo.api.privileges import check_audit_writer, check_reader
    from sinks.base import SinkUnavailable

    log = logging.getLogger("blo.api")
    reader_var = ("BLO_API_CLICKHOUSE_URL" if s.api.clickhouse_url is not None
                  else "BLO_CLICKHOUSE_URL")
    waiting = False
    while True:
        try:
            found = check_reader(db, reader_var, user)
            if writer is not None:
                found += check_audit_writer(writer, "BLO_API_AUDIT_CLICKHOUSE_URL",
                                            writer_user, db.database)
            break
        except SinkUnavailable as e:
            if not waiting:
                log.warning("cannot ask ClickHouse what the API's users may do (%s); "
                            "retrying every 2 s", e)
                waiting = True
            time.sleep(2.0)
    if waiting:
        log.info("ClickHouse answers: checking the API's users")
    _report(found, s.api.allow_unsafe_users, log)


def _report(found: Findings, allow_unsafe: bool, log: logging.Logger) -> None:
    if found.broken:
        for line in found.broken:
            click.echo(f"error: {line}", err=True)
        sys.exit(2)
    if not found.unsafe:
        return
    if allow_unsafe:
        for line in found.unsafe:
            log.warning("UNSAFE (BLO_API_ALLOW_UNSAFE_USERS=true): %s", line)
        return
    for line in found.unsafe:
        click.echo(f"error: {line}", err=True)
    click.echo("`blo api` refuses to start while its ClickHouse users can do more than read "
               "(and insert audit rows): set BLO_API_CLICKHOUSE_URL to a read-only user and "
               f"BLO_API_AUDIT_CLICKHOUSE_URL to the audit writer ({DOC}), or "
               "BLO_API_ALLOW_UNSAFE_USERS=true to start anyway (development only)", err=True)
    sys.exit(2)


@main.group()
def tokens() -> None:
    """API tokens: each carries a scope (countries, optionally agencies, or all).

    Only a hash of each token is stored; the token itself is printed once, by `create`.
    In embedded mode these go through the running worker (or open chDB when none runs).
    """


def tokens_call(s: Settings, body: dict[str, Any]) -> Any:
    """Run a token operation (see :func:`token_operation`) on the configured ClickHouse."""
    if s.clickhouse.target().kind == "chdb":
        from blo.door import DoorError, call

        try:
            got = call(s, "tokens", body)
        except DoorError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        if got is not None:
            return got
    from blo.db import open_database

    db = open_database(s.clickhouse)
    try:
        return token_operation(db, body)
    finally:
        db.close()


def token_operation(db: Any, body: dict[str, Any]) -> Any:
    """``{"op": "create"|"list"|"revoke", ...}`` → JSON-able answer; TokenError on bad input.
    Shared by the CLI and the worker's loopback door (embedded mode). ``create`` takes
    ``expires`` (see :func:`blo.api.tokens.parse_expiry`; default
    :data:`blo.api.tokens.DEFAULT_EXPIRY`)."""
    from datetime import UTC, datetime

    from blo.api.tokens import (
        DEFAULT_EXPIRY,
        TokenError,
        create_token,
        iso,
        last_uses,
        list_tokens,
        parse_expiry,
        parse_scope,
        revoke_token,
    )

    op = body.get("op")
    if op == "create":
        scope = parse_scope(body.get("countries", []), body.get("agencies", []),
                            bool(body.get("all")))
        expires_at = parse_expiry(str(body.get("expires") or DEFAULT_EXPIRY))
        token, secret = create_token(db, str(body.get("name", "")), scope,
                                     expires_at=expires_at)
        return {"token_id": token.token_id, "name": token.name, "scope": scope.describe(),
                "expires_at": iso(expires_at) if expires_at else None, "token": secret}
    if op == "list":
        now, used = datetime.now(UTC), last_uses(db)
        return [{"token_id": t.token_id, "name": t.name, "scope": t.scope.describe(),
                 "created_at": iso(t.created_at),
                 "expires_at": iso(t.expires_at) if t.expires_at else None,
                 "last_used_at": iso(used[t.token_id]) if t.token_id in used else None,
                 "state": "revoked" if t.revoked else "expired" if t.expired(now)
                 else "active",
                 "revoked_at": iso(t.revoked_at) if t.revoked_at else None}
                for t in list_tokens(db)]
    if op == "revoke":
        t = revoke_token(db, str(body.get("token_id", "")))
        return {"token_id": t.token_id, "name": t.name, "revoked": t.revoked}
    raise TokenError(f"unknown token operation {op!r}")


def _run(ctx: click.Context, body: dict[str, Any]) -> Any:
    from blo.api.tokens import TokenError

    try:
        return tokens_call(settings_of(ctx), body)
    except TokenError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


@tokens.command("create")
@click.argument("name")
@click.option("--country", "countries", multiple=True,
              help="A country the token sees (ISO code; repeatable or comma-separated).")
@click.option("--agency", "agencies", multiple=True,
              help="Only stations of this agency (repeatable); default: every agency.")
@click.option("--all", "all_", is_flag=True, help="Every country: the regional centre.")
@click.option("--expires", metavar="WHEN",
              help="When the token stops working: a duration (90d, 12h, 30m, 3600s), a "
                   "date (2027-01-31, 00:00 UTC) or date-time (2027-01-31T18:00:00Z), or "
                   "'never'. Default: 90d.")
@click.pass_context
def tokens_create(ctx: click.Context, name: str, countries: tuple[str, ...],
                  agencies: tuple[str, ...], all_: bool, expires: str | None) -> None:
    """Create a token named NAME and print it (once: only its hash is kept).

    Tokens expire after 90 days unless --expires says otherwise (docs/api.md: why);
    rotate by creating the next one before the old one expires, then revoking the old."""
    got = _run(ctx, {"op": "create", "name": name, "countries": list(countries),
                     "agencies": list(agencies), "all": all_, "expires": expires})
    until = f"expires {got['expires_at']}" if got.get("expires_at") else "never expires"
    click.echo(f"{got['token_id']}  {got['name']}  scope: {got['scope']}  {until}", err=True)
    click.echo("the token (shown once; send it as 'Authorization: Bearer <token>'):", err=True)
    click.echo(got["token"])


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.pass_context
def tokens_list(ctx: click.Context, as_json: bool) -> None:
    """Every token: id, name, scope, created, state (active, expired, revoked), expiry and
    last use (to the minute, written by the API) — never the token itself."""
    got = _run(ctx, {"op": "list"})
    if as_json:
        click.echo(json.dumps(got, indent=2))
        return
    if not got:
        click.echo("no tokens (create one with `blo tokens create NAME --country KZ`)", err=True)
        return
    for t in got:
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else t.get("state", "active")
        expires = t.get("expires_at") or "never"
        used = t.get("last_used_at") or "never"
        click.echo(f"{t['token_id']}  {t['name']:<28}  {t['scope']:<20}  "
                   f"created {t['created_at']}  expires {expires}  last used {used}  {state}")


@tokens.command("revoke")
@click.argument("token_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke TOKEN_ID (tok_…): the API refuses it (401) within seconds."""
    got = _run(ctx, {"op": "revoke", "token_id": token_id})
    click.echo(f"revoked {got['token_id']} ({got['name']})")
