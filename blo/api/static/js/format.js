/* Numbers, times and durations as the dashboard writes them, in the chosen language
 * (i18n.js: its words and its locale for Intl). No DOM, no state of the page (the "now" of
 * a relative time is a parameter). hhmm/hhmmss are UTC; localHhmm is a zone's wall clock. */
import { locale, t } from './i18n.js';

const nfs = new Map();
const nf = (digits) => {
  const key = `${locale()}|${digits}`;
  if (!nfs.has(key)) nfs.set(key, new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }));
  return nfs.get(key);
};

/** 12345 -> "12,345" (in Russian "12 345"); a missing number -> "—". */
export const fmtInt = (n) => (n === null || n === undefined || Number.isNaN(n) ? '—' : nf(0).format(n));

/** A quantity in kg: "120 kg", "0.8 kg", "1,250.5 kg" (at most 3 decimals, 1 above 100). */
export function fmtKg(kg) {
  if (kg === null || kg === undefined || Number.isNaN(kg)) return '—';
  return t('unit.kg', { n: nf(kg >= 100 ? 1 : 3).format(kg) });
}

const dtfs = new Map();
/** Epoch ms -> "HH:MM" on the wall clock of the IANA zone ``tz`` ('' when the zone is
 * unknown to the browser). */
export function localHhmm(ms, tz) {
  if (!tz || !Number.isFinite(ms)) return '';
  try {
    if (!dtfs.has(tz)) {
      dtfs.set(tz, new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }));
    }
    return dtfs.get(tz).format(new Date(ms));
  } catch (e) { return ''; }
}

/** Epoch ms -> "28 Nov" (the day, in the chosen language; UTC). */
export function fmtDay(ms) {
  return new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'short', timeZone: 'UTC' }).format(new Date(ms));
}

/** A time as the page shows it: "10:05 UTC · 15:05 local" (the station's wall clock
 * beside UTC when its zone is known). */
export function utcAndLocal(ms, tz) {
  if (!Number.isFinite(ms)) return '—';
  const loc = localHhmm(ms, tz);
  return loc ? t('time.utc_local', { utc: hhmm(ms), local: loc }) : t('time.utc', { utc: hhmm(ms) });
}

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
  if (sec < 60) return t('dur.s', { n: sec });
  const m = Math.floor(sec / 60);
  if (m < 60) return t('dur.min', { n: m });
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return t('dur.h_min', { h: hrs, m: pad2(m % 60) });
  return t('dur.d', { n: Math.floor(hrs / 24) });
}

/** The time since ``ms`` as of ``now`` (epoch ms): "now", "5 min ago"; not a time -> "—".
 * ``short``: without "ago" ("5 min"), for table columns whose heading says "last". */
export function fmtAgo(ms, now, short = false) {
  if (!Number.isFinite(ms)) return '—';
  const sec = (now - ms) / 1000;
  if (sec < 5) return t('time.now');
  return short ? fmtDur(sec) : t('time.ago', { dur: fmtDur(sec) });
}

/** The label of the local clock: "Asia/Almaty (UTC+5)", or "local (UTC+5:30)" when the
 * zone is unknown or UTC. ``offsetMin``: minutes east of UTC. */
export function tzLabel(zone, offsetMin) {
  const sign = offsetMin >= 0 ? '+' : '-';
  const a = Math.abs(offsetMin);
  const offs = `UTC${sign}${Math.floor(a / 60)}${a % 60 ? `:${pad2(a % 60)}` : ''}`;
  return zone && zone !== 'UTC' ? `${zone} (${offs})` : t('time.local_zone', { offs });
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
