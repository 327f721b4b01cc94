/* The station map panel: country outlines (central-asia.json) drawn once as SVG, a marker
 * per visible station (activity colour, alert ring, label), the tooltip, the two zooms.
 * The geometry is geo.js. */
import { serverNow } from './clock.js';
import { $, clear, h, s, tipRows } from './dom.js';
import { ACT_COLORS, activityLevel, fmtAgo, fmtInt, parseT } from './format.js';
import { graticule, layoutMarkers, makeProjection, placeLabels, viewBox } from './geo.js';
import { selectCountry, selectStation } from './selection.js';
import { countryName, inRegion, isSelected, snapStations, state, stationById } from './state.js';
import { t, vocab } from './i18n.js';

let proj = null;
let zoom = 'stations';
let viewScale = 0;      // map units per screen pixel
let fitKey = '';        // the stations the view box was fitted to
let layoutKey = '';     // the stations, zoom and scale the markers were laid out for
const markers = new Map(); // station_id -> {g, dot, ring, pulse, lbl, cnt}
const prevCounts = new Map();

/** The visible stations that have a position. */
function visibleStations() {
  return snapStations().filter((x) => inRegion(x) && Number.isFinite(x.lat) && Number.isFinite(x.lon));
}

/** A key that changes when a station appears, goes or moves. */
export function stationsKey(st) {
  return st.map((x) => `${x.station_id}@${x.lat},${x.lon}`).join('|');
}

/** Fetches the outlines and draws the map (a note says so if they cannot be loaded). */
export async function loadMap() {
  try {
    const resp = await fetch('/static/central-asia.json', { cache: 'no-store' });
    state.map = await resp.json();
  } catch (e) {
    state.map = null;
    $('map-note').textContent = t('map.no_outlines');
    return;
  }
  proj = makeProjection(state.map.projection);
  buildMap();
  if (state.snap) renderMarkers();
}

function buildMap() {
  const m = state.map;
  const svg = clear($('map'));
  const [ex0, ey0, ex1, ey1] = m.extent || [0, 0, m.width, m.height];
  svg.append(s('rect', { class: 'sea', x: ex0 - 2000, y: ey0 - 2000, width: ex1 - ex0 + 4000, height: ey1 - ey0 + 4000 }));
  const land = s('g', { id: 'land' });
  for (const c of m.countries) {
    const p = s('path', { class: `c${c.focus ? ' focus' : ''}`, d: c.d, 'data-iso': c.iso || null });
    if (c.focus) {
      p.addEventListener('click', () => selectCountry(c.iso));
    }
    land.append(p);
  }
  svg.append(land);
  svg.append(s('path', { class: 'grat', d: graticule(proj) }));
  const labels = s('g', { id: 'clabels' });
  for (const c of m.countries) {
    if (!c.label) continue;
    labels.append(s('text', { class: `clabel${c.focus ? ' focus' : ''}`, x: c.label[0], y: c.label[1], text: countryName(c.iso) }));
  }
  for (const w of m.water || []) labels.append(s('text', { class: 'water', x: w.at[0], y: w.at[1], text: t('map.caspian') }));
  svg.append(s('g', { id: 'leaders' }));
  svg.append(s('g', { id: 'stations' }));
  // the country names over the markers: a marker never hides a name
  svg.append(labels);
  $('map-note').textContent = t('map.note');
  markers.clear();
  layoutKey = '';
  highlightScope();
  fitView();
}

/** Shades the token's countries and the selected one. */
export function highlightScope() {
  if (!state.map || !state.who) return;
  const countries = new Set(state.who.all ? [] : state.who.countries || []);
  for (const p of document.querySelectorAll('#land path')) {
    p.classList.toggle('scope', countries.has(p.dataset.iso));
    p.classList.toggle('selected', isSelected('country', p.dataset.iso));
  }
}

/** The view box: the stations (or the whole region) fitted to the panel's shape. */
export function fitView() {
  if (!state.map) return;
  const svg = $('map');
  const rect = svg.getBoundingClientRect();
  if (rect.width < 10 || rect.height < 10) return;
  const st = visibleStations();
  fitKey = stationsKey(st);
  const box = viewBox(state.map, st.map((x) => proj(x.lon, x.lat)), zoom, rect.width / rect.height);
  svg.setAttribute('viewBox', `${box.x.toFixed(1)} ${box.y.toFixed(1)} ${box.w.toFixed(1)} ${box.h.toFixed(1)}`);
  viewScale = box.w / rect.width;
  const k = viewScale;
  for (const t of document.querySelectorAll('#clabels text')) {
    t.setAttribute('font-size', ((t.classList.contains('focus') ? 12.5 : 11.5) * k).toFixed(2));
  }
  layoutKey = '';
  if (state.snap) renderMarkers();
}

const measure = document.createElement('canvas').getContext('2d');
function textWidth(text, size) {
  measure.font = `${size}px ${getComputedStyle(document.body).fontFamily}`;
  return measure.measureText(text).width;
}

// the country names' boxes in screen pixels: station labels avoid them
function countryLabelBoxes(k) {
  const boxes = [];
  for (const t of document.querySelectorAll('#clabels text')) {
    const size = Number(t.getAttribute('font-size')) / k || 12;
    const w = textWidth(t.textContent.toUpperCase(), size) * 1.2;
    const tx = Number(t.getAttribute('x')) / k;
    const ty = Number(t.getAttribute('y')) / k;
    boxes.push({ x0: tx - w / 2, y0: ty - size, x1: tx + w / 2, y1: ty + 2 });
  }
  return boxes;
}

/** The markers of the latest snapshot: laid out again when the stations, the zoom or the
 * scale changed, else updated in place (colour, ring, count, a blip on new events). */
export function renderMarkers() {
  if (!state.map || !proj) return;
  const st = visibleStations();
  if (zoom === 'stations' && stationsKey(st) !== fitKey) { fitView(); return; }
  const key = `${stationsKey(st)}#${zoom}#${viewScale}`;
  const gSt = $('stations');
  const gLead = $('leaders');
  const k = viewScale || 1;
  const max = Math.max(0, ...st.map((x) => x.events_1h || 0));
  if (key !== layoutKey) {
    $('map-sub').textContent = `· ${t('map.visible', { n: st.length })}`;
    layoutKey = key;
    clear(gSt);
    clear(gLead);
    markers.clear();
    const lay = layoutMarkers(st, proj, k);
    const places = st.length <= 60
      ? placeLabels(st, lay, k, countryLabelBoxes(k), textWidth, zoom === 'region' ? 0 : 0.12)
      : new Map();
    for (const x of st) {
      const p = lay.get(x.station_id);
      if (Math.hypot(p.x - p.ax, p.y - p.ay) > 3 * k) {
        gLead.append(s('line', { class: 'leader', x1: p.ax, y1: p.ay, x2: p.x, y2: p.y }));
        gLead.append(s('circle', { class: 'anchor', cx: p.ax, cy: p.ay, r: 1.8 * k }));
      }
      const g = s('g', {
        class: 'station', transform: `translate(${p.x.toFixed(2)},${p.y.toFixed(2)})`,
        'data-station-id': x.station_id, tabindex: 0, role: 'button',
        'aria-label': `${x.name} (${x.station_id}${x.interior ? `, ${t('post.interior')}` : ''})`,
      });
      const pulse = s('circle', { class: 'pulse', r: 8 * k });
      const ring = s('circle', { class: 'ring', r: 10.5 * k });
      const dot = s('circle', { class: 'dot', r: 6.5 * k });
      const hit = s('circle', { class: 'hit', r: 13 * k });
      g.append(pulse, ring, dot, hit);
      let lbl = null;
      let cnt = null;
      const pl = places.get(x.station_id);
      if (pl) {
        lbl = s('text', { class: 'lbl', x: pl.x * k, y: pl.y1 * k, 'text-anchor': pl.anchor, 'font-size': 11.5 * k, 'stroke-width': 3 * k, text: x.name });
        cnt = s('text', { class: 'cnt', x: pl.x * k, y: pl.y2 * k, 'text-anchor': pl.anchor, 'font-size': 10.5 * k, 'stroke-width': 3 * k });
        g.append(lbl, cnt);
      }
      g.addEventListener('click', () => selectStation(x.station_id));
      g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') selectStation(x.station_id); });
      g.addEventListener('mousemove', (ev) => showMapTip(ev, x.station_id));
      g.addEventListener('mouseleave', hideMapTip);
      gSt.append(g);
      markers.set(x.station_id, { g, dot, ring, pulse, lbl, cnt });
    }
  }
  for (const x of st) {
    const mk = markers.get(x.station_id);
    if (!mk) continue;
    const lvl = activityLevel(x.events_1h, max);
    mk.dot.setAttribute('fill', ACT_COLORS[lvl]);
    mk.g.classList.toggle('inactive', x.active === false);
    mk.g.classList.toggle('interior', x.interior === true);
    mk.ring.setAttribute('class', `ring ${x.alert || ''}`);
    mk.ring.style.display = x.alert ? '' : 'none';
    mk.pulse.style.display = x.alert === 'critical' ? '' : 'none';
    mk.g.classList.toggle('sel', isSelected('station', x.station_id));
    if (mk.cnt) mk.cnt.textContent = t('map.per_hour', { n: fmtInt(x.events_1h) });
    const prev = prevCounts.get(x.station_id);
    if (prev !== undefined && x.events_1h > prev) {
      mk.g.classList.remove('blip');
      void mk.g.getBoundingClientRect();
      mk.g.classList.add('blip');
    }
    prevCounts.set(x.station_id, x.events_1h);
  }
}

/** The tooltip's rows for a station of the snapshot (``now``: server time, epoch ms). */
export function stationTip(x, now) {
  return [
    [t('tip.events_1h'), fmtInt(x.events_1h)],
    [t('tip.last_event'), x.last_event_at ? fmtAgo(parseT(x.last_event_at), now) : t('tip.none_1h')],
    [t('tip.alert'), x.alert ? vocab('severity', x.alert) : t('tip.none')],
    x.crossing_point ? [x.interior ? t('tip.site') : t('tip.crossing'), x.crossing_point] : null,
    x.interior ? [t('tip.border'), t('tip.border_interior')] : (x.border ? [t('tip.border'), x.border] : null),
    x.paired_blo ? [t('tip.paired'), x.paired_blo] : null,
    [t('tip.agency'), vocab('agency', x.agency)],
    x.active === false ? [t('tip.status'), t('post.inactive')] : null,
  ];
}

function showMapTip(ev, id) {
  const x = stationById(id);
  if (!x) return;
  const tip = $('map-tip');
  clear(tip);
  tip.append(h('div', { class: 't', text: `${x.name} · ${x.country}` }),
    h('div', { class: 'r' }, h('span', { text: x.station_id })),
    ...tipRows(stationTip(x, serverNow())));
  tip.hidden = false;
  const wrap = $('map-wrap').getBoundingClientRect();
  let left = ev.clientX - wrap.left + 14;
  let top = ev.clientY - wrap.top + 14;
  if (left + tip.offsetWidth > wrap.width - 4) left = ev.clientX - wrap.left - tip.offsetWidth - 14;
  if (top + tip.offsetHeight > wrap.height - 4) top = ev.clientY - wrap.top - tip.offsetHeight - 14;
  tip.style.left = `${Math.max(4, left)}px`;
  tip.style.top = `${Math.max(4, top)}px`;
}
function hideMapTip() { $('map-tip').hidden = true; }

function setZoom(z) {
  zoom = z;
  $('zoom-stations').classList.toggle('on', z === 'stations');
  $('zoom-region').classList.toggle('on', z === 'region');
  fitView();
}

/** Wires the zoom buttons. */
export function initMap() {
  $('zoom-stations').addEventListener('click', () => setZoom('stations'));
  $('zoom-region').addEventListener('click', () => setZoom('region'));
}

/** Draws the map again in the current language (country names, notes). */
export function relabelMap() {
  if (!state.map || !proj) return;
  buildMap();
  if (state.snap) renderMarkers();
}
