/* DOM helpers: hyperscript (h for HTML, s for SVG) and the keyed reconciler of lists that
 * are updated in place. No state of the dashboard here. */

const SVGNS = 'http://www.w3.org/2000/svg';

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

// attrs: null/undefined/false are skipped; text -> textContent; dataset -> data-*;
// on<event> functions -> listeners; true -> a bare attribute
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

/** Appends children (nodes, or anything else as text; arrays flattened, null skipped). */
export function add(el, kids) {
  for (const k of kids.flat()) {
    if (k === null || k === undefined || k === false) continue;
    el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
  return el;
}

/** An HTML element: h('td', {class: 'num'}, 'text', child, ...). */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  return add(el, kids);
}

/** An SVG element, as h. */
export function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  setAttrs(el, attrs);
  return add(el, kids);
}

/** Removes every child; returns the element. */
export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

/** Rows (or chips) keyed by id, created once and updated in place: a click or a hover
 * on them survives the snapshots arriving every couple of seconds. ``create(item)`` makes
 * an element, ``update(el, item)`` brings it up to date; elements whose key is gone are
 * removed, the order follows ``items``; ``empty()`` (optional) is the placeholder shown
 * for no items. */
export function keyed(parent, items, keyOf, create, update, empty) {
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

/** A short message at the bottom of the page for 5 s (``bad``: in the alarm colour). */
export function toast(msg, bad) {
  const t = $('toast');
  t.textContent = msg;
  t.className = bad ? 'toast bad' : 'toast';
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 5000);
}

/** Tooltip rows from [label, value] pairs (null pairs skipped). */
export function tipRows(rows) {
  return rows.filter(Boolean).map(([k, v]) => h('div', { class: 'r' }, h('span', { text: k }), h('b', { text: v })));
}
