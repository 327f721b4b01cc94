"""Threshold alerting: pure core (rules, evaluation, alert rows and messages).

No Kafka, ClickHouse, Faust or HTTP here: the runtime feeds :class:`AlertEngine` with
``window_stats`` rows, station progress, sequence numbers, events and clock ticks, and
writes what :meth:`AlertEngine.drain` returns to the ``alerts`` table, the alerts topic and
the webhook (:func:`alert_message`). See docs/alerts.md.
"""

from streams.alerts.baseline import (
    BaselineProvider,
    baseline_level,
    history_starts,
    mean_stddev,
)
from streams.alerts.book import AlertUpdate, UnknownAlert
from streams.alerts.check import (
    Problem,
    RulesError,
    check_rules,
    check_rules_text,
    format_problems,
    load_rules,
    parse_rules,
)
from streams.alerts.engine import AlertEngine
from streams.alerts.message import alert_document, alert_json_schema, alert_message
from streams.alerts.rows import ALERT_NAMESPACE, Alert, alert_id
from streams.alerts.rules import (
    BaselineRule,
    PairedRule,
    Rule,
    RuleSet,
    SequenceGapRule,
    SilenceRule,
    ThresholdRule,
)

__all__ = [
    "ALERT_NAMESPACE",
    "Alert",
    "AlertEngine",
    "AlertUpdate",
    "BaselineProvider",
    "BaselineRule",
    "PairedRule",
    "Problem",
    "Rule",
    "RuleSet",
    "RulesError",
    "SequenceGapRule",
    "SilenceRule",
    "ThresholdRule",
    "UnknownAlert",
    "alert_document",
    "alert_id",
    "alert_json_schema",
    "alert_message",
    "baseline_level",
    "check_rules",
    "check_rules_text",
    "format_problems",
    "history_starts",
    "load_rules",
    "mean_stddev",
    "parse_rules",
]
