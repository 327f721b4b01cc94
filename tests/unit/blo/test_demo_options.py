"""`blo demo`: the ports it takes (options, BLO_WEB_PORT/BLO_API_PORT) and what it does with
its own API token at each start (blo/demo.py: plan_demo_token, the saved token file)."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from blo.cli import main
from blo.demo import DEMO_TOKEN_NAME, _save_token, _saved_token, plan_demo_token
from blo.localservices.tansu import free_port

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def token(tid: str, name: str = DEMO_TOKEN_NAME, scope: str = "all", state: str = "active",
          expires_in: timedelta | None = timedelta(days=60)) -> dict[str, Any]:
    until = (NOW + expires_in).strftime("%Y-%m-%dT%H:%M:%SZ") if expires_in else None
    return {"token_id": tid, "name": name, "scope": scope, "state": state,
            "expires_at": until}


OTHERS = [token("tok_000000000001", name="KZ national centre", scope="KZ"),
          token("tok_000000000002", name="regional centre"),  # all countries, not the demo's
          token("tok_000000000003", scope="KZ"),  # the demo's name, another scope
          token("tok_000000000004", state="revoked"),
          token("tok_000000000005", state="expired")]


def test_a_first_start_creates_the_token_and_touches_no_other() -> None:
    plan = plan_demo_token(OTHERS, None, NOW)
    assert (plan.reuse, plan.revoke) == (None, ())


def test_the_saved_token_is_reused_and_other_demo_tokens_revoked() -> None:
    tokens = [*OTHERS, token("tok_aaaaaaaaaaaa"), token("tok_bbbbbbbbbbbb"),
              token("tok_cccccccccccc", expires_in=None)]
    plan = plan_demo_token(tokens, "tok_bbbbbbbbbbbb", NOW)
    assert plan.reuse == "tok_bbbbbbbbbbbb"
    assert plan.revoke == ("tok_aaaaaaaaaaaa", "tok_cccccccccccc")


@pytest.mark.parametrize("saved", [
    token("tok_bbbbbbbbbbbb", expires_in=timedelta(hours=3)),  # expiring: replaced
    token("tok_bbbbbbbbbbbb", state="revoked"),  # revoked by someone: replaced
])
def test_a_saved_token_that_will_not_work_is_replaced(saved: dict[str, Any]) -> None:
    plan = plan_demo_token([*OTHERS, saved, token("tok_aaaaaaaaaaaa")], "tok_bbbbbbbbbbbb",
                           NOW)
    assert plan.reuse is None
    assert plan.revoke == (("tok_bbbbbbbbbbbb",) if saved["state"] == "active" else ()) + (
        "tok_aaaaaaaaaaaa",)


def test_a_saved_token_the_database_lost_is_replaced() -> None:
    plan = plan_demo_token([*OTHERS, token("tok_aaaaaaaaaaaa")], "tok_ffffffffffff", NOW)
    assert (plan.reuse, plan.revoke) == (None, ("tok_aaaaaaaaaaaa",))


def test_the_saved_token_file_is_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "demo-token.json"
    assert _saved_token(path) is None
    _save_token(path, "tok_aaaaaaaaaaaa", "blo_secret1")
    _save_token(path, "tok_bbbbbbbbbbbb", "blo_secret2")
    assert _saved_token(path) == ("tok_bbbbbbbbbbbb", "blo_secret2")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("{not json")
    assert _saved_token(path) is None


@pytest.fixture
def held_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def demo(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    res = CliRunner().invoke(main, ["demo", "--data-dir", str(tmp_path / "demo"), *args],
                             env={"BLO_WEB_PORT": None, "BLO_API_PORT": None, **env})
    return res.exit_code, res.output


def test_a_port_in_use_names_the_option_and_variable_that_change_it(
        tmp_path: Path, held_port: int) -> None:
    code, out = demo(tmp_path, "--port", str(held_port), "--api-port", str(free_port()))
    assert code == 2
    assert (f"port {held_port} is in use (another demo or worker?); choose another with "
            '--port N or BLO_WEB_PORT=N (make demo ARGS="--port N")') in out
    code, out = demo(tmp_path, "--port", str(free_port()), "--api-port", str(held_port))
    assert code == 2 and "choose another with --api-port N or BLO_API_PORT=N" in out


def test_the_demo_takes_its_ports_from_blo_web_port_and_blo_api_port(
        tmp_path: Path, held_port: int) -> None:
    code, out = demo(tmp_path, BLO_WEB_PORT=str(held_port), BLO_API_PORT=str(free_port()))
    assert code == 2 and f"port {held_port} is in use" in out
    code, out = demo(tmp_path, BLO_WEB_PORT=str(free_port()), BLO_API_PORT=str(held_port))
    assert code == 2 and f"port {held_port} is in use" in out
    # the option wins over the variable
    code, out = demo(tmp_path, "--port", str(held_port), BLO_WEB_PORT=str(free_port()),
                     BLO_API_PORT=str(free_port()))
    assert code == 2 and f"port {held_port} is in use" in out
