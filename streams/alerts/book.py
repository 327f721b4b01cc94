"""The alert book: every alert's latest version, and the lifecycle rules. Internal, pure.

* one open alert per (rule, series key) — a second ``fire`` for an open key does nothing;
* an alert id is opened at most once: firing again an id the book knows (resolved, or
  restored from the table) does nothing, so re-fed input after a restart adds no alert;
* ``firing → resolved``; acknowledgement is a new version with the ack fields, the state
  unchanged; every change is ``version + 1``;
* after a resolve, the key's cooldown runs until ``resolved_at + cooldown_s`` (event time);
  the trackers ask :meth:`AlertBook.cooldown_until` before firing.

Resolved alerts are kept (for acknowledgements and id de-duplication) up to
``max_resolved``, the oldest resolved first forgotten.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

from schemas.rows import AlertRow
from streams.alerts.rows import Alert, alert_id, labels_of, rfc3339, series_key
from streams.alerts.rules import DEFAULT_LANGUAGE, RuleBase
from streams.alerts.templates import number, render

Transition = Literal["fired", "resolved", "acked"]


@dataclass(frozen=True)
class AlertUpdate:
    """One new version of an alert, and what changed."""

    alert: Alert
    transition: Transition

    @property
    def row(self) -> AlertRow:
        return self.alert.row()


@dataclass(frozen=True)
class Facts:
    """What a tracker knows about a transition. Times: whole epoch seconds (0: n/a)."""

    scope: str
    scope_key: str
    station_id: str
    window_kind: str
    window_start: int
    window_end: int
    value: float
    threshold: float
    at: int  # fired_at or resolved_at
    context: Mapping[str, object]  # extra message placeholders (country, statistic, ...)


class UnknownAlert(KeyError):
    """``acknowledge`` of an alert id the engine does not hold."""


class AlertBook:
    def __init__(self, max_resolved: int = 10_000) -> None:
        self.alerts: dict[UUID, Alert] = {}
        self.open: dict[tuple[str, str], UUID] = {}  # (rule_id, series key) → alert id
        self.cooldown: dict[tuple[str, str], int] = {}  # (rule_id, series key) → until
        self.updates: list[AlertUpdate] = []
        self.max_resolved = max_resolved
        self._resolved: list[tuple[int, str, UUID]] = []  # heap of (resolved_at, id)

    # -- queries -------------------------------------------------------------------------

    def open_alert(self, rule_id: str, key: str) -> Alert | None:
        aid = self.open.get((rule_id, key))
        return self.alerts[aid] if aid is not None else None

    def cooldown_until(self, rule_id: str, key: str) -> int | None:
        return self.cooldown.get((rule_id, key))

    def knows(self, aid: UUID) -> bool:
        return aid in self.alerts

    # -- transitions ---------------------------------------------------------------------

    def fire(self, rule: RuleBase, instant: str, facts: Facts, *,
             provisional: bool = False) -> AlertUpdate | None:
        key = series_key(rule.kind, facts.scope_key, facts.window_start)
        if (rule.id, key) in self.open:
            return None
        aid = alert_id(rule.id, facts.scope_key, instant)
        if aid in self.alerts:
            return None
        alert = Alert(
            alert_id=aid, version=1, rule_id=rule.id, rule_name=rule.name,
            kind=rule.kind, severity=rule.severity, state="firing",
            scope=facts.scope, scope_key=facts.scope_key, station_id=facts.station_id,
            window_kind=facts.window_kind, window_start=facts.window_start,
            window_end=facts.window_end, value=facts.value, threshold=facts.threshold,
            provisional=provisional, message="", labels=labels_of(rule.labels),
            fired_at=facts.at, resolved_at=0, acked=False, acked_by="", acked_at=0,
            ack_comment="", updated_at=facts.at,
        )
        alert = _with_message(alert, rule, facts.context)
        self.open[(rule.id, key)] = aid
        return self._record(alert, "fired")

    def resolve(self, rule: RuleBase, key: str, facts: Facts,
                cooldown_s: float = 0) -> AlertUpdate | None:
        aid = self.open.pop((rule.id, key), None)
        if aid is None:
            return None
        alert = self.alerts[aid].next_version(
            state="resolved", window_kind=facts.window_kind, window_start=facts.window_start,
            window_end=facts.window_end, value=facts.value, threshold=facts.threshold,
            resolved_at=facts.at, updated_at=facts.at)
        alert = _with_message(alert, rule, facts.context)
        self._set_cooldown(rule.id, key, facts.at + int(cooldown_s))
        return self._record(alert, "resolved")

    def acknowledge(self, aid: UUID, who: str, comment: str, at: int) -> AlertUpdate:
        alert = self.alerts.get(aid)
        if alert is None:
            raise UnknownAlert(str(aid))
        acked = alert.next_version(acked=True, acked_by=who, acked_at=at, ack_comment=comment,
                                   updated_at=at)
        return self._record(acked, "acked")

    # -- restore -------------------------------------------------------------------------

    def restore(self, alert: Alert, cooldown_s: float) -> None:
        """Take ``alert`` (a stored latest version) unless a later version is known."""
        known = self.alerts.get(alert.alert_id)
        if known is not None and known.version >= alert.version:
            return
        self.alerts[alert.alert_id] = alert
        key = series_key(alert.kind, alert.scope_key, alert.window_start)
        if alert.is_open:
            self.open[(alert.rule_id, key)] = alert.alert_id
        else:
            if self.open.get((alert.rule_id, key)) == alert.alert_id:
                del self.open[(alert.rule_id, key)]
            self._set_cooldown(alert.rule_id, key, alert.resolved_at + int(cooldown_s))
            self._remember_resolved(alert)

    # -- internals -----------------------------------------------------------------------

    def _set_cooldown(self, rule_id: str, key: str, until: int) -> None:
        k = (rule_id, key)
        self.cooldown[k] = max(until, self.cooldown.get(k, until))

    def _record(self, alert: Alert, transition: Transition) -> AlertUpdate:
        self.alerts[alert.alert_id] = alert
        if transition == "resolved":
            self._remember_resolved(alert)
        update = AlertUpdate(alert, transition)
        self.updates.append(update)
        return update

    def _remember_resolved(self, alert: Alert) -> None:
        heapq.heappush(self._resolved, (alert.resolved_at, str(alert.alert_id), alert.alert_id))
        while len(self._resolved) > self.max_resolved:
            _, _, old = heapq.heappop(self._resolved)
            stale = self.alerts.get(old)
            if stale is not None and not stale.is_open:
                del self.alerts[old]


def _with_message(alert: Alert, rule: RuleBase, extra: Mapping[str, object]) -> Alert:
    context: dict[str, object] = {
        "rule_id": alert.rule_id, "rule_name": alert.rule_name, "severity": alert.severity,
        "kind": alert.kind, "state": alert.state, "scope": alert.scope,
        "scope_key": alert.scope_key, "station_id": alert.station_id, "country": "",
        "border": "", "window_kind": alert.window_kind,
        "window_start": rfc3339(alert.window_start), "window_end": rfc3339(alert.window_end),
        "window_label": "",
        "value": number(alert.value), "threshold": number(alert.threshold),
        "fired_at": rfc3339(alert.fired_at), "resolved_at": rfc3339(alert.resolved_at),
    }
    context.update(extra)
    messages = {lang: render(template, context) for lang, template in rule.message.items()}
    return dataclasses.replace(alert, message=messages.get(DEFAULT_LANGUAGE, ""),
                               messages=tuple(sorted(messages.items())),
                               rule_names=tuple(sorted(rule.names.items())))
