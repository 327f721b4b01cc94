/* The bulletins page: the stored bulletin editions the token may see
 * (GET /api/v1/bulletins/editions) — one row per scope, month, language and data version,
 * newest month first — each with its PDF and HTML for download
 * (GET /api/v1/bulletins/editions/download, fetched with the token and saved from a blob:
 * a link cannot send the Authorization header). A worker makes them when a month closes
 * (docs/bulletins.md, "Scheduled bulletins"). It lies over the panels as the routes page
 * does; Escape or × closes it. Read once when opened. */
import { AuthError, api, errorText } from './api.js';
import { tokenLost } from './connection.js';
import { $, clear, h } from './dom.js';
import { fmtInt } from './format.js';
import { t } from './i18n.js';
import { countryName, state } from './state.js';

let seq = 0;

/** The download address of an edition in ``fmt`` (pdf, html). */
export function downloadPath(e, fmt) {
  const q = new URLSearchParams({ scope: e.scope, period: e.period, lang: e.lang, format: fmt,
    version: e.data_version });
  return `/api/v1/bulletins/editions/download?${q}`;
}

/** The file name an edition is saved under. */
export function fileName(e, fmt) {
  return `bulletin-${e.scope}-${e.period}-${e.lang}-${e.data_version}.${fmt}`;
}

export function openEditions() {
  if (!state.editions) state.editions = { doc: null, error: null };
  $('editions-page').hidden = false;
  renderEditions();
  load();
}

export function closeEditions() {
  seq++;
  $('editions-page').hidden = true;
}

async function load() {
  const r = state.editions;
  if (!r) return;
  const mine = ++seq;
  try {
    const doc = await api('/api/v1/bulletins/editions');
    if (mine !== seq) return;
    Object.assign(r, { doc, error: null });
  } catch (e) {
    if (e instanceof AuthError) { tokenLost(); return; }
    if (mine !== seq) return;
    Object.assign(r, { error: e.message });
  }
  renderEditions();
}

/** Fetch an edition with the token and save it (a blob the browser downloads). */
async function download(ev, e, fmt) {
  ev.preventDefault();
  const link = ev.currentTarget;
  link.dataset.state = 'loading';
  try {
    const resp = await fetch(downloadPath(e, fmt), {
      headers: { Authorization: `Bearer ${state.token}` }, cache: 'no-store', credentials: 'omit',
    });
    if (resp.status === 401) { tokenLost(); return; }
    if (!resp.ok) {
      let doc = null;
      try { doc = await resp.json(); } catch (x) { doc = null; }
      throw new Error(errorText(resp.status, doc));
    }
    const url = URL.createObjectURL(await resp.blob());
    const a = h('a', { href: url, download: fileName(e, fmt), hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    link.dataset.state = 'done';
  } catch (x) {
    link.dataset.state = 'error';
    if (state.editions) state.editions.error = x.message;
    renderEditions();
  }
}

const LANG_NAMES = { en: 'editions.lang_en', ru: 'editions.lang_ru' };
const COLUMNS = [['editions.col_scope', null], ['editions.col_month', null],
  ['editions.col_lang', null], ['editions.col_version', null], ['editions.col_made', null],
  ['editions.col_events', 'num'], ['editions.col_files', null]];

const scopeName = (scope) => (scope === 'region' ? t('editions.region') : countryName(scope));

function table(list) {
  const body = h('tbody');
  for (const e of list) {
    const links = h('td', { class: 'dl' }, ...['pdf', 'html'].map((fmt) => h('a', {
      href: downloadPath(e, fmt), class: 'dl-link', dataset: { format: fmt },
      title: t('editions.download', { f: fmt.toUpperCase() }),
      text: fmt.toUpperCase(), onclick: (ev) => download(ev, e, fmt),
    })));
    body.append(h('tr', { dataset: { edition: `${e.scope}|${e.period}|${e.lang}|${e.data_version}` } },
      h('td', { text: scopeName(e.scope) }),
      h('td', { text: e.period }),
      h('td', { text: LANG_NAMES[e.lang] ? t(LANG_NAMES[e.lang]) : e.lang }),
      h('td', { class: 'mono', text: e.data_version }),
      h('td', { text: e.made_at.replace('T', ' ').replace('Z', ' UTC') }),
      h('td', { class: 'num', text: fmtInt(e.events) }),
      links));
  }
  return h('table', { class: 'tbl', id: 'editions-table' },
    h('thead', null, h('tr', null, ...COLUMNS.map(([k, cls]) => h('th', { class: cls, text: t(k) })))),
    body);
}

export function renderEditions() {
  const r = state.editions;
  const body = $('editions-body');
  if (!r || !body) return;
  clear(body);
  if (r.error) body.append(h('p', { class: 'err', text: r.error }));
  const doc = r.doc;
  if (!doc) { body.append(h('p', { class: 'dim', text: t('chart.loading') })); return; }
  body.dataset.loaded = String(doc.editions.length);
  $('editions-sub').textContent = `· ${t('editions.count', { n: doc.editions.length })}`;
  body.append(h('p', { class: 'dim small', text: t('editions.note') }));
  body.append(doc.editions.length ? table(doc.editions)
    : h('p', { class: 'dim', text: t('editions.none') }));
}

export function initEditions() {
  $('editions-open').addEventListener('click', openEditions);
  $('editions-close').addEventListener('click', closeEditions);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('editions-page').hidden) closeEditions();
  });
}
