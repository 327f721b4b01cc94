"""The CLI's exit codes for failures (docs/deployment.md, "Exit codes"): an expected failure
is one line and 2, a bug is its traceback, one line and 70; click's own codes pass."""

from __future__ import annotations

import click
from click.testing import CliRunner

from blo.cli import EXIT_INTERNAL, BloGroup
from blo.settings import SettingsError


def _group() -> click.Group:
    @click.group(cls=BloGroup)
    def g() -> None:
        pass

    @g.command()
    def bug() -> None:
        raise KeyError("station KZ-T1 vanished")

    @g.command()
    def config() -> None:
        raise SettingsError("BLO_KAFKA_BOOTSTRAP: required")

    @g.command()
    def usage() -> None:
        raise click.UsageError("no such option")

    @g.command()
    def done() -> None:
        raise click.exceptions.Exit(0)

    return g


def test_a_bug_is_70_with_one_line_saying_so() -> None:
    res = CliRunner().invoke(_group(), ["bug"])
    assert res.exit_code == EXIT_INTERNAL == 70
    assert "internal error (KeyError: 'station KZ-T1 vanished'); this is a bug" in res.output
    assert "Traceback" not in res.output.splitlines()[-1]


def test_expected_failures_and_clicks_own_codes_are_untouched() -> None:
    runner = CliRunner()
    res = runner.invoke(_group(), ["config"])
    assert res.exit_code == 2 and res.output == "error: BLO_KAFKA_BOOTSTRAP: required\n"
    assert runner.invoke(_group(), ["usage"]).exit_code == 2
    assert runner.invoke(_group(), ["done"]).exit_code == 0
