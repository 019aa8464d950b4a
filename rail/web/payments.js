// Payments: the list (GET /v1/payments), searchable by UETR or EndToEndId and filtered by status, counterparty,
// reason and time, a page at a time. The filters live in the route (#/payments?status=RJCT&q=...), so a view can
// be reloaded, bookmarked or shared; the admin sees every payment, a participant only its own.

import {get} from './api.js';
import {field, go, h, select, table} from './dom.js';
import {rupees, statusBadge, when} from './format.js';

const PAGE_SIZE = 50;
const FILTERS = ['q', 'status', 'counterparty', 'reason', 'since', 'until'];
const STATUSES = [['', 'any status'], ['ACTC', 'ACTC: in flight'], ['ACSC', 'ACSC: settled'], ['RJCT', 'RJCT: rejected']];

export function routeOf(query) {
  const params = new URLSearchParams();
  for (const name of [...FILTERS, 'cursor']) if (query[name]) params.set(name, query[name]);
  const text = params.toString();
  return text ? `#/payments?${text}` : '#/payments';
}

// A datetime-local value is the reader's local time: the API takes an instant.
function instant(local) {
  if (!local) return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

function filterForm(query, current) {
  const input = (name, attrs = {}) => h('input', {name, value: query[name] || '', ...attrs});
  const q = input('q', {type: 'search', placeholder: 'UETR or EndToEndId', spellcheck: 'false'});
  const form = h('form', {class: 'panel', role: 'search', 'aria-label': 'Search and filter payments'},
    h('div', {class: 'fields'},
      field('Search', q, {wide: true}),
      field('Status', select('status', STATUSES, query.status || '')),
      field(current.kind === 'admin' ? 'Participant (BIC)' : 'Counterparty (BIC)',
        input('counterparty', {size: 11, maxlength: 11, autocapitalize: 'characters', spellcheck: 'false'})),
      field('Reason code', input('reason', {size: 6, maxlength: 4, autocapitalize: 'characters'})),
      field('Accepted from', input('since', {type: 'datetime-local', step: 1})),
      field('Accepted until', input('until', {type: 'datetime-local', step: 1})),
      h('div', {class: 'actions'}, h('button', {type: 'submit'}, 'Search'),
        h('a', {href: '#/payments'}, 'Clear'))));
  form.addEventListener('submit', event => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    for (const name of ['counterparty', 'reason']) data[name] = (data[name] || '').trim().toUpperCase();
    data.q = (data.q || '').trim();
    go(routeOf(data));
  });
  return form;
}

function columns(current) {
  const link = p => h('a', {href: `#/payments/${encodeURIComponent(p.uetr)}`, class: 'mono'}, p.uetr);
  return [
    {label: 'Accepted', cell: p => when(p.accepted_at)},
    {label: 'UETR', cell: link},
    {label: 'EndToEndId', cell: p => h('span', {class: 'mono'}, p.end_to_end_id || '')},
    {label: current.kind === 'admin' ? 'Debtor agent → creditor agent' : 'From → to',
      cell: p => `${p.debtor_agent} → ${p.creditor_agent}`},
    {label: 'Amount', cell: p => rupees(p.amount_paisa), num: true},
    {label: 'Status', cell: p => statusBadge(p.status)},
    {label: 'Reason', cell: p => (p.reason ? h('abbr', {title: p.reason_text || ''}, p.reason) : '')},
  ];
}

export async function render(main, route) {
  const query = route.query, current = route.session;
  main.append(h('h1', {}, current.kind === 'admin' ? 'Payments' : `Payments of ${current.bic}`),
    filterForm(query, current));
  const page = await get('/v1/payments', {
    q: query.q, status: query.status, counterparty: query.counterparty, reason: query.reason,
    since: instant(query.since), until: instant(query.until), cursor: query.cursor, limit: PAGE_SIZE,
  });
  const rows = page.payments || [];
  const filtered = FILTERS.some(name => query[name]);
  const summary = rows.length
    ? `${rows.length} payment${rows.length === 1 ? '' : 's'}${query.cursor ? ' on this page' : ''}, newest first`
    : filtered ? 'No payment matches these filters.' : 'No payment yet: send one (docs/sandbox.md) and it shows here.';
  main.append(h('p', {class: 'meta', role: 'status', id: 'payments-count'}, summary));
  if (rows.length) main.append(table(null, columns(current), rows, {'data-table': 'payments'}));
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages of payments'});
  if (query.cursor) pager.append(h('a', {href: routeOf({...query, cursor: ''})}, '« First page'));
  if (page.next_cursor) pager.append(h('a', {href: routeOf({...query, cursor: page.next_cursor}), rel: 'next'}, 'Next page »'));
  if (pager.childNodes.length) main.append(pager);
}
