/* The server: JSON requests to /api/v1 with the token, the SSE stream /api/v1/live, and
 * where the token is kept (sessionStorage: this browser tab only). */
import { state } from './state.js';

const TOKEN_KEY = 'blo.dashboard.token';

/** The server refused the token (401). */
export class AuthError extends Error {}

/** A JSON request with the token; resolves to the body, rejects with AuthError on a 401
 * and with an Error naming the server's reason on any other failure.
 * ``opts``: {method, body (sent as JSON), timeout (ms, default 20 s)}. */
export async function api(path, opts) {
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
  if (!resp.ok) throw new Error(errorText(resp.status, doc));
  return doc;
}

/** The message of a failed request: the API's error and problems, else the HTTP status. */
export function errorText(status, doc) {
  const why = doc && doc.error ? doc.error : `HTTP ${status}`;
  const more = doc && doc.problems ? `: ${doc.problems.join('; ')}` : '';
  return why + more;
}

/** The live stream. EventSource cannot send headers, so the token goes as ?access_token=.
 * ``on``: {snapshot(doc), unavailable(), error()}; ``doc`` is null for data that is not
 * JSON. */
export function openLive(token, on) {
  const es = new EventSource(`/api/v1/live?access_token=${encodeURIComponent(token)}`);
  // the server is up but ClickHouse is not answering: the stream stays open
  es.addEventListener('unavailable', () => on.unavailable());
  es.addEventListener('snapshot', (ev) => {
    let snap;
    try { snap = JSON.parse(ev.data); } catch (e) { snap = null; }
    on.snapshot(snap);
  });
  es.onerror = () => on.error();
  return es;
}

/** The token of the URL fragment (#token=…), kept for the tab and removed from the
 * address bar; null if none. */
export function tokenFromFragment() {
  const t = tokenOfHash(location.hash);
  if (t === null) return null;
  saveToken(t);
  history.replaceState(null, '', location.pathname + location.search);
  return t;
}

/** "#token=abc&x=1" -> "abc" (decoded); null if the fragment has no token. */
export function tokenOfHash(hash) {
  const m = hash.match(/(?:^#|&)token=([^&]+)/);
  return m ? decodeURIComponent(m[1]) : null;
}

export function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
}

export function saveToken(t) {
  try { sessionStorage.setItem(TOKEN_KEY, t); } catch (e) { /* private mode */ }
}

export function forgetToken() {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* private mode */ }
}
