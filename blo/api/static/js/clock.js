/* The server's clock as the page knows it, and the "… ago" texts kept current by the
 * 1-second ticker (main.js). */
import { h } from './dom.js';
import { fmtAgo } from './format.js';

let skew = 0; // server clock - browser clock, ms

/** Now on the server's clock (epoch ms). */
export const serverNow = () => Date.now() + skew;

/** The skew to apply given a snapshot stamped ``at`` (server, epoch ms) that arrived at
 * ``arrived`` (browser): 0 unless the clocks differ by more than 3 s (the snapshot's time
 * is taken as half a second before its arrival). */
export function skewOf(at, arrived) {
  const d = at + 500 - arrived;
  return Math.abs(d) > 3000 ? d : 0;
}

/** Adjusts the clock to a snapshot's time (no change when ``at`` is not a time). */
export function noteServerTime(at, arrived) {
  if (Number.isFinite(at)) skew = skewOf(at, arrived);
}

/** An element whose text the 1-second ticker keeps as "… ago". */
export function agoSpan(ms, cls) {
  const el = h('span', { class: cls || null, text: fmtAgo(ms, serverNow()) });
  if (Number.isFinite(ms)) el.dataset.ago = String(ms);
  return el;
}

/** Makes ``el`` an "… ago" text of ``ms``, or the fixed text ``never`` if not a time.
 * ``short``: the table form without "ago" ("5 min"; the full text is its tooltip). */
export function setAgo(el, ms, never, short = false) {
  if (Number.isFinite(ms)) {
    el.dataset.ago = String(ms);
    if (short) el.dataset.agoShort = '1'; else delete el.dataset.agoShort;
    showAgo(el, serverNow());
  } else {
    delete el.dataset.ago;
    el.textContent = never;
    el.removeAttribute('title');
  }
}

function showAgo(el, now) {
  const ms = Number(el.dataset.ago);
  if (el.dataset.agoShort) {
    el.textContent = fmtAgo(ms, now, true);
    el.title = fmtAgo(ms, now);
  } else {
    el.textContent = fmtAgo(ms, now);
  }
}

/** Rewrites every "… ago" text of the page. */
export function refreshAgo() {
  const now = serverNow();
  for (const el of document.querySelectorAll('[data-ago]')) showAgo(el, now);
}
