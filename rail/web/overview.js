// Overview: the rail live, polled every POLL_MS while the page is shown. The operator sees throughput and
// latency (from the rail's own metrics, GET /admin/overview), the core's queue, payments in flight and every
// settlement account; a participant sees its own account and its latest payments.

import {get} from './api.js';
import {balanceBars, legend, lineChart} from './charts.js';
import {clear, errorBox, h, table} from './dom.js';
import {ms, perSecond, rupees, statusBadge, when} from './format.js';

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;
const history = []; // [t_ms, overview] of this tab, kept across visits to the page (a ring of WINDOW_MS)

function card(label, value, id) {
  return h('div', {class: 'card'}, h('div', {class: 'label'}, label), h('div', {class: 'value', id}, value));
}

function accounts(overview) {
  return (overview.participants || []).map(b => ({
    bic: b.bic, posted: b.posted_paisa, reserved: b.reserved_paisa, available: b.available_paisa, inbox: b.inbox_depth,
  }));
}

function figure(caption, chart, key) {
  return h('figure', {}, chart, h('figcaption', {}, caption), key || null);
}

function adminView(box, overview, width) {
  const t = overview.payments_per_s || {}, lat = overview.latency_ms || {};
  const rows = accounts(overview);
  box.append(
    h('div', {class: 'cards'},
      card('Payments final per s, last 10 s', perSecond(t['10s']), 'tp10'),
      card('Payments final per s, last 60 s', perSecond(t['60s']), 'tp60'),
      card(`Latency p50, accepted → final (${lat.window_s ?? 60} s)`, ms(lat.p50), 'p50'),
      card(`Latency p99 (${lat.samples ?? 0} payments)`, ms(lat.p99), 'p99'),
      card('Core queue depth', String(overview.queue_depth ?? '–'), 'queue'),
      card('Payments in flight', String(overview.in_flight ?? '–'), 'inflight'),
      card('Final: settled / rejected', `${(overview.finals || {}).ACSC ?? 0} / ${(overview.finals || {}).RJCT ?? 0}`, 'finals')),
    figure('Payments settled per second (10 s window), as this page polled them',
      lineChart({title: 'Throughput over the last 5 minutes', width, windowMs: WINDOW_MS, format: v => `${Math.round(v)}/s`,
        series: [{name: '10 s', color: '#0072B2', points: history.map(([at, o]) => [at, (o.payments_per_s || {})['10s']])}]})),
    figure('Latency from acceptance to final status',
      lineChart({title: 'Latency p50 and p99 over the last 5 minutes', width, windowMs: WINDOW_MS, format: v => `${v.toFixed(v < 10 ? 1 : 0)} ms`,
        series: [
          {name: 'p50', color: '#0072B2', points: history.map(([at, o]) => [at, (o.latency_ms || {}).p50])},
          {name: 'p99', color: '#D55E00', points: history.map(([at, o]) => [at, (o.latency_ms || {}).p99])},
        ]}),
      legend([['blue', 'p50'], ['red', 'p99']])),
    h('h2', {}, 'Settlement accounts'),
    figure('Posted balance of each settlement account: available (blue) and reserved for payments in flight (orange)',
      balanceBars({title: 'Settlement balances by participant', width, rows}),
      legend([['blue', 'available'], ['orange', 'reserved (in flight)']])),
    table(null, [
      {label: 'Participant', cell: r => h('span', {class: 'mono'}, r.bic)},
      {label: 'Posted', cell: r => rupees(r.posted), num: true},
      {label: 'Reserved', cell: r => rupees(r.reserved), num: true},
      {label: 'Available', cell: r => rupees(r.available), num: true},
      {label: 'Inbox', cell: r => String(r.inbox ?? '–'), num: true},
    ], rows, {'data-table': 'balances'}));
}

async function participantView(box, current) {
  const [own, recent] = await Promise.all([get('/v1/balance'), get('/v1/payments', {limit: 10})]);
  const reserved = own.pending_debits_paisa ?? own.reserved_paisa;
  box.append(
    h('div', {class: 'cards'},
      card('Posted balance', rupees(own.posted_paisa), 'posted'),
      card('Reserved (payments in flight)', rupees(reserved), 'reserved'),
      card('Available', rupees(own.available_paisa), 'available')),
    h('h2', {}, 'Latest payments'),
    table(null, [
      {label: 'Accepted', cell: p => when(p.accepted_at)},
      {label: 'UETR', cell: p => h('a', {href: `#/payments/${encodeURIComponent(p.uetr)}`, class: 'mono'}, p.uetr)},
      {label: 'Counterparty', cell: p => (p.debtor_agent === current.bic ? p.creditor_agent : p.debtor_agent)},
      {label: 'Amount', cell: p => rupees(p.amount_paisa), num: true},
      {label: 'Status', cell: p => [statusBadge(p.status), p.reason ? ` ${p.reason}` : '']},
    ], recent.payments || []));
}

export async function render(main, route) {
  const current = route.session;
  const title = current.kind === 'admin' ? 'The rail, live' : `${current.bic}: your account, live`;
  const box = h('div', {id: 'overview', 'aria-live': 'off'});
  const problem = h('div');
  main.append(h('h1', {}, title),
    h('p', {class: 'meta'}, `Refreshed every ${POLL_MS / 1000} s while this page is open.`), problem, box);
  let stopped = false, timer = null;
  const tick = async () => {
    try {
      const width = Math.max(300, Math.floor(box.clientWidth || main.clientWidth));
      const fresh = h('div');
      if (current.kind === 'admin') {
        const overview = await get('/admin/overview');
        history.push([Date.now(), overview]);
        while (history.length && history[0][0] < Date.now() - WINDOW_MS) history.shift();
        adminView(fresh, overview, width);
      } else {
        await participantView(fresh, current);
      }
      if (stopped) return;
      clear(problem);
      box.replaceChildren(...fresh.childNodes);
      box.dataset.refreshed = String(Date.now());
    } catch (error) {
      if (!stopped) problem.replaceChildren(errorBox(error));
    }
    if (!stopped) timer = setTimeout(tick, document.hidden ? POLL_MS * 5 : POLL_MS);
  };
  await tick();
  return () => { stopped = true; clearTimeout(timer); };
}
