/* The "Posts" panel: the station list (activity, last event, alert) and the per-country
 * chips; rows are kept and updated in place (dom.keyed). */
import { setAgo } from './clock.js';
import { $, add, clear, h, keyed } from './dom.js';
import { ACT_COLORS, activityLevel, fmtInt, parseT } from './format.js';
import { selectCountry, selectStation } from './selection.js';
import { countryName, inRegion, state } from './state.js';
import { currentLang, t, tn, vocab } from './i18n.js';
import { openPost } from './post.js';

/** The stations by country, then name. */
export function sortStations(stations) {
  return [...stations].sort((a, b) =>
    a.country.localeCompare(b.country) || String(a.name).localeCompare(String(b.name)));
}

/** The line under a post's name: its id, and what kind of post it is when that matters
 * (an interior post has no land neighbour: an airport, an inland office). */
export function stationNote(x) {
  return x.station_id + (x.interior ? ` · ${t('post.interior')}` : '') + (x.active === false ? ` · ${t('post.inactive')}` : '');
}

/** [[country, events of the last hour], …] in the order the countries first appear. */
export function countryTotals(stations) {
  const byCountry = new Map();
  for (const x of stations) byCountry.set(x.country, (byCountry.get(x.country) || 0) + (x.events_1h || 0));
  return [...byCountry];
}

/** The posts of the map's region and the others (e.g. imported US ports), each sorted:
 * the others are listed apart, so they never push the region's posts down. */
export function splitRegion(stations) {
  const all = sortStations(stations);
  return { region: all.filter(inRegion), others: all.filter((x) => !inRegion(x)) };
}

export function renderStations(snap) {
  const { region: st, others } = splitRegion(snap.stations || []);
  const max = Math.max(1, ...st.map((x) => x.events_1h || 0));
  rows($('station-table').tBodies[0], st, max, t('posts.none'));
  rows($('other-table').tBodies[0], others, Math.max(1, ...others.map((x) => x.events_1h || 0)), '');
  $('other-posts').hidden = !others.length;
  $('other-count').textContent = tn('posts.outside', others.length);
  const selC = state.selection && state.selection.kind === 'country' ? state.selection.id : null;
  keyed($('countries'), countryTotals(st), ([c]) => c, ([c]) => {
    const b = h('button', { type: 'button' }, c, h('b'));
    b.addEventListener('click', () => selectCountry(c));
    return b;
  }, (b, [c, n]) => {
    b.classList.toggle('sel', selC === c);
    b.title = t('posts.country_title', { country: countryName(c) });
    b.lastChild.textContent = fmtInt(n);
  });
}

function rows(tbody, st, max, none) {
  const selSt = state.selection && state.selection.kind === 'station' ? state.selection.id : null;
  keyed(tbody, st, (x) => x.station_id, (x) => {
    const c = {
      dot: h('span', { class: 'adot' }), cc: h('span', { class: 'cc' }), name: h('span'),
      sid: h('span', { class: 'sid' }), n: h('span'), bar: h('i'), ntd: h('td'), last: h('span'),
      lasttd: h('td'), alert: h('td'),
    };
    add(c.ntd, [c.n, h('span', { class: 'mini' }, c.bar)]);
    c.lasttd.append(c.last);
    c.open = h('button', { type: 'button', class: 'open', 'data-open-post': x.station_id, text: '›' });
    c.open.addEventListener('click', (ev) => { ev.stopPropagation(); openPost(x.station_id); });
    const tr = h('tr', { 'data-row-station': x.station_id },
      h('td', null, c.dot), h('td', null, c.open, c.cc, c.name, c.sid), c.ntd, c.lasttd, c.alert);
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
    c.open.title = t('posts.open');
    c.sid.textContent = stationNote(x);
    c.n.textContent = fmtInt(x.events_1h);
    c.ntd.className = `num${x.events_1h ? '' : ' zero'}`;
    c.bar.style.width = `${Math.round((100 * (x.events_1h || 0)) / max)}%`;
    const last = parseT(x.last_event_at);
    setAgo(c.last, last, '—', true);
    c.lasttd.className = `num${Number.isFinite(last) ? '' : ' zero'}`;
    const sevSig = `${x.alert || ''}|${currentLang()}`;
    if (c.alert.dataset.sev !== sevSig) {
      c.alert.dataset.sev = sevSig;
      clear(c.alert);
      if (x.alert) c.alert.append(h('span', { class: `chip ${x.alert}`, text: vocab('severity', x.alert) }));
    }
  }, none ? () => h('tr', null, h('td', { colspan: 5, class: 'none', text: none })) : undefined);
}
