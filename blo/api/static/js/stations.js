/* The "Posts" panel: the station list (activity, last event, alert) and the per-country
 * chips; rows are kept and updated in place (dom.keyed). */
import { setAgo } from './clock.js';
import { $, add, clear, h, keyed } from './dom.js';
import { ACT_COLORS, activityLevel, fmtInt, parseT } from './format.js';
import { selectCountry, selectStation } from './selection.js';
import { countryName, state } from './state.js';

/** The stations by country, then name. */
export function sortStations(stations) {
  return [...stations].sort((a, b) =>
    a.country.localeCompare(b.country) || String(a.name).localeCompare(String(b.name)));
}

/** The line under a post's name: its id, and what kind of post it is when that matters
 * (an interior post has no land neighbour: an airport, an inland office). */
export function stationNote(x) {
  return x.station_id + (x.interior ? ' · interior' : '') + (x.active === false ? ' · inactive' : '');
}

/** [[country, events of the last hour], …] in the order the countries first appear. */
export function countryTotals(stations) {
  const byCountry = new Map();
  for (const x of stations) byCountry.set(x.country, (byCountry.get(x.country) || 0) + (x.events_1h || 0));
  return [...byCountry];
}

export function renderStations(snap) {
  const st = sortStations(snap.stations || []);
  const max = Math.max(1, ...st.map((x) => x.events_1h || 0));
  const selSt = state.selection && state.selection.kind === 'station' ? state.selection.id : null;
  keyed($('station-table').tBodies[0], st, (x) => x.station_id, (x) => {
    const c = {
      dot: h('span', { class: 'adot' }), cc: h('span', { class: 'cc' }), name: h('span'),
      sid: h('span', { class: 'sid' }), n: h('span'), bar: h('i'), ntd: h('td'), last: h('span'),
      lasttd: h('td'), alert: h('td'),
    };
    add(c.ntd, [c.n, h('span', { class: 'mini' }, c.bar)]);
    c.lasttd.append(c.last);
    const tr = h('tr', { 'data-row-station': x.station_id },
      h('td', null, c.dot), h('td', null, c.cc, c.name, c.sid), c.ntd, c.lasttd, c.alert);
    tr.cells_ = c;
    tr.addEventListener('click', () => selectStation(x.station_id));
    return tr;
  }, (tr, x) => {
    const c = tr.cells_;
    tr.classList.toggle('sel', selSt === x.station_id);
    c.dot.style.background = ACT_COLORS[activityLevel(x.events_1h, max)];
    c.dot.style.boxShadow = x.alert ? `0 0 0 2px var(--${x.alert})` : '';
    c.cc.textContent = x.country;
    c.name.textContent = x.name;
    c.name.title = x.name;
    c.sid.textContent = stationNote(x);
    c.n.textContent = fmtInt(x.events_1h);
    c.ntd.className = `num${x.events_1h ? '' : ' zero'}`;
    c.bar.style.width = `${Math.round((100 * (x.events_1h || 0)) / max)}%`;
    const last = parseT(x.last_event_at);
    setAgo(c.last, last, '—');
    c.lasttd.className = `num${Number.isFinite(last) ? '' : ' zero'}`;
    if ((c.alert.dataset.sev || '') !== (x.alert || '')) {
      c.alert.dataset.sev = x.alert || '';
      clear(c.alert);
      if (x.alert) c.alert.append(h('span', { class: `chip ${x.alert}`, text: x.alert }));
    }
  }, () => h('tr', null, h('td', { colspan: 5, class: 'none', text: 'No stations in this scope yet.' })));
  const selC = state.selection && state.selection.kind === 'country' ? state.selection.id : null;
  keyed($('countries'), countryTotals(st), ([c]) => c, ([c]) => {
    const b = h('button', { type: 'button', title: `${countryName(c)}: events in the last hour (click for its series)` }, c, h('b'));
    b.addEventListener('click', () => selectCountry(c));
    return b;
  }, (b, [c, n]) => {
    b.classList.toggle('sel', selC === c);
    b.lastChild.textContent = fmtInt(n);
  });
}
