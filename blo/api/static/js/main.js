/* BLO live dashboard: the wiring.
 *
 * One page, no libraries, no external requests: native ES modules served from /static/js
 * (no bundler), the map drawn as SVG from the shipped country outlines (central-asia.json),
 * the chart by chart.js. Data:
 *   GET /api/v1/whoami                 who the token is, its scope
 *   GET /api/v1/live (SSE "snapshot")  stations, per-minute totals, open alerts (every ~2 s)
 *   GET /api/v1/series                 the selected station's/country's per-minute series
 *   GET /api/v1/health                 per-station lag, late events, dead letters (polled)
 *   POST /api/v1/alerts/{id}/ack       acknowledge as the token's name
 *   GET /api/v1/feed                   significant events (with the snapshots, every ~2 s)
 *   GET /api/v1/posts/{id}             the post page (with /feed?station=… and /alerts)
 *   GET /api/v1/routes                 the routes page (flows between countries)
 *   GET /api/v1/bulletins/editions     the bulletins page (stored editions, downloads)
 * The token comes from the URL fragment (#token=…, then removed from the address bar and
 * kept in sessionStorage) or from the form; a 401 asks for it again (api.js,
 * connection.js).
 *
 * Modules: dom (hyperscript, keyed lists), format (numbers, times), clock (server time,
 * "… ago"), state (what the panels share), api (requests, the stream, the token),
 * connection (whoami, stream, reconnects, staleness), selection, i18n (every text, in
 * English or Russian: lang-en.js, lang-ru.js); the panels kpis, map (+ geo), chart,
 * stations, alerts, feed, health, the post page (post), the routes page (routes) and the bulletins page (editions). What redraws when is decided
 * here; a change of language redraws everything.
 */
import { initAlerts, renderAlerts } from './alerts.js';
import { tokenFromFragment, storedToken } from './api.js';
import { refreshAgo, serverNow } from './clock.js';
import { askToken, checkStale, connect, initConnection, relabelConnection } from './connection.js';
import { renderChart } from './chart.js';
import { $ } from './dom.js';
import { initEditions, renderEditions } from './editions.js';
import { hhmmss, localTzLabel, pad2 } from './format.js';
import { renderHealth, startHealth, stopHealth } from './health.js';
import { renderKpis } from './kpis.js';
import { refreshFeed, renderFeed } from './feed.js';
import { LANGS, applyStatic, currentLang, pickLang, setLang, storedLang, t } from './i18n.js';
import { fitView, highlightScope, initMap, loadMap, relabelMap, renderMarkers } from './map.js';
import { initPost, renderPost } from './post.js';
import { initRoutes, renderRoutes } from './routes.js';
import { initSelection, refreshSelection } from './selection.js';
import { state } from './state.js';
import { renderStations } from './stations.js';

function onSnapshot(snap, arrived) {
  renderKpis(snap);
  renderMarkers();
  renderStations(snap);
  renderAlerts(snap);
  renderChart();
  renderHealth();
  refreshSelection(arrived);
  refreshFeed(arrived);
  document.body.classList.remove('connecting');
}

function renderWho() {
  const w = state.who;
  $('who').textContent = w.name;
  $('scope').textContent = w.all ? t('brand.all_countries') : w.scope;
  $('local-tz').textContent = localTzLabel();
  highlightScope();
}

// every second: clocks, "… ago" texts, staleness
function tick() {
  const now = new Date(serverNow());
  $('clock-utc').textContent = hhmmss(now.getTime());
  $('clock-local').textContent =
    `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}`;
  refreshAgo();
  checkStale();
}

function onResize() {
  fitView();
  renderChart();
}

initConnection({
  snapshot: onSnapshot,
  connected: () => { renderWho(); startHealth(); },
  stopped: stopHealth,
  changed: () => { if (state.health) renderHealth(); },
});
initSelection({
  changed: () => {
    highlightScope();
    if (state.snap) {
      renderMarkers();
      renderStations(state.snap);
    }
    renderChart();
  },
  series: renderChart,
});
initMap();
initAlerts();
initPost();
initRoutes();
initEditions();

// the language: remembered, else the browser's, else English; switchable in the header
async function useLang(l, remember) {
  await setLang(l, remember);
  applyStatic();
  $('lang').value = currentLang();
  $('local-tz').textContent = localTzLabel();
  relabelConnection();
  relabelMap();
  if (state.who) renderWho();
  if (state.snap) onSnapshot(state.snap, 0);
  renderFeed();
  renderHealth();
  renderChart();
  if (state.post) renderPost();
  if (state.routes) renderRoutes();
  if (state.editions) renderEditions();
}
for (const [code, name] of Object.entries(LANGS)) $('lang').append(new Option(name, code));
$('lang').addEventListener('change', () => useLang($('lang').value, true));
await useLang(pickLang(navigator.languages, storedLang()), false);

if (window.ResizeObserver) {
  let pending = false;
  const ro = new ResizeObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; onResize(); });
  });
  ro.observe($('map-wrap'));
  ro.observe($('chart-wrap'));
} else {
  window.addEventListener('resize', onResize);
}

$('local-tz').textContent = localTzLabel();
setInterval(tick, 1000);
tick();
renderChart();
renderHealth();
loadMap();
state.token = tokenFromFragment() || storedToken();
if (state.token) connect();
else askToken();
