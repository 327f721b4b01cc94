/* The routes page: trafficking routes of the seizures made at the token's own posts
 * (GET /api/v1/routes): flows between countries drawn on the map's outlines between the
 * countries' label points, the steps ranked by weight (a Sankey read as a list), and the
 * full routes (producing → departure → transit → destination) by drug. Filters: the
 * period (the last 30 days, a month, a quarter or a year of the posts' local months), the
 * drug, and the weight (kg or cases). It lies over the panels as the post page does;
 * Escape or × closes it. Read once when opened or a filter changes. */
import { AuthError, api } from './api.js';
import { serverNow } from './clock.js';
import { tokenLost } from './connection.js';
import { $, clear, h, s } from './dom.js';
import { fmtInt, fmtKg } from './format.js';
import { t, tn, vocab } from './i18n.js';
import { countryName, state } from './state.js';

const DRUGS = ['heroin', 'opium', 'morphine', 'hashish', 'cannabis_herb', 'methamphetamine',
  'amphetamine', 'mdma', 'cocaine', 'nps', 'pharmaceuticals', 'acetic_anhydride', 'ephedrine',
  'pseudoephedrine', 'other_precursor', 'other'];

let seq = 0;

/** The periods offered at ``nowMs``: [value, kind, label vars]; '' is the last 30 days. */
export function periodChoices(nowMs) {
  const d = new Date(nowMs);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + 1;
  const month = (yy, mm) => `${yy}-${String(mm).padStart(2, '0')}`;
  const prev = m === 1 ? [y - 1, 12] : [y, m - 1];
  const q = Math.floor((m - 1) / 3) + 1;
  const pq = q === 1 ? [y - 1, 4] : [y, q - 1];
  return [
    ['', 'routes.p_30d'],
    [month(y, m), 'routes.p_month'],
    [month(...prev), 'routes.p_month'],
    [`${y}-Q${q}`, 'routes.p_quarter'],
    [`${pq[0]}-Q${pq[1]}`, 'routes.p_quarter'],
    [String(y), 'routes.p_year'],
    [String(y - 1), 'routes.p_year'],
  ];
}

/** The query of the routes answer for the page's filters. */
export function routesQuery(f) {
  const q = new URLSearchParams({ weight: f.weight, limit: '50' });
  if (f.period) q.set('period', f.period);
  if (f.drug) q.set('drug', f.drug);
  return `/api/v1/routes?${q}`;
}

/** A route's countries in words: known ones by name, an unknown one as "?". */
export function routeText(f) {
  const names = [f.producing, f.departure, ...f.transit, f.destination]
    .map((c) => (c ? countryName(c) : '?'));
  return names.join(' → ');
}

export function openRoutes() {
  if (!state.routes) state.routes = { period: '', drug: '', weight: 'kg', doc: null, error: null };
  $('routes-page').hidden = false;
  renderRoutes();
  load();
}

export function closeRoutes() {
  seq++;
  $('routes-page').hidden = true;
}

async function load() {
  const r = state.routes;
  if (!r) return;
  const mine = ++seq;
  r.loading = true;
  try {
    const doc = await api(routesQuery(r));
    if (mine !== seq) return;
    Object.assign(r, { doc, error: null, loading: false });
  } catch (e) {
    if (e instanceof AuthError) { tokenLost(); return; }
    if (mine !== seq) return;
    Object.assign(r, { error: e.message, loading: false });
  }
  renderRoutes();
}

function controls(r) {
  const period = h('select', { id: 'routes-period', 'aria-label': t('routes.period') });
  for (const [value, key] of periodChoices(serverNow())) {
    period.append(new Option(t(key, { p: value }), value));
  }
  period.value = r.period;
  period.addEventListener('change', () => { r.period = period.value; load(); });
  const drug = h('select', { id: 'routes-drug', 'aria-label': t('routes.drug') });
  drug.append(new Option(t('routes.all_drugs'), ''));
  for (const d of DRUGS) drug.append(new Option(vocab('drug', d), d));
  drug.value = r.drug;
  drug.addEventListener('change', () => { r.drug = drug.value; load(); });
  const weight = h('div', { class: 'seg', role: 'group', 'aria-label': t('routes.weight') },
    ...[['kg', 'routes.by_kg'], ['cases', 'routes.by_cases']].map(([w, key]) => h('button', {
      type: 'button', class: r.weight === w ? 'on' : null, dataset: { weight: w },
      text: t(key), onclick: () => { r.weight = w; load(); },
    })));
  return h('div', { class: 'routes-ctl' }, period, drug, weight);
}

const weightOf = (x, w) => (w === 'cases' ? x.cases : x.kg);
const weightText = (x) => `${fmtKg(x.kg)} · ${tn('routes.cases', x.cases)}`;

/** Where each country of the map file is drawn: its label point, else the middle of its
 * outline's bounding box. */
function anchors(m) {
  const out = new Map();
  for (const c of m.countries) {
    if (!c.iso) continue;
    if (c.label) { out.set(c.iso, c.label); continue; }
    const nums = (c.d.match(/-?\d+(\.\d+)?/g) || []).map(Number);
    const xs = nums.filter((_, i) => i % 2 === 0);
    const ys = nums.filter((_, i) => i % 2 === 1);
    if (xs.length) out.set(c.iso, [(Math.min(...xs) + Math.max(...xs)) / 2, (Math.min(...ys) + Math.max(...ys)) / 2]);
  }
  return out;
}

function flowMap(doc, w) {
  const m = state.map;
  if (!m) return null;
  const [x0, y0, x1, y1] = m.extent || [0, 0, m.width, m.height];
  const svg = s('svg', { id: 'routes-map', viewBox: `${x0} ${y0} ${x1 - x0} ${y1 - y0}`, role: 'img', 'aria-label': t('routes.map') });
  svg.append(s('rect', { class: 'sea', x: x0, y: y0, width: x1 - x0, height: y1 - y0 }));
  for (const c of m.countries) svg.append(s('path', { class: `c${c.focus ? ' focus' : ''}`, d: c.d }));
  const at = anchors(m);
  const max = Math.max(1e-9, ...doc.edges.map((e) => weightOf(e, w)));
  const flows = s('g', { id: 'routes-flows' });
  const used = new Set();
  for (const e of [...doc.edges].reverse()) { // the heaviest drawn last, on top
    const a = at.get(e.source);
    const b = at.get(e.target);
    if (!a || !b) continue;
    used.add(e.source); used.add(e.target);
    const [mx, my] = [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2];
    const [dx, dy] = [b[0] - a[0], b[1] - a[1]];
    const c = [mx - dy * 0.2, my + dx * 0.2]; // bend to the right of the direction
    const width = 2 + 14 * (weightOf(e, w) / max);
    flows.append(s('path', {
      class: 'flow', d: `M${a[0]},${a[1]} Q${c[0]},${c[1]} ${b[0]},${b[1]}`, 'stroke-width': width.toFixed(1),
      dataset: { edge: `${e.source}-${e.target}` },
    }, s('title', { text: `${countryName(e.source)} → ${countryName(e.target)}: ${weightText(e)}` })));
  }
  svg.append(flows);
  for (const iso of used) {
    const [x, y] = at.get(iso);
    svg.append(s('circle', { class: 'node', cx: x, cy: y, r: 7 }));
    svg.append(s('text', { class: 'clabel focus', x, y: y - 12, text: countryName(iso) }));
  }
  return svg;
}

function edgeList(doc, w) {
  const max = Math.max(1e-9, ...doc.edges.map((e) => weightOf(e, w)));
  const list = h('ol', { class: 'edges', id: 'routes-edges' });
  for (const e of doc.edges) {
    list.append(h('li', { dataset: { edge: `${e.source}-${e.target}` } },
      h('span', { class: 'ename', text: `${countryName(e.source)} → ${countryName(e.target)}` }),
      h('span', { class: 'ebar' }, h('i', { class: `w${Math.max(1, Math.round(10 * weightOf(e, w) / max))}` })),
      h('span', { class: 'eval', text: weightText(e) })));
  }
  if (!doc.edges.length) list.append(h('li', { class: 'dim', text: t('routes.no_edges') }));
  return list;
}

function flowTable(doc) {
  const body = h('tbody');
  for (const f of doc.flows) {
    body.append(h('tr', { dataset: { route: [f.producing, f.departure, ...f.transit, f.destination, f.drug].join('|') } },
      h('td', { class: 'route', text: routeText(f) }),
      h('td', { text: vocab('drug', f.drug) }),
      h('td', { class: 'num', text: fmtKg(f.kg) }),
      h('td', { class: 'num', text: fmtInt(f.cases) })));
  }
  return h('table', { class: 'tbl', id: 'routes-table' },
    h('thead', null, h('tr', null, h('th', { text: t('routes.col_route') }), h('th', { text: t('routes.col_drug') }),
      h('th', { class: 'num', text: t('routes.col_kg') }), h('th', { class: 'num', text: t('routes.col_cases') }))),
    body);
}

export function renderRoutes() {
  const r = state.routes;
  const body = $('routes-body');
  if (!r || !body) return;
  clear(body);
  body.append(controls(r));
  if (r.error) body.append(h('p', { class: 'err', text: r.error }));
  const doc = r.doc;
  if (!doc) { body.append(h('p', { class: 'dim', text: t('chart.loading') })); return; }
  const sub = doc.period ? doc.period : t('routes.p_30d');
  $('routes-sub').textContent = `· ${sub} · ${t('routes.totals', { kg: fmtKg(doc.totals.kg), cases: tn('routes.cases', doc.totals.cases) })}`;
  body.dataset.loaded = `${doc.period || ''}|${doc.drug || ''}|${doc.weight}`;
  body.append(h('p', { class: 'dim small', text: t('routes.note') }));
  const grid = h('div', { class: 'routes-grid' });
  const map = flowMap(doc, r.weight);
  grid.append(h('div', { class: 'pp' }, h('h3', { text: t('routes.map') }), map || h('p', { class: 'dim', text: t('map.no_outlines') })));
  grid.append(h('div', { class: 'pp' }, h('h3', { text: t('routes.edges') }), edgeList(doc, r.weight)));
  body.append(grid);
  body.append(h('div', { class: 'pp' }, h('h3', { text: t('routes.flows') }),
    doc.flows.length ? flowTable(doc) : h('p', { class: 'dim', text: t('routes.no_flows') })));
}

export function initRoutes() {
  $('routes-open').addEventListener('click', openRoutes);
  $('routes-close').addEventListener('click', closeRoutes);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('routes-page').hidden) closeRoutes();
  });
}
