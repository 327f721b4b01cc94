/* The alert feed (open alerts of the scope, newest worst first) and the acknowledgement
 * dialog (POST /api/v1/alerts/{id}/ack as the token's name). */
import { AuthError, api } from './api.js';
import { agoSpan } from './clock.js';
import { tokenLost } from './connection.js';
import { $, clear, h, toast } from './dom.js';
import { fmtInt, parseT, utcAndLocal } from './format.js';
import { currentLang, t, tn, vocab } from './i18n.js';
import { selectCountry, selectStation } from './selection.js';
import { snapStations, state, stationById } from './state.js';

const SEV_RANK = { info: 1, warning: 2, critical: 3 };

let seenAlerts = null;         // ids seen (null before the first snapshot): new ones flash
const pendingAcks = new Set(); // acknowledged here, not yet back through the stream
const alertNodes = new Map();  // alert_id -> li
let ackTarget = null;

/** The worst severity among the alerts (null for none). */
export function worstSeverity(alerts) {
  let w = null;
  for (const a of alerts) if (!w || (SEV_RANK[a.severity] || 0) > (SEV_RANK[w] || 0)) w = a.severity;
  return w;
}

/** The feed's order: unacknowledged first, then the worst, then the newest. */
export function sortAlerts(alerts) {
  return [...alerts].sort((a, b) =>
    (a.acked ? 1 : 0) - (b.acked ? 1 : 0) ||
    (SEV_RANK[b.severity] || 0) - (SEV_RANK[a.severity] || 0) ||
    parseT(b.fired_at) - parseT(a.fired_at));
}

/** What an alert is about: the station or pair, else "<scope> <key>". */
export function alertSubject(a) {
  return a.scope === 'station' || a.scope === 'pair' ? a.scope_key || a.station_id : `${vocab('scope', a.scope)} ${a.scope_key}`;
}

/** The acknowledger as shown: the token's name without its "(tok_…)" id. */
export function ackedByName(a) {
  return String(a.acked_by || '?').replace(/\s*\(tok_[^)]*\)$/, '');
}

export function renderAlerts(snap) {
  const list = $('alert-feed');
  const alerts = sortAlerts(snap.alerts || []);
  const first = seenAlerts === null;
  if (first) seenAlerts = new Set();
  const keep = new Set();
  const nodes = [];
  for (const a of alerts) {
    const sig = `${a.version}|${a.acked}|${pendingAcks.has(a.alert_id)}|${currentLang()}`;
    let li = alertNodes.get(a.alert_id);
    if (!li || li.dataset.sig !== sig) {
      li = alertItem(a);
      li.dataset.sig = sig;
      if (!first && !seenAlerts.has(a.alert_id)) li.classList.add('new');
      alertNodes.set(a.alert_id, li);
    }
    if (a.acked) pendingAcks.delete(a.alert_id);
    seenAlerts.add(a.alert_id);
    keep.add(a.alert_id);
    nodes.push(li);
  }
  for (const id of [...alertNodes.keys()]) if (!keep.has(id)) alertNodes.delete(id);
  const current = [...list.children];
  const hidden = (snap.alerts_open || 0) - alerts.length;
  const same = nodes.length > 0 && hidden <= 0 && current.length === nodes.length &&
    current.every((n, i) => n === nodes[i]);
  if (!same) {
    clear(list);
    for (const n of nodes) list.append(n);
    if (!nodes.length) {
      list.append(h('li', { class: 'none' }, h('span', { class: 'okmark', text: '✓' }), t('alerts.none')));
    }
    if (hidden > 0) list.append(h('li', { class: 'more', text: tn('alerts.more', hidden) }));
  }
  $('alerts-sub').textContent = `· ${t('alerts.open_n', { n: fmtInt(snap.alerts_open || 0) })}`;
}

function alertItem(a) {
  const fired = parseT(a.fired_at);
  const key = alertSubject(a);
  const keyEl = h('span', { class: 'key' });
  const st = stationById(a.station_id);
  if (a.scope === 'station' && st) {
    const link = h('a', { tabindex: 0, text: key, title: t('alerts.show_station') });
    link.addEventListener('click', () => selectStation(a.station_id));
    keyEl.append(link);
  } else if (a.scope === 'country' && snapStations().some((x) => x.country === a.scope_key)) {
    const link = h('a', { tabindex: 0, text: key, title: t('alerts.show_country') });
    link.addEventListener('click', () => selectCountry(a.scope_key));
    keyEl.append(link);
  } else {
    keyEl.textContent = key;
  }
  let action;
  if (a.acked) {
    action = h('span', { class: 'ackd', title: `${t('alerts.acked_title', { who: a.acked_by || '?' })}${a.acked_at ? ` ${a.acked_at}` : ''}${a.ack_comment ? `: ${a.ack_comment}` : ''}`, text: `✓ ${t('alerts.acked_by', { who: ackedByName(a) })}` });
  } else if (pendingAcks.has(a.alert_id)) {
    action = h('span', { class: 'dim', text: t('alerts.ack_sent') });
  } else {
    action = h('button', { type: 'button', 'data-ack': a.alert_id, text: t('alerts.ack') });
    action.addEventListener('click', () => openAck(a));
  }
  return h('li', { class: `alert ${a.severity}${a.acked ? ' acked' : ''}`, 'data-alert-id': a.alert_id },
    h('div', { class: 'ah' },
      h('span', { class: `chip ${a.severity}`, text: vocab('severity', a.severity) }),
      h('span', { class: 'rule', title: a.rule_id, text: a.rule_name || a.rule_id })),
    h('div', { class: 'msg', text: a.message + (a.provisional ? ` ${t('alerts.provisional')}` : '') }),
    h('div', { class: 'af' },
      h('span', { class: 'when', title: t('alerts.fired_at', { time: a.fired_at }) }, Number.isFinite(fired) ? `${utcAndLocal(fired, st ? st.tz : '')} · ` : '', agoSpan(fired)),
      keyEl, action));
}

function openAck(a) {
  ackTarget = a;
  $('ack-what').textContent = `${vocab('severity', a.severity).toUpperCase()} · ${a.rule_name || a.rule_id} — ${a.message}`;
  $('ack-comment').value = '';
  $('ack-err').hidden = true;
  $('ack-send').disabled = false;
  $('ack-dialog').showModal();
  $('ack-comment').focus();
}

/** Wires the acknowledgement dialog. */
export function initAlerts() {
  $('ack-cancel').addEventListener('click', () => $('ack-dialog').close());
  $('ack-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!ackTarget) return;
    const a = ackTarget;
    $('ack-send').disabled = true;
    try {
      await api(`/api/v1/alerts/${encodeURIComponent(a.alert_id)}/ack`, { method: 'POST', body: { comment: $('ack-comment').value } });
      pendingAcks.add(a.alert_id);
      $('ack-dialog').close();
      toast(t('alerts.ack_toast'));
      if (state.snap) renderAlerts(state.snap);
    } catch (e) {
      if (e instanceof AuthError) { $('ack-dialog').close(); tokenLost(); return; }
      $('ack-err').textContent = t('alerts.ack_failed', { why: e.message });
      $('ack-err').hidden = false;
      $('ack-send').disabled = false;
    }
  });
}
