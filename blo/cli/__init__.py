"""``blo`` — the one console script. Every command has ``--help``.

Settings come from ``BLO_*`` environment variables (see ``blo/settings.py`` and the README);
they are read once here and passed down.
"""

from __future__ import annotations

import logging
import os
import sys

import click

from blo.redact import environ_secrets, install_redaction, installed_redactor
from blo.settings import Settings, SettingsError, load_settings


class BloGroup(click.Group):
    """Turns expected failures into one clear line and exit code 2 (no traceback), and an
    unexpected exception into its traceback (redacted, through logging), one line and exit
    code 70."""

    def invoke(self, ctx: click.Context) -> object:
        from sinks.base import SinkError

        try:
            return super().invoke(ctx)
        except (SettingsError, SinkError, FileNotFoundError, NotImplementedError) as e:
            click.echo(f"error: {installed_redactor()(str(e))}", err=True)
            sys.exit(2)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as e:  # a bug: its own exit code, the traceback through logging
            logging.getLogger("blo").critical("unexpected error", exc_info=True)
            click.echo(f"error: internal error ({type(e).__name__}: "
                       f"{installed_redactor()(str(e))[:300]}); this is a bug, please report "
                       "it with the traceback above", err=True)
            sys.exit(EXIT_INTERNAL)


EXIT_INTERNAL = 70
"""An unexpected exception in a ``blo`` command (``EX_SOFTWARE``): a bug to report."""


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        obj["settings"] = load_settings()
    s: Settings = obj["settings"]
    return s


@click.group(cls=BloGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """BLO stream pipeline: stations publish events to Kafka, a Faust worker validates,
    enriches and writes them to ClickHouse for monitoring centres.

    Configure with environment variables: BLO_KAFKA_BOOTSTRAP (host:port list) and
    BLO_CLICKHOUSE_URL (clickhouse://user:pass@host:9000/blo or chdb:///path/to/dir).
    """
    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every secret setting (and any URL's credentials) is redacted from every log record of
    # every logger, third-party ones included: see blo/redact.py. Read from the environment
    # (what load_settings reads) so that it holds even when the settings do not validate.
    install_redaction(environ_secrets(Settings, os.environ))
    if log_level.upper() != "DEBUG":  # client libraries narrate every connection at INFO
        for noisy in ("kafka", "aiokafka"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    ctx.ensure_object(dict)


def _register() -> None:
    from blo.cli import (  # noqa: F401 - commands attach themselves to `main`
        alerts,
        api,
        data,
        events,
        exports,
        imports,
        ops,
        report,
    )


_register()
