/* The feed panel: the significant events of the scope — seizures (drug, kg), detentions
 * (counts, offence), incidents (type, impact) — newest first (GET /api/v1/feed), read
 * again with the live stream's snapshots (at most every 2 s), each with its post and its
 * time in UTC and at the post. */
import { AuthError, api } from './api.js';
import { agoSpan } from './clock.js';
import { tokenLost } from './connection.js';
import { $, h, keyed } from './dom.js';
import { fmtInt, fmtKg, parseT, utcAndLocal } from './format.js';
import { currentLang, t, tn, vocab } from './i18n.js';
import { openPost } from './post.js';
import { state, stationById } from './state.js';

const FEED_EVERY_MS = 2000;
const FEED_LIMIT = 50;

let busy = false;
let fetchedAt = 0;

/** What an item of the feed says: ``what`` (the headline: drug and kg, persons
 * detained, the incident's type), ``detail`` (arrests, offence, impact) and ``level``
 * (a class: big seizures, high-impact incidents stand out). */
export function feedLine(it) {
  if (it.event_type === 'seizure') {
    return {
      what: `${vocab('drug', it.drug)} · ${fmtKg(it.kg)}`,
      detail: it.arrests ? tn('feed.arrests', it.arrests) : '',
      level: it.kg >= 10 ? 'big' : '',
    };
  }
  if (it.event_type === 'detention') {
    return {
      what: tn('feed.detained', it.persons || 0),
      detail: it.offence ? vocab('offence', it.offence) : '',
      level: '',
    };
  }
  const parts = [it.impact ? t('feed.impact', { impact: vocab('impact', it.impact) }) : '',
    it.persons ? tn('feed.persons', it.persons) : ''].filter(Boolean);
  return {
    what: vocab('incident_type', it.incident_type) || vocab('event_type', it.event_type),
    detail: parts.join(' · '),
    level: it.impact === 'high' ? 'big' : '',
  };
}

/** With a snapshot: the feed again, at most every 2 s, one request at a time. */
export function refreshFeed(now) {
  if (busy || now - fetchedAt < FEED_EVERY_MS) return;
  busy = true;
  fetchedAt = now;
  api(`/api/v1/feed?limit=${FEED_LIMIT}`).then((doc) => {
    state.feed = doc;
    renderFeed();
  }, (e) => {
    if (e instanceof AuthError) tokenLost();
  }).finally(() => { busy = false; });
}

/** A feed item as a list entry (also the post page's recent seizures). */
export function feedItem(it) {
  const line = feedLine(it);
  const x = stationById(it.station_id);
  const at = parseT(it.occurred_at);
  const post = h('a', { class: 'post', tabindex: 0, text: x ? x.name : it.station_id, title: it.station_id });
  post.addEventListener('click', () => openPost(it.station_id));
  return h('li', {
    class: `ev ${it.event_type}${line.level ? ` ${line.level}` : ''}`, 'data-event-id': it.event_id,
    'data-kg': it.kg === undefined ? null : String(it.kg), 'data-drug': it.drug || null,
  },
  h('div', { class: 'eh' },
    h('span', { class: `tchip ${it.event_type}`, text: vocab('event_type', it.event_type) }),
    h('span', { class: 'what', text: line.what })),
  line.detail ? h('div', { class: 'detail', text: line.detail }) : null,
  h('div', { class: 'ef' }, post,
    h('span', { class: 'when', title: it.occurred_at }, `${utcAndLocal(at, x ? x.tz : '')} · `, agoSpan(at))));
}

export function renderFeed() {
  const doc = state.feed;
  const list = $('event-feed');
  if (!doc) return;
  const items = doc.items || [];
  keyed(list, items, (it) => `${it.event_id}|${it.kg}|${currentLang()}`, feedItem, () => {},
    () => h('li', { class: 'none', text: t('feed.none') }));
  $('feed-sub').textContent = `· ${t('feed.shown', { n: fmtInt(items.length) })}`;
}
