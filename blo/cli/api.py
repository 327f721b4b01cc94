"""The monitoring centres' API: ``blo api`` and ``blo tokens``."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

import click

from blo.cli import main, settings_of
from blo.settings import Settings


@main.command("api")
@click.pass_context
def api_cmd(ctx: click.Context) -> None:
    """Serve the query API and the live dashboard on BLO_API_HOST:BLO_API_PORT
    (127.0.0.1:8080) against the ClickHouse server of BLO_CLICKHOUSE_URL.

    Endpoints under /api/v1 (spec: /api/v1/openapi.json; docs/api.md) need a token from
    `blo tokens create`; the dashboard is at /. In embedded mode (chdb://) the worker
    serves the API itself: run `blo worker` or `blo demo` instead.
    """
    from blo.api.serve import run_api
    from blo.db import open_database

    s = settings_of(ctx)
    if s.clickhouse.target().kind == "chdb":
        click.echo("error: with embedded ClickHouse (chdb://) the worker serves the API on "
                   "BLO_API_PORT; `blo api` is for a ClickHouse server", err=True)
        sys.exit(2)
    db = open_database(s.clickhouse)
    try:
        sys.exit(run_api(s, db))
    finally:
        db.close()


@main.group()
def tokens() -> None:
    """API tokens: each carries a scope (countries, optionally agencies, or all).

    Only a hash of each token is stored; the token itself is printed once, by `create`.
    In embedded mode these go through the running worker (or open chDB when none runs).
    """


def _via_worker(s: Settings, body: dict[str, Any]) -> Any | None:
    req = urllib.request.Request(f"http://{s.web.host}:{s.web.port}/api/tokens",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            msg = json.loads(e.read()).get("error", str(e))
        except ValueError:
            msg = str(e)
        click.echo(f"error: {msg}", err=True)
        sys.exit(2)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


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
    Shared by the CLI and the worker's loopback door (embedded mode)."""
    from blo.api.tokens import TokenError, create_token, list_tokens, parse_scope, revoke_token

    op = body.get("op")
    if op == "create":
        scope = parse_scope(body.get("countries", []), body.get("agencies", []),
                            bool(body.get("all")))
        token, secret = create_token(db, str(body.get("name", "")), scope)
        return {"token_id": token.token_id, "name": token.name, "scope": scope.describe(),
                "token": secret}
    if op == "list":
        return [{"token_id": t.token_id, "name": t.name, "scope": t.scope.describe(),
                 "created_at": t.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "revoked_at": t.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                 if t.revoked_at else None} for t in list_tokens(db)]
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
@click.pass_context
def tokens_create(ctx: click.Context, name: str, countries: tuple[str, ...],
                  agencies: tuple[str, ...], all_: bool) -> None:
    """Create a token named NAME and print it (once: only its hash is kept)."""
    got = _run(ctx, {"op": "create", "name": name, "countries": list(countries),
                     "agencies": list(agencies), "all": all_})
    click.echo(f"{got['token_id']}  {got['name']}  scope: {got['scope']}", err=True)
    click.echo("the token (shown once; send it as 'Authorization: Bearer <token>'):", err=True)
    click.echo(got["token"])


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON instead of a table.")
@click.pass_context
def tokens_list(ctx: click.Context, as_json: bool) -> None:
    """Every token: id, name, scope, created, revoked (never the token itself)."""
    got = _run(ctx, {"op": "list"})
    if as_json:
        click.echo(json.dumps(got, indent=2))
        return
    if not got:
        click.echo("no tokens (create one with `blo tokens create NAME --country KZ`)", err=True)
        return
    for t in got:
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
        click.echo(f"{t['token_id']}  {t['name']:<28}  {t['scope']:<20}  "
                   f"created {t['created_at']}  {state}")


@tokens.command("revoke")
@click.argument("token_id")
@click.pass_context
def tokens_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke TOKEN_ID (tok_…): the API refuses it (401) within seconds."""
    got = _run(ctx, {"op": "revoke", "token_id": token_id})
    click.echo(f"revoked {got['token_id']} ({got['name']})")
