"""What ``blo alerts ack``, ``mute`` and ``unmute`` share: they send records to the alert
engine's input topic and (``--wait``) poll ClickHouse until the worker has written what
they sent. Their ``--by``, ``--wait/--no-wait`` and ``--timeout`` options are declared here
once, with the wait loop they drive."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from blo.settings import Settings
from streams.alerts.mutes import MAX_WHO_CHARS

POLL_INTERVAL_S = 0.5
"""How often ``--wait`` reads ClickHouse again."""

NO_WORKER_HINT = "is a worker running with BLO_ALERTS_ENABLED=true?"

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


def by_option(who_does: str, help: str, *, required: bool) -> Callable[[F], F]:
    """``--by`` (parameter ``who``): who does it, stripped, never blank (``who_does`` names
    the deed in the error: "acknowledges"). Required, or by default the OS user."""

    def who(ctx: click.Context, param: click.Parameter, value: str) -> str:
        if not value.strip():
            raise click.BadParameter(f"must name who {who_does} (not blank)")
        if len(value.strip()) > MAX_WHO_CHARS:
            raise click.BadParameter(f"at most {MAX_WHO_CHARS} characters")
        return value.strip()

    if required:
        return click.option("--by", "who", required=True, callback=who, help=help)
    import getpass

    return click.option("--by", "who", default=getpass.getuser, callback=who, help=help)


def wait_options(until: str) -> Callable[[F], F]:
    """``--wait/--no-wait`` (default: wait ``until``, e.g. "the worker has stored the
    mute") and ``--timeout SECONDS`` (parameters ``wait``, ``timeout``)."""

    def decorate(f: F) -> F:
        f = click.option("--timeout", default=30.0, show_default=True,
                         type=click.FloatRange(min=0), metavar="SECONDS",
                         help="How long --wait waits.")(f)
        return click.option("--wait/--no-wait", default=True, show_default=True,
                            help=f"Wait until {until}.")(f)

    return decorate


def send(s: Settings, records: list[tuple[bytes, bytes]]) -> None:
    """Produce acknowledgement or mute records to the engine's input topic (exit 2 if Kafka
    fails)."""
    from kafka.errors import KafkaError

    from blo.kafka_io import ensure_topics, produce

    topic = s.kafka.topic_alert_input
    try:
        ensure_topics(s.kafka, {topic: 1})  # one partition: one engine sees everything
        produce(s.kafka, topic, records)
    except KafkaError as e:
        click.echo(f"error: cannot send to {topic}: {e}", err=True)
        sys.exit(2)


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> tuple[bool, T]:
    """Call ``read`` every :data:`POLL_INTERVAL_S` until ``done`` holds of what it read or
    ``timeout`` seconds have passed (it reads at least once): whether it is done, and what
    was read last."""
    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if done(got):
            return True, got
        if time.monotonic() >= deadline:
            return False, got
        time.sleep(POLL_INTERVAL_S)


def not_written(sent: str, written: str, timeout: float) -> NoReturn:
    """Say on stderr that ``sent`` ("mute … sent") was not ``written`` ("stored") by a
    worker within ``timeout`` seconds, and exit 1."""
    click.echo(f"{sent}, but no worker has {written} it within {timeout:g}s "
               f"({NO_WORKER_HINT})", err=True)
    sys.exit(1)
