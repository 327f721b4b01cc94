/* What the panels share: who the token is, the latest snapshot, the connection's state,
 * the map data and the user's selection. Each panel keeps its own DOM bookkeeping. */

import { vocab } from './i18n.js';

export const state = {
  token: null,
  who: null,              // GET /api/v1/whoami
  snap: null,             // the latest /live snapshot
  lastSnapAt: 0,          // Date.now() when the last snapshot arrived
  gaps: [],               // recent snapshot spacing, ms (the server's interval)
  dbDown: false,          // the stream said "unavailable" (ClickHouse not answering)
  conn: 'connecting',     // connecting | live | stale | reconnecting | unauthorized
  map: null,              // central-asia.json
  selection: null,        // {kind: 'station'|'country', id, name}
  selSeries: null,        // {key, points: Map(ms -> value)}
  health: null,           // GET /api/v1/health
  routes: null,           // the routes page: {period, drug, weight, doc} (GET /api/v1/routes)
};

/** The stations of the latest snapshot ([] before the first). */
export function snapStations() {
  return state.snap ? state.snap.stations || [] : [];
}

/** A station of the latest snapshot by id (null if not visible). */
export function stationById(id) {
  return state.snap ? snapStations().find((x) => x.station_id === id) : null;
}

/** A country's name in the chosen language (the map data's English name, else its ISO
 * code, for a country the catalogue does not name). */
export function countryName(iso) {
  const named = vocab('country', iso);
  if (named && named !== iso) return named;
  const c = state.map ? state.map.countries.find((x) => x.iso === iso) : null;
  return c ? c.name : iso;
}

/** The countries the map shows as its region (those the map data marks as focus); also
 * when the map is not loaded yet. */
export const REGION = new Set(['AF', 'KG', 'KZ', 'TJ', 'TM', 'UZ']);

/** Whether a post belongs to the map's region (its posts are listed and drawn; the others,
 * e.g. imported US ports, are listed apart). */
export const inRegion = (x) => REGION.has(x.country);

/** Whether the selection is this station or country. */
export function isSelected(kind, id) {
  return !!state.selection && state.selection.kind === kind && state.selection.id === id;
}

/** True while the data shown may be old (the stream is silent or down). */
export const isStale = (conn) => conn === 'stale' || conn === 'reconnecting' || conn === 'offline';
