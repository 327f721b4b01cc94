/* The header's figures: events of the last hour, stations reporting, open alerts (with the
 * worst severity and a breakdown). */
import { openCounts, worstSeverity } from './alerts.js';
import { updateTitle } from './connection.js';
import { $ } from './dom.js';
import { fmtInt } from './format.js';
import { tn, t } from './i18n.js';

const SEV_KEYS = { critical: 'kpi.sev_critical', warning: 'kpi.sev_warning', info: 'kpi.sev_info' };

/** What the header shows for a snapshot. */
export function kpiView(snap) {
  const st = snap.stations || [];
  const reporting = st.filter((x) => x.events_1h > 0).length;
  const counts = openCounts(snap);
  const worst = snap.alerts_counts ? ['critical', 'warning', 'info'].find((k) => counts[k]) || null
    : worstSeverity(snap.alerts || []);
  const parts = ['critical', 'warning', 'info'].filter((k) => counts[k]).map((k) => tn(SEV_KEYS[k], counts[k]));
  if (counts.muted) parts.push(tn('kpi.muted', counts.muted));
  return {
    events: String(snap.events_1h),
    eventsText: fmtInt(snap.events_1h),
    reporting: `${reporting} / ${st.length}`,
    alertsText: fmtInt(counts.total),
    alertsClass: `kpi-v${worst === 'critical' || worst === 'warning' ? ` sev-${worst}` : ''}`,
    breakdown: parts.length ? parts.join(' · ') : t('kpi.open_alerts'),
  };
}

export function renderKpis(snap) {
  const v = kpiView(snap);
  const ev = document.querySelector('[data-testid="events-1h"]');
  const prev = ev.dataset.value;
  ev.textContent = v.eventsText;
  ev.dataset.value = v.events;
  if (prev !== '' && prev !== v.events) {
    ev.classList.remove('flash');
    void ev.offsetWidth; // restart the animation
    ev.classList.add('flash');
  }
  document.querySelector('[data-testid="stations-reporting"]').textContent = v.reporting;
  const al = document.querySelector('[data-testid="alerts-open"]');
  al.textContent = v.alertsText;
  al.className = v.alertsClass;
  $('alerts-breakdown').textContent = v.breakdown;
  updateTitle();
}
