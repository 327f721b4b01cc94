/* The chart panel: events per minute of the last hour, the visible stations' total or,
 * with a selection, the selected station's or country's own series (its own scale). */
import { serverNow } from './clock.js';
import { $, clear, h, s, tipRows } from './dom.js';
import { fmtInt, hhmm, parseT } from './format.js';
import { state } from './state.js';
import { t } from './i18n.js';

/** The y axis' step: 4 steps of a round size (1, 2, 2.5, 5 x 10^n) reaching ``max``. */
export function niceStep(max) {
  const raw = Math.max(1, max) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw && (m * p) % 1 === 0) return m * p;
  return 10 * p;
}

/** What the chart shows at ``now`` (server time, epoch ms): ``slots``, the 60 minute
 * starts ending with the current (partial) minute; ``total`` per slot (from the
 * snapshot's series); ``sel`` per slot (null: no series for the selection yet);
 * ``shown`` (the selection's series, zeros while it loads, else the total); the y
 * ``step``; ``msg``, the text over an empty chart (null: none). */
export function chartData(snap, selection, selSeries, now) {
  const endMin = Math.floor(now / 60000) * 60000;
  const slots = [];
  for (let i = 59; i >= 0; i--) slots.push(endMin - i * 60000);
  const byT = new Map();
  if (snap) for (const p of snap.series || []) byT.set(parseT(p.t), p.events);
  const pts = selSeries && selection && selSeries.key === `${selection.kind}:${selection.id}` ? selSeries.points : null;
  const total = slots.map((t) => byT.get(t) || 0);
  // a selection replaces the total (its own scale): a post's few events would be a flat
  // line under the network's hundreds
  const selecting = !!selection;
  const sel = pts ? slots.map((t) => pts.get(t) || 0) : null;
  const shown = selecting ? (sel || slots.map(() => 0)) : total;
  const msg = !snap ? t('chart.waiting') : selecting && !sel ? t('chart.loading')
    : !shown.some(Boolean) ? t('chart.no_events') : null;
  return { slots, total, sel, shown, selecting, step: niceStep(Math.max(...shown)), msg };
}

export function renderChart() {
  const svg = $('chart');
  const rect = svg.getBoundingClientRect();
  if (rect.width < 50 || rect.height < 50) return;
  const W = rect.width;
  const H = rect.height;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  clear(svg);
  const { slots, total: tv, sel: sv, shown, selecting, step, msg } =
    chartData(state.snap, state.selection, state.selSeries, serverNow());
  const M = { l: 44, r: 14, t: 12, b: 24 };
  const pw = W - M.l - M.r;
  const ph = H - M.t - M.b;
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
      // a time too close to the "UTC" at the right end would run into it: its line only
      if (x(i) + 18 <= W - M.r - 28) axis.append(s('text', { x: x(i), y: H - 7, 'text-anchor': 'middle', text: hhmm(t) }));
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
    $('sel-name').textContent = `${state.selection.name}${sum === null ? '' : ` · ${t('chart.in_the_hour', { n: fmtInt(sum) })}`}`;
  }
  if (msg) svg.append(s('text', { class: 'empty', x: M.l + pw / 2, y: M.t + ph / 2, text: msg }));
  // hover: the minute under the pointer
  const hover = s('rect', { x: M.l, y: M.t, width: pw, height: ph, fill: 'transparent' });
  hover.addEventListener('mousemove', (ev) => {
    const r = svg.getBoundingClientRect();
    const i = Math.max(0, Math.min(59, Math.floor(((ev.clientX - r.left - M.l) / pw) * 60)));
    const tip = $('chart-tip');
    clear(tip);
    tip.append(h('div', { class: 't', text: `${hhmm(slots[i])}–${hhmm(slots[i] + 60000)} UTC${i === 59 ? ` ${t('chart.in_progress')}` : ''}` }),
      ...tipRows([sv ? [state.selection.name, fmtInt(sv[i])] : null, [t('chart.all_stations'), fmtInt(tv[i])]]));
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
