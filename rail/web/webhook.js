// Webhook (a participant's page): the deliveries the rail made to its callback URL, with their answers; send a
// test event; rotate the signing secret (the new one is shown once).

import {get, post} from './api.js';
import {copyText, errorBox, h, table, toast} from './dom.js';
import {when} from './format.js';

function deliveries(page) {
  const rows = Array.isArray(page) ? page : (page && page.deliveries) || [];
  if (!rows.length) return h('p', {class: 'hint'}, 'No delivery yet. Deliveries go to the callback URL set at '
    + 'registration (POST /admin/participants with callback_url); without one, read GET /v1/inbox instead.');
  return table('Deliveries, newest first', [
    {label: 'At', cell: d => when(d.at)},
    {label: 'Event', cell: d => d.event || d.msg_type || ''},
    {label: 'Attempt', cell: d => String(d.attempt ?? ''), num: true},
    {label: 'Answer', cell: d => (d.status ? `HTTP ${d.status}` : d.error || '–')},
    {label: 'Took', cell: d => (d.duration_ms !== undefined && d.duration_ms !== null ? `${d.duration_ms} ms` : '–'), num: true},
    {label: 'URL', cell: d => h('span', {class: 'mono'}, d.url || '')},
  ], rows, {'data-table': 'deliveries'});
}

function button(label, onClick, kind = 'secondary') {
  const b = h('button', {type: 'button', class: kind}, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try { await onClick(); } finally { b.disabled = false; }
  });
  return b;
}

export async function render(main, route) {
  const list = h('div', {id: 'deliveries'});
  const outcome = h('div', {'aria-live': 'polite'});
  const refresh = async () => {
    try {
      list.replaceChildren(deliveries(await get('/v1/webhook/deliveries')));
    } catch (error) {
      list.replaceChildren(errorBox(error));
    }
  };
  const test = button('Send a test event', async () => {
    outcome.replaceChildren();
    try {
      await post('/v1/webhook/test');
      toast('Test event sent');
      await refresh();
    } catch (error) {
      outcome.append(errorBox(error));
    }
  }, '');
  const rotate = button('Rotate the signing secret', async () => {
    outcome.replaceChildren();
    try {
      const issued = await post('/v1/webhook/secret');
      const copy = button('Copy secret', () => copyText(issued.secret, null));
      outcome.append(h('div', {class: 'secret'}, h('strong', {}, 'New signing secret, shown once:'),
        h('code', {}, issued.secret),
        h('p', {class: 'hint'}, 'Deliveries are signed with it from now on; the old one stops being used.'), copy));
    } catch (error) {
      outcome.append(errorBox(error));
    }
  });
  main.append(h('h1', {}, `Webhook of ${route.session.bic}`),
    h('p', {}, 'The rail pushes your inbox to your callback URL, each delivery signed (HMAC-SHA256 over the '
      + 'timestamp and body) so you can check it came from the rail and is not a replay. docs/workbench.md says how '
      + 'to verify one.'),
    h('div', {class: 'actions'}, test, rotate, button('Refresh', refresh)), outcome, list);
  await refresh();
}
