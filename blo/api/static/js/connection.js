/* The connection to the server: the token dialog, whoami, the live stream with its
 * reconnect backoff, staleness, and what the page says about it (the status pill, the
 * banner, the tab's title). main.js gives the hooks: what to do with a snapshot, once
 * connected, when the token is lost, when the state changes. */
import { AuthError, api, forgetToken, openLive, saveToken } from './api.js';
import { noteServerTime } from './clock.js';
import { $ } from './dom.js';
import { fmtDur, hhmmss, parseT } from './format.js';
import { t, vocab } from './i18n.js';
import { isStale, state } from './state.js';

const STALE_INTERVALS = 3;
const RETRY_S = [1, 2, 3, 5, 8, 13, 20, 30]; // reconnect backoff, then every 30 s

const hooks = {
  snapshot: (snap, arrived) => {}, // a snapshot arrived (state.snap is it)
  connected: () => {},             // whoami answered (state.who), the stream is opening
  stopped: () => {},               // the token is needed again: stop polling
  changed: () => {},               // state.conn changed
};
let es = null;
let backoff = 0;
let retryTimer = null;
let retryAt = 0;

// ------------------------------------------------------------------ pure helpers
/** The server's snapshot interval (ms): the median of the recent gaps, 0.5–60 s; 2 s
 * before there are any. */
export function intervalMs(gaps) {
  if (!gaps.length) return 2000;
  const g = [...gaps].sort((a, b) => a - b);
  return Math.min(60000, Math.max(500, g[Math.floor(g.length / 2)]));
}

/** The wait before reconnect attempt number ``n`` (0-based), ms, ±20 % by ``random``
 * (a number in [0, 1)). */
export function retryDelayMs(n, random) {
  const base = RETRY_S[Math.min(n, RETRY_S.length - 1)] * 1000;
  return base * (0.8 + random * 0.4);
}

/** The banner for a connection state: {msg (null: no banner), bad}. ``age``: seconds
 * since the last snapshot (null: none yet); ``snapAt``: its time (epoch ms, null: none). */
export function bannerFor(conn, dbDown, age, snapAt) {
  const last = snapAt !== null ? ` ${t('banner.showing', { time: hhmmss(snapAt), age: fmtDur(age) })}` : '';
  let msg = null;
  let bad = false;
  if (dbDown && (conn === 'live' || conn === 'stale')) {
    msg = `${t('banner.db_down')}${last} ${t('banner.db_next')}`;
    bad = age !== null && age > 60;
  } else if (conn === 'stale') msg = `${t('banner.stale', { age: fmtDur(age) })}${last} ${t('banner.waiting')}`;
  else if (conn === 'reconnecting') {
    msg = `${t('banner.lost')}${last} ${t('banner.reconnecting')}`;
    bad = age !== null && age > 60;
  } else if (conn === 'unauthorized') { msg = t('banner.unauthorized'); bad = true; }
  return { msg, bad };
}

/** The tab's title: open alerts and a stale stream show even when the tab is in the back. */
export function titleFor(alertsOpen, conn) {
  const n = alertsOpen || 0;
  return `${isStale(conn) ? '⚠ ' : ''}${n ? `(${n}) ` : ''}${t('page.title')}`;
}

// ---------------------------------------------------------------------- the page
function setConn(c) {
  state.conn = c;
  $('conn').dataset.state = c;
  let text = vocab('conn', c);
  if (c === 'reconnecting') {
    const sec = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    if (sec > 0) text = t('conn.retry_in', { n: sec });
  }
  $('conn-text').textContent = text;
  document.body.classList.toggle('stale', isStale(c));
  document.body.classList.toggle('connecting', c === 'connecting');
  updateBanner();
  updateTitle();
  hooks.changed();
}

export function updateTitle() {
  document.title = titleFor(state.snap ? state.snap.alerts_open : 0, state.conn);
}

function updateBanner() {
  const age = state.lastSnapAt ? (Date.now() - state.lastSnapAt) / 1000 : null;
  const { msg, bad } = bannerFor(state.conn, state.dbDown, age,
    state.snap ? parseT(state.snap.at) : null);
  const b = $('banner');
  b.hidden = !msg;
  if (msg) { b.textContent = msg; b.className = bad ? 'banner bad' : 'banner'; }
}

/** Stops everything and asks for a token (the login dialog), with ``message``. */
export function askToken(message) {
  closeStream();
  clearTimeout(retryTimer);
  hooks.stopped();
  setConn('unauthorized');
  $('login-msg').textContent = message || t('login.paste');
  const dlg = $('login-dialog');
  if (!dlg.open) dlg.showModal();
  $('login-token').focus();
}

/** What every request does on a refused token. */
export const tokenLost = () => askToken(t('login.lost'));

/** whoami, then the stream (and the hooks.connected); a refused token asks for another,
 * anything else retries with backoff. */
export async function connect() {
  clearTimeout(retryTimer);
  setConn('connecting');
  try {
    state.who = await api('/api/v1/whoami');
  } catch (e) {
    if (e instanceof AuthError) {
      forgetToken();
      askToken(t('login.refused'));
      return;
    }
    scheduleRetry();
    return;
  }
  hooks.connected();
  openStream();
}

function openStream() {
  closeStream();
  const mine = openLive(state.token, {
    unavailable: () => {
      if (es !== mine) return;
      state.dbDown = true;
      updateBanner();
    },
    snapshot: (snap) => {
      if (es !== mine) return;
      state.dbDown = false;
      if (snap !== null) received(snap);
    },
    error: () => {
      if (es !== mine) return;
      closeStream();
      // find out whether the token is the reason before retrying
      api('/api/v1/whoami').then(
        () => scheduleRetry(),
        (e) => (e instanceof AuthError ? tokenLost() : scheduleRetry()),
      );
    },
  });
  es = mine;
}

function closeStream() {
  if (es) { es.close(); es = null; }
}

function scheduleRetry() {
  closeStream();
  const delay = retryDelayMs(backoff, Math.random());
  backoff += 1;
  retryAt = Date.now() + delay;
  setConn('reconnecting');
  clearTimeout(retryTimer);
  retryTimer = setTimeout(connect, delay);
}

function received(snap) {
  const now = Date.now();
  if (state.lastSnapAt) {
    state.gaps.push(now - state.lastSnapAt);
    if (state.gaps.length > 7) state.gaps.shift();
  }
  state.lastSnapAt = now;
  noteServerTime(parseT(snap.at), now);
  state.snap = snap;
  backoff = 0;
  if (state.conn !== 'live') setConn('live');
  hooks.snapshot(snap, now);
}

/** Every second: a stream silent for 3 intervals is stale, for 10 it is dead (reconnect,
 * even if the socket is open); the retry countdown. */
export function checkStale() {
  if (state.lastSnapAt && (state.conn === 'live' || state.conn === 'stale')) {
    const age = Date.now() - state.lastSnapAt;
    const iv = intervalMs(state.gaps);
    if (age > STALE_INTERVALS * iv + 500) {
      if (state.conn !== 'stale') setConn('stale');
      else updateBanner();
      if (age > 10 * iv + 5000 && es) scheduleRetry();
    }
  } else if (state.conn === 'reconnecting') {
    setConn('reconnecting');
  }
}

/** Wires the login dialog and takes the hooks (see above). */
export function initConnection(given) {
  Object.assign(hooks, given);
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = $('login-token').value.trim();
    if (!t) return;
    state.token = t;
    saveToken(t);
    $('login-token').value = '';
    $('login-dialog').close();
    backoff = 0;
    connect();
  });
  $('login-dialog').addEventListener('cancel', (ev) => ev.preventDefault());
}

/** Writes the connection's texts again (after a change of language). */
export const relabelConnection = () => setConn(state.conn);
