/* The dashboard's languages: every text the page shows comes from one catalogue per
 * language (lang-en.js, lang-ru.js: a JSON object each, the same keys), through t(key,
 * vars) for fixed texts, tn(key, n) for counted ones (the language's plural forms, by
 * Intl.PluralRules) and vocab(namespace, code) for the coded values of the data (event
 * types, drugs, impacts, offences, severities, states). The static page (index.html) marks
 * its texts with data-i18n (text), data-i18n-title, data-i18n-aria-label and
 * data-i18n-placeholder; applyStatic() fills them. English is built in (and the fallback
 * for a key a catalogue lacks: tests/unit/blo/test_dashboard_i18n.py fails then); Russian
 * is loaded on demand. The choice: the stored one (localStorage), else the browser's first
 * language we have (navigator.languages), else English. */
import en from './lang-en.js';

export const LANGS = { en: 'English', ru: 'Русский' };
const LOCALES = { en: 'en-GB', ru: 'ru-RU' };
const STORE_KEY = 'blo.dashboard.lang';

let lang = 'en';
let cat = en;
let plural = new Intl.PluralRules(LOCALES.en);

/** The language to use: ``stored`` when we have it, else the first of ``prefs`` (BCP 47
 * tags, e.g. navigator.languages) whose primary subtag we have, else English. */
export function pickLang(prefs, stored) {
  if (stored && LANGS[stored]) return stored;
  for (const p of prefs || []) {
    const base = String(p).toLowerCase().split('-')[0];
    if (LANGS[base]) return base;
  }
  return 'en';
}

/** ``text`` with each {name} replaced by ``vars[name]`` (a missing one stays as is). */
export function fill(text, vars) {
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
}

/** The catalogue's text for ``key`` (English when the catalogue lacks it; the key itself
 * when English does too), filled with ``vars``. A plural entry takes its "other" form. */
export function t(key, vars) {
  let v = cat[key];
  if (v === undefined) v = en[key];
  if (v === undefined) return key;
  if (typeof v === 'object') v = v.other;
  return fill(v, vars);
}

/** The counted text for ``n`` ({n} is the number, formatted): the plural form of the
 * language (one/few/many/other). */
export function tn(key, n, vars) {
  let v = cat[key];
  if (v === undefined) v = en[key];
  if (v === undefined) return key;
  const form = typeof v === 'object' ? (v[plural.select(n)] || v.other) : v;
  return fill(form, { n: new Intl.NumberFormat(LOCALES[lang]).format(n), ...(vars || {}) });
}

/** A coded value of the data in words: the catalogue's ``namespace.code`` (e.g.
 * drug.heroin), else the code with spaces for underscores (a value newer than the page). */
export function vocab(namespace, code) {
  if (code === null || code === undefined || code === '') return '';
  const key = `${namespace}.${code}`;
  if (cat[key] !== undefined || en[key] !== undefined) return t(key);
  return String(code).replace(/_/g, ' ');
}

/** The current language ('en', 'ru') and its locale for Intl ('en-GB', 'ru-RU'). */
export const currentLang = () => lang;
export const locale = () => LOCALES[lang];

/** Switches to ``l`` (loading its catalogue) and remembers it; resolves to the language
 * used (English when ``l`` cannot be loaded). */
export async function setLang(l, remember) {
  let next = en;
  if (l !== 'en' && LANGS[l]) {
    try { next = (await import(`./lang-${l}.js`)).default; } catch (e) { l = 'en'; }
  } else l = 'en';
  lang = l;
  cat = next;
  plural = new Intl.PluralRules(LOCALES[l]);
  if (remember) {
    try { localStorage.setItem(STORE_KEY, l); } catch (e) { /* private mode */ }
  }
  return l;
}

/** The remembered choice (null: none). */
export function storedLang() {
  try { return localStorage.getItem(STORE_KEY); } catch (e) { return null; }
}

/** Fills the marked texts and attributes of ``root`` in the current language. */
export function applyStatic(root) {
  const r = root || document;
  for (const el of r.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const [attr, data] of [['title', 'i18nTitle'], ['aria-label', 'i18nAriaLabel'],
    ['placeholder', 'i18nPlaceholder']]) {
    for (const el of r.querySelectorAll(`[data-${attr === 'title' ? 'i18n-title' : attr === 'aria-label' ? 'i18n-aria-label' : 'i18n-placeholder'}]`)) {
      el.setAttribute(attr, t(el.dataset[data]));
    }
  }
  if (r === document) document.documentElement.lang = lang;
}
