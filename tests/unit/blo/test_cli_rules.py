"""`blo rules check`: every problem with its line and field, exit 1; the shipped set passes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from blo.cli import main

REPO = Path(__file__).resolve().parents[3]


def test_the_shipped_rule_set_is_valid() -> None:
    res = CliRunner().invoke(main, ["rules", "check", str(REPO / "blo/data/rules.yaml")])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith(": ok")


def test_every_problem_is_reported_with_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(
        "version: 1\n"
        "rules:\n"
        "  - id: heavy\n"
        "    name: Heavy seizure\n"
        "    kind: threshold\n"
        "    severity: critical\n"
        "    statistic: tonnes\n"          # line 7: not a statistic
        "    window: 7m\n"                 # line 8: not a configured window
        "    scope: station\n"
        "    op: '>='\n"
        "    raise: 50\n"
        "    message: '{nonsense} at {station_id}'\n"  # line 12: unknown placeholder
    )
    res = CliRunner().invoke(main, ["rules", "check", str(bad)])
    assert res.exit_code == 1
    out = res.output
    assert f"{bad}:7: rules.0.statistic" in out
    assert f"{bad}:8: rules.0.window" in out and "7m" in out
    assert f"{bad}:12: rules.0.message" in out and "nonsense" in out
    assert "3 problems" in out
