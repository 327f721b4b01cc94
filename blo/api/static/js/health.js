/* The pipeline health panel (GET /api/v1/health, polled every 10 s): per station the time
 * since its latest event, the storage delay, late events and dead letters of 24 h, events
 * of 30 days; a summary line; the header's "DLQ · late" figure. */
import { AuthError, api } from './api.js';
import { serverNow, setAgo } from './clock.js';
import { intervalMs, tokenLost } from './connection.js';
import { $, clear, h, keyed } from './dom.js';
import { fmtDur, fmtInt, hhmmss, parseT } from './format.js';
import { selectStation } from './selection.js';
import { snapStations, state } from './state.js';
import { t, vocab } from './i18n.js';

const HEALTH_EVERY_MS = 10000;

let timer = null;
let seq = 0;

/** What the panel shows for a health report, given the snapshot's stations (their names
 * and a newer last event) and ``now`` (server time, epoch ms): per row the latest event
 * ``lastEv`` (epoch ms, 0: never), its ``age`` and the storage ``delay`` (seconds, null:
 * unknown) with their classes; the totals; ``silent``, the stations without an event for
 * an hour. */
export function healthView(doc, stations, now) {
  const names = new Map(stations.map((x) => [x.station_id, x]));
  let dlq = 0;
  let late = 0;
  let silent = 0;
  const rows = (doc.stations || []).map((r) => {
    dlq += r.dead_letters_24h || 0;
    late += r.late_events_24h || 0;
    const live = names.get(r.station_id);
    const lastEv = Math.max(parseT(r.last_event_at) || 0, live ? parseT(live.last_event_at) || 0 : 0);
    const age = lastEv ? (now - lastEv) / 1000 : null;
    if (age === null || age > 3600) silent++;
    const ing = parseT(r.last_ingested_at);
    const ev = parseT(r.last_event_at);
    const delay = Number.isFinite(ing) && Number.isFinite(ev) ? Math.max(0, (ing - ev) / 1000) : null;
    return {
      r, live, lastEv, age, delay,
      lastClass: `num ${age === null ? 'zero' : age > 3600 ? 'bad' : age > 900 ? 'warn' : ''}`,
      delayClass: `num ${delay === null ? 'zero' : delay > 300 ? 'bad' : delay > 60 ? 'warn' : ''}`,
    };
  });
  return { rows, dlq, late, silent };
}

/** Polls the health report every 10 s until stopHealth. */
export function startHealth() {
  stopHealth();
  const run = async () => {
    const mine = ++seq;
    try {
      const doc = await api('/api/v1/health');
      if (mine !== seq) return;
      state.health = doc;
      renderHealth();
    } catch (e) {
      if (e instanceof AuthError) { tokenLost(); return; }
      // the stream's state already tells about the connection
    }
    if (mine === seq) timer = setTimeout(run, HEALTH_EVERY_MS);
  };
  run();
}

export function stopHealth() {
  clearTimeout(timer);
  seq++;
}

export function renderHealth() {
  const doc = state.health;
  const tbody = $('health-table').tBodies[0];
  const sum = clear($('health-sum'));
  const kpi = document.querySelector('[data-testid="pipeline-issues"]');
  if (!doc) {
    sum.append(h('span', { text: t('health.waiting') }));
    return;
  }
  const { rows, dlq, late, silent } = healthView(doc, snapStations(), serverNow());
  keyed(tbody, rows, (v) => v.r.station_id, ({ r }) => {
    const c = { st: h('td'), last: h('td', { class: 'num' }), delay: h('td', { class: 'num' }),
      late: h('td', { class: 'num' }), dlq: h('td', { class: 'num' }), n: h('td', { class: 'num' }) };
    const tr = h('tr', { 'data-health-station': r.station_id }, c.st, c.last, c.delay, c.late, c.dlq, c.n);
    tr.cells_ = c;
    tr.addEventListener('click', () => selectStation(r.station_id));
    return tr;
  }, (tr, v) => {
    const c = tr.cells_;
    const { r, live } = v;
    const sig = live ? `${live.country}|${live.name}` : r.station_id;
    if (c.st.dataset.sig !== sig) {
      c.st.dataset.sig = sig;
      clear(c.st);
      c.st.title = r.station_id;
      if (live) c.st.append(h('span', { class: 'cc', text: live.country }));
      c.st.append(live ? live.name : r.station_id);
    }
    setAgo(c.last, v.lastEv || NaN, t('time.never'), true);
    c.last.className = v.lastClass;
    c.delay.textContent = v.delay === null ? '—' : fmtDur(v.delay);
    c.delay.className = v.delayClass;
    c.late.textContent = fmtInt(r.late_events_24h);
    c.late.className = `num ${r.late_events_24h ? 'warn' : 'zero'}`;
    c.dlq.textContent = fmtInt(r.dead_letters_24h);
    c.dlq.className = `num ${r.dead_letters_24h ? 'bad' : 'zero'}`;
    c.n.textContent = fmtInt(r.events_30d);
    c.n.className = `num${r.events_30d ? '' : ' zero'}`;
  });
  const iv = Math.round(intervalMs(state.gaps) / 100) / 10;
  sum.append(
    h('span', { class: dlq ? 'bad' : null }, `${t('health.dlq_24h')} `, h('b', { text: fmtInt(dlq) })),
    h('span', { class: late ? 'bad' : null }, `${t('health.late_24h')} `, h('b', { text: fmtInt(late) })),
    h('span', { class: silent ? 'bad' : null }, `${t('health.silent_1h')} `, h('b', { text: `${silent} / ${rows.length}` })),
    h('span', null, `${t('health.stream')} `, h('b', { text: state.conn === 'live' ? t('health.live_every', { n: iv }) : vocab('conn', state.conn) })));
  kpi.textContent = `${fmtInt(dlq)} · ${fmtInt(late)}`;
  kpi.className = `kpi-v${dlq ? ' sev-critical' : late ? ' bad' : ''}`;
  $('health-at').textContent = doc.at ? t('health.report_of', { time: hhmmss(parseT(doc.at)) }) : '';
}
