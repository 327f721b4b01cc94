/* BLO live dashboard.
 *
 * One page, no libraries, no external requests: the map is drawn as SVG from the shipped
 * country outlines (central-asia.json), the chart by the small code below. Data:
 *   GET /api/v1/whoami                 who the token is, its scope
 *   GET /api/v1/live (SSE "snapshot")  stations, per-minute totals, open alerts (every ~2 s)
 *   GET /api/v1/series                 the selected station's/country's per-minute series
 *   GET /api/v1/health                 per-station lag, late events, dead letters (polled)
 *   POST /api/v1/alerts/{id}/ack       acknowledge as the token's name
 * The token comes from the URL fragment (#token=…, then removed from the address bar and
 * kept in sessionStorage) or from the form; a 401 asks for it again. EventSource cannot
 * send headers, so the stream passes it as ?access_token=.
 */
(() => {
  'use strict';

  const SVGNS = 'http://www.w3.org/2000/svg';
  const SEV_RANK = { info: 1, warning: 2, critical: 3 };
  const TOKEN_KEY = 'blo.dashboard.token';
  const HEALTH_EVERY_MS = 10000;
  const SERIES_EVERY_MS = 10000;
  const STALE_INTERVALS = 3;
  const RETRY_S = [1, 2, 3, 5, 8, 13, 20, 30]; // reconnect backoff, then every 30 s

  const state = {
    token: null,
    who: null,
    snap: null,
    lastSnapAt: 0,          // Date.now() when the last snapshot arrived
    gaps: [],               // recent snapshot spacing, ms (the server's interval)
    skew: 0,                // server clock - browser clock, ms
    es: null,
    backoff: 0,
    retryTimer: null,
    retryAt: 0,
    conn: 'connecting',
    map: null,
    zoom: 'stations',
    markers: new Map(),     // station_id -> {g, dot, ring, pulse, lbl, cnt, leader, anchor}
    layoutKey: '',
    selection: null,        // {kind: 'station'|'country', id, name}
    selSeries: null,        // {key, points: Map(ms -> value)}
    selSeq: 0,
    selFetchedAt: 0,
    health: null,
    healthTimer: null,
    healthSeq: 0,
    prevCounts: new Map(),
    seenAlerts: null,       // Set of alert ids seen (null before the first snapshot)
    pendingAcks: new Set(),
    alertNodes: new Map(),  // alert_id -> li
  };

  // ------------------------------------------------------------------ DOM helpers
  const $ = (id) => document.getElementById(id);

  function setAttrs(el, attrs) {
    if (!attrs) return;
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') el.textContent = String(v);
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  function add(el, kids) {
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      el.append(k instanceof Node ? k : document.createTextNode(String(k)));
    }
    return el;
  }
  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    setAttrs(el, attrs);
    return add(el, kids);
  }
  function s(tag, attrs, ...kids) {
    const el = document.createElementNS(SVGNS, tag);
    setAttrs(el, attrs);
    return add(el, kids);
  }
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

  // -------------------------------------------------------------------- formatting
  const nf = new Intl.NumberFormat('en-US');
  const fmtInt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '—' : nf.format(n));
  const pad2 = (n) => String(n).padStart(2, '0');
  const hhmm = (ms) => { const d = new Date(ms); return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`; };
  const hhmmss = (ms) => { const d = new Date(ms); return `${hhmm(ms)}:${pad2(d.getUTCSeconds())}`; };
  const parseT = (iso) => (iso ? Date.parse(iso) : NaN);
  const serverNow = () => Date.now() + state.skew;

  function fmtDur(sec) {
    if (sec === null || sec === undefined || Number.isNaN(sec)) return '—';
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return `${sec} s`;
    const m = Math.floor(sec / 60);
    if (m < 60) return `${m} min`;
    const hrs = Math.floor(m / 60);
    if (hrs < 48) return `${hrs} h ${pad2(m % 60)}`;
    return `${Math.floor(hrs / 24)} d`;
  }
  function fmtAgo(ms) {
    if (!Number.isFinite(ms)) return '—';
    const sec = (serverNow() - ms) / 1000;
    if (sec < 5) return 'now';
    return `${fmtDur(sec)} ago`;
  }
  /** An element whose text the 1-second ticker keeps as "… ago". */
  function agoSpan(ms, cls) {
    const el = h('span', { class: cls || null, text: fmtAgo(ms) });
    if (Number.isFinite(ms)) el.dataset.ago = String(ms);
    return el;
  }

  function toast(msg, bad) {
    const t = $('toast');
    t.textContent = msg;
    t.className = bad ? 'toast bad' : 'toast';
    t.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
  }

  // -------------------------------------------------------------------------- API
  class AuthError extends Error {}

  async function api(path, opts) {
    const o = opts || {};
    const headers = { Authorization: `Bearer ${state.token}` };
    if (o.body !== undefined) headers['Content-Type'] = 'application/json';
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), o.timeout || 20000);
    let resp;
    try {
      resp = await fetch(path, {
        method: o.method || 'GET',
        headers,
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        cache: 'no-store',
        credentials: 'omit',
        signal: ctl.signal,
      });
    } finally {
      clearTimeout(timer);
    }
    if (resp.status === 401) throw new AuthError('token refused');
    let doc = null;
    try { doc = await resp.json(); } catch (e) { doc = null; }
    if (!resp.ok) {
      const why = doc && doc.error ? doc.error : `HTTP ${resp.status}`;
      const more = doc && doc.problems ? `: ${doc.problems.join('; ')}` : '';
      throw new Error(why + more);
    }
    return doc;
  }

  // ------------------------------------------------------------------------ token
  function tokenFromFragment() {
    const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
    if (!m) return null;
    const t = decodeURIComponent(m[1]);
    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* private mode */ }
    history.replaceState(null, '', location.pathname + location.search);
    return t;
  }
  function storedToken() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function askToken(message) {
    closeStream();
    clearTimeout(state.retryTimer);
    stopHealth();
    setConn('unauthorized');
    $('login-msg').textContent = message ||
      'Paste your API token (from `blo tokens create`). It is kept for this browser tab only.';
    const dlg = $('login-dialog');
    if (!dlg.open) dlg.showModal();
    $('login-token').focus();
  }

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('login-token').value.trim();
    if (!t) return;
    state.token = t;
    try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* private mode */ }
    $('login-token').value = '';
    $('login-dialog').close();
    state.backoff = 0;
    connect();
  });
  $('login-dialog').addEventListener('cancel', (ev) => ev.preventDefault());

  // ------------------------------------------------------------------- connection
  function setConn(c) {
    state.conn = c;
    const el = $('conn');
    el.dataset.state = c;
    let text = c;
    if (c === 'reconnecting') {
      const sec = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
      text = sec > 0 ? `retry in ${sec} s` : 'reconnecting';
    } else if (c === 'unauthorized') text = 'token needed';
    $('conn-text').textContent = text;
    document.body.classList.toggle('stale', c === 'stale' || c === 'reconnecting' || c === 'offline');
    document.body.classList.toggle('connecting', c === 'connecting');
    updateBanner();
    updateTitle();
    if (state.health) renderHealth();
  }

  // the tab's title: open alerts and a stale stream show even when the tab is in the back
  function updateTitle() {
    const n = state.snap ? state.snap.alerts_open || 0 : 0;
    const stale = state.conn === 'stale' || state.conn === 'reconnecting' || state.conn === 'offline';
    document.title = `${stale ? '⚠ ' : ''}${n ? `(${n}) ` : ''}BLO network · live`;
  }

  function updateBanner() {
    const b = $('banner');
    const c = state.conn;
    const age = state.lastSnapAt ? (Date.now() - state.lastSnapAt) / 1000 : null;
    const last = state.snap ? ` Showing data of ${hhmmss(parseT(state.snap.at))} UTC` +
      ` (${fmtDur(age)} old).` : '';
    let msg = null;
    let bad = false;
    if (state.dbDown && (c === 'live' || c === 'stale')) {
      msg = `The database is not answering.${last} The next update follows when it does.`;
      bad = age !== null && age > 60;
    } else if (c === 'stale') msg = `No update from the server for ${fmtDur(age)}.${last} Waiting for the stream…`;
    else if (c === 'reconnecting') {
      msg = `Connection to the server lost.${last} Reconnecting automatically.`;
      bad = age !== null && age > 60;
    } else if (c === 'unauthorized') { msg = 'The dashboard needs a valid API token.'; bad = true; }
    b.hidden = !msg;
    if (msg) { b.textContent = msg; b.className = bad ? 'banner bad' : 'banner'; }
  }

  async function connect() {
    clearTimeout(state.retryTimer);
    setConn('connecting');
    try {
      state.who = await api('/api/v1/whoami');
    } catch (e) {
      if (e instanceof AuthError) {
        try { sessionStorage.removeItem(TOKEN_KEY); } catch (err) { /* private mode */ }
        askToken('That token was refused (unknown or revoked). Paste a valid one.');
        return;
      }
      scheduleRetry();
      return;
    }
    renderWho();
    openStream();
    startHealth();
  }

  function openStream() {
    closeStream();
    const es = new EventSource(`/api/v1/live?access_token=${encodeURIComponent(state.token)}`);
    state.es = es;
    // the server is up but ClickHouse is not answering: the stream stays open
    es.addEventListener('unavailable', () => {
      if (state.es !== es) return;
      state.dbDown = true;
      updateBanner();
    });
    es.addEventListener('snapshot', (ev) => {
      if (state.es !== es) return;
      state.dbDown = false;
      let snap;
      try { snap = JSON.parse(ev.data); } catch (e) { return; }
      onSnapshot(snap);
    });
    es.onerror = () => {
      if (state.es !== es) return;
      closeStream();
      // find out whether the token is the reason before retrying
      api('/api/v1/whoami').then(
        () => scheduleRetry(),
        (e) => (e instanceof AuthError ? askToken('The token is no longer accepted. Paste a valid one.') : scheduleRetry()),
      );
    };
  }

  function closeStream() {
    if (state.es) { state.es.close(); state.es = null; }
  }

  function scheduleRetry() {
    closeStream();
    const base = RETRY_S[Math.min(state.backoff, RETRY_S.length - 1)] * 1000;
    const delay = base * (0.8 + Math.random() * 0.4);
    state.backoff += 1;
    state.retryAt = Date.now() + delay;
    setConn('reconnecting');
    clearTimeout(state.retryTimer);
    state.retryTimer = setTimeout(connect, delay);
  }

  function intervalMs() {
    if (!state.gaps.length) return 2000;
    const g = [...state.gaps].sort((a, b) => a - b);
    return Math.min(60000, Math.max(500, g[Math.floor(g.length / 2)]));
  }

  // every second: clocks, "… ago" texts, staleness
  function tick() {
    const now = new Date(serverNow());
    $('clock-utc').textContent = hhmmss(now.getTime());
    $('clock-local').textContent =
      `${pad2(now.getHours())}:${pad2(now.getMinutes())}:${pad2(now.getSeconds())}`;
    for (const el of document.querySelectorAll('[data-ago]')) {
      el.textContent = fmtAgo(Number(el.dataset.ago));
    }
    if (state.lastSnapAt && (state.conn === 'live' || state.conn === 'stale')) {
      const age = Date.now() - state.lastSnapAt;
      const iv = intervalMs();
      if (age > STALE_INTERVALS * iv + 500) {
        if (state.conn !== 'stale') setConn('stale');
        else updateBanner();
        // a stream that says nothing for long is dead even if the socket is open
        if (age > 10 * iv + 5000 && state.es) scheduleRetry();
      }
    } else if (state.conn === 'reconnecting') {
      setConn('reconnecting');
    }
  }

  function localTzLabel() {
    let zone = '';
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { zone = ''; }
    const off = -new Date().getTimezoneOffset();
    const sign = off >= 0 ? '+' : '-';
    const a = Math.abs(off);
    const offs = `UTC${sign}${Math.floor(a / 60)}${a % 60 ? `:${pad2(a % 60)}` : ''}`;
    return zone && zone !== 'UTC' ? `${zone} (${offs})` : `local (${offs})`;
  }

  // ------------------------------------------------------------------- snapshot
  function onSnapshot(snap) {
    const now = Date.now();
    if (state.lastSnapAt) {
      state.gaps.push(now - state.lastSnapAt);
      if (state.gaps.length > 7) state.gaps.shift();
    }
    state.lastSnapAt = now;
    const at = parseT(snap.at);
    if (Number.isFinite(at)) {
      const skew = at + 500 - now;
      state.skew = Math.abs(skew) > 3000 ? skew : 0;
    }
    state.snap = snap;
    state.backoff = 0;
    if (state.conn !== 'live') setConn('live');
    renderKpis(snap);
    renderMarkers(snap);
    renderStations(snap);
    renderAlerts(snap);
    renderChart();
    renderHealth();
    if (state.selection && now - state.selFetchedAt > SERIES_EVERY_MS) fetchSelection();
    document.body.classList.remove('connecting');
  }

  function renderWho() {
    const w = state.who;
    $('who').textContent = w.name;
    $('scope').textContent = w.all ? 'all countries' : w.scope;
    $('local-tz').textContent = localTzLabel();
    highlightScope();
  }

  function activityLevel(n, max) {
    if (!n) return 0;
    if (max <= 1) return 4;
    const t = Math.log1p(n) / Math.log1p(max);
    return t < 0.4 ? 1 : t < 0.65 ? 2 : t < 0.88 ? 3 : 4;
  }
  const ACT_COLORS = ['#4d5a66', '#2b6f77', '#2f9c8f', '#5cc99a', '#c4f3c9'];

  function worstSeverity(alerts) {
    let w = null;
    for (const a of alerts) if (!w || (SEV_RANK[a.severity] || 0) > (SEV_RANK[w] || 0)) w = a.severity;
    return w;
  }

  function renderKpis(snap) {
    const ev = document.querySelector('[data-testid="events-1h"]');
    const prev = ev.dataset.value;
    const cur = String(snap.events_1h);
    ev.textContent = fmtInt(snap.events_1h);
    ev.dataset.value = cur;
    if (prev !== '' && prev !== cur) {
      ev.classList.remove('flash');
      void ev.offsetWidth; // restart the animation
      ev.classList.add('flash');
    }
    const st = snap.stations || [];
    const reporting = st.filter((x) => x.events_1h > 0).length;
    document.querySelector('[data-testid="stations-reporting"]').textContent =
      `${reporting} / ${st.length}`;
    const al = document.querySelector('[data-testid="alerts-open"]');
    al.textContent = fmtInt(snap.alerts_open);
    const worst = worstSeverity(snap.alerts || []);
    al.className = `kpi-v${worst === 'critical' || worst === 'warning' ? ` sev-${worst}` : ''}`;
    const counts = {};
    for (const a of snap.alerts || []) counts[a.severity] = (counts[a.severity] || 0) + 1;
    const parts = ['critical', 'warning', 'info'].filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`);
    $('alerts-breakdown').textContent = parts.length ? parts.join(' · ') : 'open alerts';
    updateTitle();
  }

  // ------------------------------------------------------------------------ map
  let proj = null;

  function makeProjection(p) {
    const r = Math.PI / 180;
    const p1 = p.lat1 * r;
    const p2 = p.lat2 * r;
    const p0 = p.lat0 * r;
    const q = (phi) => Math.tan(Math.PI / 4 + phi / 2);
    const n = Math.log(Math.cos(p1) / Math.cos(p2)) / Math.log(q(p2) / q(p1));
    const F = (Math.cos(p1) * q(p1) ** n) / n;
    const rho0 = F / q(p0) ** n;
    return (lon, lat) => {
      const rho = F / q(lat * r) ** n;
      const t = n * (lon - p.lon0) * r;
      const x = rho * Math.sin(t);
      const y = rho0 - rho * Math.cos(t);
      return [(x - p.x0) * p.k, (p.y1 - y) * p.k];
    };
  }

  async function loadMap() {
    try {
      const resp = await fetch('/static/central-asia.json', { cache: 'no-store' });
      state.map = await resp.json();
    } catch (e) {
      state.map = null;
      $('map-note').textContent = 'map outlines could not be loaded';
      return;
    }
    proj = makeProjection(state.map.projection);
    buildMap();
    if (state.snap) renderMarkers(state.snap);
  }

  function pathOf(points) {
    return `M${points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join('L')}`;
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
    const grat = [];
    for (let lon = 40; lon <= 95; lon += 5) {
      const pts = [];
      for (let lat = 24; lat <= 60; lat += 1) pts.push(proj(lon, lat));
      grat.push(pathOf(pts));
    }
    for (let lat = 25; lat <= 60; lat += 5) {
      const pts = [];
      for (let lon = 35; lon <= 100; lon += 1) pts.push(proj(lon, lat));
      grat.push(pathOf(pts));
    }
    svg.append(s('path', { class: 'grat', d: grat.join('') }));
    const labels = s('g', { id: 'clabels' });
    for (const c of m.countries) {
      if (!c.label) continue;
      labels.append(s('text', { class: `clabel${c.focus ? ' focus' : ''}`, x: c.label[0], y: c.label[1], text: c.name }));
    }
    for (const w of m.water || []) labels.append(s('text', { class: 'water', x: w.at[0], y: w.at[1], text: w.name }));
    svg.append(labels);
    svg.append(s('g', { id: 'leaders' }));
    svg.append(s('g', { id: 'stations' }));
    $('map-note').textContent = 'Outlines: Natural Earth 1:50m (de facto boundaries) · station positions approximate';
    state.markers.clear();
    state.layoutKey = '';
    highlightScope();
    fitView();
  }

  function highlightScope() {
    if (!state.map || !state.who) return;
    const countries = new Set(state.who.all ? [] : state.who.countries || []);
    for (const p of document.querySelectorAll('#land path')) {
      p.classList.toggle('scope', countries.has(p.dataset.iso));
      p.classList.toggle('selected', !!state.selection && state.selection.kind === 'country' &&
        state.selection.id === p.dataset.iso);
    }
  }

  function visibleStations() {
    return (state.snap && state.snap.stations ? state.snap.stations : [])
      .filter((x) => Number.isFinite(x.lat) && Number.isFinite(x.lon));
  }

  function stationsKey(st) {
    return st.map((x) => `${x.station_id}@${x.lat},${x.lon}`).join('|');
  }

  // the viewBox: the stations (or the whole region) fitted to the panel's shape
  function fitView() {
    if (!state.map) return;
    const svg = $('map');
    const rect = svg.getBoundingClientRect();
    if (rect.width < 10 || rect.height < 10) return;
    const m = state.map;
    let box = { x: 0, y: 0, w: m.width, h: m.height };
    const st = visibleStations();
    state.fitKey = stationsKey(st);
    if (state.zoom === 'stations' && st.length) {
      const pts = st.map((x) => proj(x.lon, x.lat));
      const xs = pts.map((p) => p[0]);
      const ys = pts.map((p) => p[1]);
      let x0 = Math.min(...xs);
      let x1 = Math.max(...xs);
      let y0 = Math.min(...ys);
      let y1 = Math.max(...ys);
      const minSpan = 230;
      const cx = (x0 + x1) / 2;
      const cy = (y0 + y1) / 2;
      const w = Math.max(minSpan, (x1 - x0) * 1.3 + 90);
      const hh = Math.max(minSpan * 0.75, (y1 - y0) * 1.3 + 90);
      x0 = cx - w / 2; x1 = cx + w / 2; y0 = cy - hh / 2; y1 = cy + hh / 2;
      box = { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
    }
    const aspect = rect.width / rect.height;
    if (box.w / box.h < aspect) {
      // wider panel: show more to the sides as far as the outlines go, then crop
      const [ex0, , ex1] = m.extent || [0, 0, m.width, m.height];
      const w = Math.min(box.h * aspect, Math.max(box.w, ex1 - ex0 - 40));
      box.x -= (w - box.w) / 2;
      box.w = w;
      const hh = w / aspect;
      box.y += (box.h - hh) / 2;
      box.h = hh;
    } else {
      const hh = box.w / aspect;
      box.y -= (hh - box.h) / 2;
      box.h = hh;
    }
    svg.setAttribute('viewBox', `${box.x.toFixed(1)} ${box.y.toFixed(1)} ${box.w.toFixed(1)} ${box.h.toFixed(1)}`);
    state.viewScale = box.w / rect.width; // map units per screen pixel
    const k = state.viewScale;
    for (const t of document.querySelectorAll('#clabels text')) {
      t.setAttribute('font-size', ((t.classList.contains('focus') ? 12.5 : 11.5) * k).toFixed(2));
    }
    state.layoutKey = '';
    if (state.snap) renderMarkers(state.snap);
  }

  // spread markers that would overlap on screen (paired posts are a few km apart)
  function layoutMarkers(stations) {
    const k = state.viewScale || 1;
    const minD = 26 * k;
    const pos = stations.map((x, i) => {
      const [px, py] = proj(x.lon, x.lat);
      return { id: x.station_id, ax: px, ay: py, x: px, y: py, i };
    });
    for (let it = 0; it < 80; it++) {
      let moved = false;
      for (let a = 0; a < pos.length; a++) {
        for (let b = a + 1; b < pos.length; b++) {
          const A = pos[a];
          const B = pos[b];
          let dx = B.x - A.x;
          let dy = B.y - A.y;
          let d = Math.hypot(dx, dy);
          if (d >= minD) continue;
          if (d < 1e-6) {
            const ang = (b * 2.399963) % (2 * Math.PI); // golden angle: distinct directions
            dx = Math.cos(ang); dy = Math.sin(ang); d = 1e-6;
          } else { dx /= d; dy /= d; }
          const push = (minD - d) / 2 + 0.01 * k;
          A.x -= dx * push; A.y -= dy * push;
          B.x += dx * push; B.y += dy * push;
          moved = true;
        }
      }
      if (!moved) break;
    }
    return new Map(pos.map((p) => [p.id, p]));
  }

  // station labels: for each marker (in id order) the first candidate place that overlaps
  // neither a marker nor a label already placed (else the least-overlapping one); in
  // screen pixels relative to the marker
  const measure = document.createElement('canvas').getContext('2d');
  function textWidth(text, size) {
    measure.font = `${size}px ${getComputedStyle(document.body).fontFamily}`;
    return measure.measureText(text).width;
  }
  function placeLabels(st, lay, k) {
    const R = 12;
    const obstacles = st.map((x) => {
      const p = lay.get(x.station_id);
      return { x0: p.x / k - R, y0: p.y / k - R, x1: p.x / k + R, y1: p.y / k + R };
    });
    for (const t of document.querySelectorAll('#clabels text')) {
      // country names: avoid them too (their boxes in screen pixels)
      const size = Number(t.getAttribute('font-size')) / k || 12;
      const w = textWidth(t.textContent.toUpperCase(), size) * 1.2;
      const tx = Number(t.getAttribute('x')) / k;
      const ty = Number(t.getAttribute('y')) / k;
      obstacles.push({ x0: tx - w / 2, y0: ty - size, x1: tx + w / 2, y1: ty + 2 });
    }
    const tolerance = state.zoom === 'region' ? 0 : 0.12;
    const out = new Map();
    const overlap = (a, b) => Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)) *
      Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
    for (const x of [...st].sort((a, b) => a.station_id.localeCompare(b.station_id))) {
      const p = lay.get(x.station_id);
      const cx = p.x / k;
      const cy = p.y / k;
      const w = Math.max(textWidth(x.name, 11.5), textWidth('99,999 / h', 10.5)) + 2;
      const cands = [
        { x: 14, anchor: 'start', y1: -1, y2: 11, bx: 14, by: -12 },
        { x: -14, anchor: 'end', y1: -1, y2: 11, bx: -14 - w, by: -12 },
        { x: 0, anchor: 'middle', y1: -27, y2: -16, bx: -w / 2, by: -38 },
        { x: 0, anchor: 'middle', y1: 25, y2: 36, bx: -w / 2, by: 14 },
        { x: 11, anchor: 'start', y1: -14, y2: -3, bx: 11, by: -25 },
        { x: 11, anchor: 'start', y1: 14, y2: 25, bx: 11, by: 3 },
        { x: -11, anchor: 'end', y1: -14, y2: -3, bx: -11 - w, by: -25 },
        { x: -11, anchor: 'end', y1: 14, y2: 25, bx: -11 - w, by: 3 },
      ];
      let best = null;
      let bestCost = Infinity;
      for (const c of cands) {
        const box = { x0: cx + c.bx, y0: cy + c.by, x1: cx + c.bx + w, y1: cy + c.by + 26 };
        let cost = 0;
        for (const o of obstacles) cost += overlap(box, o);
        if (cost < bestCost - 0.5) { best = { ...c, box }; bestCost = cost; }
        if (cost === 0) break;
      }
      const area = (best.box.x1 - best.box.x0) * (best.box.y1 - best.box.y0);
      if (bestCost > tolerance * area) continue; // no room: the tooltip tells
      out.set(x.station_id, best);
      obstacles.push(best.box);
    }
    return out;
  }

  function renderMarkers(snap) {
    if (!state.map || !proj) return;
    const st = visibleStations();
    if (state.zoom === 'stations' && stationsKey(st) !== state.fitKey) { fitView(); return; }
    const key = `${stationsKey(st)}#${state.zoom}#${state.viewScale}`;
    const gSt = $('stations');
    const gLead = $('leaders');
    const k = state.viewScale || 1;
    const max = Math.max(0, ...st.map((x) => x.events_1h || 0));
    if (key !== state.layoutKey) {
      $('map-sub').textContent = `· ${st.length} visible`;
      state.layoutKey = key;
      clear(gSt);
      clear(gLead);
      state.markers.clear();
      const lay = layoutMarkers(st);
      const places = st.length <= 60 ? placeLabels(st, lay, k) : new Map();
      for (const x of st) {
        const p = lay.get(x.station_id);
        if (Math.hypot(p.x - p.ax, p.y - p.ay) > 3 * k) {
          gLead.append(s('line', { class: 'leader', x1: p.ax, y1: p.ay, x2: p.x, y2: p.y }));
          gLead.append(s('circle', { class: 'anchor', cx: p.ax, cy: p.ay, r: 1.8 * k }));
        }
        const g = s('g', {
          class: 'station', transform: `translate(${p.x.toFixed(2)},${p.y.toFixed(2)})`,
          'data-station-id': x.station_id, tabindex: 0, role: 'button',
          'aria-label': `${x.name} (${x.station_id})`,
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
        state.markers.set(x.station_id, { g, dot, ring, pulse, lbl, cnt });
      }
    }
    for (const x of st) {
      const mk = state.markers.get(x.station_id);
      if (!mk) continue;
      const lvl = activityLevel(x.events_1h, max);
      mk.dot.setAttribute('fill', ACT_COLORS[lvl]);
      mk.g.classList.toggle('inactive', x.active === false);
      mk.ring.setAttribute('class', `ring ${x.alert || ''}`);
      mk.ring.style.display = x.alert ? '' : 'none';
      mk.pulse.style.display = x.alert === 'critical' ? '' : 'none';
      mk.g.classList.toggle('sel', !!state.selection && state.selection.kind === 'station' && state.selection.id === x.station_id);
      if (mk.cnt) mk.cnt.textContent = `${fmtInt(x.events_1h)} / h`;
      const prev = state.prevCounts.get(x.station_id);
      if (prev !== undefined && x.events_1h > prev) {
        mk.g.classList.remove('blip');
        void mk.g.getBoundingClientRect();
        mk.g.classList.add('blip');
      }
      state.prevCounts.set(x.station_id, x.events_1h);
    }
  }

  function stationById(id) {
    return state.snap ? (state.snap.stations || []).find((x) => x.station_id === id) : null;
  }

  function tipRows(rows) {
    return rows.filter(Boolean).map(([k, v]) => h('div', { class: 'r' }, h('span', { text: k }), h('b', { text: v })));
  }

  function showMapTip(ev, id) {
    const x = stationById(id);
    if (!x) return;
    const tip = $('map-tip');
    clear(tip);
    tip.append(h('div', { class: 't', text: `${x.name} · ${x.country}` }),
      h('div', { class: 'r' }, h('span', { text: x.station_id })),
      ...tipRows([
        ['events, last hour', fmtInt(x.events_1h)],
        ['last event', x.last_event_at ? fmtAgo(parseT(x.last_event_at)) : 'none in the last hour'],
        ['alert', x.alert || 'none'],
        x.crossing_point ? ['crossing', x.crossing_point] : null,
        x.paired_blo ? ['paired with', x.paired_blo] : null,
        ['agency', String(x.agency || '').replace(/_/g, ' ')],
        x.active === false ? ['status', 'inactive'] : null,
      ]));
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
    state.zoom = z;
    $('zoom-stations').classList.toggle('on', z === 'stations');
    $('zoom-region').classList.toggle('on', z === 'region');
    fitView();
  }
  $('zoom-stations').addEventListener('click', () => setZoom('stations'));
  $('zoom-region').addEventListener('click', () => setZoom('region'));

  // ------------------------------------------------------------------ selection
  function selectStation(id) {
    if (state.selection && state.selection.kind === 'station' && state.selection.id === id) { clearSelection(); return; }
    const x = stationById(id);
    state.selection = { kind: 'station', id, name: x ? `${x.name} (${id})` : id };
    selectionChanged();
  }
  function selectCountry(iso) {
    const has = (state.snap ? state.snap.stations || [] : []).some((x) => x.country === iso);
    if (!has) return; // outside the scope or no posts: the API would refuse or show nothing
    if (state.selection && state.selection.kind === 'country' && state.selection.id === iso) { clearSelection(); return; }
    state.selection = { kind: 'country', id: iso, name: `${countryName(iso)} (all posts)` };
    selectionChanged();
  }
  function clearSelection() {
    state.selection = null;
    selectionChanged();
  }
  function countryName(iso) {
    const c = state.map ? state.map.countries.find((x) => x.iso === iso) : null;
    return c ? c.name : iso;
  }
  function selectionChanged() {
    state.selSeries = null;
    state.selFetchedAt = 0;
    const sel = state.selection;
    $('sel-legend').hidden = !sel;
    $('sel-name').textContent = sel ? sel.name : '';
    $('total-legend').hidden = !!sel;
    highlightScope();
    if (state.snap) {
      renderMarkers(state.snap);
      renderStations(state.snap);
    }
    renderChart();
    if (sel) fetchSelection();
  }
  $('sel-clear').addEventListener('click', clearSelection);
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.selection && !document.querySelector('dialog[open]')) clearSelection();
  });

  async function fetchSelection() {
    const sel = state.selection;
    if (!sel) return;
    const seq = ++state.selSeq;
    state.selFetchedAt = Date.now();
    const end = Math.floor(serverNow() / 60000) * 60000 + 60000;
    const from = end - 61 * 60000;
    const q = new URLSearchParams({
      stat: 'events', window: '1m',
      from: new Date(from).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      to: new Date(end).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    });
    q.set(sel.kind, sel.id);
    try {
      const doc = await api(`/api/v1/series?${q}`);
      if (seq !== state.selSeq) return;
      const pts = new Map();
      for (const p of doc.points || []) pts.set(parseT(p.t), Number(p.value) || 0);
      state.selSeries = { key: `${sel.kind}:${sel.id}`, points: pts };
      renderChart();
    } catch (e) {
      if (e instanceof AuthError) { askToken('The token is no longer accepted. Paste a valid one.'); return; }
      if (seq === state.selSeq) toast(`Could not load the series of ${sel.name}: ${e.message}`, true);
    }
  }

  // --------------------------------------------------------------- station list
  /** Rows (or chips) keyed by id, created once and updated in place: a click or a hover
   * on them survives the snapshots arriving every couple of seconds. */
  function keyed(parent, items, keyOf, create, update, empty) {
    const old = new Map();
    for (const el of [...parent.children]) {
      if (el.dataset.key !== undefined) old.set(el.dataset.key, el);
      else el.remove(); // a placeholder
    }
    const els = items.map((it) => {
      const k = keyOf(it);
      let el = old.get(k);
      old.delete(k);
      if (!el) { el = create(it); el.dataset.key = k; }
      update(el, it);
      return el;
    });
    for (const el of old.values()) el.remove();
    const cur = [...parent.children];
    if (cur.length !== els.length || cur.some((el, i) => el !== els[i])) for (const el of els) parent.append(el);
    if (!els.length && empty) parent.append(empty());
  }

  function setAgo(el, ms, never) {
    if (Number.isFinite(ms)) { el.dataset.ago = String(ms); el.textContent = fmtAgo(ms); } else { delete el.dataset.ago; el.textContent = never; }
  }

  function renderStations(snap) {
    const st = [...(snap.stations || [])].sort((a, b) =>
      a.country.localeCompare(b.country) || String(a.name).localeCompare(String(b.name)));
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
      c.sid.textContent = x.station_id + (x.active === false ? ' · inactive' : '');
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
    // per-country chips
    const byCountry = new Map();
    for (const x of st) byCountry.set(x.country, (byCountry.get(x.country) || 0) + (x.events_1h || 0));
    const selC = state.selection && state.selection.kind === 'country' ? state.selection.id : null;
    keyed($('countries'), [...byCountry], ([c]) => c, ([c]) => {
      const b = h('button', { type: 'button', title: `${countryName(c)}: events in the last hour (click for its series)` }, c, h('b'));
      b.addEventListener('click', () => selectCountry(c));
      return b;
    }, (b, [c, n]) => {
      b.classList.toggle('sel', selC === c);
      b.lastChild.textContent = fmtInt(n);
    });
  }

  // --------------------------------------------------------------------- alerts
  function renderAlerts(snap) {
    const list = $('alert-feed');
    const alerts = [...(snap.alerts || [])].sort((a, b) =>
      (a.acked ? 1 : 0) - (b.acked ? 1 : 0) ||
      (SEV_RANK[b.severity] || 0) - (SEV_RANK[a.severity] || 0) ||
      parseT(b.fired_at) - parseT(a.fired_at));
    const first = state.seenAlerts === null;
    if (first) state.seenAlerts = new Set();
    const keep = new Set();
    const nodes = [];
    for (const a of alerts) {
      const sig = `${a.version}|${a.acked}|${state.pendingAcks.has(a.alert_id)}`;
      let li = state.alertNodes.get(a.alert_id);
      if (!li || li.dataset.sig !== sig) {
        li = alertItem(a);
        li.dataset.sig = sig;
        if (!first && !state.seenAlerts.has(a.alert_id)) li.classList.add('new');
        state.alertNodes.set(a.alert_id, li);
      }
      if (a.acked) state.pendingAcks.delete(a.alert_id);
      state.seenAlerts.add(a.alert_id);
      keep.add(a.alert_id);
      nodes.push(li);
    }
    for (const id of [...state.alertNodes.keys()]) if (!keep.has(id)) state.alertNodes.delete(id);
    const current = [...list.children];
    const hidden = (snap.alerts_open || 0) - alerts.length;
    const same = nodes.length > 0 && hidden <= 0 && current.length === nodes.length &&
      current.every((n, i) => n === nodes[i]);
    if (!same) {
      clear(list);
      for (const n of nodes) list.append(n);
      if (!nodes.length) {
        list.append(h('li', { class: 'none' }, h('span', { class: 'okmark', text: '✓' }), 'No open alerts in this scope.'));
      }
      if (hidden > 0) list.append(h('li', { class: 'more', text: `+ ${hidden} more open alerts (oldest not shown)` }));
    }
    $('alerts-sub').textContent = `· ${fmtInt(snap.alerts_open || 0)} open`;
  }

  function alertItem(a) {
    const fired = parseT(a.fired_at);
    const key = a.scope === 'station' || a.scope === 'pair' ? a.scope_key || a.station_id : `${a.scope} ${a.scope_key}`;
    const keyEl = h('span', { class: 'key' });
    if (a.scope === 'station' && stationById(a.station_id)) {
      const link = h('a', { tabindex: 0, text: key, title: 'Show this station' });
      link.addEventListener('click', () => selectStation(a.station_id));
      keyEl.append(link);
    } else if (a.scope === 'country' && (state.snap.stations || []).some((x) => x.country === a.scope_key)) {
      const link = h('a', { tabindex: 0, text: key, title: 'Show this country' });
      link.addEventListener('click', () => selectCountry(a.scope_key));
      keyEl.append(link);
    } else {
      keyEl.textContent = key;
    }
    let action;
    if (a.acked) {
      const by = String(a.acked_by || '?').replace(/\s*\(tok_[^)]*\)$/, '');
      action = h('span', { class: 'ackd', title: `acknowledged by ${a.acked_by || '?'}${a.acked_at ? ` at ${a.acked_at}` : ''}${a.ack_comment ? `: ${a.ack_comment}` : ''}`, text: `✓ acked by ${by}` });
    } else if (state.pendingAcks.has(a.alert_id)) {
      action = h('span', { class: 'dim', text: 'ack sent…' });
    } else {
      action = h('button', { type: 'button', 'data-ack': a.alert_id, text: 'Ack' });
      action.addEventListener('click', () => openAck(a));
    }
    return h('li', { class: `alert ${a.severity}${a.acked ? ' acked' : ''}`, 'data-alert-id': a.alert_id },
      h('div', { class: 'ah' },
        h('span', { class: `chip ${a.severity}`, text: a.severity }),
        h('span', { class: 'rule', title: a.rule_id, text: a.rule_name || a.rule_id })),
      h('div', { class: 'msg', text: a.message + (a.provisional ? ' (provisional: the window is still open)' : '') }),
      h('div', { class: 'af' },
        h('span', { class: 'when', title: `fired ${a.fired_at}` }, Number.isFinite(fired) ? `${hhmm(fired)} UTC · ` : '', agoSpan(fired)),
        keyEl, action));
  }

  let ackTarget = null;
  function openAck(a) {
    ackTarget = a;
    $('ack-what').textContent = `${a.severity.toUpperCase()} · ${a.rule_name || a.rule_id} — ${a.message}`;
    $('ack-comment').value = '';
    $('ack-err').hidden = true;
    $('ack-send').disabled = false;
    $('ack-dialog').showModal();
    $('ack-comment').focus();
  }
  $('ack-cancel').addEventListener('click', () => $('ack-dialog').close());
  $('ack-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!ackTarget) return;
    const a = ackTarget;
    $('ack-send').disabled = true;
    try {
      await api(`/api/v1/alerts/${encodeURIComponent(a.alert_id)}/ack`, { method: 'POST', body: { comment: $('ack-comment').value } });
      state.pendingAcks.add(a.alert_id);
      $('ack-dialog').close();
      toast('Acknowledgement sent: the alert engine records it within seconds.');
      if (state.snap) renderAlerts(state.snap);
    } catch (e) {
      if (e instanceof AuthError) { $('ack-dialog').close(); askToken('The token is no longer accepted. Paste a valid one.'); return; }
      $('ack-err').textContent = `Not acknowledged: ${e.message}`;
      $('ack-err').hidden = false;
      $('ack-send').disabled = false;
    }
  });

  // ---------------------------------------------------------------------- chart
  // y axis: 4 steps of a round size (1, 2, 2.5, 5 x 10^n)
  function niceStep(max) {
    const raw = Math.max(1, max) / 4;
    const p = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw && (m * p) % 1 === 0) return m * p;
    return 10 * p;
  }

  function renderChart() {
    const svg = $('chart');
    const rect = svg.getBoundingClientRect();
    if (rect.width < 50 || rect.height < 50) return;
    const W = rect.width;
    const H = rect.height;
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    clear(svg);
    const snap = state.snap;
    const M = { l: 44, r: 14, t: 12, b: 24 };
    const pw = W - M.l - M.r;
    const ph = H - M.t - M.b;
    const endMin = Math.floor(serverNow() / 60000) * 60000; // the current (partial) minute
    const slots = [];
    for (let i = 59; i >= 0; i--) slots.push(endMin - i * 60000);
    const total = new Map();
    if (snap) for (const p of snap.series || []) total.set(parseT(p.t), p.events);
    const sel = state.selSeries && state.selection && state.selSeries.key === `${state.selection.kind}:${state.selection.id}` ? state.selSeries.points : null;
    const tv = slots.map((t) => total.get(t) || 0);
    // a selection replaces the total (its own scale): a post's few events would be a flat
    // line under the network's hundreds
    const selecting = !!state.selection;
    const sv = sel ? slots.map((t) => sel.get(t) || 0) : null;
    const shown = selecting ? (sv || slots.map(() => 0)) : tv;
    const step = niceStep(Math.max(...shown));
    const ymax = step * 4;
    const x = (i) => M.l + (i * pw) / 60;
    const y = (v) => M.t + ph - (v / ymax) * ph;
    const axis = s('g', { class: 'axis' });
    for (let k = 0; k <= 4; k++) {
      const v = step * k;
      axis.append(s('line', { class: 'grid-l', x1: M.l, x2: W - M.r, y1: y(v), y2: y(v) }));
      axis.append(s('text', { x: M.l - 6, y: y(v) + 4, 'text-anchor': 'end', text: fmtInt(Math.round(v)) }));
    }
    slots.forEach((t, i) => {
      if (new Date(t).getUTCMinutes() % 10 === 0) {
        axis.append(s('line', { class: 'grid-l', x1: x(i) + 0.5, x2: x(i) + 0.5, y1: M.t, y2: M.t + ph }));
        axis.append(s('text', { x: x(i), y: H - 7, 'text-anchor': 'middle', text: hhmm(t) }));
      }
    });
    axis.append(s('text', { x: W - M.r, y: H - 7, 'text-anchor': 'end', text: 'UTC' }));
    svg.append(axis);
    const bw = Math.max(1, pw / 60 - (pw > 400 ? 2 : 1));
    const bars = s('g');
    shown.forEach((v, i) => {
      if (!v) return;
      bars.append(s('rect', {
        class: `bar${selecting ? ' selbar' : ''}${i === 59 ? ' partial' : ''}`, x: x(i) + 0.5, y: y(v), width: bw,
        height: Math.max(0.5, y(0) - y(v)), 'data-i': i,
      }));
    });
    svg.append(bars);
    $('total-legend').hidden = selecting;
    if (selecting) {
      const sum = sv ? sv.reduce((acc, v) => acc + v, 0) : null;
      $('sel-name').textContent = `${state.selection.name}${sum === null ? '' : ` · ${fmtInt(sum)} in the hour`}`;
    }
    const msg = !snap ? 'waiting for data…' : selecting && !sv ? 'loading…'
      : !shown.some(Boolean) ? 'no events in the last hour' : null;
    if (msg) svg.append(s('text', { class: 'empty', x: M.l + pw / 2, y: M.t + ph / 2, text: msg }));
    // hover: the minute under the pointer
    const hover = s('rect', { x: M.l, y: M.t, width: pw, height: ph, fill: 'transparent' });
    hover.addEventListener('mousemove', (ev) => {
      const r = svg.getBoundingClientRect();
      const i = Math.max(0, Math.min(59, Math.floor(((ev.clientX - r.left - M.l) / pw) * 60)));
      const tip = $('chart-tip');
      clear(tip);
      tip.append(h('div', { class: 't', text: `${hhmm(slots[i])}–${hhmm(slots[i] + 60000)} UTC${i === 59 ? ' (in progress)' : ''}` }),
        ...tipRows([sv ? [state.selection.name, fmtInt(sv[i])] : null, ['all visible stations', fmtInt(tv[i])]]));
      tip.hidden = false;
      let left = ev.clientX - r.left + 12;
      if (left + tip.offsetWidth > r.width) left = ev.clientX - r.left - tip.offsetWidth - 12;
      tip.style.left = `${left}px`;
      tip.style.top = `${Math.max(4, ev.clientY - r.top - tip.offsetHeight - 8)}px`;
      for (const b of bars.children) b.classList.toggle('hover', Number(b.dataset.i) === i);
    });
    hover.addEventListener('mouseleave', () => {
      $('chart-tip').hidden = true;
      for (const b of bars.children) b.classList.remove('hover');
    });
    svg.append(hover);
  }

  // --------------------------------------------------------------------- health
  function startHealth() {
    stopHealth();
    const run = async () => {
      const seq = ++state.healthSeq;
      try {
        const doc = await api('/api/v1/health');
        if (seq !== state.healthSeq) return;
        state.health = doc;
        renderHealth();
      } catch (e) {
        if (e instanceof AuthError) { askToken('The token is no longer accepted. Paste a valid one.'); return; }
        // the stream's state already tells about the connection
      }
      if (seq === state.healthSeq) state.healthTimer = setTimeout(run, HEALTH_EVERY_MS);
    };
    run();
  }
  function stopHealth() {
    clearTimeout(state.healthTimer);
    state.healthSeq++;
  }

  function renderHealth() {
    const doc = state.health;
    const tbody = $('health-table').tBodies[0];
    const sum = clear($('health-sum'));
    const kpi = document.querySelector('[data-testid="pipeline-issues"]');
    if (!doc) {
      sum.append(h('span', { text: 'waiting for the first health report…' }));
      return;
    }
    const names = new Map((state.snap ? state.snap.stations || [] : []).map((x) => [x.station_id, x]));
    let dlq = 0;
    let late = 0;
    let silent = 0;
    const now = serverNow();
    const rows = doc.stations || [];
    for (const r of rows) {
      dlq += r.dead_letters_24h || 0;
      late += r.late_events_24h || 0;
    }
    keyed(tbody, rows, (r) => r.station_id, (r) => {
      const c = { st: h('td'), last: h('td', { class: 'num' }), delay: h('td', { class: 'num' }),
        late: h('td', { class: 'num' }), dlq: h('td', { class: 'num' }), n: h('td', { class: 'num' }) };
      const tr = h('tr', { 'data-health-station': r.station_id }, c.st, c.last, c.delay, c.late, c.dlq, c.n);
      tr.cells_ = c;
      tr.addEventListener('click', () => selectStation(r.station_id));
      return tr;
    }, (tr, r) => {
      const c = tr.cells_;
      const live = names.get(r.station_id);
      const lastEv = Math.max(parseT(r.last_event_at) || 0, live ? parseT(live.last_event_at) || 0 : 0);
      const age = lastEv ? (now - lastEv) / 1000 : null;
      if (age === null || age > 3600) silent++;
      const ing = parseT(r.last_ingested_at);
      const ev = parseT(r.last_event_at);
      const delay = Number.isFinite(ing) && Number.isFinite(ev) ? Math.max(0, (ing - ev) / 1000) : null;
      const sig = live ? `${live.country}|${live.name}` : r.station_id;
      if (c.st.dataset.sig !== sig) {
        c.st.dataset.sig = sig;
        clear(c.st);
        c.st.title = r.station_id;
        if (live) c.st.append(h('span', { class: 'cc', text: live.country }));
        c.st.append(live ? live.name : r.station_id);
      }
      setAgo(c.last, lastEv || NaN, 'never');
      c.last.className = `num ${age === null ? 'zero' : age > 3600 ? 'bad' : age > 900 ? 'warn' : ''}`;
      c.delay.textContent = delay === null ? '—' : fmtDur(delay);
      c.delay.className = `num ${delay === null ? 'zero' : delay > 300 ? 'bad' : delay > 60 ? 'warn' : ''}`;
      c.late.textContent = fmtInt(r.late_events_24h);
      c.late.className = `num ${r.late_events_24h ? 'warn' : 'zero'}`;
      c.dlq.textContent = fmtInt(r.dead_letters_24h);
      c.dlq.className = `num ${r.dead_letters_24h ? 'bad' : 'zero'}`;
      c.n.textContent = fmtInt(r.events_30d);
      c.n.className = `num${r.events_30d ? '' : ' zero'}`;
    });
    const iv = Math.round(intervalMs() / 100) / 10;
    sum.append(
      h('span', { class: dlq ? 'bad' : null }, 'dead letters 24 h ', h('b', { text: fmtInt(dlq) })),
      h('span', { class: late ? 'bad' : null }, 'late events 24 h ', h('b', { text: fmtInt(late) })),
      h('span', { class: silent ? 'bad' : null }, 'silent > 1 h ', h('b', { text: `${silent} / ${rows.length}` })),
      h('span', null, 'stream ', h('b', { text: state.conn === 'live' ? `live · every ${iv} s` : state.conn })));
    kpi.textContent = `${fmtInt(dlq)} · ${fmtInt(late)}`;
    kpi.className = `kpi-v${dlq ? ' sev-critical' : late ? ' bad' : ''}`;
    $('health-at').textContent = doc.at ? `report of ${hhmmss(parseT(doc.at))} UTC` : '';
  }

  // ----------------------------------------------------------------------- start
  function onResize() {
    fitView();
    renderChart();
  }
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
})();
