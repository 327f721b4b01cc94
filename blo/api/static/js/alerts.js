/* The alerts panel: the open alerts of the scope, worst then newest first (the API's
 * order), with the exact counts of the API (``alerts_counts``: never a page's length),
 * filters (severity, state, acknowledged, country, post: GET /api/v1/alerts does the
 * filtering, the panel shows "N of M"), grouping by rule and scope, the acknowledgement
 * dialog (POST /api/v1/alerts/{id}/ack as the token's name), a group's bulk
 * acknowledgement (POST /api/v1/alerts/ack {rule, scope, open}) and "acknowledge all shown"
 * (the same with the panel's filters): first a dry run, whose count the confirmation
 * states. */
import { AuthError, api } from './api.js';
import { agoSpan, serverNow } from './clock.js';
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

/** The panel's order, the API's (sort=severity): the worst, then the newest. */
export function sortAlerts(alerts) {
  return [...alerts].sort((a, b) =>
    (SEV_RANK[b.severity] || 0) - (SEV_RANK[a.severity] || 0) ||
    parseT(b.fired_at) - parseT(a.fired_at));
}

/** The open alerts' exact figures: from the API's ``alerts_counts`` (every open alert,
 * not the page the snapshot carries: ``open`` unmuted by severity, ``open_muted`` apart);
 * a snapshot without them counts its own alerts. {total, critical, warning, info, muted}. */
export function openCounts(snap) {
  const c = snap.alerts_counts;
  if (c && c.open) {
    const o = c.open;
    return { total: o.total || 0, critical: o.critical || 0, warning: o.warning || 0,
      info: o.info || 0, muted: (c.open_muted && c.open_muted.total) || 0 };
  }
  const out = { total: snap.alerts_open || 0, critical: 0, warning: 0, info: 0, muted: 0 };
  for (const a of snap.alerts || []) if (a.severity in out) out[a.severity] += 1;
  return out;
}

/** How many alerts are firing (muted or not: what the snapshot's page is taken of). */
export function firingTotal(snap) {
  const c = snap.alerts_counts;
  if (c && Number.isFinite(c.firing)) return c.firing;
  const o = openCounts(snap);
  return o.total + o.muted;
}

/** The panel's filters as shown when nothing is chosen: open alerts, not grouped. */
export const DEFAULT_VIEW = Object.freeze({ severity: '', state: 'firing', acked: '', country: '', station: '', group: false });

/** Whether the snapshot's alerts (the 50 worst open ones) are what ``view`` asks for. */
export function isDefaultView(view) {
  return Object.keys(DEFAULT_VIEW).every((k) => view[k] === DEFAULT_VIEW[k]);
}

/** The API request of the panel's ``view`` (the API filters, sorts and groups). */
export function alertsQuery(view, limit = 100) {
  const q = new URLSearchParams();
  if (view.state) q.set('state', view.state);
  if (view.severity) q.set('severity', view.severity);
  if (view.acked) q.set('acknowledged', view.acked === 'acked' ? 'true' : 'false');
  if (view.country) q.set('country', view.country);
  if (view.station) q.set('station', view.station);
  q.set('sort', 'severity');
  if (view.group) q.set('group', 'rule_scope');
  q.set('limit', String(limit));
  return `/api/v1/alerts?${q}`;
}

/** "N of M" (what the panel lists of what the filter matches). */
export function shownOf(n, m) {
  return t('alerts.shown_of', { n: fmtInt(n), m: fmtInt(m) });
}

/** The panel header's counts: every open alert (unmuted) by severity, muted ones apart. */
export function panelSub(counts) {
  const parts = [t('alerts.open_n', { n: fmtInt(counts.total) })];
  const sev = ['critical', 'warning', 'info'].filter((k) => counts[k]).map((k) => `${fmtInt(counts[k])} ${vocab('severity', k)}`);
  if (sev.length) parts[0] += ` (${sev.join(' · ')})`;
  if (counts.muted) parts.push(tn('kpi.muted', counts.muted));
  return `· ${parts.join(' · ')}`;
}

/** The bulk acknowledgement of one group (rule and scope key; a station's gaps are its
 * group): the not yet acknowledged open alerts of the rule about that key. */
export function groupAckBody(g, comment = '', dryRun = false) {
  return { rule: g.rule_id, scope: g.scope_key, open: true, comment, dry_run: dryRun };
}

/** The bulk acknowledgement of every alert the panel's ``view`` shows (its filters, as
 * ``alertsQuery`` sends them): the not yet acknowledged ones of the severity, country, post
 * and state chosen. None (null) when the view cannot hold an unacknowledged alert (only
 * acknowledged ones), or asks for what the bulk acknowledgement cannot tell apart (only
 * resolved alerts). The API needs one filter: with none chosen, "fired before ``until``"
 * (a day after ``now``, epoch ms) stands for all of them. */
export function viewAckBody(view, now, comment = '', dryRun = false) {
  if (view.acked === 'acked' || view.state === 'resolved') return null;
  const body = { open: view.state === 'firing', comment, dry_run: dryRun };
  if (view.severity) body.severity = view.severity;
  if (view.country) body.country = view.country;
  if (view.station) body.station = view.station;
  if (!view.severity && !view.country && !view.station) body.until = new Date(now + 86400000).toISOString();
  return body;
}

/** How many unacknowledged alerts the panel shows (the filter's exact count, null when not
 * known: the default view's snapshot has no acknowledgement counts). */
export function unackedShown(view, counts) {
  if (view.acked === 'acked') return 0;
  return counts && counts.by_ack ? counts.by_ack.unacked : null;
}

/** A group's line: how many alerts, how many of them still unacknowledged. */
export function groupLine(g) {
  return `${tn('alerts.group_n', g.count)} · ${tn('alerts.group_unacked', g.count - g.acked)}`;
}

const view = { ...DEFAULT_VIEW };
let listed = null;       // the API's answer for a non-default view: {key, body}
let fetching = false;
let bulkTarget = null;
let filterSig = '';

/** An alert's message in the page's language (the engine renders every language of the
 * rules file: ``messages``), English when that language has none. */
export function alertMessage(a, lang = currentLang()) {
  const all = a.messages || {};
  return all[lang] || all.en || a.message || '';
}

/** The name of an alert's (or a group's) rule in the page's language (the rules file names
 * each rule per language: ``rule_names``), English when that language has none. */
export function ruleName(a, lang = currentLang()) {
  const all = a.rule_names || {};
  return all[lang] || all.en || a.rule_name || a.rule_id || '';
}

/** What an alert is about: the station or pair, else "<scope> <key>". */
export function alertSubject(a) {
  return a.scope === 'station' || a.scope === 'pair' ? a.scope_key || a.station_id : `${vocab('scope', a.scope)} ${a.scope_key}`;
}

/** The acknowledger as shown: the token's name without its "(tok_…)" id. */
export function ackedByName(a) {
  return String(a.acked_by || '?').replace(/\s*\(tok_[^)]*\)$/, '');
}

/** The filter bar: its options follow the language and the scope's countries and posts. */
function renderFilters() {
  const posts = snapStations();
  const countries = [...new Set(posts.map((x) => x.country))].sort();
  const sig = `${currentLang()}|${countries.join()}|${posts.map((x) => x.station_id).join()}`;
  if (sig === filterSig) return;
  filterSig = sig;
  const fill = (id, opts) => {
    const sel = $(id);
    clear(sel);
    for (const [v, label] of opts) sel.append(new Option(label, v));
    sel.value = opts.some(([v]) => v === sel.dataset.v) ? sel.dataset.v : opts[0][0];
  };
  fill('af-severity', [['', t('alerts.f_any_severity')], ...['critical', 'warning', 'info'].map((k) => [k, vocab('severity', k)])]);
  fill('af-state', [['firing', t('alerts.f_open')], ['resolved', t('alerts.f_resolved')], ['', t('alerts.f_any_state')]]);
  fill('af-acked', [['', t('alerts.f_any_ack')], ['unacked', t('alerts.f_unacked')], ['acked', t('alerts.f_acked')]]);
  fill('af-country', [['', t('alerts.f_any_country')], ...countries.map((c) => [c, c])]);
  fill('af-station', [['', t('alerts.f_any_post')], ...sortBy(posts).map((x) => [x.station_id, `${x.station_id} · ${x.name}`])]);
}

function sortBy(posts) {
  return [...posts].sort((a, b) => a.station_id.localeCompare(b.station_id));
}

function readFilters() {
  for (const [k, id] of [['severity', 'af-severity'], ['state', 'af-state'], ['acked', 'af-acked'], ['country', 'af-country'], ['station', 'af-station']]) {
    view[k] = $(id).value;
    $(id).dataset.v = view[k];
  }
  view.group = $('af-group').checked;
}

async function fetchListed() {
  if (fetching || isDefaultView(view)) return;
  fetching = true;
  const key = alertsQuery(view);
  try {
    const body = await api(key);
    if (key === alertsQuery(view)) listed = { key, body };
  } catch (e) {
    if (e instanceof AuthError) { tokenLost(); return; }
    listed = { key, error: e.message };
  } finally {
    fetching = false;
  }
  // the filters changed while reading: read the new view now, not at the next update
  if (state.snap) renderAlerts(state.snap, key === alertsQuery(view));
}

export function renderAlerts(snap, fetched) {
  renderFilters();
  $('alerts-sub').textContent = panelSub(openCounts(snap));
  const list = $('alert-feed');
  if (!isDefaultView(view)) {
    if (!fetched) fetchListed();
    const key = alertsQuery(view);
    if (!listed || listed.key !== key) { ackAllButton(undefined); return; }
    if (listed.error) {
      clear(list).append(h('li', { class: 'none', text: t('alerts.ack_failed', { why: listed.error }) }));
      return;
    }
    const b = listed.body;
    const items = view.group ? b.groups : b.alerts;
    $('alerts-shown').textContent = shownOf(items.length, b.total);
    ackAllButton(unackedShown(view, b.counts));
    if (view.group) { renderGroups(list, items); return; }
    renderItems(list, items, t('alerts.none_match'));
    return;
  }
  const alerts = sortAlerts(snap.alerts || []);
  $('alerts-shown').textContent = shownOf(alerts.length, Math.max(firingTotal(snap), alerts.length));
  ackAllButton(alerts.some((a) => !a.acked && !pendingAcks.has(a.alert_id)) ? null : 0);
  renderItems(list, alerts, t('alerts.none'));
}

/** "Acknowledge all shown (N)": disabled when nothing unacknowledged is shown (``n`` 0),
 * the view cannot be acknowledged as a whole, or its list is still being read (``n``
 * undefined); ``n`` null: a count not known here (the confirmation states it). */
function ackAllButton(n) {
  const b = $('af-ack-all');
  const possible = viewAckBody(view, 0) !== null;
  if (n === undefined) { // the view's list is being read: nothing to acknowledge yet
    b.disabled = true;
    b.dataset.unacked = '';
    b.textContent = t('alerts.ack_all');
    return;
  }
  b.disabled = !possible || n === 0;
  b.dataset.unacked = n === null ? '' : String(n);
  b.textContent = n === null || !possible ? t('alerts.ack_all') : t('alerts.ack_all_n', { n: fmtInt(n) });
  b.title = possible ? t('alerts.ack_all_title') : t('alerts.ack_all_resolved');
}

function renderItems(list, alerts, none) {
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
  const same = nodes.length > 0 && current.length === nodes.length &&
    current.every((n, i) => n === nodes[i]);
  if (!same) {
    clear(list);
    for (const n of nodes) list.append(n);
    if (!nodes.length) {
      list.append(h('li', { class: 'none' }, h('span', { class: 'okmark', text: '✓' }), none));
    }
  }
}

function renderGroups(list, groups) {
  clear(list);
  if (!groups.length) { list.append(h('li', { class: 'none', text: t('alerts.none_match') })); return; }
  for (const g of groups) {
    const unacked = g.count - g.acked;
    const action = unacked > 0
      ? h('button', { type: 'button', 'data-ack-group': `${g.rule_id}|${g.scope_key}`, text: t('alerts.ack_group') })
      : h('span', { class: 'ackd', text: `✓ ${t('alerts.group_all_acked')}` });
    if (unacked > 0) action.addEventListener('click', () => openBulk(g));
    list.append(h('li', { class: `alert group ${g.worst_severity}`, 'data-group': `${g.rule_id}|${g.scope_key}`, 'data-count': g.count },
      h('div', { class: 'ah' },
        h('span', { class: `chip ${g.worst_severity}`, text: vocab('severity', g.worst_severity) }),
        h('span', { class: 'rule', title: g.rule_id, text: ruleName(g) })),
      h('div', { class: 'af' },
        h('span', { class: 'key', text: g.scope === 'station' || g.scope === 'pair' ? g.scope_key : `${vocab('scope', g.scope)} ${g.scope_key}` }),
        h('span', { class: 'gcount', text: groupLine(g) }), action)));
  }
}

function openBulk(g) {
  return openBulkFor({ title: t('bulk.h'), what: `${ruleName(g)} — ${g.scope_key}`, open: true,
    body: (comment, dryRun) => groupAckBody(g, comment, dryRun) });
}

/** The panel's filters in words ("open · critical · KZ"), for the confirmation. */
function viewWords(v) {
  const parts = [v.state === 'firing' ? t('alerts.f_open') : t('alerts.f_any_state')];
  if (v.severity) parts.push(vocab('severity', v.severity));
  if (v.acked === 'unacked') parts.push(t('alerts.f_unacked'));
  if (v.country) parts.push(v.country);
  if (v.station) parts.push(v.station);
  return parts.join(' · ');
}

function openAckAll() {
  const shown = { ...view };
  const now = serverNow();
  if (!viewAckBody(shown, now)) return;
  openBulkFor({ title: t('bulk.h_all'), what: viewWords(shown), open: shown.state === 'firing',
    body: (comment, dryRun) => viewAckBody(shown, now, comment, dryRun) });
}

/** The bulk acknowledgement dialog of ``target`` ({title, what, open, body(comment,
 * dryRun)}): a dry run first, whose count the confirmation states. */
async function openBulkFor(target) {
  bulkTarget = target;
  $('bulk-title').textContent = target.title;
  $('bulk-what').textContent = target.what;
  $('bulk-count').textContent = '…';
  delete $('bulk-count').dataset.matched;
  $('bulk-comment').value = '';
  $('bulk-err').hidden = true;
  $('bulk-send').disabled = true;
  $('bulk-dialog').showModal();
  try {
    const r = await api('/api/v1/alerts/ack', { method: 'POST', body: target.body('', true) });
    if (bulkTarget !== target) return;
    $('bulk-count').textContent = tn(target.open ? 'alerts.bulk_will' : 'alerts.bulk_will_any', r.matched);
    $('bulk-count').dataset.matched = String(r.matched);
    $('bulk-send').disabled = r.matched === 0;
  } catch (e) {
    if (e instanceof AuthError) { $('bulk-dialog').close(); tokenLost(); return; }
    $('bulk-err').textContent = t('alerts.ack_failed', { why: e.message });
    $('bulk-err').hidden = false;
  }
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
      h('span', { class: 'rule', title: a.rule_id, text: ruleName(a) })),
    h('div', { class: 'msg', text: alertMessage(a) + (a.provisional ? ` ${t('alerts.provisional')}` : '') }),
    h('div', { class: 'af' },
      h('span', { class: 'when', title: t('alerts.fired_at', { time: a.fired_at }) }, Number.isFinite(fired) ? `${utcAndLocal(fired, st ? st.tz : '')} · ` : '', agoSpan(fired)),
      keyEl, action));
}

function openAck(a) {
  ackTarget = a;
  $('ack-what').textContent = `${vocab('severity', a.severity).toUpperCase()} · ${ruleName(a)} — ${alertMessage(a)}`;
  $('ack-comment').value = '';
  $('ack-err').hidden = true;
  $('ack-send').disabled = false;
  $('ack-dialog').showModal();
  $('ack-comment').focus();
}

/** Wires the filters, the acknowledgement and the bulk acknowledgement dialogs. */
export function initAlerts() {
  for (const id of ['af-severity', 'af-state', 'af-acked', 'af-country', 'af-station', 'af-group']) {
    $(id).addEventListener('change', () => {
      readFilters();
      listed = null;
      clear($('alert-feed'));
      alertNodes.clear();
      if (state.snap) renderAlerts(state.snap);
    });
  }
  $('af-ack-all').addEventListener('click', openAckAll);
  $('bulk-cancel').addEventListener('click', () => { bulkTarget = null; $('bulk-dialog').close(); });
  $('bulk-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const target = bulkTarget;
    if (!target) return;
    $('bulk-send').disabled = true;
    try {
      const r = await api('/api/v1/alerts/ack', { method: 'POST', body: target.body($('bulk-comment').value, false) });
      for (const id of r.alert_ids || []) pendingAcks.add(id);
      bulkTarget = null;
      $('bulk-dialog').close();
      toast(tn('alerts.bulk_sent', r.sent));
      listed = null;
      if (state.snap) renderAlerts(state.snap);
    } catch (e) {
      if (e instanceof AuthError) { $('bulk-dialog').close(); tokenLost(); return; }
      $('bulk-err').textContent = t('alerts.ack_failed', { why: e.message });
      $('bulk-err').hidden = false;
      $('bulk-send').disabled = false;
    }
  });
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
