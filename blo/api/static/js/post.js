/* The post page: one post's registry card, its events per event type over 24 hours and 7
 * days (GET /api/v1/posts/{id}: window rows), its recent seizures (/feed?station=…), its
 * alerts (/alerts, this post's own and its pairs') and its health; read again every 10 s
 * while open. It lies over the panels; Escape or × closes it. */
import { AuthError, api } from './api.js';
import { serverNow } from './clock.js';
import { tokenLost } from './connection.js';
import { $, clear, h, s } from './dom.js';
import { fmtDay, fmtDur, fmtInt, fmtKg, hhmm, localHhmm, parseT, utcAndLocal } from './format.js';
import { t, tn, vocab } from './i18n.js';
import { alertMessage, ruleName } from './alerts.js';
import { feedItem } from './feed.js';
import { countryName, state } from './state.js';

const POST_EVERY_MS = 10000;
const RANGES = [['24h', 24, 3600000], ['7d', 7, 86400000]];

let timer = null;
let seq = 0;

/** The points of one range ({t, event_type, events, seizure_kg}) as rows per event type:
 * ``values`` per slot of ``stepMs`` from ``fromMs`` (``n`` slots), the total and kg;
 * busiest type first. */
export function seriesRows(points, fromMs, stepMs, n) {
  const by = new Map();
  for (const p of points || []) {
    const i = Math.floor((parseT(p.t) - fromMs) / stepMs);
    if (i < 0 || i >= n) continue;
    if (!by.has(p.event_type)) by.set(p.event_type, { event_type: p.event_type, values: new Array(n).fill(0), total: 0, kg: 0 });
    const r = by.get(p.event_type);
    r.values[i] += p.events;
    r.total += p.events;
    r.kg += p.seizure_kg || 0;
  }
  return [...by.values()].sort((a, b) => b.total - a.total || a.event_type.localeCompare(b.event_type));
}

/** The alerts of ``alerts`` about post ``id``: its own and those of a pair it is in. */
export function postAlerts(alerts, id) {
  return (alerts || []).filter((a) => a.station_id === id || String(a.scope_key || '').split('+').includes(id));
}

export function openPost(id) {
  state.post = { id, doc: null, seizures: null, alerts: null };
  $('post-page').hidden = false;
  renderPost();
  load();
}

export function closePost() {
  state.post = null;
  clearTimeout(timer);
  seq++;
  $('post-page').hidden = true;
}

async function load() {
  clearTimeout(timer);
  const p = state.post;
  if (!p) return;
  const mine = ++seq;
  const id = encodeURIComponent(p.id);
  try {
    const [doc, seizures, alerts] = await Promise.all([
      api(`/api/v1/posts/${id}`),
      api(`/api/v1/feed?station=${id}&event_type=seizure&limit=20&since=${new Date(serverNow() - 31 * 86400000).toISOString()}`),
      api('/api/v1/alerts?limit=1000'),
    ]);
    if (mine !== seq || !state.post) return;
    Object.assign(state.post, { doc, seizures, alerts: postAlerts(alerts.alerts, p.id), error: null });
  } catch (e) {
    if (e instanceof AuthError) { tokenLost(); return; }
    if (mine !== seq || !state.post) return;
    state.post.error = e.message;
  }
  renderPost();
  timer = setTimeout(load, POST_EVERY_MS);
}

function spark(values, cls) {
  const W = 220;
  const H = 28;
  const max = Math.max(1, ...values);
  const bw = W / values.length;
  const g = s('svg', { class: `spark ${cls}`, viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none' });
  values.forEach((v, i) => {
    if (v) g.append(s('rect', { x: i * bw + 0.5, y: H - (v / max) * H, width: Math.max(1, bw - 1), height: Math.max(1, (v / max) * H) }));
  });
  return g;
}

function card(x, now) {
  const rows = [
    [t('card.id'), x.station_id],
    [t('card.country'), `${countryName(x.country)} (${x.country})`],
    [t('card.agency'), vocab('agency', x.agency)],
    [t('tip.crossing'), x.crossing_point || '—'],
    [t('tip.border'), x.interior ? t('tip.border_interior') : (x.border || '—')],
    [t('tip.paired'), x.paired_blo || '—'],
    [t('card.tz'), x.tz ? `${x.tz} · ${t('card.local_now', { time: localHhmm(now, x.tz) })}` : '—'],
    [t('card.position'), Number.isFinite(x.lat) ? `${x.lat.toFixed(3)}, ${x.lon.toFixed(3)}` : '—'],
    [t('tip.status'), x.active === false ? t('post.inactive') : t('post.active')],
  ];
  return h('dl', { class: 'card' }, ...rows.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
}

export function renderPost() {
  const p = state.post;
  const body = $('post-body');
  if (!p) return;
  clear(body);
  const x = p.doc ? p.doc.station : null;
  $('post-title').textContent = x ? `${x.name} · ${x.country}` : p.id;
  if (p.error) body.append(h('p', { class: 'err', text: p.error }));
  if (!p.doc) { body.append(h('p', { class: 'dim', text: t('chart.loading') })); return; }
  const now = serverNow();
  const series = h('div', { class: 'series' });
  for (const [key, n, step] of RANGES) {
    const r = p.doc.series[key];
    const to = parseT(r.to);
    const from = to - n * step;
    const rows = seriesRows(r.points, from, step, n);
    const tbl = h('table', { class: 'tbl st', 'data-range': key },
      h('thead', null, h('tr', null, h('th', { text: (key === '24h' ? t('post.range_24h') : t('post.range_7d')) }), h('th', { class: 'num', text: t('post.events') }),
        h('th', { text: key === '24h' ? `${hhmm(from)}–${hhmm(to)} UTC` : `${fmtDay(from)} – ${fmtDay(to)}` }))));
    const tb = h('tbody');
    for (const row of rows) {
      tb.append(h('tr', { 'data-event-type': row.event_type },
        h('td', { text: vocab('event_type', row.event_type) }),
        h('td', { class: 'num', text: row.event_type === 'seizure' && row.kg ? `${fmtInt(row.total)} · ${fmtKg(row.kg)}` : fmtInt(row.total) }),
        h('td', null, spark(row.values, row.event_type))));
    }
    if (!rows.length) tb.append(h('tr', null, h('td', { colspan: 3, class: 'none', text: t('post.no_events') })));
    tbl.append(tb);
    series.append(tbl);
  }
  const seiz = h('ol', { class: 'feed evfeed', id: 'post-seizures' });
  for (const it of (p.seizures && p.seizures.items) || []) seiz.append(feedItem(it));
  if (!seiz.children.length) seiz.append(h('li', { class: 'none', text: t('post.no_seizures') }));
  const al = h('ol', { class: 'feed', id: 'post-alerts' });
  for (const a of p.alerts || []) {
    al.append(h('li', { class: `alert ${a.severity}${a.acked ? ' acked' : ''}` },
      h('div', { class: 'ah' }, h('span', { class: `chip ${a.severity}`, text: vocab('severity', a.severity) }),
        h('span', { class: 'rule', text: ruleName(a) }), h('span', { class: 'dim', text: vocab('state', a.state) })),
      h('div', { class: 'msg', text: alertMessage(a) }),
      h('div', { class: 'af' }, h('span', { class: 'when', text: utcAndLocal(parseT(a.fired_at), x.tz) }))));
  }
  if (!al.children.length) al.append(h('li', { class: 'none', text: t('post.no_alerts') }));
  const hl = p.doc.health || {};
  const last = parseT(hl.last_event_at);
  const health = h('dl', { class: 'card' },
    h('dt', { text: t('health.col_last') }), h('dd', { text: Number.isFinite(last) ? `${utcAndLocal(last, x.tz)} (${t('time.ago', { dur: fmtDur((now - last) / 1000) })})` : t('time.never') }),
    h('dt', { text: t('health.col_late') }), h('dd', { text: fmtInt(hl.late_events_24h) }),
    h('dt', { text: t('health.col_dlq') }), h('dd', { text: fmtInt(hl.dead_letters_24h) }),
    h('dt', { text: t('health.col_30d') }), h('dd', { text: fmtInt(hl.events_30d) }));
  body.append(
    h('section', { class: 'pp card-s' }, h('h3', { text: t('post.card') }), card(x, now)),
    h('section', { class: 'pp series-s' }, h('h3', { text: t('post.series') }), series),
    h('section', { class: 'pp seiz-s' }, h('h3', { text: t('post.seizures') }), seiz),
    h('section', { class: 'pp alerts-s' }, h('h3', { text: tn('post.alerts', (p.alerts || []).length) }), al),
    h('section', { class: 'pp health-s' }, h('h3', { text: t('post.health') }), health));
}

/** Wires the close button and Escape. */
export function initPost() {
  $('post-close').addEventListener('click', closePost);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.post && !document.querySelector('dialog[open]')) closePost();
  });
}
