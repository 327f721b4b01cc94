/* Numbers, times and durations as the dashboard writes them. Pure: no DOM, no state
 * (the "now" of a relative time is a parameter). All clock times are UTC. */

const nf = new Intl.NumberFormat('en-US');

/** 12345 -> "12,345"; a missing number -> "—". */
export const fmtInt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '—' : nf.format(n));

export const pad2 = (n) => String(n).padStart(2, '0');

/** Epoch ms -> "HH:MM" (UTC). */
export const hhmm = (ms) => { const d = new Date(ms); return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`; };

/** Epoch ms -> "HH:MM:SS" (UTC). */
export const hhmmss = (ms) => { const d = new Date(ms); return `${hhmm(ms)}:${pad2(d.getUTCSeconds())}`; };

/** An ISO time of the API -> epoch ms (NaN when missing). */
export const parseT = (iso) => (iso ? Date.parse(iso) : NaN);

/** Epoch ms -> "2026-01-02T03:04:05Z" (the API's form: whole seconds). */
export const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Seconds -> "42 s", "7 min", "3 h 05", "4 d"; a missing number -> "—". */
export function fmtDur(sec) {
  if (sec === null || sec === undefined || Number.isNaN(sec)) return '—';
  sec = Math.max(0, Math.round(sec));
  if (sec < 60) return `${sec} s`;
  const m = Math.floor(sec / 60);
  if (m < 60) return `${m} min`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs} h ${pad2(m % 60)}`;
  return `${Math.floor(hrs / 24)} d`;
}

/** The time since ``ms`` as of ``now`` (epoch ms): "now", "5 min ago"; not a time -> "—". */
export function fmtAgo(ms, now) {
  if (!Number.isFinite(ms)) return '—';
  const sec = (now - ms) / 1000;
  if (sec < 5) return 'now';
  return `${fmtDur(sec)} ago`;
}

/** The label of the local clock: "Asia/Almaty (UTC+5)", or "local (UTC+5:30)" when the
 * zone is unknown or UTC. ``offsetMin``: minutes east of UTC. */
export function tzLabel(zone, offsetMin) {
  const sign = offsetMin >= 0 ? '+' : '-';
  const a = Math.abs(offsetMin);
  const offs = `UTC${sign}${Math.floor(a / 60)}${a % 60 ? `:${pad2(a % 60)}` : ''}`;
  return zone && zone !== 'UTC' ? `${zone} (${offs})` : `local (${offs})`;
}

/** The browser's own zone, labelled as ``tzLabel`` does. */
export function localTzLabel() {
  let zone = '';
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch (e) { zone = ''; }
  return tzLabel(zone, -new Date().getTimezoneOffset());
}

/** Events per hour -> an activity level 0 (silent) .. 4 (the busiest), on a log scale
 * relative to ``max``; ACT_COLORS[level] is its colour (map dots, list dots). */
export function activityLevel(n, max) {
  if (!n) return 0;
  if (max <= 1) return 4;
  const t = Math.log1p(n) / Math.log1p(max);
  return t < 0.4 ? 1 : t < 0.65 ? 2 : t < 0.88 ? 3 : 4;
}
export const ACT_COLORS = ['#4d5a66', '#2b6f77', '#2f9c8f', '#5cc99a', '#c4f3c9'];
