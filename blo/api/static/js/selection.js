/* The selection: one station or one country, chosen on the map, in the lists or in an
 * alert; its per-minute series (GET /api/v1/series) replaces the total in the chart.
 * main.js gives the hooks: redraw on a change, redraw the chart when the series arrives. */
import { AuthError, api } from './api.js';
import { serverNow } from './clock.js';
import { tokenLost } from './connection.js';
import { $, toast } from './dom.js';
import { isoSeconds, parseT } from './format.js';
import { countryName, isSelected, snapStations, state, stationById } from './state.js';
import { t } from './i18n.js';

const SERIES_EVERY_MS = 10000;

const hooks = {
  changed: () => {}, // the selection changed (state.selection; state.selSeries is null)
  series: () => {},  // the selection's series arrived (state.selSeries)
};
let seq = 0;
let fetchedAt = 0;

/** Selects a station (again: clears the selection). */
export function selectStation(id) {
  if (isSelected('station', id)) { clearSelection(); return; }
  const x = stationById(id);
  state.selection = { kind: 'station', id, name: x ? `${x.name} (${id})` : id };
  selectionChanged();
}

/** Selects a country with visible posts (again: clears the selection). */
export function selectCountry(iso) {
  const has = snapStations().some((x) => x.country === iso);
  if (!has) return; // outside the scope or no posts: the API would refuse or show nothing
  if (isSelected('country', iso)) { clearSelection(); return; }
  state.selection = { kind: 'country', id: iso, name: `${countryName(iso)} ${t('sel.all_posts')}` };
  selectionChanged();
}

export function clearSelection() {
  state.selection = null;
  selectionChanged();
}

function selectionChanged() {
  state.selSeries = null;
  fetchedAt = 0;
  const sel = state.selection;
  $('sel-legend').hidden = !sel;
  $('sel-name').textContent = sel ? sel.name : '';
  $('total-legend').hidden = !!sel;
  hooks.changed();
  if (sel) fetchSelection();
}

/** The query of the selection's series: events per minute of the last 61 minutes up to
 * the end of the current one (``now``: server time, epoch ms). */
export function seriesQuery(sel, now) {
  const end = Math.floor(now / 60000) * 60000 + 60000;
  const from = end - 61 * 60000;
  const q = new URLSearchParams({
    stat: 'events', window: '1m', from: isoSeconds(from), to: isoSeconds(end),
  });
  q.set(sel.kind, sel.id);
  return q;
}

async function fetchSelection() {
  const sel = state.selection;
  if (!sel) return;
  const mine = ++seq;
  fetchedAt = Date.now();
  try {
    const doc = await api(`/api/v1/series?${seriesQuery(sel, serverNow())}`);
    if (mine !== seq) return;
    const pts = new Map();
    for (const p of doc.points || []) pts.set(parseT(p.t), Number(p.value) || 0);
    state.selSeries = { key: `${sel.kind}:${sel.id}`, points: pts };
    hooks.series();
  } catch (e) {
    if (e instanceof AuthError) { tokenLost(); return; }
    if (mine === seq) toast(t('sel.failed', { name: sel.name, why: e.message }), true);
  }
}

/** With a snapshot: the selection's series again, at most every 10 s. */
export function refreshSelection(now) {
  if (state.selection && now - fetchedAt > SERIES_EVERY_MS) fetchSelection();
}

/** Wires the legend's ×, Escape, and takes the hooks (see above). */
export function initSelection(given) {
  Object.assign(hooks, given);
  $('sel-clear').addEventListener('click', clearSelection);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.selection && !document.querySelector('dialog[open]')) clearSelection();
  });
}
